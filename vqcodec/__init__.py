"""vqcodec: a learned image codec built on a residual-VQ VQ-VAE."""

from .api import compress, decompress, info
from .errors import FormatError, ImageError, ModelMismatchError, VQCodecError
from .registry import DEFAULT_MODEL, get_model, shipped

__all__ = [
    "compress",
    "decompress",
    "info",
    "get_model",
    "shipped",
    "DEFAULT_MODEL",
    "VQCodecError",
    "FormatError",
    "ImageError",
    "ModelMismatchError",
]
