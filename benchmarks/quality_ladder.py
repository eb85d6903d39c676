"""The quality ladder: the multiplier mu of each quality, calibrated on training photos.

Encodes crops of training photos (41-49 by default, which design runs hold out) with
the shipped encoder at a grid of multipliers mu, then picks mu for qualities
2..S-1 so that the mean rate grows by the same factor at every quality step, from
quality 1 (one stage everywhere) to quality S (every stage). Prints the grid, the
ladder and the rates it is aiming at; writes every point to ``--out``. The result is
copied into ``MU_LADDER`` in vqcodec/ratecontrol.py.

    python benchmarks/quality_ladder.py ../shared/data/train \
        --out benchmarks/results/quality-ladder.json
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch
import training_crops

import vqcodec
from vqcodec import codec
from vqcodec.metrics import psnr

MUS = (math.inf, 16000, 8000, 4000, 2000, 1000, 400, 200, 100, 50, 25, 12, 6, 0)


def point(model, rgb: np.ndarray, mu: float) -> tuple[float, float]:
    """bpp of the whole file and PSNR of ``rgb`` encoded at ``mu``."""
    data = codec.encode_at(rgb, "RGB", model, mu)
    back, _ = codec.decode(data, model)
    return 8 * len(data) / (rgb.shape[0] * rgb.shape[1]), psnr(rgb, back)


def ladder(mus: list[float], rates: list[float], stages: int) -> list[float]:
    """mu for qualities 2..stages-1 whose rates step evenly in log-rate between the
    rates at mu = inf and mu = 0, by log-log interpolation of the measured ``rates``."""
    finite = [(m, r) for m, r in zip(mus, rates, strict=True) if 0 < m < math.inf]
    log_mu = np.log([m for m, _ in finite])
    log_rate = np.log([r for _, r in finite])  # rising as mu falls
    lo, hi = math.log(rates[mus.index(math.inf)]), math.log(rates[mus.index(0)])
    targets = lo + (hi - lo) * np.arange(1, stages - 1) / (stages - 1)
    return [float(np.exp(np.interp(t, log_rate, log_mu))) for t in targets]


def main() -> None:
    args = training_crops.parser(__doc__.splitlines()[0]).parse_args()
    torch.set_num_threads(2)
    model = vqcodec.get_model(args.model)
    per_image = []
    for n, rgb in training_crops.crops(args):
        per_image.append([point(model, rgb, mu) for mu in MUS])
        print(f"{n:03d}.png", flush=True)
    mean = np.mean(per_image, 0)
    mus = list(MUS)
    result = {
        "model": model.name,
        "photos": f"{args.first:03d}-{args.last:03d}, top-left {args.crop}",
        "grid": [
            {"mu": str(m), "bpp": float(b), "psnr": float(p)}
            for m, (b, p) in zip(mus, mean, strict=True)
        ],
        "ladder": ladder(mus, list(mean[:, 0]), model.stages),
        "per_image": [[list(p) for p in row] for row in per_image],
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for m, (b, p) in zip(mus, mean, strict=True):
        print(f"mu {m:>7}  {b:.4f} bpp  {p:.2f} dB")
    print(f"ladder (qualities 2..{model.stages - 1}):", [round(m, 1) for m in result["ladder"]])


if __name__ == "__main__":
    main()
