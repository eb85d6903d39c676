"""Codec adapters: encode RGB pixels to the bytes of a whole file and decode them back.

Every adapter has a fixed set of encoder options (recorded in the results), one
setting that is swept (quality, target bpp, distance or quality level), the full
sweep, a shorter one for ``--quick`` and a middle setting for the size-scaling run.
The classical settings are those of ../shared/notes/rd-anchors.md.
"""

from __future__ import annotations

import io
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np
from PIL import Image, features

Setting = float | int

JPEG_QUALITIES = (3, 5, 8, 12, 20, 30, 40, 50, 65, 75, 85, 90)
JPEG2000_OPTIONS = {
    "no_jp2": True,
    "irreversible": True,
    "mct": 1,
    "quality_mode": "rates",
}
AVIF_OPTIONS = {"speed": 6, "max_threads": 1, "range": "full"}
JXL_OPTIONS = {"effort": 7, "numthreads": 1}
_FEATURE = {"libjpeg-turbo": "libjpeg_turbo", "libwebp": "webp", "OpenJPEG": "jpg_2000"}


@dataclass(frozen=True)
class Codec:
    """A codec under test: how to encode at a setting and decode, and what was used."""

    name: str
    label: str
    setting_name: str
    sweep: tuple[Setting, ...]
    quick: tuple[Setting, ...]
    mid: Setting
    encode: Callable[[np.ndarray, Setting], bytes]
    decode: Callable[[bytes], np.ndarray]
    options: dict = field(default_factory=dict)
    library: str = ""
    inspect: Callable[[bytes], dict] | None = None  # extra per-file statistics

    def record(self) -> dict:
        """The settings of this codec as written to the results."""
        return {
            "label": self.label,
            "setting": self.setting_name,
            "sweep": list(self.sweep),
            "quick_sweep": list(self.quick),
            "options": self.options,
            "library": self.library,
        }


def _pillow_encode(fmt: str, options: dict, key: str) -> Callable[[np.ndarray, Setting], bytes]:
    def encode(pixels: np.ndarray, setting: Setting) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format=fmt, **options, **{key: setting})
        return buf.getvalue()

    return encode


def _pillow_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _jpeg2000_encode(pixels: np.ndarray, target_bpp: Setting) -> bytes:
    """One quality layer at compression ratio 24 / bpp (24 = bits per uncompressed RGB pixel)."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(
        buf, format="JPEG2000", **JPEG2000_OPTIONS, quality_layers=[24 / target_bpp]
    )
    return buf.getvalue()


def _jxl_encode(pixels: np.ndarray, distance: Setting) -> bytes:
    import imagecodecs

    return bytes(imagecodecs.jpegxl_encode(pixels, distance=distance, **JXL_OPTIONS))


def _jxl_decode(data: bytes) -> np.ndarray:
    import imagecodecs

    return np.asarray(imagecodecs.jpegxl_decode(data, numthreads=1))


def _pillow_version(name: str) -> str:
    return f"Pillow {metadata.version('pillow')}, {name} {features.version(_FEATURE[name])}"


def _avif_library() -> str:
    from PIL import _avif

    pillow, libavif = metadata.version("pillow"), features.version("avif")
    return f"Pillow {pillow}, libavif {libavif} ({_avif.codec_versions()})"


def _jxl_library() -> str:
    import imagecodecs

    return f"imagecodecs {imagecodecs.__version__}, {imagecodecs.jpegxl_version()}"


def jpeg(subsampling: str = "4:2:0") -> Codec:
    """Baseline JPEG through Pillow with optimized Huffman tables."""
    options = {"subsampling": subsampling, "optimize": True}
    sweep = JPEG_QUALITIES if subsampling == "4:2:0" else JPEG_QUALITIES[:-1]
    return Codec(
        name="jpeg" if subsampling == "4:2:0" else "jpeg444",
        label=f"JPEG {subsampling}",
        setting_name="quality",
        sweep=sweep,
        quick=(5, 12, 30, 50, 75, 85),
        mid=50,
        encode=_pillow_encode("JPEG", options, "quality"),
        decode=_pillow_decode,
        options=options,
        library=_pillow_version("libjpeg-turbo"),
    )


def webp() -> Codec:
    """Lossy WebP (4:2:0) at the slowest, best method."""
    options = {"method": 6, "lossless": False}
    return Codec(
        name="webp",
        label="WebP",
        setting_name="quality",
        sweep=(0, 5, 10, 20, 35, 50, 65, 75, 85, 90),
        quick=(0, 10, 35, 65, 85),
        mid=75,
        encode=_pillow_encode("WEBP", options, "quality"),
        decode=_pillow_decode,
        options=options,
        library=_pillow_version("libwebp"),
    )


def jpeg2000() -> Codec:
    """JPEG 2000 raw codestream: 9/7 wavelet, ICT colour transform, one layer at a target rate."""
    return Codec(
        name="jpeg2000",
        label="JPEG 2000",
        setting_name="target bpp",
        sweep=(0.05, 0.075, 0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1, 1.5, 2),
        quick=(0.05, 0.1, 0.25, 0.5, 1, 2),
        mid=0.75,
        encode=_jpeg2000_encode,
        decode=_pillow_decode,
        options={**JPEG2000_OPTIONS, "quality_layers": "[24 / target bpp]"},
        library=_pillow_version("OpenJPEG"),
    )


def avif(psnr444: bool = False) -> Codec:
    """AVIF through Pillow/libavif: 4:2:0 with default tuning, or 4:4:4 with aom tune=psnr.

    Decoding is made single-threaded too, through Pillow's module default, so that
    every classical codec is timed on one thread.
    """
    from PIL import AvifImagePlugin

    AvifImagePlugin.DEFAULT_MAX_THREADS = 1
    options = dict(AVIF_OPTIONS)
    if psnr444:
        options.update(subsampling="4:4:4", codec="aom", advanced={"tune": "psnr"})
    else:
        options.update(subsampling="4:2:0")
    sweep = tuple(range(0, 81, 10)) if psnr444 else (*range(0, 81, 10), 85)
    return Codec(
        name="avif444psnr" if psnr444 else "avif",
        label="AVIF 4:4:4 tune=psnr" if psnr444 else "AVIF 4:2:0",
        setting_name="quality",
        sweep=sweep,
        quick=(0, 20, 40, 60, 80),
        mid=60,
        encode=_pillow_encode("AVIF", options, "quality"),
        decode=_pillow_decode,
        options={**options, "decoder max_threads": 1},
        library=_avif_library(),
    )


def jxl() -> Codec:
    """JPEG XL (VarDCT) through imagecodecs/libjxl, swept by butteraugli distance."""
    return Codec(
        name="jxl",
        label="JPEG XL",
        setting_name="distance",
        sweep=(15, 11, 8, 5.6, 4, 2.8, 2, 1.4, 1, 0.8),
        quick=(15, 8, 4, 2, 1),
        mid=2,
        encode=_jxl_encode,
        decode=_jxl_decode,
        options=dict(JXL_OPTIONS),
        library=_jxl_library(),
    )


def vqcodec(
    model: str | None = None,
    device: str = "cpu",
    effort: int | None = None,
    precision: str = "auto",
) -> Codec:
    """vqcodec at every quality level of ``model`` (the shipped default when None), at
    encoder ``effort`` (the default when None), decoding at ``precision``."""
    from vqcodec.api import compress, decompress
    from vqcodec.registry import get_model

    from .coding import file_stats

    m = get_model(model)
    levels = tuple(range(1, m.stages + 1))

    level = {} if effort is None else {"effort": effort}

    def encode(pixels: np.ndarray, quality: Setting) -> bytes:
        return compress(pixels, int(quality), model=m, device=device, **level)

    def decode(data: bytes) -> np.ndarray:
        image = decompress(data, model=m, device=device, precision=precision)
        return np.asarray(image.convert("RGB"))

    return Codec(
        name="vqcodec" if device == "cpu" else f"vqcodec-{device}",
        label=f"vqcodec ({m.name})" if device == "cpu" else f"vqcodec ({m.name}, {device})",
        setting_name="quality level",
        sweep=levels,
        quick=levels,
        mid=levels[len(levels) // 2],
        encode=encode,
        decode=decode,
        options={
            "model": m.name,
            "codebook_fingerprint": m.fingerprint.hex(),
            "device": device,
            **level,
        },
        library=f"vqcodec {metadata.version('vqcodec')}, torch {_torch_version()}",
        inspect=lambda data: file_stats(data, m),
    )


def _torch_version() -> str:
    import torch

    return torch.__version__


CLASSICAL = ("jpeg", "jpeg444", "webp", "jpeg2000", "avif", "avif444psnr", "jxl")
ALL = ("vqcodec", *CLASSICAL)
_FACTORIES: dict[str, Callable[[], Codec]] = {
    "jpeg": jpeg,
    "jpeg444": lambda: jpeg("4:4:4"),
    "webp": webp,
    "jpeg2000": jpeg2000,
    "avif": avif,
    "avif444psnr": lambda: avif(psnr444=True),
    "jxl": jxl,
}


def missing(name: str) -> str | None:
    """Why codec ``name`` cannot run here, or None when it can."""
    needs = {"webp": "webp", "jpeg2000": "jpg_2000", "avif": "avif", "avif444psnr": "avif"}
    if name in needs and not features.check(needs[name]):
        return f"Pillow {metadata.version('pillow')} was built without {needs[name]}"
    if name == "avif444psnr" and features.check("avif"):
        from PIL import _avif

        if not _avif.encoder_codec_available("aom"):
            return "libavif has no aom encoder, needed for tune=psnr"
    if name == "jxl":
        try:
            import imagecodecs
        except ImportError:
            return "imagecodecs is not installed"
        if not imagecodecs.JPEGXL.available:
            return "imagecodecs was built without JPEG XL"
    return None


def make(
    name: str,
    model: str | None = None,
    device: str = "cpu",
    effort: int | None = None,
    precision: str = "auto",
) -> Codec:
    """The adapter for codec ``name`` (one of :data:`ALL`); ``effort`` and the decoder's
    ``precision`` are vqcodec's."""
    if name == "vqcodec":
        return vqcodec(model, device, effort, precision)
    return _FACTORIES[name]()


def available(
    names: Sequence[str], model: str | None = None, device: str = "cpu"
) -> tuple[list[Codec], list[dict]]:
    """Adapters for ``names`` that can run here, and a note for each one skipped."""
    codecs, notes = [], []
    for name in names:
        reason = missing(name)
        if reason:
            notes.append({"codec": name, "note": f"skipped: {reason}"})
        else:
            codecs.append(make(name, model, device))
    return codecs, notes


def library_versions() -> dict[str, str]:
    """Versions of Python and of every library that touches the numbers."""
    versions = {"python": platform.python_version()}
    for dist in ("numpy", "pillow", "scipy", "torch", "pytorch-msssim", "matplotlib"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    for lib, feature in (*_FEATURE.items(), ("libavif", "avif")):
        versions[lib] = features.version(feature) or "not built"
    if features.check("avif"):
        from PIL import _avif

        versions["libavif codecs"] = _avif.codec_versions()
    if missing("jxl") is None:
        versions["imagecodecs / libjxl"] = _jxl_library()
    return versions
