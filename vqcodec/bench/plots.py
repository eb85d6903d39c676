"""Matplotlib figures (PNG): rate-distortion curves, a side-by-side crop, size scaling.

Uses matplotlib's object API (no pyplot), so it needs no display and no global state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

BPP_TICKS = (0.05, 0.1, 0.25, 0.5, 1, 2)


def _log_bpp_axis(ax) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(BPP_TICKS))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(t) for t in BPP_TICKS])
    ax.set_xlabel("bits per pixel (whole file)")
    ax.grid(True, which="both", alpha=0.3)


def rd_plot(
    rd: dict[str, dict],
    published: dict[str, dict],
    key: str,
    ylabel: str,
    title: str,
    path: Path,
) -> None:
    """Mean ``key`` against mean bpp for every codec; published curves dashed, labelled so."""
    fig = Figure(figsize=(8, 6), dpi=120)
    ax = fig.add_subplot()
    for name, result in rd.items():
        points = sorted((p["bpp"], p[key]) for p in result["points"] if p.get(key) is not None)
        if not points:
            continue
        bpp, quality = zip(*points, strict=True)
        is_vq = name == "vqcodec"
        ax.plot(
            bpp,
            quality,
            marker="o",
            markersize=5 if is_vq else 3,
            linewidth=2.5 if is_vq else 1.2,
            color="black" if is_vq else None,
            label=result["label"],
            zorder=3 if is_vq else 2,
        )
    for ref in (r for r in published.values() if key in r):
        ax.plot(ref["bpp"], ref[key], linestyle="--", linewidth=1, marker=".", label=ref["label"])
    _log_bpp_axis(ax)
    ax.set_xlim(0.04, 2.5)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(path, bbox_inches="tight")


def crop_figure(panels: list[tuple[str, np.ndarray]], title: str, path: Path) -> None:
    """Crops side by side, enlarged about 2x without smoothing, each titled with codec and rate."""
    height, width = panels[0][1].shape[:2]
    inches = 2.6 / max(height, width)  # a panel's longer side is 2.6 in, about 2x at 200 dpi
    fig = Figure(figsize=(len(panels) * width * inches * 1.08, height * inches + 0.9), dpi=200)
    fig.subplots_adjust(left=0.01, right=0.99, wspace=0.06)
    for i, (caption, pixels) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.imshow(pixels, interpolation="nearest")
        ax.set_title(caption, fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, bbox_inches="tight")


def scaling_plot(series: dict[str, dict], path: Path) -> None:
    """Encode and decode time, and peak RSS, against image size (log-log)."""
    fig = Figure(figsize=(14, 4.5), dpi=110, layout="constrained")
    axes = [fig.add_subplot(1, 3, i + 1) for i in range(3)]
    panels = (
        ("encode_wall_s", "encode time (s, wall)"),
        ("decode_wall_s", "decode time (s, wall)"),
        ("peak_rss_mb", "peak RSS (MiB)"),
    )
    for s in series.values():
        ok = [r for r in s["runs"] if "error" not in r]
        if not ok:
            continue
        mp = [r["megapixels"] for r in ok]
        for ax, (key, _) in zip(axes, panels, strict=True):
            ax.plot(mp, [r[key] for r in ok], marker="o", label=s["label"])
    for ax, (_, label) in zip(axes, panels, strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("image size (megapixels)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.savefig(path, bbox_inches="tight")
