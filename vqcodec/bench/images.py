"""Benchmark inputs: a folder of images as 8-bit RGB, and synthetic photo-like images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vqcodec.errors import VQCodecError

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp"}
ASPECT = 1.5  # synthetic images are 3:2 landscape, like most photos


@dataclass(frozen=True)
class BenchImage:
    """One test image: its file name and its pixels as uint8 ``[H, W, 3]``."""

    name: str
    pixels: np.ndarray

    @property
    def num_pixels(self) -> int:
        return self.pixels.shape[0] * self.pixels.shape[1]


def image_paths(folder: Path, limit: int | None = None) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name, at most ``limit`` of them."""
    if not folder.is_dir():
        raise VQCodecError(f"{folder} is not a folder")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    if not paths:
        raise VQCodecError(f"no images ({', '.join(sorted(SUFFIXES))}) in {folder}")
    return paths[:limit] if limit else paths


def load_rgb(path: Path) -> BenchImage:
    """Read an image as 8-bit RGB (grayscale expanded, alpha dropped), as every codec sees it."""
    try:
        with Image.open(path) as im:
            pixels = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise VQCodecError(f"cannot read image {path}: {exc}") from exc
    return BenchImage(path.name, pixels)


def synthetic_size(megapixels: float) -> tuple[int, int]:
    """(width, height) of a 3:2 image of about ``megapixels`` million pixels."""
    width = max(8, round((megapixels * 1e6 * ASPECT) ** 0.5))
    return width, max(8, round(width / ASPECT))


def synthetic(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A photo-like uint8 RGB image: smooth colour fields, finer texture and mild noise.

    The detail per pixel does not depend on the size, so bpp stays comparable from
    0.1 to 64 MP. Built in row bands to keep memory near the size of the result.
    """
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 216, (max(2, height // 64), max(2, width // 64), 3), dtype=np.uint8)
    fine = rng.integers(0, 256, (max(2, height // 4), max(2, width // 4), 3), dtype=np.uint8)
    coarse = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC))
    fine = np.asarray(Image.fromarray(fine).resize((width, height), Image.BILINEAR))
    out = np.empty((height, width, 3), dtype=np.uint8)
    band = 256
    for top in range(0, height, band):
        rows = slice(top, top + band)
        mix = coarse[rows].astype(np.int16) + (fine[rows].astype(np.int16) - 128) // 4
        mix += rng.integers(-3, 4, mix.shape, dtype=np.int16)
        out[rows] = np.clip(mix, 0, 255).astype(np.uint8)
    return out
