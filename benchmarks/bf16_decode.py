"""What decoding in bf16 costs in PSNR against float32, image by image.

Encodes every image of a folder at the given qualities (default effort), decodes each
file with the decoder network in float32 and in bf16 (OpenVINO on this CPU), and records
each decode's PSNR against the original, the PSNR and largest pixel difference between
the two decodes, and whether bf16 gives the same pixels at 1 and 2 threads:

    python benchmarks/bf16_decode.py ../shared/data/kodak --qualities 2,6,10 \
        --out benchmarks/results/bf16-decode.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

import vqcodec
from vqcodec import decoding
from vqcodec.metrics import psnr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--qualities", default="2,6,10")
    ap.add_argument("--images", type=int, default=0, help="the first N images (0: all)")
    ap.add_argument("--threads", type=int, default=1, help="for encoding")
    args = ap.parse_args()
    paths = sorted(args.folder.glob("*.png"))[: args.images or None]
    qualities = [int(q) for q in args.qualities.split(",")]
    rows = []
    for path in paths:
        img = np.asarray(Image.open(path).convert("RGB"))
        for q in qualities:
            data = vqcodec.compress(img, q, threads=args.threads)
            f32, _ = decoding.decode(data, threads=2, precision="f32")
            bf16, _ = decoding.decode(data, threads=2, precision="bf16")
            bf16_one, _ = decoding.decode(data, threads=1, precision="bf16")
            diff = np.abs(f32.astype(int) - bf16).max()
            row = {"image": path.name, "quality": q, "bpp": 8 * len(data) / img[..., 0].size}
            row |= {"psnr_f32": psnr(f32, img), "psnr_bf16": psnr(bf16, img)}
            row |= {"psnr_between": psnr(bf16, f32), "max_diff": int(diff)}
            row |= {"bf16_same_at_1_and_2_threads": bool(np.array_equal(bf16, bf16_one))}
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for q in qualities:
        sel = [r for r in rows if r["quality"] == q]
        summary[str(q)] = {
            "images": len(sel),
            "mean_psnr_f32": float(np.mean([r["psnr_f32"] for r in sel])),
            "mean_psnr_bf16": float(np.mean([r["psnr_bf16"] for r in sel])),
            "mean_delta_db": float(np.mean([r["psnr_bf16"] - r["psnr_f32"] for r in sel])),
            "worst_delta_db": float(min(r["psnr_bf16"] - r["psnr_f32"] for r in sel)),
            "max_diff": max(r["max_diff"] for r in sel),
            "all_same_at_1_and_2_threads": all(r["bf16_same_at_1_and_2_threads"] for r in sel),
        }
        print(q, summary[str(q)])
    result = {"folder": str(args.folder), "load_average": os.getloadavg(), "summary": summary}
    args.out.write_text(json.dumps(result | {"rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
