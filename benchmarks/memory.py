"""Peak memory and time of compress + decompress as the image grows.

Each size runs in a fresh subprocess, so its peak RSS (VmHWM) is its own. The
image is synthetic (smooth gradients and texture), generated inside the subprocess;
its own bytes (3 per pixel) count toward the peak, as would a decoded input.

    python benchmarks/memory.py --sizes 1 12 50 --out benchmarks/results/memory.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def synthetic(megapixels: float) -> np.ndarray:
    """A 3:2 uint8 RGB image of about ``megapixels``, built row block by row block."""
    w = int(round((megapixels * 1e6 * 1.5) ** 0.5))
    h = int(round(megapixels * 1e6 / w))
    img = np.empty((h, w, 3), dtype=np.uint8)
    x = np.arange(w, dtype=np.float32)
    for y0 in range(0, h, 256):
        y = np.arange(y0, min(h, y0 + 256), dtype=np.float32)[:, None]
        for c in range(3):
            v = 128 + 60 * np.sin(x / (90 + 30 * c) + y / 70) + 30 * np.cos((x + y) / 9.0)
            img[y0 : y0 + len(y), :, c] = np.clip(v, 0, 255).astype(np.uint8)
    return img


def vm_hwm_mib() -> float:
    """This process's own peak RSS (VmHWM); ru_maxrss can carry a forked parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(megapixels: float, quality: int) -> None:
    """Runs in the subprocess: prints one JSON line of measurements."""
    import vqcodec

    img = synthetic(megapixels)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    data = vqcodec.compress(img, quality)
    t1 = time.perf_counter()
    after_encode = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = vqcodec.decompress(data)
    t2 = time.perf_counter()
    assert out.size == (img.shape[1], img.shape[0])
    print(
        json.dumps(
            {
                "megapixels": img.shape[0] * img.shape[1] / 1e6,
                "width": img.shape[1],
                "height": img.shape[0],
                "quality": quality,
                "image_mib": img.nbytes / 2**20,
                "bytes": len(data),
                "rss_before_mib": base / 1024,
                "peak_after_encode_mib": after_encode / 1024,
                "encode_s": t1 - t0,
                "decode_s": t2 - t1,
                "peak_rss_mib": vm_hwm_mib(),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[1, 12, 50])
    ap.add_argument("--quality", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.child, args.quality)
        return
    rows = []
    for mp in args.sizes:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(mp), "--quality", str(args.quality)],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{row['megapixels']:6.1f} MP: image {row['image_mib']:7.1f} MiB, peak RSS "
            f"{row['peak_rss_mib']:7.1f} MiB (before coding {row['rss_before_mib']:.1f}), "
            f"encode {row['encode_s']:.1f} s, decode {row['decode_s']:.1f} s",
            flush=True,
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
