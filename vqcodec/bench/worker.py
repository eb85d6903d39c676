"""The child process that times one codec at one setting on a list of images.

Reads a JSON job on stdin and writes a JSON result on stdout. Each job runs in a
fresh process so that its peak resident memory (``ru_maxrss`` of the process) is
that codec's alone (``python -m vqcodec.bench.worker``, started by
:mod:`vqcodec.bench.speed`); torch is imported only when the codec is vqcodec.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from .codecs import make
from .images import load_rgb

T = TypeVar("T")
WARMUP_SIDE = 256  # the untimed first run, on a crop this size, loads models and libraries


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far, in MiB (None where unsupported).

    On Linux this is VmHWM of /proc/self/status: ru_maxrss would not do, since Linux
    carries it over from the parent (which holds torch) across fork and exec.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def best_of(fn: Callable[..., T], args: tuple, repeats: int) -> tuple[float, float, T]:
    """Smallest wall time and smallest process CPU time of ``repeats`` calls, and the output."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn(*args)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), out


def _load(path: str) -> tuple[str, np.ndarray]:
    if path.endswith(".npy"):
        return Path(path).name, np.load(path)
    image = load_rgb(Path(path))
    return image.name, image.pixels


def run_job(job: dict) -> dict:
    """Time ``job["codec"]`` at ``job["setting"]`` on ``job["images"]``; see speed.run_worker."""
    images = [_load(p) for p in job["images"]]
    baseline = peak_rss_mb()
    device = job.get("device", "cpu")
    if job["codec"] == "vqcodec":
        import torch

        torch.set_num_threads(job["threads"])
    codec = make(
        job["codec"], job.get("model"), device, job.get("effort"), job.get("precision", "auto")
    )
    setting = job["setting"]
    warm = images[0][1][:WARMUP_SIDE, :WARMUP_SIDE]
    codec.decode(codec.encode(np.ascontiguousarray(warm), setting))
    rows = []
    for name, pixels in images:
        enc_wall, enc_cpu, data = best_of(codec.encode, (pixels, setting), job["repeats"])
        dec_wall, dec_cpu, out = best_of(codec.decode, (data,), job["repeats"])
        if out.shape != pixels.shape:
            raise RuntimeError(f"{codec.name} decoded {name} to shape {out.shape}")
        rows.append(
            {
                "image": name,
                "pixels": int(pixels.shape[0] * pixels.shape[1]),
                "bytes": len(data),
                "encode_wall_s": enc_wall,
                "encode_cpu_s": enc_cpu,
                "decode_wall_s": dec_wall,
                "decode_cpu_s": dec_cpu,
            }
        )
    result = {"baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb(), "images": rows}
    if device.startswith("cuda"):
        import torch

        result["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def main() -> None:
    json.dump(run_job(json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
