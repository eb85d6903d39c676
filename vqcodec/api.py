"""The Python API: compress images to .vqc bytes and back.

>>> import vqcodec
>>> data = vqcodec.compress("photo.png", quality=6)
>>> image = vqcodec.decompress(data)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from . import container
from .images import ImageLike, to_image, to_pixels

if TYPE_CHECKING:  # codec, registry and weights load torch: compress and decompress
    from .weights import Model  # import them when called, so info never does


def compress(
    image: ImageLike,
    quality: int = 6,
    *,
    model: Model | str | Path | None = None,
    device: str = "cpu",
    max_pixels: int = container.DEFAULT_MAX_PIXELS,
    progress: Callable | None = None,
    per_position: bool = True,
) -> bytes:
    """Compress an image to .vqc bytes.

    ``image`` is a PIL image, an ``HxW`` or ``HxWxC`` uint8 array, a path, or the
    bytes of an image file. ``quality`` runs from 1 (smallest: one residual stage
    per tile) to the model's stage count (every stage everywhere); in between, each
    32x32 tile, or each 8x8 block where that pays, gets as many stages as pay for their
    bits. ``model`` is a shipped model name or a path to a trained .safetensors file
    (default: the shipped default model).
    ``progress``, if given, wraps the per-stage loop of the depth search (for
    example ``tqdm``'s constructor): the long part of encoding a large image.
    ``per_position=False`` sets depths per tile only (a .vqc version 1 or 2 file, for
    readers older than version 3).
    """
    from . import codec
    from .registry import get_model

    pixels, mode = to_pixels(image, max_pixels)
    return codec.encode(pixels, mode, get_model(model), quality, device, progress, per_position)


def decompress(
    data: bytes,
    *,
    model: Model | str | Path | None = None,
    device: str = "cpu",
    max_pixels: int = container.DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode .vqc bytes to a PIL image of the original size and mode.

    The model is found from the file's header; pass ``model`` to decode with a
    model that is not shipped (it must be the one the file was made with).
    """
    from . import codec

    pixels, mode = codec.decode(data, model, device, max_pixels)
    return to_image(pixels, mode)


def _depths(f: container.VQCFile) -> dict | None:
    """Stages used per latent position (min, mean, max), and whether the file sets them
    per tile (version 2) or per position (version 3); None when all are used everywhere."""
    if f.depths is None:
        return None
    d = container.position_depths(f)
    per = "tile" if f.format_version == container.VERSION_DEPTH else "position"
    return {"per": per, "min": int(d.min()), "mean": round(float(d.mean()), 2), "max": int(d.max())}


def info(data: bytes) -> dict:
    """Header fields of a .vqc file, its size and its bits per pixel, without decoding."""
    f = container.parse(data)
    return {
        "model": f.model,
        "codebook_version": f.version.hex(),
        "width": f.width,
        "height": f.height,
        "mode": f.mode,
        "tile": f.tile,
        "format_version": f.format_version,
        "stages": f.stages,
        "depths": _depths(f),
        "coder": f.coder,
        "symbols": list(f.symbols),
        "stream_bytes": [4 * len(w) for w in f.streams],
        "alpha_bytes": len(f.alpha),
        "bytes": len(data),
        "bpp": 8 * len(data) / (f.width * f.height),
    }
