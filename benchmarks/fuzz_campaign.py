"""A long mutation-fuzzing campaign against the .vqc decoder (outside CI).

Every input must end as an image or a vqcodec.VQCodecError, within a time bound,
with peak memory bounded by the pixel limit. Anything else is saved for replay.

    python benchmarks/fuzz_campaign.py --minutes 10 --out benchmarks/results/fuzz.json
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from mutations import mutate  # noqa: E402

import vqcodec  # noqa: E402

LIMIT = 1 << 20


def seeds() -> list[bytes]:
    """Valid files of several sizes, modes and qualities, plus the version-2 and -3
    (per-tile and per-position depth) test vectors."""
    rng = np.random.default_rng(0)
    out = []
    for h, w, c, q in [
        (48, 64, 3, 1),
        (40, 33, 3, 8),
        (17, 20, 1, 3),
        (64, 40, 4, 2),
        (1, 1, 3, 1),
        (30, 70, 2, 4),
    ]:
        img = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
        out.append(vqcodec.compress(img, q))
    vectors = Path(__file__).parent.parent / "formats" / "vectors"
    out += [p.read_bytes() for p in sorted(vectors.glob("*-depth-*-q*.vqc"))]
    out += [p.read_bytes() for p in sorted(vectors.glob("*-positions-*-q*.vqc"))]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--crashes", type=Path, default=Path("fuzz-crashes"))
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    valid = seeds()
    outcomes: Counter[str] = Counter()
    slowest, total_time, crashes = 0.0, 0.0, []
    end = time.monotonic() + 60 * args.minutes
    while time.monotonic() < end:
        data = valid[int(rng.integers(len(valid)))]
        for _ in range(int(rng.integers(1, 4))):
            data = mutate(data, rng) if data else data
        t0 = time.monotonic()
        try:
            img = vqcodec.decompress(data, max_pixels=LIMIT)
            outcomes["image"] += 1
            assert img.width * img.height <= LIMIT
        except vqcodec.VQCodecError as exc:
            outcomes[f"error: {type(exc).__name__}"] += 1
        except Exception:
            outcomes["crash"] += 1
            args.crashes.mkdir(exist_ok=True)
            path = args.crashes / f"crash-{len(crashes)}.vqc"
            path.write_bytes(data)
            crashes.append({"file": str(path), "traceback": traceback.format_exc()})
        dt = time.monotonic() - t0
        slowest, total_time = max(slowest, dt), total_time + dt
    n = sum(outcomes.values())
    result = {
        "inputs": n,
        "outcomes": dict(outcomes),
        "minutes": args.minutes,
        "mean_ms_per_input": 1000 * total_time / max(n, 1),
        "slowest_ms": 1000 * slowest,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "pixel_limit": LIMIT,
        "crashes": crashes,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "crashes"}, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    sys.exit(1 if crashes else 0)


if __name__ == "__main__":
    main()
