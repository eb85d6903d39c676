"""What every results file records about the run, and standard JSON output."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
from pathlib import Path

from .codecs import library_versions


def _finite(obj):
    """``obj`` with NaN and infinities replaced by None, so the JSON is standard."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_json(path: Path, obj: dict) -> None:
    """Write ``obj`` as indented, standard JSON (non-finite numbers as null)."""
    path.write_text(json.dumps(_finite(obj), indent=1, allow_nan=False) + "\n")


def compressai_json(name: str, record: dict) -> dict:
    """One codec's curve in CompressAI's results layout (``compressai.utils.plot`` reads
    it): ``name``, ``description`` and ``results`` with per-setting ``bpp``, ``psnr-rgb``
    and ``ms-ssim`` (means over images; null where MS-SSIM was not measured)."""
    points = record["points"]
    return {
        "name": name,
        "description": f"{record['label']}, {record['setting']} {[p['setting'] for p in points]}",
        "results": {
            "bpp": [p["bpp"] for p in points],
            "psnr-rgb": [p["psnr"] for p in points],
            "ms-ssim": [p["ms_ssim"] for p in points],
        },
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """Where and when the numbers were taken: CPU, cores, load, GPU, library versions."""
    import torch

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "logical_cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "versions": library_versions(),
    }
