#!/bin/bash
# The vqcodec-base-v6 training campaign: vqcodec-base-v4 (untiled encoder, 64-value latent,
# 20 stages) with two more residual blocks at the decoder's 1/8 scale (4 instead of 2,
# each starting as the identity), trained for 5,000 steps: the trained layers at v5's safe
# peak rate, the new blocks at 5x it. One command, rerun to resume.
# Usage: benchmarks/campaigns/v6/run.sh [RUN_DIR] [MINUTES]   (from a checkout; RUN_DIR default
# /work/runs/train/v6, MINUTES the time limit of this call, default 110; the optional
# settings are in ../campaign.sh).
key=v6
init=vqcodec-base-v4
minutes=110
source "$(dirname "$0")/../campaign.sh"
exec "${train[@]}" --untiled-encoder --latent-dim 64 --stages 20 --dec-blocks 4 --steps 5000 \
  --lr 2e-5 --grown-lr 5
