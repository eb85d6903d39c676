"""How encode/decode time and peak memory grow with image size: 0.1 to 64 MP.

Each codec runs at its middle setting (about 0.75 bpp) on synthetic photo-like
images, one child process per codec and size, measured as in :mod:`.speed`.
Writes scaling.json, scaling.md and scaling.png.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import report, speed
from .codecs import available
from .images import synthetic, synthetic_size
from .record import machine, write_json
from .run import Options

SIZES_MP = (0.1, 1, 4, 16, 64)


def _measure(job: dict, width: int, height: int) -> dict:
    """One codec on one synthetic image: times, bpp and peak memory, or the error."""
    result = speed.run_worker(job, job["threads"])
    row = {"megapixels": width * height / 1e6, "width": width, "height": height}
    if "error" in result:
        return {**row, "error": result["error"]}
    image = result["images"][0]
    row.update({k: v for k, v in image.items() if k.endswith("_s") or k == "bytes"})
    row["bpp"] = 8 * image["bytes"] / image["pixels"]
    row.update({k: v for k, v in result.items() if k.endswith("_mb")})
    return row


def run_scaling(out: Path, options: Options, max_mp: float = 64) -> dict:
    """Time and peak memory of every codec on synthetic images up to ``max_mp`` megapixels."""
    codecs, notes = available(options.codecs, options.model, options.device)
    labels = {c.name: c.label for c in codecs}
    sizes = [mp for mp in SIZES_MP if mp <= max_mp] or [max_mp]
    jobs = speed.jobs(
        [c.name for c in codecs], {c.name: c.mid for c in codecs}, options.threads, options.model
    )
    series = {
        key: {"label": speed.label(job, labels), **job, "runs": []} for key, job in jobs.items()
    }
    out.mkdir(parents=True, exist_ok=True)
    total = len(sizes) * len(jobs)
    bar = tqdm(total=total, desc="scaling", unit="run", disable=not options.progress)
    with tempfile.TemporaryDirectory() as tmp:
        for mp in sizes:
            width, height = synthetic_size(mp)
            path = Path(tmp) / f"synthetic-{width}x{height}.npy"
            np.save(path, synthetic(width, height))
            for key, job in jobs.items():
                bar.set_postfix_str(f"{key} {width}x{height}")
                job = {**job, "images": [str(path)], "repeats": options.timing_repeats}
                series[key]["runs"].append(_measure(job, width, height))
                bar.update()
            path.unlink()
    bar.close()
    results = {
        "meta": {"options": asdict(options), "max_mp": max_mp, **machine()},
        "method": {
            **speed.METHOD,
            "summary": f"middle setting of each codec; best of {options.timing_repeats} run(s)",
            "images": "synthetic photo-like 3:2 images (vqcodec.bench.images.synthetic)",
        },
        "scaling": series,
        "notes": notes,
    }
    write_json(out / "scaling.json", results)
    (out / "scaling.md").write_text(report.scaling_markdown(results))
    from . import plots  # matplotlib loads when the figure is drawn, not with this module

    plots.scaling_plot(series, out / "scaling.png")
    return results
