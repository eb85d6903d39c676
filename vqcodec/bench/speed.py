"""Encode/decode speed and peak memory per codec, each measured in its own child process.

Method: one fresh Python process per (codec, setting, image set) runs
:mod:`vqcodec.bench.worker`. Times are the best of ``repeats`` runs per image, as
wall time and as process CPU time, including the Python wrapper (array <-> bytes);
an untimed run on a small crop comes first. Peak RSS is the child's own high-water
mark at the end (VmHWM on Linux, else ru_maxrss; see worker.peak_rss_mb):
interpreter, libraries, the images and the codec's working memory;
``baseline_rss_mb`` is the same before the codec was loaded. Classical codecs run
in a process that never imports torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]  # the folder holding the vqcodec package
TARGET_BPP = 0.75  # timed at the setting whose mean rate is nearest this, as in the anchors
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
METHOD = {  # as recorded in the results
    "summary": "setting nearest 0.75 bpp; median over images of the best of N runs",
    "timing": "wall (perf_counter) and process CPU time (process_time) per image, best of "
    "`repeats` runs after one untimed run on a 256x256 crop, including array <-> bytes; "
    "MP/s is the median over images of megapixels / time",
    "memory": "one fresh child process per codec; peak_rss_mb is its peak resident set "
    "(VmHWM of /proc/self/status on Linux, where ru_maxrss is inherited across exec; "
    "ru_maxrss elsewhere) after the timing (interpreter, libraries, decoded images and the codec); "
    "baseline_rss_mb the same before the codec was loaded; classical codecs run without "
    "torch imported",
    "threads": "classical codecs single-threaded (AVIF max_threads=1, JPEG XL numthreads=1); "
    "vqcodec with the stated torch thread count; OMP/MKL/OpenBLAS threads set to match",
}


def run_worker(job: dict, threads: int = 1) -> dict:
    """Run one timing job in a child process; ``{"error": ...}`` if the child fails.

    ``job``: codec, setting, images (paths; .npy files hold raw RGB arrays), repeats,
    threads, and for vqcodec optionally model and device.
    """
    env = {**os.environ, **{var: str(threads) for var in THREAD_VARS}}
    # the child imports this same vqcodec, installed or not
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "vqcodec.bench.worker"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"error": f"exit status {proc.returncode}: {' / '.join(tail)}"}
    return json.loads(proc.stdout)


def summarize(result: dict) -> dict:
    """Medians over the images of the per-image best times, in ms and megapixels per second."""
    if "error" in result:
        return result
    rows = result["images"]
    out = {k: v for k, v in result.items() if k != "images"}
    for step in ("encode", "decode"):
        for clock in ("wall", "cpu"):
            seconds = np.array([r[f"{step}_{clock}_s"] for r in rows])
            mp_s = np.array([r["pixels"] for r in rows]) / 1e6 / np.maximum(seconds, 1e-9)
            out[f"{step}_{clock}_ms"] = float(1000 * np.median(seconds))
            out[f"{step}_{clock}_mp_per_s"] = float(np.median(mp_s))
    out["per_image"] = rows
    return out


def label(job: dict, labels: dict[str, str]) -> str:
    """The codec's label, marked when the job runs on a GPU."""
    return labels[job["codec"]] + (" on GPU" if job["device"] != "cpu" else "")


def nearest_setting(points: Sequence[dict], target: float = TARGET_BPP) -> dict:
    """The rate-distortion point whose mean bpp is nearest ``target`` (in log-rate)."""
    return min(points, key=lambda p: abs(np.log(p["bpp"] / target)))


def cuda_available() -> bool:
    """Whether vqcodec can also be timed on a CUDA GPU here."""
    import torch

    return torch.cuda.is_available()


def jobs(
    codecs: Sequence[str], settings: dict[str, object], threads: int, model: str | None
) -> dict[str, dict]:
    """Timing jobs (without images) keyed by result name: every codec, plus vqcodec on GPU."""
    out = {}
    for name in codecs:
        job = {"codec": name, "setting": settings[name], "threads": 1, "device": "cpu"}
        if name == "vqcodec":
            job.update(threads=threads, model=model)
        out[name] = job
        if name == "vqcodec" and cuda_available():
            out["vqcodec-cuda"] = {**job, "device": "cuda"}
    return out
