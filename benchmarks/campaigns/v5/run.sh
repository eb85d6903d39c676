#!/bin/bash
# The vqcodec-base-v5 training campaign: vqcodec-base-v4 (untiled encoder, 64-value latent,
# 20 stages) trained for 3,500 more steps on a fresh cosine schedule with a lower peak rate;
# v4 was still gaining when its schedule ended. One command, rerun to resume.
# Usage: benchmarks/campaigns/v5/run.sh [RUN_DIR] [MINUTES]   (from a checkout; RUN_DIR default
# /work/runs/train/v5, MINUTES the time limit of this call, default 100; the optional
# settings are in ../campaign.sh).
key=v5
init=vqcodec-base-v4
minutes=100
source "$(dirname "$0")/../campaign.sh"
exec "${train[@]}" --untiled-encoder --latent-dim 64 --stages 20 --steps 3500 --lr 2e-5
