#!/bin/bash
# The vqcodec-base-v4 training campaign: vqcodec-base-v3 with an untiled encoder (latents at
# tile borders see across them; tiles are still quantized on their own), every layer trained.
# One command, rerun to resume (see README.md here).
# Usage: benchmarks/campaigns/v4/run.sh [RUN_DIR] [MINUTES]   (from a checkout; RUN_DIR default
# /work/runs/train/v4, MINUTES the time limit of this call, default 100; the optional
# settings are in ../campaign.sh).
key=v4
init=vqcodec-base-v3
minutes=100
source "$(dirname "$0")/../campaign.sh"
exec "${train[@]}" --untiled-encoder --latent-dim 64 --stages 20 --steps 12000 --lr 1e-4 --bf16
