"""The exception types a vqcodec user can catch."""


class VQCodecError(Exception):
    """Base class for every error a user of vqcodec can cause."""


class FormatError(VQCodecError):
    """A .vqc file is corrupt, truncated, hostile or of an unknown version."""


class ModelMismatchError(VQCodecError):
    """A file or weights file does not match the model it names."""


class ImageError(VQCodecError):
    """An input image cannot be read or is outside the supported limits."""


class InputError(VQCodecError):
    """An argument of a type vqcodec does not take, or an input source it cannot read."""
