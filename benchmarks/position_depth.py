"""Per-position depth (.vqc version 3) against per-tile depth (version 2), whole files.

Encodes crops of training photos (41-49 by default, which design runs held out) at
qualities 3, 5, 7 and 9 both ways with the shipped encoder and prints, per photo and
on average, the BD-rate in PSNR of per-position depth against per-tile depth
(negative: fewer bytes for the same PSNR). Writes every point to ``--out``.

    python benchmarks/position_depth.py ../shared/data/train --out /tmp/position-depth.json
"""

from __future__ import annotations

import json

import numpy as np
import torch
import training_crops

import vqcodec
from vqcodec import container
from vqcodec.bench.metrics import bd_rate
from vqcodec.metrics import psnr

QUALITIES = (3, 5, 7, 9)


def curve(model, rgb: np.ndarray, per_position: bool) -> list[dict]:
    """bpp, PSNR and format version of ``rgb`` at each of ``QUALITIES``."""
    out = []
    for q in QUALITIES:
        data = vqcodec.compress(rgb, q, model=model, per_position=per_position)
        back = np.asarray(vqcodec.decompress(data))
        out.append(
            {
                "quality": q,
                "bpp": 8 * len(data) / (rgb.shape[0] * rgb.shape[1]),
                "psnr": psnr(rgb, back),
                "format_version": container.parse(data).format_version,
            }
        )
    return out


def main() -> None:
    args = training_crops.parser(__doc__.splitlines()[0]).parse_args()
    torch.set_num_threads(1)
    model = vqcodec.get_model(args.model)
    rows, gains = [], []
    for n, rgb in training_crops.crops(args):
        tile, position = curve(model, rgb, False), curve(model, rgb, True)
        pair = [([p["bpp"] for p in c], [p["psnr"] for p in c]) for c in (tile, position)]
        gain = bd_rate(*pair)[0]
        gains.append(gain)
        rows.append({"photo": n, "tile": tile, "position": position, "bd_rate": gain})
        versions = [p["format_version"] for p in position]
        print(f"photo {n:03d}: {gain:+.1f} % (versions {versions})", flush=True)
    result = {"model": model.name, "crop": args.crop, "photos": rows, "mean": float(np.mean(gains))}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"per-position depth against per-tile depth: {np.mean(gains):+.1f} % BD-rate")


if __name__ == "__main__":
    main()
