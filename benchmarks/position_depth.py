"""Would a depth per latent position (8x8 pixels) beat the depth per 32x32 tile?

A lever study, not a shipped feature. For each training photo (crops of photos 41-49
by default) and quality 2..11 it encodes the beam paths of every depth as the codec
does, then picks depths three ways at the same mu:

* ``tile``: per tile, as .vqc version 2 does (its map costs little);
* ``potts``: per position, error + mu * bits + mu * 2 bits per neighbour of another depth;
* ``em``: from ``potts``, four rounds of choosing each position's depth by error + mu *
  (bits + the map's code length under the image's own (above, left) depth statistics).

The map is priced by an adaptive count model over (depth above, depth left), the cost a
range-coded depth stream would pay. Prints each method's BD-rate against ``tile``
(payload + map bits); writes every point to ``--out``.

    python benchmarks/position_depth.py ../shared/data/train --out /tmp/position-depth.json
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

import vqcodec
from vqcodec import codec, ratecontrol
from vqcodec.bench.metrics import bd_rate
from vqcodec.images import to_pixels
from vqcodec.metrics import psnr
from vqcodec.transform import decode_indices, encode_paths

BLOCK = 8  # pixels per latent position


def block_sse(image: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Squared error per latent position (8x8 block) over the original's pixels."""
    h, w = rgb.shape[:2]
    diff = image[:h, :w].astype(np.int64) - rgb
    err = np.pad((diff * diff).sum(2), ((0, -h % 32), (0, -w % 32)))
    return err.reshape(err.shape[0] // BLOCK, BLOCK, -1, BLOCK).sum((1, 3))


def map_bits(depth: np.ndarray, symbols: int = 13) -> float:
    """Code length of a depth map under adaptive counts per (depth above, depth left)."""
    up = np.pad(depth, ((1, 0), (0, 0)))[:-1]
    left = np.pad(depth, ((0, 0), (1, 0)))[:, :-1]
    counts: dict = defaultdict(lambda: np.full(symbols, 0.2))
    total = 0.0
    for a, lf, x in zip(up.ravel(), left.ravel(), depth.ravel(), strict=True):
        c = counts[(a, lf)]
        total -= np.log2(c[x] / c.sum())
        c[x] += 1
    return total


def _neighbours_differing(depth: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """``[S, rows, cols]``: for each candidate depth, how many 4-neighbours differ."""
    padded = np.pad(depth.astype(int), 1, constant_values=-1)
    count = np.zeros((len(levels), *depth.shape))
    for dr, dc in ((0, 1), (2, 1), (1, 0), (1, 2)):
        nb = padded[dr : dr + depth.shape[0], dc : dc + depth.shape[1]]
        count += (levels[:, None, None] != nb[None]) & (nb[None] >= 0)
    return count


def potts(cost: np.ndarray, mu: float, start: np.ndarray, beta: float = 2.0) -> np.ndarray:
    """Per-position depths by iterated conditional modes with a Potts smoothness price."""
    depth, levels = start.copy(), np.arange(1, len(cost) + 1)
    for _ in range(4):
        depth = (cost + mu * beta * _neighbours_differing(depth, levels)).argmin(0) + 1
    return depth.astype(np.uint8)


def em(cost: np.ndarray, mu: float, start: np.ndarray, symbols: int = 13) -> np.ndarray:
    """Per-position depths pricing the map by the image's own (above, left) statistics."""
    depth = start.astype(int)
    rows, cols = depth.shape
    for _ in range(4):
        up = np.pad(depth, ((1, 0), (0, 0)))[:-1]
        left = np.pad(depth, ((0, 0), (1, 0)))[:, :-1]
        counts = np.full((symbols, symbols, symbols), 0.5)
        np.add.at(counts, (up, left, depth), 1)
        length = -np.log2(counts / counts.sum(2, keepdims=True))
        total = np.empty_like(cost)
        for x in range(1, len(cost) + 1):
            right, below = np.zeros((rows, cols)), np.zeros((rows, cols))
            right[:, :-1] = length[up[:, 1:], x, depth[:, 1:]]
            below[:-1] = length[x, left[1:], depth[1:]]
            total[x - 1] = cost[x - 1] + mu * (length[up, left, x] + right + below)
        depth = total.argmin(0) + 1
    return depth.astype(np.uint8)


def evaluate(model, rgb: np.ndarray, quality: int) -> dict:
    """Payload bits, map bits and PSNR of each depth choice at ``quality``."""
    stages = model.stages
    mu = ratecontrol.quality_mu(quality, stages)
    search = codec.code_search(model, stages, ratecontrol.beam_rate(mu))
    paths = encode_paths(model.net, rgb, stages, search)
    cost = np.stack(
        [
            mu * codec.position_bits(p, model).sum(0) + block_sse(decode_indices(model.net, p), rgb)
            for p in paths
        ]
    )
    tile_cost = np.stack([ratecontrol.tile_sum(c[None]) for c in cost])
    tile = ratecontrol.grid_depths((tile_cost.argmin(0) + 1).astype(np.uint8))
    smooth = potts(cost, mu, tile)
    maps = {"tile": tile, "potts": smooth, "em": em(cost, mu, smooth)}
    out = {}
    for name, depth in maps.items():
        top = int(depth.max())
        idx = np.zeros((top, *depth.shape), dtype=np.int32)
        for d in np.unique(depth):
            idx[:d, depth == d] = paths[d - 1][:, depth == d]
        masks = [depth > s for s in range(top)]
        payload = float(codec.position_bits(idx, model, masks).sum())
        side = map_bits(depth[::4, ::4] if name == "tile" else depth)
        image = decode_indices(model.net, idx, "cpu", depth)
        out[name] = {
            "payload_bits": payload,
            "map_bits": side,
            "psnr": psnr(rgb, image[: rgb.shape[0], : rgb.shape[1]]),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--first", type=int, default=41, help="first photo number (NNN.png)")
    ap.add_argument("--last", type=int, default=49)
    ap.add_argument("--crop", default="512x768", help="HxW taken from each photo's corner")
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = vqcodec.get_model(args.model)
    h, w = (int(v) for v in args.crop.split("x"))
    points = []
    for n in range(args.first, args.last + 1):
        rgb, _ = to_pixels(args.folder / f"{n:03d}.png")
        rgb = rgb[:h, :w, :3]
        for q in range(2, model.stages):
            points.append({"photo": n, "quality": q, **evaluate(model, rgb, q)})
            print(json.dumps(points[-1]), flush=True)
    args.out.write_text(json.dumps(points, indent=1) + "\n")
    for name in ("potts", "em"):
        gains = []
        for n in range(args.first, args.last + 1):
            pts = [p for p in points if p["photo"] == n]
            curve = {
                k: (
                    [(p[k]["payload_bits"] + p[k]["map_bits"]) / (h * w) for p in pts],
                    [p[k]["psnr"] for p in pts],
                )
                for k in ("tile", name)
            }
            result = bd_rate(curve["tile"], curve[name])
            if result is not None:
                gains.append(result[0])
        per_photo = np.round(gains, 1)
        print(f"{name}: BD-rate vs per-tile depth {np.mean(gains):+.1f} % (per photo {per_photo})")


if __name__ == "__main__":
    main()
