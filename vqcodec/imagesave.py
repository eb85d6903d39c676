"""Writing a decoded image as PNG, JPEG, WebP, TIFF, ... bytes, the format chosen by name
or by a file's extension, with the ICC profile, EXIF and XMP the image carries wherever
the format takes them. PNGs are written by :mod:`vqcodec.pngstream`, which can take the
rows while they are being decoded; other formats by Pillow, once the image is whole."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from . import metadata
from .errors import VQCodecError
from .pngstream import COLOR_TYPES, PngStream


def format_for(target: str | Path) -> str:
    """The Pillow format name a file's extension stands for (``photo.jpg`` -> ``JPEG``)."""
    Image.init()
    fmt = Image.registered_extensions().get(Path(target).suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise VQCodecError(f"cannot tell the image format of {target}; use --format")
    return fmt


def extension_for(fmt: str) -> str:
    """The usual extension of a Pillow format (``png`` -> ``.png``, ``JPEG`` -> ``.jpg``)."""
    Image.init()
    name = fmt.upper()
    found = [ext for ext, f in Image.registered_extensions().items() if f == name]
    if not found or name not in Image.SAVE:
        raise VQCodecError(f"unknown image format {fmt!r}")
    preferred = {"JPEG": ".jpg", "TIFF": ".tif"}.get(name, f".{name.lower()}")
    return preferred if preferred in found else found[0]


def png_stream(
    fmt: str, width: int, height: int, mode: str, meta: metadata.Metadata | None, threads: int
) -> PngStream | None:
    """A writer to feed the rows of an image of ``mode`` as they are decoded, where
    ``fmt`` is PNG (None for other formats: :func:`image_bytes` writes them whole)."""
    if fmt.upper() != "PNG" or mode not in COLOR_TYPES:
        return None
    return PngStream(width, height, mode, meta or metadata.Metadata(), threads)


def image_bytes(image: Image.Image, fmt: str, threads: int = 1) -> bytes:
    """``image`` saved in ``fmt`` (any format Pillow writes), with the metadata in its
    ``info`` (see :func:`vqcodec.metadata.to_info`); a PNG of an L, LA, RGB or RGBA image
    by :mod:`vqcodec.pngstream` on ``threads``."""
    meta = metadata.from_info(image.info)
    png = png_stream(fmt, image.width, image.height, image.mode, meta, threads)
    if png is not None:
        with png:
            png.add(0, np.asarray(image).reshape(image.height, image.width, len(image.mode)))
            return png.finish()
    buf = io.BytesIO()
    try:
        image.save(buf, format=fmt, **metadata.save_options(meta, fmt))
    except (KeyError, ValueError, OSError) as exc:
        raise VQCodecError(f"cannot write a {image.mode} image as {fmt}: {exc}") from exc
    return buf.getvalue()
