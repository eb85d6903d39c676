"""The side-by-side crop: one image, vqcodec and the classical codecs at about the same rate."""

from __future__ import annotations

import numpy as np

from vqcodec.metrics import psnr

from .codecs import Codec
from .images import BenchImage

CROP_CODECS = ("vqcodec", "jpeg", "webp", "avif")
CROP_SIDE = 256


def detailed_window(pixels: np.ndarray, side: int = CROP_SIDE) -> tuple[slice, slice]:
    """The ``side``-square window, of nine evenly placed, with the most gradient energy."""
    h, w = pixels.shape[:2]
    sh, sw = min(side, h), min(side, w)
    gray = pixels.astype(np.float32).mean(2)
    energy = np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1]
    best, window = -1.0, (slice(0, sh), slice(0, sw))
    for top in np.linspace(0, h - sh, 3).astype(int):
        for left in np.linspace(0, w - sw, 3).astype(int):
            e = float(energy[top : top + sh - 1, left : left + sw - 1].sum())
            if e > best:
                best, window = e, (slice(top, top + sh), slice(left, left + sw))
    return window


def _nearest(points: list[dict], index: int, target: float) -> dict:
    """The setting whose bpp on image ``index`` is nearest ``target`` (in log-rate)."""
    return min(points, key=lambda p: abs(np.log(p["images"]["bpp"][index] / target)))


def crop_panels(
    image: BenchImage, index: int, codecs: list[Codec], rd: dict[str, dict], target_bpp: float
) -> tuple[list[tuple[str, np.ndarray]], float]:
    """Captioned crops (original first) and the rate they were matched to.

    vqcodec's setting nearest ``target_bpp`` on this image sets the rate; each other
    codec uses its setting nearest that rate. Captions give the whole-image bpp and PSNR.
    """
    chosen = {c.name: c for c in codecs if c.name in CROP_CODECS}
    if "vqcodec" in chosen:
        target_bpp = _nearest(rd["vqcodec"]["points"], index, target_bpp)["images"]["bpp"][index]
    window = detailed_window(image.pixels)
    panels = [("original", image.pixels[window])]
    for name in CROP_CODECS:
        if name not in chosen:
            continue
        codec = chosen[name]
        point = _nearest(rd[name]["points"], index, target_bpp)
        data = codec.encode(image.pixels, point["setting"])
        decoded = codec.decode(data)
        bpp = 8 * len(data) / image.num_pixels
        caption = f"{codec.label}, {codec.setting_name} {point['setting']}\n"
        caption += f"{bpp:.3f} bpp, {psnr(image.pixels, decoded):.2f} dB"
        panels.append((caption, decoded[window]))
    return panels, target_bpp
