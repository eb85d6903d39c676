"""vqcodec: a learned image codec built on a residual-VQ VQ-VAE.

The API is imported on first use (PEP 562), so ``import vqcodec``, ``vqcodec --help``
and ``vqcodec info`` never load torch; compressing or decompressing does. Importing
registers the .vqc plugin with Pillow (:mod:`vqcodec.pillow`, which imports only Pillow).
"""

from __future__ import annotations

import importlib

from . import pillow  # noqa: F401  (Image.open and Image.save of .vqc files)
from .errors import FormatError, ImageError, InputError, ModelMismatchError, VQCodecError
from .version import __version__

_LAZY = {
    "compress": "api",
    "compress_to_target": "api",
    "decompress": "api",
    "decompress_to": "api",
    "info": "api",
    "get_model": "registry",
    "shipped": "registry",
    "DEFAULT_MODEL": "registry",
}

__all__ = [
    "__version__",
    "compress",
    "compress_to_target",
    "decompress",
    "decompress_to",
    "info",
    "get_model",
    "shipped",
    "DEFAULT_MODEL",
    "VQCodecError",
    "FormatError",
    "ImageError",
    "InputError",
    "ModelMismatchError",
]


def __getattr__(name: str):
    """The API's names from their modules, and submodules (``vqcodec.container``) by name."""
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
