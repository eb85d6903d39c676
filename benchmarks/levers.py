"""Measure encoder-side rate-distortion levers on a folder of images, for one model.

Compares, by mean bpp (ideal bits under the model's tables; the range coder adds
0.04 %) and mean RGB PSNR over all images:

* ``plain``: the shipped encoder, quality = number of stages;
* ``depth-latent``: a per-tile number of stages chosen by latent error + mu * bits;
* ``ecvq-depth-latent``: the same with entropy-constrained code choice at each stage;
* ``depth-image``: per-tile stages chosen by the tile's pixel error at each depth.

Each lever is summarised by its BD-rate against ``plain`` (negative = fewer bits).
Nothing here changes the codec: it measures whether a lever is worth a format change.

    python benchmarks/levers.py ../shared/data/kodak --model vqcodec-base-v2 \
        --out benchmarks/results/levers.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vqcodec.bench.metrics import bd_rate
from vqcodec.metrics import psnr
from vqcodec.model import LATENT_TILE, TILE
from vqcodec.quantizer import code_bits
from vqcodec.registry import get_model
from vqcodec.transform import pad_to_tiles

LATENT_MUS = (0.1, 0.03, 0.01, 0.006, 0.003, 0.0015, 0.0007, 0.0003)
IMAGE_MUS = (3000.0, 1000.0, 500.0, 300.0, 150.0, 60.0, 20.0)


def rd_choose(z: torch.Tensor, books: torch.Tensor, bits: torch.Tensor, mu: float, ecvq: bool):
    """Per-stage indices ``[S, h, w]`` and per-position residual error and bits ``[S, h, w]``."""
    d, h, w = z.shape
    r = z.permute(1, 2, 0).reshape(-1, d)
    idx, err, rate = [], [], []
    for s in range(books.shape[0]):
        cost = books[s].pow(2).sum(1)[None] - 2 * r @ books[s].t()
        if ecvq:
            cost = cost + mu * bits[s][None]
        i = cost.argmin(1)
        r = r - books[s][i]
        idx.append(i)
        err.append(r.pow(2).sum(1))
        rate.append(bits[s][i])
    shape = (-1, h, w)
    return (torch.stack(v).reshape(shape) for v in (idx, err, rate))


def per_tile(v: np.ndarray, size: int) -> np.ndarray:
    """Sum ``[S, H, W]`` over ``size`` x ``size`` tiles -> ``[S, H/size, W/size]``."""
    s, h, w = v.shape
    return v.reshape(s, h // size, size, w // size, size).sum((2, 4))


def decode(net, idx: torch.Tensor, levels: np.ndarray | None) -> np.ndarray:
    """uint8 image from indices ``[S, h, w]`` and optional per-position stage counts."""
    lev = None if levels is None else torch.from_numpy(levels.astype(np.int64))[None]
    with torch.inference_mode():
        img = net.reconstruct(idx[None], lev)[0]
    return (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def depth_levels(score: np.ndarray) -> np.ndarray:
    """Best depth per tile from scores ``[S, th, tw]``, expanded to latent positions."""
    depth = score.argmin(0) + 1
    return depth.repeat(LATENT_TILE, 0).repeat(LATENT_TILE, 1)


def measure(folder: Path, model: str) -> dict:
    m = get_model(model)
    net, stages = m.net, m.stages
    books = net.quantizer.codebooks.float()
    bits = torch.stack([code_bits(torch.from_numpy(c)) for c in m.counts]).float()
    curves: dict[str, list[list[tuple[float, float]]]] = {}

    def add(name: str, k: int, bpp: float, quality: float, n: int) -> None:
        curves.setdefault(name, [[] for _ in range(n)])[k].append((bpp, quality))

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    for path in files:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        h, w = rgb.shape[:2]
        x = torch.from_numpy(np.array(pad_to_tiles(rgb))).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            z = net.encode(x)[0]
        idx, _, rate = rd_choose(z, books, bits, 0.0, False)
        rate_np = rate.double().numpy()
        tile_rate = np.cumsum(per_tile(rate_np, LATENT_TILE), 0)
        tile_err = np.empty_like(tile_rate)
        for n in range(1, stages + 1):
            out = decode(net, idx[:n], None)
            add("plain", n - 1, rate_np[:n].sum() / (h * w), psnr(out[:h, :w], rgb), stages)
            diff = (out.astype(np.float64) - np.asarray(pad_to_tiles(rgb), np.float64)) ** 2
            tile_err[n - 1] = per_tile(diff.sum(2)[None], TILE)[0]
        for k, mu in enumerate(IMAGE_MUS):
            lev = depth_levels(tile_err + mu * tile_rate)
            used = np.arange(stages)[:, None, None] < lev[None]
            out = decode(net, idx, lev)
            bpp = (rate_np * used).sum() / (h * w)
            add("depth-image", k, bpp, psnr(out[:h, :w], rgb), len(IMAGE_MUS))
        for name, ecvq in (("depth-latent", False), ("ecvq-depth-latent", True)):
            for k, mu in enumerate(LATENT_MUS):
                i2, err, r2 = rd_choose(z, books, bits, mu, ecvq)
                r2 = r2.double().numpy()
                err_t = per_tile(err.double().numpy(), LATENT_TILE)
                rate_t = np.cumsum(per_tile(r2, LATENT_TILE), 0)
                lev = depth_levels(err_t + mu * rate_t)
                used = np.arange(stages)[:, None, None] < lev[None]
                out = decode(net, i2, lev)
                add(name, k, (r2 * used).sum() / (h * w), psnr(out[:h, :w], rgb), len(LATENT_MUS))
        print(path.name, flush=True)
    result: dict = {"model": m.name, "images": len(files), "levers": {}}
    for name, points in curves.items():
        mean = [
            (float(np.mean([p[0] for p in c])), float(np.mean([p[1] for p in c]))) for c in points
        ]
        result["levers"][name] = {"points": mean}
    base = result["levers"]["plain"]["points"]
    for lever in result["levers"].values():
        pts = lever["points"]
        lever["bd_rate_vs_plain"] = bd_rate(
            ([p[0] for p in base], [p[1] for p in base]), ([p[0] for p in pts], [p[1] for p in pts])
        )
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    result = measure(args.folder, args.model)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for name, lever in result["levers"].items():
        pts = " ".join(f"{b:.3f}/{q:.2f}" for b, q in lever["points"])
        print(f"{name:18s} BD-rate vs plain {lever['bd_rate_vs_plain']}  {pts}")


if __name__ == "__main__":
    main()
