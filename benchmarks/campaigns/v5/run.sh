#!/bin/bash
# The vqcodec-base-v5 training campaign: vqcodec-base-v4 (untiled encoder, 64-value latent,
# 20 stages) trained for 3,500 more steps on a fresh cosine schedule with a lower peak rate;
# v4 was still gaining when its schedule ended. One command, rerun to resume.
# Usage: benchmarks/campaigns/v5/run.sh [RUN_DIR] [MINUTES]   (from a checkout; RUN_DIR default
# /work/runs/train/v5, MINUTES the time limit of this call, default 100). THREADS (default 1),
# TRAIN_DEVICE (cpu or cuda) and SNAPSHOT (a compact snapshot to start from when RUN_DIR has no
# checkpoint) are optional. Photos 001-040 train, 041-049 validate (held out); Kodak is never
# used here.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
run=${1:-/work/runs/train/v5}
minutes=${2:-100}
photos=${PHOTOS:-/work/shared/data/train}
mkdir -p "$run/train40" "$run/val9"
for i in $(seq 1 49); do
  f=$(printf %03d "$i").png
  if [ "$i" -le 40 ]; then ln -sf "$photos/$f" "$run/train40/$f"; else ln -sf "$photos/$f" "$run/val9/$f"; fi
done
init=vqcodec-base-v4
checkpoint=$run/ckpt.safetensors
if [ ! -e "$checkpoint" ] && [ -n "${SNAPSHOT:-}" ]; then
  cp "$SNAPSHOT" "$checkpoint"  # resume from the committed snapshot (re-warm-up)
fi
export OMP_NUM_THREADS=${THREADS:-1} PYTHONPATH=$repo
exec python -m vqcodec train \
  --data "$run/train40" --val "$run/val9" --init-from "$init" --untiled-encoder \
  --latent-dim 64 --stages 20 --steps 3500 --batch-size 8 --crop 128 --lr 2e-5 \
  --log-every 100 --checkpoint-every 250 --threads "${THREADS:-1}" --time-limit "$minutes" \
  --train-device "${TRAIN_DEVICE:-cpu}" \
  --out "$run/vqcodec-v5-campaign.safetensors" --name vqcodec-v5-campaign \
  --checkpoint "$checkpoint" --log "$run/log.jsonl"
