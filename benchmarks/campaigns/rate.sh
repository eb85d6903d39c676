#!/bin/bash
# Rate a campaign as it stands, without disturbing it: a copy of its checkpoint is resumed
# for no step in a scratch folder (which writes the run's model file there), then the
# shipped models AGAINST (default vqcodec-base-v2) and that model are rated on photos
# 041-049 (benchmarks/heldout_rd.py).
# Usage: benchmarks/campaigns/rate.sh KEY [RUN_DIR] [SCRATCH]   (KEY: v3, v4, ... as in
# ship.py's CAMPAIGNS; RUN_DIR default /work/runs/train/KEY; the run writes
# vqcodec-KEY-campaign.safetensors). Example: AGAINST="vqcodec-base-v2 vqcodec-base-v3"
# benchmarks/campaigns/rate.sh v4
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
key=${1:?usage: rate.sh KEY [RUN_DIR] [SCRATCH]}
run=${2:-/work/runs/train/$key}
scratch=${3:-$run/rate}
mkdir -p "$scratch"
cp "$run/ckpt.safetensors" "$scratch/ckpt.safetensors"
rm -f "$scratch/vqcodec-$key-campaign.safetensors"
"$here/$key/run.sh" "$scratch" 1e-9 > "$scratch/run.out" 2>&1
cd "$repo"
against=()
for name in ${AGAINST:-vqcodec-base-v2}; do against+=("vqcodec/models/$name.safetensors"); done
PYTHONPATH=$repo OMP_NUM_THREADS=${THREADS:-1} python benchmarks/heldout_rd.py "${PHOTOS:-/work/shared/data/train}" \
  "${against[@]}" "$scratch/vqcodec-$key-campaign.safetensors"
