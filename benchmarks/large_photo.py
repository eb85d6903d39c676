"""Whole-process times of the command line on one large photo (issue 14's 12 MP target).

Runs ``vqcodec compress`` at the default quality and effort and ``vqcodec decompress``
(to PNG and to BMP) as child processes, each ``--repeats`` times, and records the wall
and CPU seconds of each (the median wall), imports, model load and network compile
included. Make a 12 MP photo from training photos, not Kodak, for example by tiling nine
of them resized to 1334x1000 into 4000x3000:

    python benchmarks/large_photo.py photo12mp.png --threads 2 \
        --out benchmarks/results/large-photo.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image


def timed(command: list[str], threads: int) -> dict:
    """Wall and CPU seconds (user + system) of one child process running ``command``."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu}


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
        png_size = (Path(tmp) / "back.png").stat().st_size
    result = {
        "image": str(args.image),
        "megapixels": width * height / 1e6,
        "bytes": size,
        "bpp": 8 * size / (width * height),
        "png_bytes": png_size,
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
        print(f"{name}: {s['median_wall_s']:.2f} s wall, CPU {s['runs'][0]['cpu_s']:.2f} s")
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
