"""Rate-distortion of model files on training photos 041-049, held out from the design runs.

The four design runs of benchmarks/gpu/explore.sh trained on photos 001-040 only, so
photos 041-049 compare them without touching Kodak. Rate is the ideal rate under each
model's plain tables (coder 1); images are cropped to 768x512.

    python benchmarks/heldout_rd.py ../shared/data/train A.safetensors B.safetensors ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from vqcodec.entropy import ideal_bits
from vqcodec.metrics import psnr
from vqcodec.transform import decode_indices, encode_indices
from vqcodec.weights import load_model

HELD_OUT = range(41, 50)
SHOWN = (1, 2, 3, 4, 6, 8, 12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument(
        "--all", action="store_true", help="every PNG in FOLDER (e.g. Kodak), not 41-49"
    )
    args = ap.parse_args()
    files = (
        sorted(args.folder.glob("*.png"))
        if args.all
        else [args.folder / f"{i:03d}.png" for i in HELD_OUT]
    )
    images = [np.asarray(Image.open(f).convert("RGB"))[:512, :768] for f in files]
    for path in args.models:
        m = load_model(path)
        shown = [s for s in SHOWN if s < m.stages] + [m.stages]
        rows = []
        for img in images:
            idx = encode_indices(m.net, img, m.stages)
            bits = np.cumsum([ideal_bits(idx[s], m.counts[s]) for s in range(m.stages)])
            bpp = [bits[s - 1] / (img.shape[0] * img.shape[1]) for s in shown]
            quality = [psnr(decode_indices(m.net, idx[:s]), img) for s in shown]
            rows.append(bpp + quality)
        mean = np.mean(rows, 0)
        pairs = zip(mean[: len(shown)], mean[len(shown) :], strict=True)
        print(path.name, " ".join(f"{b:.3f}/{q:.2f}" for b, q in pairs))


if __name__ == "__main__":
    main()
