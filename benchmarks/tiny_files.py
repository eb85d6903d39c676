"""What files of under 1 KB can make `vqcodec info` and `vqcodec decompress` cost.

Writes the worst small files the limits allow and a few they refuse, then runs each
command on each file in a fresh process, timing it and reading its peak memory:

    python benchmarks/tiny_files.py --out benchmarks/results/tiny-files.json

Under coder 3 a flat image costs about 0.0014 bits per index, so a few hundred bytes
could describe 2^24 pixels; above 1 MP a reader refuses more than 1,024 padded pixels per
byte (vqcodec pads what it writes to that), so the worst file of under 1 KB is a flat
image of 1 MP.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import vqcodec
from vqcodec import coders, container, limits
from vqcodec.container import VQCFile


def _cheapest_repeat(model, stage: int) -> int:
    """The index that costs least when it fills a whole stage (a flat image): its
    probability where the index above and to the left are that index too."""
    t = coders.CODERS[3].tables(model, stage)
    w = t.mix(t.context, t.left, t.counts).astype(np.float64)  # row k: above = left = k
    return int(np.argmax(np.diag(w) / w.sum(1)))


def _file(
    model, width: int, height: int, depths: np.ndarray | None, words=None, pad: bool = False
) -> bytes:
    """A file of ``model`` for a flat image, every stage filled with its cheapest
    repeated index, with per-position ``depths`` (version 3) or one stage everywhere;
    as small as that makes it, or padded to the density limit as vqcodec writes it."""
    rows, cols = limits.latent_grid(width, height, 32, 8)
    grid = np.ones((rows, cols), np.uint8) if depths is None else depths
    stages = int(grid.max())
    masks = [grid > s for s in range(stages)]
    coder = coders.for_model(model)
    flat = [np.full((rows, cols), _cheapest_repeat(model, s), np.int32) for s in range(stages)]
    streams = coders.encode_streams(coder, np.stack(flat), model, masks)
    return container.write(
        VQCFile(
            model=model.name,
            fingerprint=model.fingerprint,
            width=width,
            height=height,
            mode="RGB",
            tile=32,
            downsample=8,
            coder=coder.id,
            symbols=tuple(int(m.sum()) for m in masks),
            streams=streams if words is None else tuple(words for _ in streams),
            depths=depths,
            format_version=1 if depths is None else 3,
        ),
        pad=pad,
    )


def cases(model) -> dict[str, bytes]:
    side = np.full((4, 4096), 2, np.uint8)  # 32,768 x 32: the most wavefronts allowed
    side[0, 0] = 1  # in the 1 MP that a file of under 1 KB may ask for
    one_word = (np.array([1], np.uint32),)
    bad = bytearray(_file(model, 64, 64, None))
    size_at = 6 + len(model.name) + 16
    bad[size_at : size_at + 8] = np.array([2_000_000, 1], "<u4").tobytes()
    return {
        "flat 1024x1024, version 1 (the most pixels a file under 1 KB may ask for)": _file(
            model, 1024, 1024, None
        ),
        "flat 4096x4096, version 1 (at the pixel limit, as vqcodec writes it)": _file(
            model, 4096, 4096, None, pad=True
        ),
        "flat 4096x4096, version 1, not padded (refused: density)": _file(model, 4096, 4096, None),
        "flat 32768x32, version 1 (density limit)": _file(model, 32_768, 32, None),
        "flat 32768x32, version 3 (density limit)": _file(model, 32_768, 32, side),
        "flat 65535x256, version 1, not padded (refused: density)": _file(model, 65_535, 256, None),
        "4096x4096 claiming 262,144 indices in one word": _file(
            model, 4096, 4096, None, one_word[0]
        ),
        "1x2,000,000 (refused by its side)": container.seal(bytes(bad[:-4])),
    }


# Runs the CLI and prints its own peak RSS (VmHWM: ru_maxrss would include this
# process's, which holds torch, across fork and exec) as the last line of stderr.
_CHILD = (
    "import atexit, runpy, sys\n"
    "from vqcodec.bench.worker import peak_rss_mb\n"
    "atexit.register(lambda: print(f'peak {peak_rss_mb():.0f}', file=sys.stderr))\n"
    "sys.argv = ['vqcodec', *sys.argv[1:]]\n"
    "runpy.run_module('vqcodec', run_name='__main__')\n"
)


def measure(args: list[str]) -> dict:
    """Wall time, peak RSS and the error line of one CLI command in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wall = time.perf_counter() - t0
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    peak = float(lines.pop().split()[1]) if lines and lines[-1].startswith("peak ") else None
    return {
        "exit": proc.returncode,
        "s": round(wall, 2),
        "peak_mib": peak,
        "stderr": lines[-1] if lines else "",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=vqcodec.DEFAULT_MODEL)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    model = vqcodec.get_model(args.model)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in cases(model).items():
            path = Path(tmp) / "x.vqc"
            path.write_bytes(data)
            row = {"file": name, "bytes": len(data)}
            for cmd in ("info", "decompress"):
                argv = [cmd, str(path)]
                if cmd == "decompress":
                    argv += [str(Path(tmp) / "x.png"), "--force"]
                row[cmd] = measure(argv)
            print(json.dumps(row), flush=True)
            results.append(row)
    summary = {"threads": args.threads, "load_average_after": os.getloadavg(), "files": results}
    args.out.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
