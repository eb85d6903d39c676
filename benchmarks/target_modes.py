"""How well the target modes hit their targets, and what they cost, on held-out photos.

For each crop of training photos 41-49: the file for each --target-bpp (its bpp against
the target), for each --max-bytes (never over, and how full), for each --target-psnr
(the PSNR reached), with the time of each against one encode at a fixed quality.
Prints a table and writes JSON:

    python benchmarks/target_modes.py ../shared/data/train --crop 256x384 \\
        --out benchmarks/results/target-modes.json
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
from training_crops import crops, parser

import vqcodec
from vqcodec import api

BPP = (0.1, 0.25, 0.5)
BYTES_PER_PIXEL = (0.02, 0.05)  # limits as a fraction of the crop's pixels
PSNR = (27.0, 30.0)


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = vqcodec.get_model(args.model)
    rows = []
    for n, crop in crops(args):
        t0 = time.perf_counter()
        vqcodec.compress(crop, 6, model=model)
        base = time.perf_counter() - t0
        pixels = crop.shape[0] * crop.shape[1]
        targets = [("bpp", b) for b in BPP] + [
            ("max_bytes", int(f * pixels)) for f in BYTES_PER_PIXEL
        ]
        targets += [("psnr", p) for p in PSNR]
        for kind, value in targets:
            t0 = time.perf_counter()
            try:
                r = api.compress_to_target(crop, model=model, **{kind: value})
            except vqcodec.VQCodecError as exc:
                rows.append({"photo": n, "kind": kind, "target": value, "error": str(exc)})
                continue
            seconds = time.perf_counter() - t0
            row = {"photo": n, "kind": kind, "target": value, "bytes": r.bytes, "bpp": r.bpp}
            row |= {"psnr": r.psnr, "mu": r.mu, "seconds": seconds, "quality_6_seconds": base}
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for kind, value in sorted({(r["kind"], r["target"]) for r in rows}):
        done = [r for r in rows if (r["kind"], r["target"]) == (kind, value) and "error" not in r]
        if not done:
            continue
        reached = np.array(
            [r[{"bpp": "bpp", "max_bytes": "bytes", "psnr": "psnr"}[kind]] for r in done]
        )
        err = reached - value if kind == "psnr" else reached / value - 1
        summary[f"{kind}={value}"] = {
            "files": len(done),
            "mean_error": float(err.mean()),
            "max_abs_error": float(np.abs(err).max()),
            "over": int((reached > value).sum()),
            "time_ratio_median": float(
                np.median([r["seconds"] / r["quality_6_seconds"] for r in done])
            ),
        }
    for key, s in summary.items():
        print(key, json.dumps(s))
    args.out.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
