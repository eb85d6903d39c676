"""v3 against v2 on Kodak from two ``vqcodec bench`` results, by PSNR range.

    python benchmarks/campaigns/v3/compare_v2.py \
        benchmarks/results/vqcodec-base-v3/kodak/results.json \
        benchmarks/results/vqcodec-base-v3/v2-effort3/results.json

The second file is ``vqcodec bench ../shared/data/kodak --model vqcodec-base-v2 --codecs
vqcodec --no-speed`` at the same code and effort as the first, so the curves differ only by
model. Prints BD-rates (negative: v3 needs fewer bits) over v2's whole range and over bands.
"""

from __future__ import annotations

import argparse
import json

from vqcodec.bench import rdmetrics, summary

BANDS = [(23.9, 28.5), (28.5, 30.6), (30.6, 32.2)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("v3", help="results.json of the v3 bench (with webp)")
    ap.add_argument("v2", help="results.json of the v2 bench at the same effort")
    args = ap.parse_args()
    with open(args.v3) as f3, open(args.v2) as f2:
        v3, v2 = json.load(f3), json.load(f2)
    a, b = (
        summary.rd_curve(v2["rd"]["vqcodec"]["points"]),
        summary.rd_curve(v3["rd"]["vqcodec"]["points"]),
    )
    found = rdmetrics.bd_rate(a, b)
    print(f"v3 against v2, over {found[1][0]:.2f}-{found[1][1]:.2f} dB: {found[0]:+.2f} %")
    for band in BANDS:
        print(f"  over {band[0]}-{band[1]} dB: {rdmetrics.bd_rate(a, b, within=band)[0]:+.2f} %")
    if "webp" in v3["rd"]:
        for name, c in (("v2", a), ("v3", b)):
            got = rdmetrics.bd_rate(summary.rd_curve(v3["rd"]["webp"]["points"]), c)
            print(f"{name} against WebP, over {got[1][0]:.2f}-{got[1][1]:.2f} dB: {got[0]:+.2f} %")
    for name, (bpp, psnr) in (("v2", a), ("v3", b)):
        at = [rdmetrics.quality_at_rate(bpp, psnr, r) for r in (0.25, 0.5, 1.0)]
        rates = "/".join(f"{q:.2f}" for q in at)
        print(f"{name}: PSNR at 0.25/0.5/1 bpp {rates}, top {max(psnr):.2f}")


if __name__ == "__main__":
    main()
