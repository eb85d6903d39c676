"""The Python API: compress images to .vqc bytes and back.

>>> import vqcodec
>>> data = vqcodec.compress("photo.png", quality=6)
>>> image = vqcodec.decompress(data)

Every function takes its input as bytes, a path (str or Path) or a binary file object
(and ``compress`` a PIL image or uint8 array too); anything else, and every other user
error, raises a :class:`vqcodec.VQCodecError` subclass.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from . import container
from . import threads as threads_
from .effort import DEFAULT as DEFAULT_EFFORT
from .errors import VQCodecError
from .fileio import Source, input_cap, read_source
from .images import ImageLike, read, to_image
from .metadata import Metadata, to_info
from .targets import Reached, Target

if TYPE_CHECKING:  # codec, registry and weights load torch: compress and decompress
    from .weights import Model  # import them when called, so info never does


def compress(
    image: ImageLike,
    quality: int = 6,
    *,
    target_bpp: float | None = None,
    max_bytes: int | None = None,
    target_psnr: float | None = None,
    model: Model | str | Path | None = None,
    device: str = "cpu",
    max_pixels: int = container.DEFAULT_MAX_PIXELS,
    progress: Callable | None = None,
    per_position: bool = True,
    effort: int = DEFAULT_EFFORT,
    threads: int | None = None,
    strip: bool = False,
) -> bytes:
    """Compress an image to .vqc bytes.

    ``image`` is a PIL image, an ``HxW`` or ``HxWxC`` uint8 array, a path, the bytes of
    an image file or a binary file object. ``quality`` runs from 1 (smallest: one residual stage
    per tile) to the model's stage count (every stage everywhere); in between, each
    32x32 tile, or each 8x8 block where that pays, gets as many stages as pay for their
    bits. Instead of a quality, one target may be given: ``target_bpp`` (the nearest
    rate), ``max_bytes`` (the best file of at most that many bytes) or ``target_psnr``
    (the fewest bits reaching that PSNR in dB); see :func:`compress_to_target`, which
    also says what was reached. ``model`` is a shipped model name or a path to a
    trained .safetensors file (default: the shipped default model).
    ``effort`` (1 fastest .. 5) is how hard the encoder searches, like cjxl's ``-e``:
    5 is the full search of earlier releases (the same files); lower efforts are faster
    and write slightly larger files (:mod:`vqcodec.effort`, benchmarks/results/effort.md).
    ``progress``, if given, wraps the encoder's long loops (called as ``progress(items,
    desc=..., total=...)``, for example ``tqdm``'s constructor).
    ``per_position=False`` sets depths per tile only (a .vqc version 1 or 2 file, for
    readers older than version 3). ``threads``: CPU threads (default: torch's setting,
    one per core); the file does not depend on it. EXIF orientation is applied, so pixels are stored
    upright; the image's ICC profile, EXIF (orientation reset to 1) and XMP are carried
    in the file (a version 4-6 file) unless ``strip``.
    """
    from .targets import one_target

    options = {"model": model, "device": device, "max_pixels": max_pixels, "strip": strip}
    options |= {"progress": progress, "per_position": per_position}
    options |= {"effort": effort, "threads": threads}
    target = one_target(target_bpp, max_bytes, target_psnr)
    if target is not None:
        return _to_target(image, target, **options).data
    (pixels, mode, meta), codec, m = _read_and_load(image, max_pixels, model)
    meta = None if strip else meta
    return codec.encode(
        pixels, mode, m, quality, device, progress, per_position, effort, threads, meta
    )


def _codec_and_model(model: Model | str | Path | None) -> tuple[ModuleType, Model]:
    from . import codec
    from .registry import get_model

    return codec, get_model(model)


def _read_and_load(
    image: ImageLike, max_pixels: int, model: Model | str | Path | None
) -> tuple[tuple[np.ndarray, str, Metadata], ModuleType, Model]:
    """``(read(image), the codec module, the model)``: the image is read while a second
    thread imports the codec (torch) and loads the model, about 1.5 s mostly holding the
    GIL, which Pillow's decoding releases (12 MP PNG, 2 threads: 2.24 -> 2.05 s). An
    unreadable image is reported before a bad model, as when they ran in turn."""
    with ThreadPoolExecutor(1) as pool:
        loading = pool.submit(_codec_and_model, model)
        pixels = read(image, max_pixels)
        return pixels, *loading.result()


def _vqc(data: Source, max_pixels: int) -> bytes:
    """The bytes of a .vqc input, read no further than the pixel limit allows and
    refused at once if the magic bytes are wrong."""
    return read_source(data, input_cap(max_pixels), container.MAGIC, ".vqc input")


def compress_to_target(
    image: ImageLike,
    *,
    bpp: float | None = None,
    max_bytes: int | None = None,
    psnr: float | None = None,
    model: Model | str | Path | None = None,
    device: str = "cpu",
    max_pixels: int = container.DEFAULT_MAX_PIXELS,
    progress: Callable | None = None,
    per_position: bool = True,
    effort: int = DEFAULT_EFFORT,
    threads: int | None = None,
    strip: bool = False,
) -> Reached:
    """Compress an image for one target, from one encode, and say what it reached.

    ``bpp``: the rate nearest it; ``max_bytes``: the best file of at most that many
    bytes (:class:`VQCodecError` if even quality 1 is larger); ``psnr``: the fewest bits
    whose predicted PSNR (dB) reaches it (the most stages everywhere if none does). The
    result holds the file (``data``), its ``bytes``, ``bpp``, measured ``psnr`` and the
    multiplier ``mu`` found. Other arguments as for :func:`compress`.
    """
    from .targets import one_target

    target = one_target(bpp, max_bytes, psnr)
    if target is None:
        raise VQCodecError("give one of bpp, max_bytes and psnr")
    options = {"model": model, "device": device, "max_pixels": max_pixels, "strip": strip}
    options |= {"progress": progress, "per_position": per_position}
    return _to_target(image, target, effort=effort, threads=threads, **options)


def _to_target(image: ImageLike, target: Target, *, model, device, max_pixels, strip, **options):
    from . import decoding
    from .metrics import psnr

    (pixels, mode, meta), codec, m = _read_and_load(image, max_pixels, model)
    meta = None if strip else meta
    data, mu = codec.encode_target(pixels, mode, m, target, device, meta=meta, **options)
    back, _ = decoding.decode(data, m, device, max_pixels, options.get("threads"))
    color = 1 if mode in ("L", "LA") else 3  # alpha is lossless: not in the PSNR
    h, w = pixels.shape[:2]
    reached = psnr(back[:, :, :color], pixels[:, :, :color])
    return Reached(data, target, mu, len(data), 8 * len(data) / (h * w), reached)


def decompress(
    data: Source,
    *,
    model: Model | str | Path | None = None,
    device: str = "cpu",
    max_pixels: int = container.DEFAULT_MAX_PIXELS,
    max_pixels_per_byte: int = container.DEFAULT_PIXELS_PER_BYTE,
    threads: int | None = None,
    progress: Callable | None = None,
    strip: bool = False,
    precision: str = "auto",
) -> Image.Image:
    """Decode a .vqc file (bytes, a path or a binary file object) to a PIL image of the
    original size and mode.

    The model is found from the file's header; pass ``model`` to decode with a
    model that is not shipped (it must be the one the file was made with).
    ``threads``: CPU threads (default: one per core); with OpenVINO installed the
    pixels did not depend on it in our tests. ``progress``, if given,
    wraps the decoder's loop over blocks (for example ``tqdm``'s constructor). The file's
    ICC profile, EXIF and XMP, if it has them, are in the image's ``info``
    (``icc_profile``, ``exif``, ``xmp``, as Pillow keeps them) unless ``strip``.
    Files of more than 1 MP padded are refused when they claim more than
    ``max_pixels_per_byte`` pixels per byte (0: no such limit), which bounds the work a
    small file can ask for; files vqcodec writes always pass. ``precision`` is the
    decoder network's: ``"f32"`` gives the spec's pixels; ``"bf16"`` (where OpenVINO runs
    the network) is about twice as fast, to pixels within 2 of those on Kodak, the same
    on a given CPU at any thread count; ``"auto"``, the default, is bf16 where the CPU
    runs it natively (AMX, AVX-512 bf16) and float32 elsewhere (see
    benchmarks/results/effort.md).
    """
    f = container.parse(_vqc(data, max_pixels), max_pixels, max_pixels_per_byte)
    from . import decoding  # the model and OpenVINO: after the file is known to be valid

    image = to_image(*decoding.decode_file(f, model, device, threads, progress, precision))
    if f.metadata and not strip:
        image.info.update(to_info(f.metadata))
    return image


def decompress_to(
    data: Source,
    fmt: str = "PNG",
    *,
    model: Model | str | Path | None = None,
    device: str = "cpu",
    max_pixels: int = container.DEFAULT_MAX_PIXELS,
    max_pixels_per_byte: int = container.DEFAULT_PIXELS_PER_BYTE,
    threads: int | None = None,
    progress: Callable | None = None,
    strip: bool = False,
    precision: str = "auto",
) -> bytes:
    """Decode a .vqc file to the bytes of an image file of format ``fmt`` (PNG, JPEG,
    BMP, ...: any format Pillow writes), with the file's ICC profile, EXIF and XMP
    wherever the format takes them unless ``strip``. A PNG is filtered and deflated on
    ``threads`` threads while the image is being decoded (:mod:`vqcodec.pngstream`).
    Other arguments as for :func:`decompress`."""
    from .imagesave import extension_for, image_bytes, png_stream

    extension_for(fmt)  # an unknown format is refused before any work
    f = container.parse(_vqc(data, max_pixels), max_pixels, max_pixels_per_byte)
    from . import decoding  # the model and OpenVINO: after the file is known to be valid

    meta = None if strip else f.metadata
    n = threads_.resolve(threads)
    png = png_stream(fmt, f.width, f.height, f.mode, meta, n)
    options = (model, device, threads, progress, precision)
    if png is not None:
        with png:
            decoding.decode_file(f, *options, rows=png.add)
            return png.finish()
    image = to_image(*decoding.decode_file(f, *options))
    if meta:
        image.info.update(to_info(meta))
    return image_bytes(image, fmt, n)


def _depths(f: container.VQCFile) -> dict | None:
    """Stages used per latent position (min, mean, max), and whether the file sets them
    per tile (version 2) or per position (version 3); None when all are used everywhere."""
    if f.format_version == container.VERSION:
        return None
    d = container.position_depths(f)
    per = (
        "tile"
        if container.depth_version(f.format_version) == container.VERSION_DEPTH
        else "position"
    )
    return {"per": per, "min": int(d.min()), "mean": round(float(d.mean()), 2), "max": int(d.max())}


def _metadata(meta: Metadata) -> dict:
    """Bytes of each part of a file's metadata (ICC profile, EXIF, XMP) it carries."""
    parts = {"icc_profile": meta.icc, "exif": meta.exif, "xmp": meta.xmp}
    return {k: len(v) for k, v in parts.items() if v is not None}


def info(data: Source, *, max_pixels: int = container.DEFAULT_MAX_PIXELS) -> dict:
    """Header fields of a .vqc file (bytes, a path or a binary file object), its size and
    its bits per pixel, without decoding."""
    data = _vqc(data, max_pixels)
    f = container.parse(data, max_pixels, per_byte=0)  # no decoding: no density limit
    return {
        "model": f.model,
        "codebook_fingerprint": f.fingerprint.hex(),
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
        "metadata": None if f.metadata is None else _metadata(f.metadata),
        "bytes": len(data),
        "bpp": 8 * len(data) / (f.width * f.height),
    }
