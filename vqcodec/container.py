"""The .vqc container: writing and validating parsing of untrusted bytes.

Pure and small on purpose: no torch, no model. Every field is checked against the
limits and against the bytes that remain before anything is allocated. The layout
is specified in formats/VQC.md.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from .errors import FormatError

MAGIC = b"\x89VQC"
VERSION = 1
CODER_RANGE = 1
CODER_CONTEXT = 2
CODERS = (CODER_RANGE, CODER_CONTEXT)
MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
MODE_NAMES = {v: k for k, v in MODES.items()}
FINGERPRINT_BYTES = 16
MAX_NAME = 64
DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's decompression-bomb error threshold
_NAME_RE = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_FIXED = struct.Struct("<IIBBBBB")  # width, height, mode, tile, downsample, coder, stages
_STREAM = struct.Struct("<II")  # symbols, words
_U32 = struct.Struct("<I")


@dataclass(frozen=True)
class VQCFile:
    """The decoded fields of a .vqc file. ``streams`` holds each stage's 32-bit words."""

    model: str
    version: bytes
    width: int
    height: int
    mode: str
    tile: int
    downsample: int
    coder: int
    symbols: tuple[int, ...]
    streams: tuple[np.ndarray, ...]
    alpha: bytes = b""

    @property
    def stages(self) -> int:
        return len(self.streams)

    @property
    def grid(self) -> tuple[int, int]:
        """Rows and columns of the latent grid of the image padded to whole tiles."""
        return latent_grid(self.width, self.height, self.tile, self.downsample)


def valid_model_name(name: str) -> bool:
    """Model names are 1..64 characters of ``[A-Za-z0-9._-]``."""
    return _NAME_RE.fullmatch(name.encode("ascii", "replace")) is not None


def latent_grid(width: int, height: int, tile: int, downsample: int) -> tuple[int, int]:
    """(rows, cols) of latent positions for an image padded to multiples of ``tile``."""
    per_tile = tile // downsample
    return -(-height // tile) * per_tile, -(-width // tile) * per_tile


def write(f: VQCFile) -> bytes:
    """Serialise ``f``; the inverse of :func:`parse`."""
    name = f.model.encode("ascii")
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"invalid model name {f.model!r}")
    if len(f.version) != FINGERPRINT_BYTES:
        raise ValueError("codebook version must be 16 bytes")
    parts = [
        MAGIC,
        bytes([VERSION, len(name)]),
        name,
        f.version,
        _FIXED.pack(f.width, f.height, MODES[f.mode], f.tile, f.downsample, f.coder, f.stages),
    ]
    words = [np.ascontiguousarray(w, dtype="<u4").tobytes() for w in f.streams]
    parts += [_STREAM.pack(n, len(w) // 4) for n, w in zip(f.symbols, words, strict=True)]
    parts.append(_U32.pack(len(f.alpha)))
    parts += words
    parts.append(f.alpha)
    body = b"".join(parts)
    return body + _U32.pack(zlib.crc32(body))


class _Reader:
    """Cursor over bytes that refuses to read past the end."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if n > len(self.data) - self.pos:
            raise FormatError(
                f"truncated file: {what} needs {n} bytes, {len(self.data) - self.pos} remain"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, st: struct.Struct, what: str) -> tuple:
        return st.unpack(self.take(st.size, what))


def parse(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> VQCFile:
    """Parse and validate a .vqc file. Raises :class:`FormatError` on anything invalid."""
    data = bytes(data)
    if len(data) < len(MAGIC) + 1 or data[:4] != MAGIC:
        raise FormatError("not a .vqc file (bad magic bytes)")
    if data[4] != VERSION:
        raise FormatError(
            f"unsupported .vqc format version {data[4]} (this reader knows {VERSION})"
        )
    if len(data) < 4 + _U32.size + 6:
        raise FormatError("truncated file")
    body, (crc,) = data[:-4], _U32.unpack(data[-4:])
    if zlib.crc32(body) != crc:
        raise FormatError("checksum mismatch: the file is corrupt or truncated")
    r = _Reader(body)
    r.take(5, "magic")
    (name_len,) = r.take(1, "name length")
    name = r.take(name_len, "model name")
    if not _NAME_RE.fullmatch(name):
        raise FormatError("invalid model name in header")
    version = r.take(FINGERPRINT_BYTES, "codebook version")
    width, height, mode, tile, down, coder, stages = r.unpack(_FIXED, "header")
    if width < 1 or height < 1:
        raise FormatError(f"invalid image size {width}x{height}")
    if width * height > max_pixels:
        raise FormatError(f"image of {width}x{height} pixels exceeds the limit of {max_pixels}")
    if mode not in MODE_NAMES:
        raise FormatError(f"unknown mode code {mode}")
    if (tile, down) != (32, 8):
        raise FormatError(f"unsupported tile size {tile} / downsampling {down}")
    if coder not in CODERS:
        raise FormatError(f"unknown entropy coder {coder}")
    if not 1 <= stages <= 255:
        raise FormatError(f"invalid number of stages {stages}")
    rows, cols = latent_grid(width, height, tile, down)
    heads = [r.unpack(_STREAM, "stream header") for _ in range(stages)]
    (alpha_len,) = r.unpack(_U32, "alpha length")
    if (alpha_len > 0) != (MODE_NAMES[mode] in ("LA", "RGBA")):
        raise FormatError("alpha section does not match the image mode")
    payload = sum(4 * w for _, w in heads) + alpha_len
    if payload != len(body) - r.pos:
        raise FormatError(f"payload lengths add to {payload} bytes but {len(body) - r.pos} remain")
    streams = []
    for symbols, words in heads:
        if symbols != rows * cols:
            raise FormatError(f"stream holds {symbols} symbols, expected {rows * cols}")
        raw = r.take(4 * words, "stream")
        streams.append(np.frombuffer(raw, dtype="<u4").astype(np.uint32))
    alpha = r.take(alpha_len, "alpha")
    return VQCFile(
        model=name.decode("ascii"),
        version=version,
        width=width,
        height=height,
        mode=MODE_NAMES[mode],
        tile=tile,
        downsample=down,
        coder=coder,
        symbols=tuple(s for s, _ in heads),
        streams=tuple(streams),
        alpha=alpha,
    )
