"""A long coverage-guided fuzzing campaign (atheris) against every decoder layer, outside CI.

Runs each target of tests/fuzz/targets.py for its share of the inputs on one thread,
from the committed seeds plus the corpus earlier campaigns grew (kept outside the repo),
and writes inputs, rate, coverage (libFuzzer's ``cov``: edges of the instrumented vqcodec
bytecode reached; ``ft``: features) and crashes per target.
Every crash file is copied into tests/fuzz/corpus/<target>/ as crash-*, where
tests/test_fuzz.py replays it.

    python benchmarks/fuzz_campaign.py --inputs 1000000 --out benchmarks/results/fuzz-campaign.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "tests" / "fuzz" / "targets.py"
SEEDS = ROOT / "tests" / "fuzz" / "corpus"
# share of the inputs per target: the cheap layers get most (a full decode runs the network)
SHARES = {"container": 0.85, "streams": 0.06, "depths": 0.05, "model": 0.015, "decode": 0.025}


def run_target(name: str, runs: int, work: Path, seconds: int) -> dict:
    """Fuzz one target for ``runs`` inputs (or ``seconds``); its final libFuzzer stats."""
    corpus, crashes = work / "corpus" / name, work / "crashes" / name
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    log = work / f"{name}.log"
    start = time.monotonic()
    with open(log, "w") as f:
        rc = subprocess.call(
            [
                sys.executable,
                str(TARGETS),
                name,
                str(corpus),
                str(SEEDS / name),
                f"-runs={runs}",
                f"-max_total_time={seconds}",
                "-timeout=30",
                "-rss_limit_mb=3000",
                "-print_final_stats=1",
                "-print_pcs=0",
                f"-artifact_prefix={crashes}/",
            ],
            stdout=f,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)},
        )
    wall = time.monotonic() - start
    text = log.read_text(errors="replace")
    stats = dict(re.findall(r"stat::(\w+):\s+(\d+)", text))
    status = re.findall(r"#\d+\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)", text)
    cov, ft, corp = (int(v) for v in status[-1]) if status else (0, 0, 0)
    found = sorted(p for p in crashes.iterdir() if p.is_file())
    for p in found:
        shutil.copy(p, SEEDS / name / f"crash-{p.name.split('-')[-1][:16]}")
    executed = int(stats.get("number_of_executed_units", 0))
    return {
        "inputs": executed,
        "wall_seconds": round(wall, 1),
        "inputs_per_second": round(executed / wall, 1) if wall else 0.0,
        "fuzzing_inputs_per_second": int(stats.get("average_exec_per_sec", 0)),
        "edges_covered": cov,
        "features": ft,
        "corpus_size": corp,
        "peak_rss_mb": int(stats.get("peak_rss_mb", 0)),
        "exit_code": rc,
        "crashes": [p.name for p in found],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=1_000_000, help="Total over all targets.")
    ap.add_argument("--hours", type=float, default=2.0, help="Time cap, shared evenly.")
    ap.add_argument("--targets", default=",".join(SHARES))
    ap.add_argument("--work", type=Path, default=Path("/tmp/vqcodec-fuzz"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    names = args.targets.split(",")
    share = sum(SHARES[n] for n in names)
    results = {}
    for name in names:
        runs = int(args.inputs * SHARES[name] / share)
        results[name] = run_target(name, runs, args.work, int(args.hours * 3600 / len(names)))
        print(name, json.dumps(results[name]), flush=True)
    total = sum(r["inputs"] for r in results.values())
    wall = sum(r["wall_seconds"] for r in results.values())
    summary = {
        "tool": "atheris (libFuzzer), vqcodec modules instrumented, 1 thread",
        "command": " ".join(sys.argv),
        "inputs": total,
        "wall_seconds": round(wall, 1),
        "inputs_per_second": round(total / wall, 1) if wall else 0.0,
        "crashes": sum(len(r["crashes"]) for r in results.values()),
        "targets": results,
    }
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=1) + "\n")
    sys.exit(1 if summary["crashes"] else 0)


if __name__ == "__main__":
    main()
