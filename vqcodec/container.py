"""The .vqc container: writing and validating parsing of untrusted bytes.

Pure and small on purpose: no torch, no model. One description drives both sides:
``HEADER`` lists the fixed fields with the check each must pass, :mod:`vqcodec.sections`
the optional sections, and ``LAYOUTS`` which sections each format version carries and in
what order. :func:`parse` checks every field as soon as it is read, against the limits
(:mod:`vqcodec.limits`) and against the bytes that remain, before anything is allocated;
:func:`write` refuses what :func:`parse` would. The layout is specified in
formats/VQC.md.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import coders, metadata
from .errors import FormatError
from .limits import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_PIXELS_PER_BYTE,
    Limits,
    density_problem,
    latent_grid,
    min_file_bytes,
    size_problem,
    tile_grid,
)
from .sections import ALPHA, METADATA, MODE_NAMES, MODES, POSITION_DEPTHS, TILE_DEPTHS, Section

MAGIC = b"\x89VQC"
VERSION = 1  # every position uses all stages
VERSION_DEPTH = 2  # adds a per-tile depth map
VERSION_POSITIONS = 3  # a range-coded depth per latent position instead
METADATA_VERSIONS = 3  # versions 4, 5, 6 are versions 1, 2, 3 with a metadata section
FINGERPRINT_BYTES = 16  # the model's codebook fingerprint (weights.fingerprint)
MAX_NAME = 64
TILE, DOWNSAMPLE = 32, 8  # the only tiling of versions 1-6
_NAME_RE = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_STREAM = struct.Struct("<II")  # symbols, words
_U32 = struct.Struct("<I")


@dataclass(frozen=True)
class VQCFile:
    """The decoded fields of a .vqc file. ``streams`` holds each stage's 32-bit words.

    ``format_version`` says what ``depths`` (uint8, values 1..stages) is: ``None`` in
    version 1 (every position uses every stage), how many stages each tile uses
    (``[tile_rows, tile_cols]``) in version 2, each latent position (``[rows, cols]``) in
    version 3. ``alpha`` is the zlib-compressed alpha plane (LA and RGBA only).
    Versions 4, 5 and 6 are versions 1, 2 and 3 with ``metadata`` (ICC profile, EXIF,
    XMP); files without it are versions 1 to 3.
    """

    model: str
    fingerprint: bytes
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
    format_version: int = VERSION
    metadata: metadata.Metadata | None = None

    @property
    def stages(self) -> int:
        return len(self.streams)

    @property
    def tiles(self) -> tuple[int, int]:
        """Rows and columns of tiles of the padded image (a version-2 depth map's shape)."""
        return tile_grid(self.width, self.height, self.tile)

    @property
    def grid(self) -> tuple[int, int]:
        """Rows and columns of the latent grid of the image padded to whole tiles."""
        return latent_grid(self.width, self.height, self.tile, self.downsample)


def valid_model_name(name: str) -> bool:
    """Model names are 1..64 characters of ``[A-Za-z0-9._-]``."""
    return _NAME_RE.fullmatch(name.encode("ascii", "replace")) is not None


def stage_symbols(depths: np.ndarray, stages: int, per_tile: int) -> list[int]:
    """Symbols each stage holds: ``per_tile`` for every tile deeper than the stage."""
    hist = np.bincount(depths.ravel(), minlength=stages + 1)[: stages + 1]
    deeper = np.cumsum(hist[::-1])[::-1]  # deeper[d] = tiles with depth >= d
    return [per_tile * int(deeper[s + 1]) for s in range(stages)]


def tiles_to_grid(tiles: np.ndarray, per_tile: int = TILE // DOWNSAMPLE) -> np.ndarray:
    """Tile depths ``[tile_rows, tile_cols]`` -> the depth of every latent position."""
    return np.repeat(np.repeat(tiles, per_tile, 0), per_tile, 1)


def depth_version(version: int) -> int:
    """The version (1, 2 or 3) whose depth map a file of format ``version`` has."""
    return version - METADATA_VERSIONS if version > METADATA_VERSIONS else version


def position_depths(f: VQCFile) -> np.ndarray:
    """uint8 ``[rows, cols]``: the number of stages present at each latent position."""
    kind = depth_version(f.format_version)
    if kind == VERSION:
        return np.full(f.grid, f.stages, dtype=np.uint8)
    if kind == VERSION_POSITIONS:
        return f.depths.astype(np.uint8)
    return tiles_to_grid(f.depths.astype(np.uint8), f.tile // f.downsample)


def smallest_version(
    grid: np.ndarray, meta: metadata.Metadata | None = None
) -> tuple[int, np.ndarray | None]:
    """The format version and depth map that store per-position depths ``grid``: version 1
    when every position uses every stage, 2 (the tile map) when each tile is uniform,
    else 3 (``grid`` itself); 3 more (4, 5, 6) when there is metadata to carry."""
    extra = METADATA_VERSIONS if meta else 0
    if (grid == grid.max()).all():
        return VERSION + extra, None
    per = TILE // DOWNSAMPLE
    tiles = grid[::per, ::per]
    if np.array_equal(tiles_to_grid(tiles, per), grid):
        return VERSION_DEPTH + extra, tiles
    return VERSION_POSITIONS + extra, grid


# --- the header: (field, struct code, check), in file order after the model name ---
# A check gets the value and the fields read so far and returns what is wrong, or None.


def _check_size(height: int, h: dict, limits: Limits) -> str | None:
    problem = size_problem(h["width"], height, limits.max_pixels)
    if problem or limits.file_bytes is None:
        return problem
    return density_problem(h["width"], height, limits.file_bytes, limits.per_byte)


def _fingerprint_size(v: bytes) -> str | None:
    if len(v) == FINGERPRINT_BYTES:
        return None
    return f"the codebook fingerprint must be {FINGERPRINT_BYTES} bytes"


def _tiling(tile: int, downsample: int) -> str | None:
    if (tile, downsample) == (TILE, DOWNSAMPLE):
        return None
    return f"unsupported tile size {tile} / downsampling {downsample}"


@dataclass(frozen=True)
class Field:
    name: str
    code: str  # struct format of the value, little-endian
    check: Callable[..., str | None] | None = None  # (value, fields so far, Limits)


def _is(allowed, message: str) -> Callable[..., str | None]:
    """A check that a value lies in ``allowed`` (``message`` formats the value as ``v``)."""
    return lambda v, h, _: None if v in allowed else message.format(v=v)


HEADER = (
    Field("fingerprint", f"{FINGERPRINT_BYTES}s", lambda v, h, _: _fingerprint_size(v)),
    Field("width", "I"),
    Field("height", "I", _check_size),
    Field("mode", "B", _is(MODE_NAMES, "unknown mode code {v}")),
    Field("tile", "B"),
    Field("downsample", "B", lambda v, h, _: _tiling(h["tile"], v)),
    Field("coder", "B", _is(coders.CODERS, "unknown entropy coder {v}")),
    Field("stages", "B", _is(range(1, 256), "invalid number of stages {v}")),
)


@dataclass(frozen=True)
class Layout:
    """The optional sections of one format version: their length fields in ``lengths``
    order after the stream table, their bodies in ``bodies`` order after the streams."""

    lengths: tuple[Section, ...]
    bodies: tuple[Section, ...]


LAYOUTS = {
    VERSION: Layout((ALPHA,), (ALPHA,)),
    VERSION_DEPTH: Layout((ALPHA, TILE_DEPTHS), (TILE_DEPTHS, ALPHA)),
    VERSION_POSITIONS: Layout((ALPHA, POSITION_DEPTHS), (POSITION_DEPTHS, ALPHA)),
}
LAYOUTS |= {  # the same with the metadata section last, both its length and its body
    v + METADATA_VERSIONS: Layout((*x.lengths, METADATA), (*x.bodies, METADATA))
    for v, x in LAYOUTS.items()
}
VERSIONS = tuple(LAYOUTS)


def _header_values(f: VQCFile) -> dict:
    return {field.name: getattr(f, field.name) for field in HEADER} | {"mode": MODES.get(f.mode, 0)}


def write(f: VQCFile, pad: bool = True) -> bytes:
    """Serialise ``f``; the inverse of :func:`parse` (ValueError for what it refuses).
    A file too small for its image under the density limit gets zero words after its
    last stream (``pad``; readers ignore them), so that every reader decodes it."""
    name = f.model.encode("ascii", "replace")
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"invalid model name {f.model!r}")
    if f.format_version not in LAYOUTS:
        raise ValueError(f"unknown format version {f.format_version}")
    if depth_version(f.format_version) == VERSION and f.depths is not None:
        raise ValueError(f"a version-{f.format_version} file has no depth map")
    if f.metadata and f.format_version <= METADATA_VERSIONS:
        raise ValueError(f"a version-{f.format_version} file cannot carry metadata")
    h = _header_values(f)
    parts = [MAGIC, bytes([f.format_version, len(name)]), name]
    for field in HEADER:  # the same checks as parse's, but no pixel limit
        problem = field.check(h[field.name], h, Limits(math.inf)) if field.check else None
        if problem:
            raise ValueError(problem)
        parts.append(struct.pack("<" + field.code, h[field.name]))
    layout = LAYOUTS[f.format_version]
    bodies = {s.name: s.write(f) for s in layout.lengths}
    expected = _expected_symbols(f.format_version, h, f.depths)
    if list(f.symbols) != expected:
        raise ValueError(f"symbol counts {list(f.symbols)} do not match the depths {expected}")
    words = [np.ascontiguousarray(w, dtype="<u4").tobytes() for w in f.streams]
    lengths = [_U32.pack(len(bodies[s.name])) for s in layout.lengths]
    sections = [bodies[s.name] for s in layout.bodies]
    size = sum(map(len, parts + lengths + words + sections)) + _STREAM.size * len(words) + 4
    short = min_file_bytes(f.width, f.height) - size if pad else 0
    if short > 0:  # zero words after the last stream, which readers ignore
        words[-1] += bytes(4 * -(-short // 4))
    parts += [_STREAM.pack(n, len(w) // 4) for n, w in zip(f.symbols, words, strict=True)]
    return seal(b"".join(parts + lengths + words + sections))


def seal(body: bytes) -> bytes:
    """``body`` followed by its CRC-32, the last field of every .vqc file."""
    return body + _U32.pack(zlib.crc32(body))


def _expected_symbols(version: int, h: dict, depths: np.ndarray | None) -> list[int]:
    """Symbols each stage must hold under the file's depth map."""
    stages, version = h["stages"], depth_version(version)
    if version == VERSION:
        rows, cols = latent_grid(h["width"], h["height"], h["tile"], h["downsample"])
        return [rows * cols] * stages
    per_tile = (h["tile"] // h["downsample"]) ** 2 if version == VERSION_DEPTH else 1
    return stage_symbols(np.asarray(depths, dtype=np.uint8), stages, per_tile)


def _symbol_bounds(symbols: list[int], h: dict) -> str | None:
    """What the stream table says that no depth map allows, if anything: stage 0 codes
    every position and no stage codes more positions than the one before."""
    rows, cols = latent_grid(h["width"], h["height"], h["tile"], h["downsample"])
    positions = rows * cols
    if symbols[0] != positions:
        return f"stream 0 holds {symbols[0]} symbols, expected {positions}"
    for s in range(1, len(symbols)):
        if not 1 <= symbols[s] <= symbols[s - 1]:
            return (
                f"stream {s} holds {symbols[s]} symbols, not 1..{symbols[s - 1]} (stream {s - 1})"
            )
    return None


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


def _check_version(data: bytes) -> int:
    """The format version of ``data``, refusing what is not a .vqc file this reader knows."""
    if len(data) < len(MAGIC) + 1 or data[:4] != MAGIC:
        raise FormatError("not a .vqc file (bad magic bytes)")
    if data[4] not in LAYOUTS:
        known = ", ".join(map(str, VERSIONS))
        raise FormatError(f"unsupported .vqc format version {data[4]} (this reader knows {known})")
    return data[4]


def _read_header(r: _Reader, limits: Limits) -> tuple[str, dict]:
    """The model name and the ``HEADER`` fields, each checked as soon as it is read."""
    r.take(5, "magic")
    (name_len,) = r.take(1, "name length")
    name = r.take(name_len, "model name")
    if not _NAME_RE.fullmatch(name):
        raise FormatError("invalid model name in header")
    h: dict = {}
    for field in HEADER:
        (h[field.name],) = r.unpack(struct.Struct("<" + field.code), field.name)
        problem = field.check(h[field.name], h, limits) if field.check else None
        if problem:
            raise FormatError(problem)
    return name.decode("ascii"), h


def parse(
    data: bytes,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    per_byte: int = DEFAULT_PIXELS_PER_BYTE,
) -> VQCFile:
    """Parse and validate a .vqc file, of at most ``max_pixels`` padded pixels and, above
    ``FREE_PIXELS``, ``per_byte`` of them per byte (0: no density limit; ``info`` needs
    none, decoding does). Raises :class:`FormatError` on anything invalid."""
    data = bytes(data)
    fmt = _check_version(data)
    if len(data) < 4 + _U32.size + 6:
        raise FormatError("truncated file")
    body, (crc,) = data[:-4], _U32.unpack(data[-4:])
    if zlib.crc32(body) != crc:
        raise FormatError("checksum mismatch: the file is corrupt or truncated")
    r = _Reader(body)
    name, h = _read_header(r, Limits(max_pixels, per_byte, len(data)))
    stages, layout = h["stages"], LAYOUTS[fmt]
    heads = [r.unpack(_STREAM, "stream header") for _ in range(stages)]
    lengths = {}
    for s in layout.lengths:
        (lengths[s.name],) = r.unpack(_U32, f"{s.name} length")
        problem = s.check_length(lengths[s.name], h) if s.check_length else None
        if problem:
            raise FormatError(problem)
    payload = sum(4 * w for _, w in heads) + sum(lengths.values())
    if payload != len(body) - r.pos:
        raise FormatError(f"payload lengths add to {payload} bytes but {len(body) - r.pos} remain")
    problem = _symbol_bounds([n for n, _ in heads], h)
    if problem:  # before a depth section is decoded
        raise FormatError(problem)
    raw_streams = [r.take(4 * words, "stream") for _, words in heads]
    values = {s.attr: s.parse(r.take(lengths[s.name], s.name), h) for s in layout.bodies}
    expected = _expected_symbols(fmt, h, values.get("depths"))
    for s, ((symbols, _), want) in enumerate(zip(heads, expected, strict=True)):
        if symbols != want:
            raise FormatError(f"stream {s} holds {symbols} symbols, expected {want}")
    return VQCFile(
        model=name,
        fingerprint=h["fingerprint"],
        width=h["width"],
        height=h["height"],
        mode=MODE_NAMES[h["mode"]],
        tile=h["tile"],
        downsample=h["downsample"],
        coder=h["coder"],
        symbols=tuple(s for s, _ in heads),
        streams=tuple(np.frombuffer(raw, dtype="<u4").astype(np.uint32) for raw in raw_streams),
        format_version=fmt,
        **values,
    )


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


HEADER_MAX_BYTES = len(MAGIC) + 2 + MAX_NAME + sum(struct.calcsize("<" + f.code) for f in HEADER)


def read_header(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Header:
    """The header at the start of ``data`` (its first ``HEADER_MAX_BYTES`` suffice), with
    the checks :func:`parse` makes of it, but not the checksum, which needs the whole
    file. Raises :class:`FormatError`."""
    fmt = _check_version(data)
    name, h = _read_header(_Reader(bytes(data[:HEADER_MAX_BYTES])), Limits(max_pixels))
    mode = MODE_NAMES[h["mode"]]
    return Header(fmt, name, h["width"], h["height"], mode, h["coder"], h["stages"])
