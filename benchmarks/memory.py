"""Peak memory and time of compress + decompress as the image grows.

Each size runs in a fresh subprocess, so its peak RSS (VmHWM) is its own. The
image is synthetic (vqcodec.bench.images.synthetic), generated inside the subprocess;
its own bytes (3 per pixel) count toward the peak, as would a decoded input.

    python benchmarks/memory.py --sizes 1 12 50 --out benchmarks/results/memory.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def child(megapixels: float, quality: int) -> None:
    """Runs in the subprocess: prints one JSON line of measurements."""
    import vqcodec
    from vqcodec.bench.images import synthetic, synthetic_size
    from vqcodec.bench.worker import peak_rss_mb

    img = synthetic(*synthetic_size(megapixels))
    base = peak_rss_mb()
    t0 = time.perf_counter()
    data = vqcodec.compress(img, quality, max_pixels=1 << 28)
    t1 = time.perf_counter()
    after_encode = peak_rss_mb()
    out = vqcodec.decompress(data, max_pixels=1 << 28)
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
                "rss_before_mib": base,
                "peak_after_encode_mib": after_encode,
                "encode_s": t1 - t0,
                "decode_s": t2 - t1,
                "peak_rss_mib": peak_rss_mb(),
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
