"""The human-readable summary of a results dict, as Markdown (printed and saved as summary.md)."""

from __future__ import annotations

from .reference import ANCHORS_KODAK


def _f(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def _bd(entry: dict | None, with_range: bool = False) -> str:
    if entry is None:
        return "n/a"
    text = f"{entry['percent']:+.1f} %"
    if with_range:
        lo, hi = entry["psnr_range"]
        text += f" ({lo:.1f}–{hi:.1f} dB)"
    return text


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def rd_table(summary: dict) -> list[str]:
    rates = [str(r) for r in summary["rates_bpp"]]
    common = summary["common_psnr_range"]
    common_head = f"BD-rate, {common[0]:.1f}–{common[1]:.1f} dB" if common else "BD-rate, common"
    header = ["codec", *(f"PSNR@{r}" for r in rates), "BD-rate vs JPEG 4:2:0 (over PSNR)"]
    header += [common_head, "BD-PSNR", "BD-rate MS-SSIM", "BD-rate vs vqcodec (over PSNR)"]
    rows = [
        [
            row["label"],
            *(_f(row["psnr_at_bpp"][r]) for r in rates),
            _bd(row["bd_rate_vs_jpeg"], True),
            _bd(row["bd_rate_vs_jpeg_common_range"]),
            _f(row["bd_psnr_vs_jpeg"], "+.2f"),
            _bd(row["bd_rate_msssim_vs_jpeg"]),
            _bd(row["bd_rate_vs_vqcodec"], True),
        ]
        for row in summary["rows"]
    ]
    return _table(header, rows)


def speed_table(speed: dict) -> list[str]:
    header = ["codec", "setting", "bpp", "enc ms wall / CPU", "dec ms wall / CPU"]
    header += ["enc MP/s (CPU)", "dec MP/s (CPU)", "peak RSS MiB (before codec)", "threads"]
    rows = []
    for name, s in speed.items():
        if "error" in s:
            rows.append([name, "", "", s["error"], "", "", "", "", ""])
            continue
        rss = f"{_f(s['peak_rss_mb'], '.0f')} ({_f(s['baseline_rss_mb'], '.0f')})"
        if "gpu_peak_mb" in s:
            rss += f", GPU {s['gpu_peak_mb']:.0f}"
        rows.append(
            [
                s["label"],
                str(s["setting"]),
                _f(s["bpp"], ".3f"),
                f"{s['encode_wall_ms']:.1f} / {s['encode_cpu_ms']:.1f}",
                f"{s['decode_wall_ms']:.1f} / {s['decode_cpu_ms']:.1f}",
                f"{s['encode_cpu_mp_per_s']:.2f}",
                f"{s['decode_cpu_mp_per_s']:.2f}",
                rss,
                str(s["threads"]),
            ]
        )
    return _table(header, rows)


def coding_table(coding: list[dict]) -> list[str]:
    header = ["quality", "payload bpp", "ideal bpp (Σ −log2 p)", "overhead", "header bytes"]
    header.append("header bpp")
    rows = [
        [
            str(c["quality"]),
            f"{c['payload_bpp']:.4f}",
            f"{c['ideal_bpp']:.4f}",
            f"{c['overhead_percent']:+.2f} %",
            f"{c['header_bytes_mean']:.0f} ({c['header_bytes_min']}–{c['header_bytes_max']})",
            f"{c['header_bpp']:.4f}",
        ]
        for c in coding
    ]
    return _table(header, rows)


def anchor_table(summary: dict) -> list[str]:
    rows = []
    for row in summary["rows"]:
        anchor = ANCHORS_KODAK.get(row["codec"])
        if anchor is None:
            continue
        cells = [f"{_f(row['psnr_at_bpp'][r])} / {anchor[r]:.2f}" for r in ("0.25", "0.5", "1.0")]
        bd = row["bd_rate_vs_jpeg"]
        cells.append(f"{_bd(bd)} / {anchor['bd_rate_vs_jpeg']:+.1f} %")
        rows.append([row["label"], *cells])
    header = ["codec", "PSNR@0.25 run / anchor", "PSNR@0.5", "PSNR@1.0", "BD-rate vs JPEG"]
    return _table(header, rows)


def markdown(results: dict) -> str:
    """Every table of a benchmark run, with the run's conditions and notes."""
    meta = results["meta"]
    lines = [
        f"# vqcodec benchmark: {meta['folder']}",
        "",
        f"{len(meta['images'])} images, {meta['megapixels']:.2f} MP in all"
        f"{' (--quick)' if meta['quick'] else ''}; {meta['date']}; {meta['cpu']}, "
        f"load average {meta['load_average']}.",
        "",
        "## Rate–distortion (mean bpp of whole files, mean RGB PSNR over images)",
        "",
        *rd_table(results["summary"]),
    ]
    if results.get("speed"):
        lines += ["", f"## Speed and memory ({results['speed_method']['summary']})", ""]
        lines += speed_table(results["speed"])
    if results.get("entropy_coding"):
        lines += ["", "## vqcodec entropy coding (coded payload against the model's ideal)", ""]
        lines += coding_table(results["entropy_coding"])
    if results["reference"]["kodak"]:
        lines += ["", "## Against the Kodak anchors (measured on these 24 images)", ""]
        lines += anchor_table(results["summary"])
    if results["notes"]:
        lines += ["", "## Notes", ""]
        lines += [f"- {n['codec']}: {n['note']}" for n in results["notes"]]
    return "\n".join(lines) + "\n"


def scaling_markdown(results: dict) -> str:
    """The size-scaling run as a table: time, rate and peak memory per codec and size."""
    meta = results["meta"]
    header = ["codec", "MP", "size", "bpp", "encode ms wall / CPU", "decode ms wall / CPU"]
    header.append("peak RSS MiB (before codec)")
    rows = []
    for s in results["scaling"].values():
        for r in s["runs"]:
            cells = [s["label"], f"{r['megapixels']:.1f}", f"{r['width']}x{r['height']}"]
            if "error" in r:
                rows.append([*cells, r["error"], "", "", ""])
                continue
            rss = f"{_f(r['peak_rss_mb'], '.0f')} ({_f(r['baseline_rss_mb'], '.0f')})"
            if "gpu_peak_mb" in r:
                rss += f", GPU {r['gpu_peak_mb']:.0f}"
            times = [
                f"{1000 * r[f'{step}_wall_s']:.1f} / {1000 * r[f'{step}_cpu_s']:.1f}"
                for step in ("encode", "decode")
            ]
            rows.append([*cells, f"{r['bpp']:.3f}", *times, rss])
    lines = [
        "# vqcodec benchmark: time and memory against image size",
        "",
        f"{meta['date']}; {meta['cpu']}, load average {meta['load_average']}; "
        f"{results['method']['summary']}; vqcodec threads: {meta['options']['threads']}.",
        "",
        *_table(header, rows),
    ]
    if results["notes"]:
        lines += ["", *(f"- {n['codec']}: {n['note']}" for n in results["notes"])]
    return "\n".join(lines) + "\n"
