"""An effort's int8 encoder against the same effort with its encoder at the networks'
precision, on 512x512 centre crops of held-out training photos (41-49).

For each effort, every crop at qualities 2, 4, 6, ... below the model's top: mean bpp
and mean PSNR per quality (mean curves), the BD-rate in PSNR of int8 against the other,
and the CPU seconds per encode (this process, ``THREADS`` threads). Kodak is never used.

    PYTHONPATH=$PWD python benchmarks/int8_heldout.py ../shared/data/train \\
        --model vqcodec-base-v2 --efforts 1,3 --threads 1 --out heldout.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

import vqcodec
from vqcodec import effort
from vqcodec.bench.rdmetrics import bd_rate
from vqcodec.metrics import psnr
from vqcodec.registry import get_model


def crops(folder: Path, size: int = 512) -> list[np.ndarray]:
    """Centre crops of photos 041-049 of ``folder``."""
    out = []
    for i in range(41, 50):
        rgb = np.asarray(Image.open(folder / f"{i:03d}.png").convert("RGB"))
        top, left = (rgb.shape[0] - size) // 2, (rgb.shape[1] - size) // 2
        out.append(np.ascontiguousarray(rgb[top : top + size, left : left + size]))
    return out


def curve(model, images, level: int, qualities, threads: int) -> dict:
    """Mean (bpp, PSNR) per quality and CPU seconds per encode at effort ``level``."""
    points, cpu = [], 0.0
    for q in qualities:
        bpp, quality = [], []
        for rgb in images:
            start = time.process_time()
            data = vqcodec.compress(rgb, q, model=model, effort=level, threads=threads)
            cpu += time.process_time() - start
            back = np.asarray(vqcodec.decompress(data, model=model, threads=threads))
            bpp.append(8 * len(data) / rgb.shape[0] / rgb.shape[1])
            quality.append(psnr(rgb, back))
        points.append((float(np.mean(bpp)), float(np.mean(quality))))
    return {"points": points, "cpu_s_per_encode": cpu / len(qualities) / len(images)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photos", type=Path)
    ap.add_argument("--model", default=None)
    ap.add_argument("--efforts", default="1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    model = get_model(args.model)
    images = crops(args.photos)
    qualities = [q for q in range(2, model.stages, 2)]
    levels = effort.LEVELS
    out: dict = {"model": model.name, "qualities": qualities}
    for level in (int(e) for e in args.efforts.split(",")):
        for encoder in ("int8", None):
            effort.LEVELS = tuple(  # this effort with its encoder at int8, or as the networks
                dataclasses.replace(e, encoder=encoder) if e.level == level else e for e in levels
            )
            out[f"{level}-{encoder or 'networks'}"] = curve(
                model, images, level, qualities, args.threads
            )
        effort.LEVELS = levels
        fast, plain = out[f"{level}-int8"]["points"], out[f"{level}-networks"]["points"]
        found = bd_rate(
            ([p[0] for p in plain], [p[1] for p in plain]),
            ([p[0] for p in fast], [p[1] for p in fast]),
        )
        out[f"{level}-bd"] = found
        print(f"effort {level}: int8 encoder BD-rate {found[0]:+.2f} % against the networks' own")
    args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
