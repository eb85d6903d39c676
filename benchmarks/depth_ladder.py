"""Per-tile depth (vqcodec/ratecontrol.py) against uniform depths, on a folder of images.

For each image: the uniform curve (every tile at depth d = 1..S, codes from a beam
search without a rate term; ``--width 1``: greedy codes), and, for a grid of Lagrange
multipliers mu, what the encoder does: codes searched with ``beam_rate(mu)``, each
tile's depth minimising its squared error + mu * bits, the image decoded with those
depths. Rates are ideal bits under the coder (the range coder adds < 0.1 %)
plus the zlib'd depth map. Prints mean bpp / PSNR per mu, the same for plain uniform
depths, and the BD-rate of the depth curve against the plain one.

Fit on training photographs, never on the evaluation set:

    python benchmarks/depth_ladder.py ../shared/data/train --first 41 --last 49 \
        --out benchmarks/results/depth-ladder.json
"""

from __future__ import annotations

import argparse
import json
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from vqcodec import codec, ratecontrol
from vqcodec.bench.metrics import bd_rate
from vqcodec.metrics import psnr
from vqcodec.ratecontrol import (
    MU_LADDER,
    assemble,
    beam_rate,
    choose_depths,
    grid_depths,
    tile_sse,
    tile_sum,
)
from vqcodec.registry import get_model
from vqcodec.train import IMAGE_SUFFIXES
from vqcodec.transform import decode_indices, encode_paths

MUS = (6000, 3000, 2000, 1500, 800, 400, 200, 100, 50, 25, 12, 6)


def coded_bpp(model, idx: np.ndarray, depths: np.ndarray, pixels: int) -> float:
    """Ideal bits of the present indices plus the depth map's zlib bytes, per pixel."""
    grid = grid_depths(depths)
    stages = int(depths.max())
    masks = [grid > s for s in range(stages)]
    bits = sum(codec.ideal_bits(idx, model, masks))
    if depths.min() < stages:
        bits += 8 * len(zlib.compress(depths.astype(np.uint8).tobytes(), 9))
    return bits / pixels


def measure(path: Path, model, width: int) -> dict:
    """Uniform depths (rate-free search) and the encoder's per-tile depths at each mu."""
    rgb = np.asarray(Image.open(path).convert("RGB"))
    h, w = rgb.shape[:2]

    def search(rate: float):
        return encode_paths(
            model.net, rgb, model.stages, codec.code_search(model, model.stages, rate, width)
        )

    def cost(paths):
        bits = np.stack([tile_sum(codec.position_bits(p, model)) for p in paths])
        return bits, np.stack([tile_sse(decode_indices(model.net, p), rgb) for p in paths])

    bits, sse = cost(search(0.0))
    plain = [
        (float(b.sum() / (h * w)), float(10 * np.log10(255**2 * 3 * h * w / e.sum())))
        for b, e in zip(bits, sse, strict=True)
    ]
    points = []
    for mu in MUS:
        paths = search(beam_rate(mu) if width > 1 else 0.0)
        depths = choose_depths(model.net, rgb, paths, lambda i: codec.position_bits(i, model), mu)
        idx = assemble(paths, depths)
        grid = grid_depths(depths)
        out = decode_indices(model.net, idx, depths=grid)
        points.append((coded_bpp(model, idx, depths, h * w), psnr(out[:h, :w], rgb)))
    return {"image": path.name, "plain": plain, "depth": points}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--model", default=None)
    ap.add_argument("--first", type=int, default=None, help="First image number (by name).")
    ap.add_argument("--last", type=int, default=None, help="Last image number (by name).")
    ap.add_argument("--width", type=int, default=ratecontrol.BEAM_WIDTH, help="1: greedy codes")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    model = get_model(args.model)
    files = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    files = [
        p
        for p in files
        if (args.first is None or int(p.stem) >= args.first)
        and (args.last is None or int(p.stem) <= args.last)
    ]
    rows = []
    for p in files:
        rows.append(measure(p, model, args.width))
        print(p.name, flush=True)
    plain = np.mean([r["plain"] for r in rows], 0)
    depth = np.mean([r["depth"] for r in rows], 0)
    result = {
        "model": model.name,
        "images": [p.name for p in files],
        "ladder": list(MU_LADDER),
        "beam_width": args.width,
        "plain": plain.tolist(),
        "depth": [dict(mu=mu, bpp=b, psnr=q) for mu, (b, q) in zip(MUS, depth, strict=True)],
        "bd_rate_depth_vs_plain": bd_rate(
            (list(plain[:, 0]), list(plain[:, 1])), (list(depth[:, 0]), list(depth[:, 1]))
        ),
        "per_image": rows,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("plain  ", " ".join(f"{b:.3f}/{q:.2f}" for b, q in plain))
    for mu, (b, q) in zip(MUS, depth, strict=True):
        print(f"mu {mu:>5}  {b:.4f} bpp  {q:.2f} dB")
    print("BD-rate of per-tile depth vs uniform stages:", result["bd_rate_depth_vs_plain"])


if __name__ == "__main__":
    main()
