#!/bin/bash
# How vqcodec-base-v2 was trained on the lent H100, as run there (in two calls: `f2.sh 8.5`,
# then the same script again with 9 to resume from the checkpoint). The training photos
# travelled as lossless WebP/PNG copies (.gpudata*/, not in git) into /root/data.
# A 300-step probe measured the speed and fixed --steps (27000) before the real run.
# $1: minutes for this call's training
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 CUBLAS_WORKSPACE_CONFIG=:4096:8
n=$(ls /root/data | wc -l); echo "have $n"; [ "$n" -ge 40 ] || exit 3
cp .gpudata2/train/*.png /root/data/ 2>/dev/null; ls /root/data | wc -l
cfg="--data /root/data --batch-size 16 --crop 256 --stages 12 --enc-blocks 3 --dec-blocks 2 --dropout-unit tile --train-device cuda --threads 8"
if [ ! -f /root/N ]; then
  python3 -m vqcodec train $cfg --steps 300 --out /tmp/probe.safetensors --log /tmp/probe.jsonl --checkpoint /tmp/probe.ckpt > /dev/null 2>&1
  python3 - <<'PY'
import json
r = [json.loads(l) for l in open("/tmp/probe.jsonl")]
rate = 250 / r[0]["seconds"]
n = int(rate * 950 / 1000) * 1000
print("probe steps/s", rate, "N", n)
open("/root/N", "w").write(str(n))
PY
fi
N=$(cat /root/N); echo "N=$N"
python3 -m vqcodec train $cfg --steps $N --name vqcodec-base-v2 --out /root/vqcodec-base-v2.safetensors --log /root/vqcodec-base-v2.log.jsonl --checkpoint /root/v2.ckpt.safetensors --time-limit $1 --force > /root/train.out 2>&1
tail -c 300 /root/train.out
cp /root/vqcodec-base-v2.safetensors /root/vqcodec-base-v2.log.jsonl $OUT/
echo "N=$N" > $OUT/N.txt
