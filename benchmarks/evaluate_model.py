"""Measure one vqcodec model on a folder of images, for its model card.

For every quality level: mean bpp (whole files), mean RGB PSNR, coded payload bits
against the ideal sum of -log2 p under the shipped tables, header bytes, and encode /
decode seconds per image. Also codebook usage per stage (codes used, perplexity).

    python benchmarks/evaluate_model.py ../shared/data/kodak \
        --out benchmarks/results/model-kodak.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import vqcodec
from vqcodec import codec, container
from vqcodec.images import to_pixels
from vqcodec.metrics import codebook_usage, psnr
from vqcodec.train import IMAGE_SUFFIXES


def usage(indices: list[np.ndarray], size: int) -> dict:
    """Codes used and perplexity (2^entropy) per stage over all images' indices."""
    out = {"codes_used": [], "perplexity": []}
    for s in range(indices[0].shape[0]):
        hist = sum(np.bincount(i[s].ravel(), minlength=size) for i in indices)
        perplexity, used = codebook_usage(hist)
        out["codes_used"].append(used)
        out["perplexity"].append(round(perplexity, 1))
    return out


def evaluate(folder: Path, model_name: str | None, device: str) -> dict:
    model = vqcodec.get_model(model_name)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    rows = {q: [] for q in range(1, model.stages + 1)}
    full_indices = []
    for path in tqdm(files, unit="image"):
        pixels, _ = to_pixels(path)
        for q in rows:
            t0 = time.perf_counter()
            data = vqcodec.compress(pixels, q, model=model, device=device)
            t1 = time.perf_counter()
            back = np.asarray(vqcodec.decompress(data, model=model, device=device))
            t2 = time.perf_counter()
            f = container.parse(data)
            idx = codec.decode_streams(f, model)
            payload = sum(32 * len(w) for w in f.streams)
            ideal = sum(codec.ideal_bits(idx, model, codec.stage_masks(f), f.coder))
            rows[q].append(
                {
                    "image": path.name,
                    "bytes": len(data),
                    "bpp": 8 * len(data) / (f.width * f.height),
                    "psnr": psnr(back.reshape(pixels.shape), pixels),
                    "payload_bits": payload,
                    "ideal_bits": ideal,
                    "indices": sum(f.symbols),
                    "header_bytes": len(data) - payload // 8 - len(f.alpha),
                    "encode_s": t1 - t0,
                    "decode_s": t2 - t1,
                }
            )
            if q == model.stages:
                full_indices.append(idx)
    levels = []
    for q, rs in rows.items():
        levels.append(
            {
                "quality": q,
                "mean_bpp": float(np.mean([r["bpp"] for r in rs])),
                "mean_psnr": float(np.mean([r["psnr"] for r in rs])),
                "payload_over_ideal": float(
                    sum(r["payload_bits"] for r in rs) / sum(r["ideal_bits"] for r in rs)
                ),
                "ideal_bits_per_index": float(
                    sum(r["ideal_bits"] for r in rs) / sum(r["indices"] for r in rs)
                ),
                "mean_header_bytes": float(np.mean([r["header_bytes"] for r in rs])),
                "mean_encode_s": float(np.mean([r["encode_s"] for r in rs])),
                "mean_decode_s": float(np.mean([r["decode_s"] for r in rs])),
                "images": rs,
            }
        )
    return {
        "model": model.name,
        "codebook_fingerprint": model.fingerprint.hex(),
        "folder": str(folder),
        "images": len(files),
        "device": device,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "levels": levels,
        "usage_at_full_quality": usage(full_indices, model.net.cfg.codebook_size),
        "log2_codebook_size": math.log2(model.net.cfg.codebook_size),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--model", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    result = evaluate(args.folder, args.model, args.device)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"{'q':>2} {'bpp':>7} {'PSNR':>6} {'coded/ideal':>11} {'enc s':>6} {'dec s':>6}")
    for lv in result["levels"]:
        print(
            f"{lv['quality']:>2} {lv['mean_bpp']:>7.4f} {lv['mean_psnr']:>6.2f} "
            f"{lv['payload_over_ideal']:>11.4f} {lv['mean_encode_s']:>6.2f} "
            f"{lv['mean_decode_s']:>6.2f}"
        )
    print("usage at full quality:", result["usage_at_full_quality"])


if __name__ == "__main__":
    main()
