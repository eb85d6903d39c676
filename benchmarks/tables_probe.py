"""Probe: would entropy tables counted on more images, or with a weaker prior, pay?

A model's tables are counted by ``vqcodec.train.count_tables``: full-depth greedy indices
at every position of the training photos, plus ``CONTEXT_PRIOR`` pseudo-counts per
context row. This probe counts them on photos 001-040 alone, with their mirror images,
with copies at 0.5x and 0.71x scale, and with other priors, and prices the indices of
effort-3 files of photos 041-049 (held out) at a few qualities under each (ideal bits at
the positions the files code, the model's coder). The model's shipped tables, counted on
all 49 photos, are priced too: they saw the test photos, so they only bound what
counting on the test set itself would give.

    python benchmarks/tables_probe.py ../shared/data/train --model vqcodec-base-v2 \
        --qualities 3,6,9 --out probe.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
from PIL import Image

from vqcodec import coders, ratecontrol
from vqcodec import effort as efforts
from vqcodec.codec import ideal_bits
from vqcodec.registry import get_model
from vqcodec.train import CONTEXT_PRIOR, pair_counts, smoothed_tables

PRIORS = (64, CONTEXT_PRIOR, 1024)


def photo(folder: Path, i: int, scale: float = 1.0, mirror: bool = False) -> np.ndarray:
    """Photo ``i`` at ``scale`` (Lanczos), mirrored left-right if asked, cut to 32s."""
    im = Image.open(folder / f"{i:03d}.png").convert("RGB")
    if scale != 1.0:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    a = np.asarray(im)[:, ::-1] if mirror else np.asarray(im)
    return np.ascontiguousarray(a[: a.shape[0] // 32 * 32, : a.shape[1] // 32 * 32])


def coded(model, img: np.ndarray, quality: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The indices an effort-3 file of ``img`` sends, and where (per stage)."""
    mu = ratecontrol.quality_mu(quality, model.stages)
    coder = coders.for_model(model)
    rate = ratecontrol.RateModel(model, mu, coder, "cpu", None, efforts.effort(3), 1)
    paths = rate.paths(img)
    grid = rate.depths(img, paths, True)
    idx = ratecontrol.assemble(paths, grid)
    return idx, [grid > s for s in range(len(idx))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--model", default="vqcodec-base-v2")
    ap.add_argument("--qualities", default="3,6,9")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    m = get_model(args.model)
    train = range(1, 41)
    base = pair_counts(m.net, (photo(args.folder, i) for i in train))
    mirror = pair_counts(m.net, (photo(args.folder, i, mirror=True) for i in train))
    scales = [photo(args.folder, i, s) for s in (0.5, 0.71) for i in train]
    small = pair_counts(m.net, scales)
    variants = {"photos 1-40": [base], "+ mirrored": [base, mirror], "+ 0.5x, 0.71x": [base, small]}
    variants["+ both"] = [base, mirror, small]
    tables = {
        f"{k}, prior {p}": smoothed_tables(*map(sum, zip(*v, strict=True)), p)
        for k, v in variants.items()
        for p in PRIORS
    }
    result = {"model": args.model, "bpp": {}}
    for q in map(int, args.qualities.split(",")):
        files = [coded(m, photo(args.folder, i), q) for i in range(41, 50)]
        pixels = sum(idx.shape[1] * idx.shape[2] * 64 for idx, _ in files)
        bpp = {}
        for name, (plain, ctx, left) in tables.items():
            t = dataclasses.replace(m, counts=plain, context_counts=ctx, left_counts=left)
            bpp[name] = sum(sum(ideal_bits(i, t, p)) for i, p in files) / pixels
        bpp["shipped tables (all 49 photos)"] = (
            sum(sum(ideal_bits(i, m, p)) for i, p in files) / pixels
        )
        ref = bpp[f"photos 1-40, prior {CONTEXT_PRIOR}"]
        print(f"quality {q}:", flush=True)
        for name, v in bpp.items():
            print(f"  {name}: {v:.4f} bpp ({v / ref - 1:+.2%})", flush=True)
        result["bpp"][q] = bpp
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
