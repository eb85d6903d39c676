#!/bin/bash
# Exploration on the lent GPU, as run there with `explore.sh 4`: four designs trained in
# parallel for 4 minutes each on training photos 001-040 (041-049 held out for
# benchmarks/heldout_rd.py). Logs: benchmarks/results/training/explore-*.log.jsonl.
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 CUBLAS_WORKSPACE_CONFIG=:4096:8
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, constriction; print(torch.__version__, torch.cuda.is_available())"
ls .gpudata/train | wc -l
mkdir -p /tmp/ex && for f in .gpudata/train/0[0-3]?.webp .gpudata/train/040.webp; do ln -sf $PWD/$f /tmp/ex/; done
ls /tmp/ex | wc -l
common="--data /tmp/ex --steps 40000 --batch-size 16 --crop 256 --stages 12 --dropout-unit tile --train-device cuda --time-limit $1 --threads 3"
run() { n=$1; shift; python3 -m vqcodec train $common --out /tmp/$n.safetensors --log $OUT/$n.log.jsonl "$@" > /tmp/$n.out 2>&1; tail -c 400 /tmp/$n.out; cp /tmp/$n.safetensors $OUT/; }
run A --enc-blocks 1 --dec-blocks 1 &
run B --enc-blocks 3 --dec-blocks 2 &
run C --enc-blocks 3 --dec-blocks 2 --rate-lambda 0.1 &
run D --enc-blocks 3 --dec-blocks 2 --rate-lambda 0.1 --latent-dim 16 &
sleep 60; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
wait
python3 -m vqcodec roundtrip --device cuda
python3 -m vqcodec roundtrip --device cpu
ls -la $OUT
