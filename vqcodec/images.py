"""Turning what users pass (PIL images, numpy arrays, paths, bytes) into 8-bit pixels and back.

EXIF orientation is applied on the way in, so pixels are stored upright.
The codec stores L, LA, RGB and RGBA. Other modes are converted on the way in:
P and PA by their palette (keeping transparency), 1 to L, CMYK and YCbCr to RGB,
and 16/32-bit integer and float modes (I;16, I, F) to L by scaling their range
to 0..255, with a warning since that loses precision before coding even starts.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .container import DEFAULT_MAX_PIXELS
from .errors import ImageError

ImageLike = Image.Image | np.ndarray | str | Path | bytes
_CHANNELS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def check_size(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise ImageError(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(f"image of {width}x{height} pixels exceeds the limit of {max_pixels}")


def _open(source: str | Path | bytes, max_pixels: int) -> Image.Image:
    """Open an image file, checking its declared size before decoding any pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            check_size(im.width, im.height, max_pixels)
            im.load()
    except ImageError:
        raise
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        name = "input" if isinstance(source, bytes) else str(source)
        raise ImageError(f"cannot read image {name}: {exc}") from exc
    return im


ORIENTATION = 0x0112  # the EXIF tag


def upright(im: Image.Image) -> Image.Image:
    """``im`` turned as its EXIF orientation says (itself when there is nothing to turn)."""
    try:
        if im.getexif().get(ORIENTATION, 1) in (None, 1):
            return im
        return ImageOps.exif_transpose(im)
    except (OSError, ValueError, SyntaxError, TypeError) as exc:  # a broken EXIF block
        warnings.warn(f"EXIF orientation ignored, it cannot be read: {exc}", stacklevel=4)
        return im


def _from_pil(im: Image.Image) -> tuple[np.ndarray, str]:
    im = upright(im)
    mode = im.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        pass
    elif mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        im, mode = (im.convert("RGBA"), "RGBA") if has_alpha else (im.convert("RGB"), "RGB")
    elif mode == "1":
        im, mode = im.convert("L"), "L"
    elif mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        warnings.warn(f"{mode} image reduced to 8-bit grayscale", stacklevel=3)
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        return np.round(scaled).astype(np.uint8)[:, :, None], "L"
    else:
        try:
            im, mode = im.convert("RGB"), "RGB"
        except (ValueError, OSError) as exc:
            raise ImageError(f"unsupported image mode {im.mode}") from exc
    arr = np.asarray(im, dtype=np.uint8)
    return (arr[:, :, None] if arr.ndim == 2 else arr), mode


def _from_array(arr: np.ndarray) -> tuple[np.ndarray, str]:
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in _CHANNELS:
        raise ImageError(f"array of shape {arr.shape} is not HxW or HxWxC with C in 1..4")
    if arr.dtype != np.uint8:
        raise ImageError(f"array dtype {arr.dtype} is not uint8")
    return np.ascontiguousarray(arr), _CHANNELS[arr.shape[2]]


def to_pixels(image: ImageLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, str]:
    """``(uint8 [H, W, C], mode)`` for any supported input, with mode one of L, LA, RGB, RGBA."""
    if isinstance(image, np.ndarray):
        arr, mode = _from_array(image)
    elif isinstance(image, Image.Image):
        check_size(image.width, image.height, max_pixels)
        arr, mode = _from_pil(image)
    elif isinstance(image, (str, Path, bytes)):
        arr, mode = _from_pil(_open(image, max_pixels))
    else:
        raise ImageError(f"cannot compress an object of type {type(image).__name__}")
    check_size(arr.shape[1], arr.shape[0], max_pixels)
    return arr, mode


def to_image(pixels: np.ndarray, mode: str) -> Image.Image:
    """A PIL image of ``mode`` from uint8 ``[H, W, C]``."""
    return Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels, mode)
