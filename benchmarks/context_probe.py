"""Probe: would spatial context pay at the deeper stages? (issue 13's rate targets)

Entropy coder 3 conditions stages 1-2 on the indices above and to the left (multiplied
over the plain table) and every later stage on the previous stage's index. This probe
measures, per stage, the ideal cost of a model's greedy indices under other
combinations of those three tables (each multiplied over the plain table, normalised in
float64), and the total at a few depths against coder 3's combination.

Tables are counted on central 1024x1024 crops of training photos 001-040 (add-one
smoothed, plus 256 pseudo-counts spread like the plain table, as shipped tables are);
costs are measured on photos 041-049, held out. Every stage is sent everywhere (no depth
map), so deeper stages are weighed over all positions.

    python benchmarks/context_probe.py ../shared/data/train --model vqcodec-base-v4 --out probe.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from vqcodec.registry import get_model
from vqcodec.transform import encode_indices

CROP = 1024
MIXES = ("above*left", "prev", "prev*above", "prev*above*left")
DEPTHS = (2, 4, 8, 12, 20)


def crop_indices(net, path: Path, stages: int) -> np.ndarray:
    """Greedy indices ``[stages, rows, cols]`` of the photo's central crop."""
    img = np.asarray(Image.open(path).convert("RGB"))
    h, w = img.shape[:2]
    top, left = (max(0, (h - CROP) // 2) // 32 * 32, max(0, (w - CROP) // 2) // 32 * 32)
    img = img[top : top + CROP, left : left + CROP]
    return np.asarray(
        encode_indices(net, img[: img.shape[0] // 32 * 32, : img.shape[1] // 32 * 32], stages)
    )


def conditional(pairs: list[tuple[np.ndarray, np.ndarray]], plain: np.ndarray) -> np.ndarray:
    """log2 p(index | context) ``[K, K]`` from (context, index) pairs, smoothed like
    the shipped tables."""
    k = len(plain)
    c = np.zeros((k, k))
    for u, v in pairs:
        np.add.at(c, (u.ravel(), v.ravel()), 1)
    c += 256 * plain
    return np.log2(c / c.sum(1, keepdims=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--model", default="vqcodec-base-v4")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    m = get_model(args.model)
    stages, k = m.stages, m.cfg.codebook_size
    train = [crop_indices(m.net, args.folder / f"{i:03d}.png", stages) for i in range(1, 41)]
    test = [crop_indices(m.net, args.folder / f"{i:03d}.png", stages) for i in range(41, 50)]
    per_stage = []
    for s in range(stages):
        counts = np.bincount(np.concatenate([a[s].ravel() for a in train]), minlength=k) + 1.0
        plain = counts / counts.sum()
        above = conditional([(a[s][:-1], a[s][1:]) for a in train], plain)
        left = conditional([(a[s][:, :-1], a[s][:, 1:]) for a in train], plain)
        prev = conditional([(a[s - 1], a[s]) for a in train], plain) if s else None
        bits = dict.fromkeys(MIXES, 0.0)
        for a in test:  # positions with both neighbours
            x, up, lf = a[s][1:, 1:].ravel(), a[s][:-1, 1:].ravel(), a[s][1:, :-1].ravel()
            terms = {"above": above[up], "left": left[lf]}
            if prev is not None:
                terms["prev"] = prev[a[s - 1][1:, 1:].ravel()]
            for mix in MIXES:
                parts = mix.split("*")
                if any(p not in terms for p in parts):
                    continue
                logw = sum(terms[p] for p in parts) - (len(parts) - 1) * np.log2(plain)
                logw -= logw.max(1, keepdims=True)
                norm = np.log2(np.exp2(logw).sum(1))
                bits[mix] -= float((logw[np.arange(len(x)), x] - norm).sum())
        per_stage.append({mix: b for mix, b in bits.items() if b})
        shown = " ".join(f"{mix} {b / 1e3:.1f}k" for mix, b in per_stage[-1].items())
        print(f"stage {s + 1}: {shown}", flush=True)
    coder3 = [st["above*left"] if s < 2 else st["prev"] for s, st in enumerate(per_stage)]
    best = [min(st.values()) for st in per_stage]
    summary = {
        d: {"coder 3": sum(coder3[:d]), "best per stage": sum(best[:d])}
        for d in DEPTHS
        if d <= stages
    }
    for d, v in summary.items():
        print(
            f"depth {d}: best per stage {v['best per stage'] / v['coder 3'] - 1:+.2%} bits "
            "against coder 3"
        )
    if args.out:
        result = {"model": args.model, "per_stage_bits": per_stage, "by_depth": summary}
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
