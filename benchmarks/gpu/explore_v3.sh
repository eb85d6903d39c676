#!/bin/bash
# Next design round for a stronger transform, for the next session with a lent GPU (not run
# yet): four designs in parallel for $1 minutes each on training photos 001-040, carried as
# .gpudata/ (lossless WebP, 55 MB) with .whl/ (constriction). Rate them here afterwards with
#   python benchmarks/heldout_rd.py ../shared/data/train A3.safetensors B3.safetensors ...
# A3 is v2's recipe (the control); B3 lets the encoder see across tile borders (on v2, tile
# corners carry 1.2x, the 2x2 centre 0.85x, the mean squared error per 8x8 block; two
# v1-sized CPU runs of 25 minutes gave the untiled encoder -5.5 % BD-rate on photos 41-49,
# benchmarks/results/training/cpu-*.log.jsonl); C3 widens the channels; D3 does both.
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 CUBLAS_WORKSPACE_CONFIG=:4096:8
nvidia-smi --query-gpu=name,memory.total --format=csv
mkdir -p /tmp/ex && ln -sf $PWD/.gpudata/train/*.webp /tmp/ex/ && ls /tmp/ex | wc -l
common="--data /tmp/ex --steps 60000 --batch-size 16 --crop 256 --stages 12 --enc-blocks 3 --dec-blocks 2 --dropout-unit tile --train-device cuda --time-limit $1 --threads 3"
run() { n=$1; shift; python3 -m vqcodec train $common --out /tmp/$n.safetensors --log $OUT/$n.log.jsonl "$@" > /tmp/$n.out 2>&1; tail -c 300 /tmp/$n.out; cp /tmp/$n.safetensors $OUT/; }
run A3 &
run B3 --untiled-encoder &
run C3 --channels 128,192,256 &
run D3 --untiled-encoder --channels 128,192,256 &
wait
ls -la $OUT
