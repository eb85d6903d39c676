"""The .vqc container: writing and validating parsing of untrusted bytes.

Pure and small on purpose: no torch, no model. Every field is checked against the
limits and against the bytes that remain before anything is allocated. The layout
(versions 1 and 2) is specified in formats/VQC.md.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from . import coders, depthcode
from .errors import FormatError

MAGIC = b"\x89VQC"
VERSION = 1  # every tile uses all stages
VERSION_DEPTH = 2  # adds a per-tile depth map
VERSION_POSITIONS = 3  # a range-coded depth per latent position instead
VERSIONS = (VERSION, VERSION_DEPTH, VERSION_POSITIONS)
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
    """The decoded fields of a .vqc file. ``streams`` holds each stage's 32-bit words.

    ``depths`` (uint8, values 1..stages) is how many stages each tile uses
    (``[tile_rows, tile_cols]``, a version-2 file) or each latent position uses
    (``[rows, cols]``, version 3); ``None`` means all of them everywhere (version 1).
    """

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
    depths: np.ndarray | None = None

    @property
    def stages(self) -> int:
        return len(self.streams)

    @property
    def format_version(self) -> int:
        if self.depths is None:
            return VERSION
        return VERSION_DEPTH if np.shape(self.depths) == self.tiles else VERSION_POSITIONS

    @property
    def tiles(self) -> tuple[int, int]:
        """Rows and columns of tiles of the padded image (the shape of ``depths``)."""
        return tile_grid(self.width, self.height, self.tile)

    @property
    def grid(self) -> tuple[int, int]:
        """Rows and columns of the latent grid of the image padded to whole tiles."""
        return latent_grid(self.width, self.height, self.tile, self.downsample)


def valid_model_name(name: str) -> bool:
    """Model names are 1..64 characters of ``[A-Za-z0-9._-]``."""
    return _NAME_RE.fullmatch(name.encode("ascii", "replace")) is not None


def tile_grid(width: int, height: int, tile: int) -> tuple[int, int]:
    """(tile_rows, tile_cols) of an image padded to multiples of ``tile``."""
    return -(-height // tile), -(-width // tile)


def latent_grid(width: int, height: int, tile: int, downsample: int) -> tuple[int, int]:
    """(rows, cols) of latent positions for an image padded to multiples of ``tile``."""
    per_tile = tile // downsample
    tile_rows, tile_cols = tile_grid(width, height, tile)
    return tile_rows * per_tile, tile_cols * per_tile


def padded_pixels(width: int, height: int, tile: int = 32) -> int:
    """Pixels of the image padded to whole tiles: what the network actually runs over,
    and what the pixel limit counts."""
    tile_rows, tile_cols = tile_grid(width, height, tile)
    return tile_rows * tile_cols * tile * tile


def stage_symbols(depths: np.ndarray, stages: int, per_tile: int) -> list[int]:
    """Symbols each stage holds: ``per_tile`` for every tile deeper than the stage."""
    hist = np.bincount(depths.ravel(), minlength=stages + 1)[: stages + 1]
    deeper = np.cumsum(hist[::-1])[::-1]  # deeper[d] = tiles with depth >= d
    return [per_tile * int(deeper[s + 1]) for s in range(stages)]


def position_depths(f: VQCFile) -> np.ndarray:
    """uint8 ``[rows, cols]``: the number of stages present at each latent position."""
    rows, cols = f.grid
    if f.depths is None:
        return np.full((rows, cols), f.stages, dtype=np.uint8)
    if f.format_version == VERSION_POSITIONS:
        return f.depths.astype(np.uint8)
    per_tile = f.tile // f.downsample
    return np.repeat(np.repeat(f.depths.astype(np.uint8), per_tile, 0), per_tile, 1)


def _check_depths(f: VQCFile) -> bytes:
    """Validate ``f.depths`` for writing; return the depth section."""
    d = np.asarray(f.depths)
    if d.shape not in (f.tiles, f.grid):
        raise ValueError(f"depth map has shape {d.shape}, expected {f.tiles} or {f.grid}")
    if not np.issubdtype(d.dtype, np.integer):
        raise ValueError(f"depth map must hold integers, not {d.dtype}")
    if d.size == 0 or d.min() < 1 or d.max() != f.stages:
        raise ValueError(f"depths must lie in 1..{f.stages} and reach {f.stages}")
    d = d.astype(np.uint8)
    positions = f.format_version == VERSION_POSITIONS
    expected = stage_symbols(d, f.stages, 1 if positions else (f.tile // f.downsample) ** 2)
    if list(f.symbols) != expected:
        raise ValueError(f"symbol counts {list(f.symbols)} do not match the depths {expected}")
    if positions:
        return np.ascontiguousarray(depthcode.encode(d, f.stages), dtype="<u4").tobytes()
    return zlib.compress(np.ascontiguousarray(d).tobytes(), 9)


def write(f: VQCFile) -> bytes:
    """Serialise ``f``; the inverse of :func:`parse`. The version follows ``f.depths``."""
    name = f.model.encode("ascii")
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"invalid model name {f.model!r}")
    if len(f.version) != FINGERPRINT_BYTES:
        raise ValueError("codebook version must be 16 bytes")
    depth = b"" if f.depths is None else _check_depths(f)
    parts = [
        MAGIC,
        bytes([f.format_version, len(name)]),
        name,
        f.version,
        _FIXED.pack(f.width, f.height, MODES[f.mode], f.tile, f.downsample, f.coder, f.stages),
    ]
    words = [np.ascontiguousarray(w, dtype="<u4").tobytes() for w in f.streams]
    parts += [_STREAM.pack(n, len(w) // 4) for n, w in zip(f.symbols, words, strict=True)]
    parts.append(_U32.pack(len(f.alpha)))
    if f.depths is not None:
        parts.append(_U32.pack(len(depth)))
    parts += words
    parts.append(depth)
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
    fmt = data[4]
    if fmt not in VERSIONS:
        known = ", ".join(map(str, VERSIONS))
        raise FormatError(f"unsupported .vqc format version {fmt} (this reader knows {known})")
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
    if coder not in coders.CODERS:
        raise FormatError(f"unknown entropy coder {coder}")
    if not 1 <= stages <= 255:
        raise FormatError(f"invalid number of stages {stages}")
    rows, cols = latent_grid(width, height, tile, down)
    heads = [r.unpack(_STREAM, "stream header") for _ in range(stages)]
    (alpha_len,) = r.unpack(_U32, "alpha length")
    if (alpha_len > 0) != (MODE_NAMES[mode] in ("LA", "RGBA")):
        raise FormatError("alpha section does not match the image mode")
    (depth_len,) = r.unpack(_U32, "depth length") if fmt != VERSION else (0,)
    payload = sum(4 * w for _, w in heads) + depth_len + alpha_len
    if payload != len(body) - r.pos:
        raise FormatError(f"payload lengths add to {payload} bytes but {len(body) - r.pos} remain")
    raw_streams = [r.take(4 * words, "stream") for _, words in heads]
    depths = None
    if fmt == VERSION_DEPTH:
        depths = _parse_depths(r.take(depth_len, "depth"), tile_grid(width, height, tile), stages)
        expected = stage_symbols(depths, stages, (tile // down) ** 2)
    elif fmt == VERSION_POSITIONS:
        depths = _parse_position_depths(r.take(depth_len, "depth"), (rows, cols), stages)
        expected = stage_symbols(depths, stages, 1)
    else:
        expected = [rows * cols] * stages
    for s, ((symbols, _), want) in enumerate(zip(heads, expected, strict=True)):
        if symbols != want:
            raise FormatError(f"stream {s} holds {symbols} symbols, expected {want}")
    streams = [np.frombuffer(raw, dtype="<u4").astype(np.uint32) for raw in raw_streams]
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
        depths=depths,
    )


def _parse_depths(section: bytes, shape: tuple[int, int], stages: int) -> np.ndarray:
    """Inflate the depth section to exactly one tile map, refusing anything else."""
    n = shape[0] * shape[1]
    try:
        d = zlib.decompressobj()
        raw = d.decompress(section, n)
        if len(raw) != n or not d.eof or d.unconsumed_tail or d.unused_data:
            raise FormatError(f"depth section does not hold exactly {n} tile depths")
    except zlib.error as exc:
        raise FormatError(f"depth section is corrupt ({exc})") from exc
    depths = np.frombuffer(raw, dtype=np.uint8).reshape(shape).copy()
    low, high = int(depths.min()), int(depths.max())
    if low < 1 or high > stages:
        raise FormatError(f"tile depths span {low}..{high}, outside 1..{stages}")
    if high != stages:
        raise FormatError(f"no tile uses all {stages} stages (deepest tile: {high})")
    return depths


def _parse_position_depths(section: bytes, shape: tuple[int, int], stages: int) -> np.ndarray:
    """Range-decode the version-3 depth stream to one depth per latent position."""
    if len(section) % 4 or not section:
        raise FormatError("depth section is not a whole number of 32-bit words")
    if stages < 2:
        raise FormatError("a version-3 file needs at least 2 stages")
    words = np.frombuffer(section, dtype="<u4").astype(np.uint32)
    depths = depthcode.decode(words, shape, stages)
    if int(depths.max()) != stages:
        raise FormatError(f"no position uses all {stages} stages (deepest: {int(depths.max())})")
    return depths


@dataclass(frozen=True)
class Header:
    """The fixed fields at the start of a .vqc file: enough to know its image's size and
    mode without reading (or checking) the rest, as Pillow's ``Image.open`` does."""

    format_version: int
    model: str
    width: int
    height: int
    mode: str
    coder: int
    stages: int


HEADER_MAX_BYTES = len(MAGIC) + 2 + MAX_NAME + FINGERPRINT_BYTES + _FIXED.size


def read_header(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Header:
    """The header at the start of ``data`` (its first ``HEADER_MAX_BYTES`` suffice), with
    the checks :func:`parse` makes of it, but not the checksum, which needs the whole
    file. Raises :class:`FormatError`."""
    if len(data) < len(MAGIC) + 1 or data[:4] != MAGIC:
        raise FormatError("not a .vqc file (bad magic bytes)")
    if data[4] not in VERSIONS:
        raise FormatError(f"unsupported .vqc format version {data[4]}")
    r = _Reader(bytes(data[:HEADER_MAX_BYTES]))
    r.take(5, "magic")
    (name_len,) = r.take(1, "name length")
    name = r.take(name_len, "model name")
    if not _NAME_RE.fullmatch(name):
        raise FormatError("invalid model name in header")
    r.take(FINGERPRINT_BYTES, "codebook version")
    width, height, mode, tile, down, coder, stages = r.unpack(_FIXED, "header")
    if not (1 <= width and 1 <= height and width * height <= max_pixels):
        raise FormatError(f"invalid image size {width}x{height}")
    if mode not in MODE_NAMES or (tile, down) != (32, 8) or coder not in coders.CODERS:
        raise FormatError("invalid header fields")
    if not stages:
        raise FormatError("invalid number of stages 0")
    return Header(data[4], name.decode("ascii"), width, height, MODE_NAMES[mode], coder, stages)
