"""Whole-process times of the command line on one large photo (issue 14's 12 MP target).

Runs ``vqcodec compress`` at the default quality and effort and ``vqcodec decompress``
(to PNG and to BMP) as child processes, each ``--repeats`` times, and records the wall
and CPU seconds and peak memory of each (the median wall), imports, model load and
network compile included, the PNG's size and whether it reads back to the BMP's pixels.
Make a 12 MP photo from training photos, not Kodak, for example by tiling nine of them
resized to 1334x1000 into 4000x3000:

    python benchmarks/large_photo.py photo12mp.png --threads 2 \
        --out benchmarks/results/large-photo.json
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
from PIL import Image


def timed(command: list[str], threads: int) -> dict:
    """Wall and CPU seconds (user + system) and peak resident memory (MiB) of one child
    process running ``command``."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, command)
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall_s": wall, "cpu_s": cpu, "peak_mib": usage.ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--effort", type=int, default=None, help="default: the CLI's")
    args = ap.parse_args()
    width, height = Image.open(args.image).size
    cli = [sys.executable, "-m", "vqcodec"]
    threads = ["--threads", str(args.threads)]
    effort = [] if args.effort is None else ["-e", str(args.effort)]
    steps: dict[str, list[dict]] = {"compress": [], "decompress-png": [], "decompress-bmp": []}
    with tempfile.TemporaryDirectory() as tmp:
        vqc = Path(tmp) / "photo.vqc"
        for _ in range(args.repeats):
            run = [*cli, "compress", str(args.image), str(vqc), "-f", *threads, *effort]
            steps["compress"].append(timed(run, args.threads))
            for fmt in ("png", "bmp"):
                run = [*cli, "decompress", str(vqc), str(Path(tmp) / f"back.{fmt}"), "-f"]
                steps[f"decompress-{fmt}"].append(timed([*run, *threads], args.threads))
        size = vqc.stat().st_size
        png, bmp = (Path(tmp) / f"back.{fmt}" for fmt in ("png", "bmp"))
        png_size = png.stat().st_size
        same = np.array_equal(np.asarray(Image.open(png)), np.asarray(Image.open(bmp)))
    result = {
        "image": str(args.image),
        "megapixels": width * height / 1e6,
        "bytes": size,
        "bpp": 8 * size / (width * height),
        "png_bytes": png_size,
        "png_pixels_equal_bmp": bool(same),
        "threads": args.threads,
        "effort": args.effort,
        "load_average": os.getloadavg(),
        "steps": {
            name: {
                "median_wall_s": sorted(r["wall_s"] for r in runs)[len(runs) // 2],
                "runs": runs,
            }
            for name, runs in steps.items()
        },
    }
    for name, s in result["steps"].items():
        cpu, peak = (
            sorted(r[k] for r in s["runs"])[len(s["runs"]) // 2] for k in ("cpu_s", "peak_mib")
        )
        print(f"{name}: {s['median_wall_s']:.2f} s wall, CPU {cpu:.2f} s, peak {peak:.0f} MiB")
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
