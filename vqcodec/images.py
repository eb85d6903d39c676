"""Turning what users pass (PIL images, numpy arrays, paths, bytes, file objects) into
8-bit pixels and back.

EXIF orientation is applied on the way in, so pixels are stored upright.
The codec stores L, LA, RGB and RGBA. Other modes are converted on the way in: P and PA
by their palette (keeping transparency), 1 to L, La and RGBa to LA and RGBA, CMYK and
YCbCr to RGB. High-bit-depth grayscale is reduced to L on a fixed scale, so values keep
their meaning (16-bit white stays white), with a warning since precision is lost:
I;16 (and I, whose values must lie in 0..65535) by 255/65535, and F, whose values must be
finite and in Pillow's 0..255 range, by rounding. Anything else is refused, as are
animations (GIF, APNG, WebP) and multi-page images, which would lose frames.

The pixel limit counts the image padded to whole 32x32 tiles (what the network runs
over), and images whose padding would be most of the work (a 1,000,000x1 strip is 32
times its own area once padded) are refused, so no image under the limit makes the
encoder run for hours.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from .errors import ImageError, InputError, VQCodecError
from .fileio import input_cap, read_source
from .limits import DEFAULT_MAX_PIXELS, padded_pixels, size_problem
from .metadata import Metadata, from_image

ImageLike = Image.Image | np.ndarray | str | Path | bytes | BinaryIO
_CHANNELS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
MAX_PADDING = 4  # padded area / image area allowed once the padded area passes SMALL
SMALL = 1 << 20  # padded pixels below which any shape is cheap to encode
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
_STILL_MULTIFRAME = ("MPO",)  # frame 1 is the primary image; the rest are extras


def check_size(width: int, height: int, max_pixels: int) -> None:
    """Refuse empty images, sizes a .vqc reader refuses (limits.size_problem: a side
    above MAX_SIDE, more padded pixels than the limit), and degenerate shapes whose padding
    would cost far more than their pixels."""
    if width < 1 or height < 1:
        raise ImageError(f"image has no pixels ({width}x{height})")
    padded = padded_pixels(width, height)
    if padded > SMALL and padded > MAX_PADDING * width * height:
        raise ImageError(
            f"image of {width}x{height} pixels is too thin: padded to whole 32x32 tiles it "
            f"is {padded / (width * height):.0f} times its area (at most {MAX_PADDING})"
        )
    problem = size_problem(width, height, max_pixels)
    if problem:
        raise ImageError(problem)


def _name(source: object) -> str:
    return str(source) if isinstance(source, (str, Path)) else "input"


def _open(source: str | Path | bytes | BinaryIO, max_pixels: int) -> Image.Image:
    """Open an image file, checking its declared size before decoding any pixels."""
    if isinstance(source, (str, Path)):
        fp = source
    else:
        fp = io.BytesIO(read_source(source, input_cap(max_pixels), what="image"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp)
    except Exception as exc:  # Pillow's plugins raise SyntaxError, struct.error and others
        raise ImageError(f"cannot read image {_name(source)}: {exc}") from exc
    return im


def _check_still(im: Image.Image, name: str) -> None:
    """Refuse animations and multi-page files: only one frame could be kept."""
    try:
        animated = getattr(im, "is_animated", False) and im.format not in _STILL_MULTIFRAME
    except Exception as exc:
        raise ImageError(f"cannot read image {name}: {exc}") from exc
    if animated:
        frames = getattr(im, "n_frames", "several")
        raise ImageError(
            f"{name} is an animated or multi-page {im.format} ({frames} frames); vqcodec "
            "stores one still image and refuses to drop the rest: extract a frame first"
        )


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


def _reduce(im: Image.Image) -> np.ndarray:
    """High-bit-depth grayscale to uint8 ``[H, W, 1]`` on a fixed scale (see module doc)."""
    arr = np.asarray(im).astype(np.float64)
    if im.mode == "F":
        if not np.isfinite(arr).all():
            raise ImageError("float (mode F) image holds NaN or infinite values")
        scale, top = 1.0, 255.0
    else:
        scale, top = 255.0 / 65535.0, 65535.0
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0 or hi > top:
        raise ImageError(
            f"mode {im.mode} image has values {lo:g}..{hi:g}, outside 0..{top:g}: "
            "scale it to 8 bits first"
        )
    warnings.warn(f"{im.mode} image reduced to 8-bit grayscale", stacklevel=4)
    return np.round(arr * scale).astype(np.uint8)[:, :, None]


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
    elif mode in ("La", "RGBa"):
        mode = mode.upper()
        im = im.convert(mode)
    elif mode in (*_SIXTEEN_BIT, "I", "F"):
        return _reduce(im), "L"
    elif mode in ("CMYK", "YCbCr", "RGBX", "LAB", "HSV"):
        im, mode = im.convert("RGB"), "RGB"
    else:
        raise ImageError(f"unsupported image mode {mode}")
    arr = np.asarray(im, dtype=np.uint8)
    return (arr[:, :, None] if arr.ndim == 2 else arr), mode


def _pixels(im: Image.Image, name: str, max_pixels: int) -> tuple[np.ndarray, str]:
    """Check the declared size and frames, then decode: any failure of Pillow's (a
    truncated file, a broken plugin) becomes an :class:`ImageError`."""
    check_size(im.width, im.height, max_pixels)
    _check_still(im, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
            return _from_pil(im)
    except VQCodecError:
        raise
    except Exception as exc:  # OSError, SyntaxError, NotImplementedError, MemoryError, ...
        raise ImageError(f"cannot read image {name}: {exc}") from exc


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
    arr, mode, _ = read(image, max_pixels)
    return arr, mode


def read(
    image: ImageLike, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, str, Metadata]:
    """:func:`to_pixels` and the image's ICC profile, EXIF and XMP (none for arrays)."""
    meta = Metadata()
    if isinstance(image, np.ndarray):
        arr, mode = _from_array(image)
    elif isinstance(image, Image.Image):
        arr, mode = _pixels(image, "image", max_pixels)
        meta = from_image(image)  # after the pixels, which refuse a broken file first
    elif isinstance(image, (str, Path, bytes, bytearray, memoryview)) or hasattr(image, "read"):
        im = _open(image, max_pixels)
        arr, mode = _pixels(im, _name(image), max_pixels)
        meta = from_image(im)
    else:
        raise InputError(
            f"cannot compress an object of type {type(image).__name__}: pass a PIL image, "
            "a uint8 array, a path, bytes or a binary file object"
        )
    check_size(arr.shape[1], arr.shape[0], max_pixels)
    return arr, mode, meta


def to_image(pixels: np.ndarray, mode: str) -> Image.Image:
    """A PIL image of ``mode`` from uint8 ``[H, W, C]``."""
    return Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels, mode)
