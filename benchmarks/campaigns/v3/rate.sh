#!/bin/bash
# Rate the campaign as it stands, without disturbing it: a copy of its checkpoint is
# resumed for one step in a scratch folder (which writes a model file there), then that
# model and vqcodec-base-v2 are rated on photos 041-049 (benchmarks/heldout_rd.py).
# Usage: benchmarks/campaigns/v3/rate.sh [RUN_DIR] [SCRATCH]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
run=${1:-/work/runs/train/v3}
scratch=${2:-$run/rate}
mkdir -p "$scratch"
cp "$run/ckpt.safetensors" "$scratch/ckpt.safetensors"
rm -f "$scratch/vqcodec-v3-campaign.safetensors"
"$here/run.sh" "$scratch" 1e-9 > "$scratch/run.out" 2>&1
cd "$repo"
PYTHONPATH=$repo OMP_NUM_THREADS=${THREADS:-1} python benchmarks/heldout_rd.py "${PHOTOS:-/work/shared/data/train}" \
  vqcodec/models/vqcodec-base-v2.safetensors "$scratch/vqcodec-v3-campaign.safetensors"
