# What every campaign's run.sh shares; sourced by benchmarks/campaigns/<key>/run.sh after it
# sets key (the campaign), init (the shipped model it warm-starts from) and minutes (the
# default time limit of a call). Reads the run.sh arguments [RUN_DIR] [MINUTES] and the
# optional PHOTOS, THREADS (default 1), TRAIN_DEVICE (cpu or cuda: a lent GPU continues the
# same run, similar but not bit-equal) and SNAPSHOT (a compact snapshot to start from when
# RUN_DIR has no checkpoint). Photos 001-040 train, 041-049 validate (held out); Kodak is
# never used. Leaves the settings every campaign shares in the array train, to which run.sh
# adds its own.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
run=${1:-/work/runs/train/$key}
minutes=${2:-$minutes}
photos=${PHOTOS:-/work/shared/data/train}
mkdir -p "$run/train40" "$run/val9"
for i in $(seq 1 49); do
  f=$(printf %03d "$i").png
  if [ "$i" -le 40 ]; then ln -sf "$photos/$f" "$run/train40/$f"; else ln -sf "$photos/$f" "$run/val9/$f"; fi
done
checkpoint=$run/ckpt.safetensors
if [ ! -e "$checkpoint" ] && [ -n "${SNAPSHOT:-}" ]; then
  cp "$SNAPSHOT" "$checkpoint"  # resume from the committed snapshot (re-warm-up)
fi
export OMP_NUM_THREADS=${THREADS:-1} PYTHONPATH=$repo
train=(
  python -m vqcodec train --data "$run/train40" --val "$run/val9" --init-from "$init"
  --batch-size 8 --crop 128 --log-every 100 --checkpoint-every 250
  --threads "${THREADS:-1}" --time-limit "$minutes" --train-device "${TRAIN_DEVICE:-cpu}"
  --out "$run/vqcodec-$key-campaign.safetensors" --name "vqcodec-$key-campaign"
  --checkpoint "$checkpoint" --log "$run/log.jsonl"
)
