"""The held-out training crops that encoder design scripts measure on.

Photos 41-49 of the training folder (which design runs hold out), each cut to its
top-left corner, so that scripts compare like with like and never touch Kodak.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vqcodec.images import to_pixels


def parser(description: str) -> argparse.ArgumentParser:
    """Arguments every such script takes: the folder, the photo range, the crop, the
    model and the output file."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--first", type=int, default=41, help="first photo number (NNN.png)")
    ap.add_argument("--last", type=int, default=49)
    ap.add_argument("--crop", default="512x768", help="HxW taken from each photo's corner")
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", type=Path, required=True)
    return ap


def crops(args: argparse.Namespace) -> Iterator[tuple[int, np.ndarray]]:
    """``(photo number, uint8 RGB crop)`` for each photo of ``args``' range."""
    h, w = (int(v) for v in args.crop.split("x"))
    for n in range(args.first, args.last + 1):
        yield n, to_pixels(args.folder / f"{n:03d}.png")[0][:h, :w, :3]
