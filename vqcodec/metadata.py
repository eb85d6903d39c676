"""Image metadata carried through a .vqc file: the ICC profile, EXIF and XMP.

Read from the input image on compress (EXIF with its orientation reset to 1, since
the pixels are stored upright), stored in the optional metadata section of the file
(formats/VQC.md, "Metadata"), and written back on decompress wherever the output
format takes them. :func:`pack` and :func:`unpack` are pure (no Pillow, no torch): the
container parses the section with them. Every entry is bounded and checked.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass

from .errors import FormatError

ICC, EXIF, XMP = 1, 2, 3  # entry kinds, stored in this order
NAMES = {ICC: "ICC profile", EXIF: "EXIF", XMP: "XMP"}
# The most bytes each entry may hold: EXIF as one JPEG APP1 segment takes it (65,533
# bytes less its "Exif\0\0"), XMP and ICC a generous 1 MiB.
LIMITS = {ICC: 1 << 20, EXIF: 65_527, XMP: 1 << 20}
_ENTRY = struct.Struct("<BI")  # kind, length
MAX_SECTION = 1 + sum(_ENTRY.size + n for n in LIMITS.values())  # the largest section
_TIFF = (b"II*\x00", b"MM\x00*")
_EXIF_PREFIX = b"Exif\x00\x00"
_ORIENTATION = 0x0112
_XMP_TAG = 700
# A TIFF's own directory is its "EXIF": of it only these descriptive tags (and the Exif
# and GPS directories) are metadata; the rest describe the TIFF's strips and samples.
_TIFF_KEEP = {270, 271, 272, 274, 305, 306, 315, 316, 33432, 0x8769, 0x8825}


@dataclass(frozen=True)
class Metadata:
    """What a file carries besides pixels; ``None`` for each part it does not have.
    ``exif`` is a TIFF structure (from ``II*\\0`` or ``MM\\0*``), ``xmp`` UTF-8 XML."""

    icc: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.icc, self.exif, self.xmp))

    def entries(self) -> dict[int, bytes]:
        parts = {ICC: self.icc, EXIF: self.exif, XMP: self.xmp}
        return {k: v for k, v in parts.items() if v is not None}


def check(kind: int, value: bytes) -> None:
    """Refuse an entry outside its limit or not of its kind (:class:`FormatError`)."""
    name = NAMES.get(kind)
    if name is None:
        raise FormatError(f"unknown metadata kind {kind}")
    if not 0 < len(value) <= LIMITS[kind]:
        raise FormatError(f"{name} of {len(value)} bytes is outside 1..{LIMITS[kind]}")
    if kind == ICC and (len(value) < 128 or value[36:40] != b"acsp"):
        raise FormatError("ICC profile has no valid profile header")
    if kind == ICC and int.from_bytes(value[:4], "big") != len(value):
        raise FormatError("ICC profile's declared size does not match its length")
    if kind == EXIF and (len(value) < 8 or value[:4] not in _TIFF):
        raise FormatError("EXIF does not start with a TIFF header")
    if kind == XMP:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"XMP is not UTF-8 ({exc.reason})") from exc


def pack(meta: Metadata) -> bytes:
    """The metadata section: a count, then per entry its kind, length and bytes."""
    entries = meta.entries()
    for kind, value in entries.items():
        check(kind, value)
    out = [bytes([len(entries)])]
    for kind, value in entries.items():
        out += [_ENTRY.pack(kind, len(value)), value]
    return b"".join(out)


def unpack(section: bytes) -> Metadata:
    """Parse and check a metadata section, refusing anything :func:`pack` would not write."""
    if not section or not 1 <= section[0] <= len(NAMES):
        raise FormatError("metadata section must hold 1 to 3 entries")
    pos, found = 1, {}
    for _ in range(section[0]):
        if len(section) - pos < _ENTRY.size:
            raise FormatError("metadata section is truncated")
        kind, length = _ENTRY.unpack_from(section, pos)
        pos += _ENTRY.size
        if found and kind <= max(found):
            raise FormatError("metadata entries are repeated or out of order")
        if length > len(section) - pos:
            raise FormatError(f"metadata entry of {length} bytes runs past the section")
        value = section[pos : pos + length]
        check(kind, value)
        found[kind] = value
        pos += length
    if pos != len(section):
        raise FormatError(f"{len(section) - pos} bytes after the last metadata entry")
    return Metadata(found.get(ICC), found.get(EXIF), found.get(XMP))


def _bounded(kind: int, value: bytes | None) -> bytes | None:
    """``value`` if it is a valid entry, else None with a warning (it is not kept)."""
    if not value:
        return None
    try:
        check(kind, value)
    except FormatError as exc:
        warnings.warn(f"{NAMES[kind]} not kept: {exc}", stacklevel=4)
        return None
    return value


def from_image(im) -> Metadata:
    """The ICC profile, EXIF (orientation set to 1) and XMP of a PIL image, each kept
    only if valid and within its limit (a warning says when one is not)."""
    exif = None
    try:
        tags = type(im.getexif())()  # a copy: the caller's image is left as it is
        tags.load(im.getexif().tobytes())
        if im.format == "TIFF":
            for tag in [t for t in tags if t not in _TIFF_KEEP]:
                del tags[tag]
        if len(tags):
            if _ORIENTATION in tags:
                tags[_ORIENTATION] = 1
            exif = tags.tobytes()[len(_EXIF_PREFIX) :]
    except (OSError, ValueError, SyntaxError, TypeError, struct.error) as exc:
        warnings.warn(f"EXIF not kept, it cannot be read: {exc}", stacklevel=3)
    xmp = im.info.get("xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    return Metadata(
        _bounded(ICC, im.info.get("icc_profile")),
        _bounded(EXIF, exif),
        _bounded(XMP, xmp if isinstance(xmp, bytes) else None),
    )


def to_info(meta: Metadata) -> dict:
    """``meta`` as a PIL image's ``info`` holds it (``icc_profile``, ``exif``, ``xmp``)."""
    info = {"icc_profile": meta.icc, "xmp": meta.xmp}
    info["exif"] = None if meta.exif is None else _EXIF_PREFIX + meta.exif
    return {k: v for k, v in info.items() if v is not None}


def from_info(info: dict) -> Metadata:
    """The inverse of :func:`to_info`: what a decoded image carries."""
    exif = info.get("exif")
    if exif is not None and exif.startswith(_EXIF_PREFIX):
        exif = exif[len(_EXIF_PREFIX) :]
    return Metadata(info.get("icc_profile"), exif, info.get("xmp"))


def save_options(meta: Metadata, fmt: str) -> dict:
    """Pillow ``save`` keywords that write ``meta`` into format ``fmt``. JPEG, PNG, WebP,
    TIFF and AVIF take all three; other formats ignore what they cannot hold."""
    fmt = fmt.upper()
    options: dict = {}
    if meta.icc:
        options["icc_profile"] = meta.icc
    if meta.exif:
        options["exif"] = _EXIF_PREFIX + meta.exif
    if meta.xmp and fmt == "PNG":
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", meta.xmp.decode("utf-8"))
        options["pnginfo"] = info
    elif meta.xmp and fmt == "TIFF":  # XMP is a tag of the image's own directory
        from PIL import Image

        tags = Image.Exif()
        if meta.exif:
            tags.load(options["exif"])
        tags[_XMP_TAG] = meta.xmp
        options["exif"] = tags
    elif meta.xmp:
        options["xmp"] = meta.xmp
    return options
