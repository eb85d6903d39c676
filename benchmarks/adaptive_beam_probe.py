"""Probe (not a shipped level): effort 4's beam of 3 only where the greedy choice is in
doubt, nearest codes elsewhere, on 512x512 centre crops of held-out training photos 41-49.

A latent is "in doubt" when, at one of its first ``--stages`` stages, the second-nearest
code is within ``--tau`` times the residual's energy of the nearest. The probe swaps
:func:`vqcodec.quantizer.narrow_beam` inside :mod:`vqcodec.ratecontrol` for that mix and
encodes at effort 4 (``--tau 0``: the real effort 4, and effort 5 as the reference).
Prints and writes each curve (:func:`int8_heldout.curve`: mean bpp and PSNR per quality,
CPU s per encode) and the share of latents beamed; compare curves with
``vqcodec.bench.rdmetrics.bd_rate``.

    PYTHONPATH=$PWD python benchmarks/adaptive_beam_probe.py ../shared/data/train \\
        --model vqcodec-base-v2 --tau 0.016 --out t016.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from int8_heldout import crops, curve

from vqcodec import ratecontrol
from vqcodec.quantizer import narrow_beam
from vqcodec.registry import get_model


def mixed_search(tau: float, first: int, seen: dict):
    """A drop-in for ``narrow_beam``: greedy codes, the beam on the latents in doubt."""

    def search(books, z, width, plain, context=None, context_from=0):
        n, stages = z.shape[0], len(books)
        norms = books.pow(2).sum(2)
        residual = z.float().clone()
        codes = torch.empty(stages, n, dtype=torch.long)
        doubt = torch.zeros(n, dtype=torch.bool)
        for s in range(stages):
            dist = torch.addmm(norms[s][None], residual, books[s].t(), alpha=-2)
            if s < first:
                two = dist.topk(2, 1, largest=False).values
                doubt |= (two[:, 1] - two[:, 0]) < tau * residual.pow(2).sum(1)
            codes[s] = dist.argmin(1)
            residual = residual - books[s][codes[s]]
        out = torch.zeros(stages, n, stages, dtype=torch.long)
        for s in range(stages):
            out[s, :, : s + 1] = codes[: s + 1].t()
        rows = doubt.nonzero().flatten()
        seen["latents"] += n
        seen["beamed"] += len(rows)
        if len(rows):
            out[:, rows] = narrow_beam(books, z[rows], width, plain, context, context_from)
        return out

    return search


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photos", type=Path)
    ap.add_argument("--model", default=None)
    ap.add_argument("--tau", type=float, default=0.016)
    ap.add_argument("--stages", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    model = get_model(args.model)
    seen = {"latents": 0, "beamed": 0}
    if args.tau > 0:
        ratecontrol.narrow_beam = mixed_search(args.tau, args.stages, seen)
    images = crops(args.photos)
    qualities = list(range(2, model.stages, 2))
    out: dict = {"model": model.name, "tau": args.tau, "stages": args.stages}
    for level in (4, 5) if args.tau == 0 else (4,):
        out[str(level)] = curve(model, images, level, qualities, 1)
        print(level, out[str(level)], flush=True)
    out["beamed"] = seen["beamed"] / max(1, seen["latents"])
    print("share of latents beamed", out["beamed"])
    args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
