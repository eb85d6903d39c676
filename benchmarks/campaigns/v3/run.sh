#!/bin/bash
# The vqcodec-base-v3 training campaign: one command, rerun to resume (see README.md here).
# Usage: benchmarks/campaigns/v3/run.sh [RUN_DIR] [MINUTES]   (from a checkout; RUN_DIR default
# /work/runs/train/v3, MINUTES the time limit of this call, default 85; the optional
# settings are in ../campaign.sh).
key=v3
init=vqcodec-base-v2
minutes=85
source "$(dirname "$0")/../campaign.sh"
exec "${train[@]}" --latent-dim 64 --stages 20 --steps 24000 --lr 1e-4 --bf16
