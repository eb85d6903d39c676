"""The benchmark of a folder: rate-distortion sweep, speed and memory, entropy coding.

``run_benchmark`` measures the images and writes results.json, summary.md,
rd_psnr.png, rd_msssim.png and crop.png into the output folder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vqcodec.errors import VQCodecError
from vqcodec.metrics import psnr

from . import coding, crop, report, speed, summary
from .codecs import ALL, Codec, available
from .images import BenchImage, image_paths, load_rgb
from .rdmetrics import ms_ssim, ms_ssim_db
from .record import compressai_json, machine, write_json
from .reference import ANCHORS_KODAK, ANCHORS_SOURCE, is_kodak, published_curves

QUICK_IMAGES = 3
OUTPUTS = ("results.json", "summary.md", "rd_psnr.png", "rd_msssim.png", "crop.png")
COMPRESSAI_DIR = "compressai"  # one CompressAI-layout JSON per codec


def earlier_outputs(out: Path, names: tuple[str, ...] = OUTPUTS) -> list[Path]:
    """Result files of an earlier run in ``out``, which a new run would overwrite."""
    found = [out / n for n in names if (out / n).exists()]
    return found + sorted((out / COMPRESSAI_DIR).glob("*.json"))


@dataclass
class Options:
    """What to run. ``repeats=None`` means 3 timing runs per image, or 1 with ``quick``."""

    codecs: tuple[str, ...] = ALL
    quick: bool = False
    model: str | None = None
    device: str = "cpu"
    threads: int = 1
    limit: int | None = None
    repeats: int | None = None
    speed: bool = True
    crop_image: str | None = None
    crop_bpp: float = 0.5
    progress: bool = True

    @property
    def timing_repeats(self) -> int:
        return self.repeats or (1 if self.quick else 3)


def _mean(values: list) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def rd_sweep(
    codecs: list[Codec], images: list[BenchImage], quick: bool, progress: bool = True
) -> tuple[dict[str, dict], list[dict]]:
    """Every codec at every setting on every image: means and per-image bpp, PSNR, MS-SSIM.

    Also returns, for codecs with per-file statistics (vqcodec), their entropy-coding
    summary per setting.
    """
    total = sum(len(c.quick if quick else c.sweep) for c in codecs) * len(images)
    bar = tqdm(total=total, desc="rate-distortion", unit="file", disable=not progress)
    rd, entropy = {}, []
    for codec in codecs:
        points = []
        for setting in codec.quick if quick else codec.sweep:
            bar.set_postfix_str(f"{codec.name} {setting}")
            per = {"bpp": [], "psnr": [], "ms_ssim": []}
            stats = []
            for image in images:
                data = codec.encode(image.pixels, setting)
                decoded = codec.decode(data)
                if decoded.shape != image.pixels.shape:
                    raise RuntimeError(f"{codec.name} decoded {image.name} to {decoded.shape}")
                per["bpp"].append(8 * len(data) / image.num_pixels)
                per["psnr"].append(psnr(image.pixels, decoded))
                per["ms_ssim"].append(ms_ssim(image.pixels, decoded))
                if codec.inspect:
                    stats.append(codec.inspect(data))
                bar.update()
            mean_msssim = _mean(per["ms_ssim"])
            points.append(
                {
                    "setting": setting,
                    "bpp": float(np.mean(per["bpp"])),
                    "psnr": float(np.mean(per["psnr"])),
                    "ms_ssim": mean_msssim,
                    "ms_ssim_db": ms_ssim_db(mean_msssim),
                    "images": per,
                }
            )
            if stats:
                entropy.append(coding.summarize(setting, stats))
        rd[codec.name] = {**codec.record(), "points": points}
    bar.close()
    return rd, entropy


def measure_speed(
    codecs: list[Codec], rd: dict[str, dict], paths: list[Path], options: Options
) -> dict[str, dict]:
    """Time every codec at its setting nearest 0.75 bpp, one child process per codec."""
    nearest = {c.name: speed.nearest_setting(rd[c.name]["points"]) for c in codecs}
    jobs = speed.jobs(
        [c.name for c in codecs],
        {n: p["setting"] for n, p in nearest.items()},
        options.threads,
        options.model,
    )
    labels = {c.name: c.label for c in codecs}
    out = {}
    for key, job in tqdm(jobs.items(), desc="speed", unit="codec", disable=not options.progress):
        job.update(images=[str(p) for p in paths], repeats=options.timing_repeats)
        result = speed.summarize(speed.run_worker(job, job["threads"]))
        out[key] = {
            "label": speed.label(job, labels),
            "device": job["device"],
            "threads": job["threads"],
            "setting": job["setting"],
            "bpp": nearest[job["codec"]]["bpp"],
            "repeats": job["repeats"],
            **result,
        }
    return out


def _crop(
    images: list[BenchImage], codecs: list[Codec], rd: dict, options: Options, out: Path
) -> dict | None:
    names = [i.name for i in images]
    index = names.index(options.crop_image) if options.crop_image else 0
    panels, bpp = crop.crop_panels(images[index], index, codecs, rd, options.crop_bpp)
    if len(panels) < 2:
        return None
    title = f"{images[index].name}, crop at about {bpp:.3f} bpp (bpp and PSNR of the whole image)"
    from . import plots  # matplotlib loads when a figure is drawn, not with this module

    plots.crop_figure(panels, title, out / "crop.png")
    return {"image": images[index].name, "bpp": bpp, "panels": [c for c, _ in panels]}


def run_benchmark(folder: Path, out: Path, options: Options) -> dict:
    """Measure every codec on the images in ``folder`` and write the results into ``out``."""
    paths = image_paths(
        folder, QUICK_IMAGES if options.quick and not options.limit else options.limit
    )
    if options.crop_image is not None and options.crop_image not in [p.name for p in paths]:
        raise VQCodecError(f"--crop-image {options.crop_image} is not among the images measured")
    images = [load_rgb(p) for p in paths]
    codecs, notes = available(options.codecs, options.model, options.device)
    out.mkdir(parents=True, exist_ok=True)
    for path in earlier_outputs(out):  # so that no file of an earlier run is taken for this one's
        path.unlink()
    rd, entropy = rd_sweep(codecs, images, options.quick, options.progress)
    kodak = is_kodak(images)
    published = published_curves() if kodak else {}
    results = {
        "meta": {
            "folder": str(folder),
            "images": [
                {"name": i.name, "width": i.pixels.shape[1], "height": i.pixels.shape[0]}
                for i in images
            ],
            "megapixels": sum(i.num_pixels for i in images) / 1e6,
            "quick": options.quick,
            "options": asdict(options),
            **machine(),
        },
        "conventions": {
            "bpp": "8 x bytes of the whole file / (W x H), mean over images",
            "psnr": "10 log10(255^2 / MSE) over all RGB samples, mean over images",
            "ms_ssim": "pytorch_msssim, 5 scales, 11x11 Gaussian sigma 1.5, data range 255, "
            "per channel then mean; mean over images; ms_ssim_db = -10 log10(1 - mean); "
            "None when an image side is under 161 pixels",
            "bd_rate": "PCHIP of log-rate over PSNR, integrated exactly over the PSNR range both "
            "curves share; points not increasing in both rate and PSNR dropped; percent",
            "psnr_at_bpp": "PCHIP of mean PSNR over log mean bpp; None outside the sweep",
        },
        "rd": rd,
        "summary": summary.summarize(rd, published),
        "reference": {
            "kodak": kodak,
            "published": published,
            "kodak_anchors": {"source": ANCHORS_SOURCE, "values": ANCHORS_KODAK} if kodak else None,
        },
        "entropy_coding": entropy,
        "notes": notes,
    }
    if options.speed:
        results["speed_method"] = speed.METHOD
        results["speed"] = measure_speed(codecs, rd, paths, options)
    if rd:
        from . import plots

        plots.rd_plot(
            rd, published, "psnr", "RGB PSNR (dB)", "PSNR against rate", out / "rd_psnr.png"
        )
        if any(p["ms_ssim_db"] is not None for r in rd.values() for p in r["points"]):
            plots.rd_plot(
                rd, {}, "ms_ssim_db", "MS-SSIM (dB)", "MS-SSIM against rate", out / "rd_msssim.png"
            )
        else:
            notes.append(
                {"codec": "all", "note": "no MS-SSIM plot: images under 161 pixels a side"}
            )
        results["crop"] = _crop(images, codecs, rd, options, out)
    write_json(out / "results.json", results)
    (out / COMPRESSAI_DIR).mkdir(exist_ok=True)
    for name, record in rd.items():
        write_json(out / COMPRESSAI_DIR / f"{name}.json", compressai_json(name, record))
    (out / "summary.md").write_text(report.markdown(results))
    return results
