"""The optional sections of a .vqc file: alpha plane, tile or position depth map, metadata.

Each is one :class:`Section` entry: how to write its body from a
:class:`~vqcodec.container.VQCFile`, how to parse (and validate, before anything sized by
it is allocated) a body, and what it costs in bits; :mod:`vqcodec.container` says which
format versions carry which, in what order. Pure: no torch, no model.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import depthcode, metadata
from .errors import FormatError
from .limits import latent_grid, tile_grid

if TYPE_CHECKING:
    from .container import VQCFile

MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}  # the header's mode codes
MODE_NAMES = {v: k for k, v in MODES.items()}
ALPHA_MODES = ("LA", "RGBA")  # the modes with an alpha section


def inflate_exactly(data: bytes, n: int, what: str) -> bytes:
    """Inflate one zlib stream to exactly ``n`` bytes (never more: the output is limited),
    refusing a short stream, a longer one and bytes after it."""
    try:
        d = zlib.decompressobj()
        raw = d.decompress(data, n)
        if len(raw) != n or not d.eof or d.unconsumed_tail or d.unused_data:
            raise FormatError(f"{what} section does not hold exactly {n} bytes")
    except zlib.error as exc:
        raise FormatError(f"{what} section is corrupt ({exc})") from exc
    return raw


def deflate_alpha(plane: np.ndarray) -> bytes:
    """The alpha section of a uint8 ``[height, width]`` plane (row-major, zlib level 9)."""
    return zlib.compress(np.ascontiguousarray(plane, dtype=np.uint8).tobytes(), 9)


def alpha_plane(f: VQCFile) -> np.ndarray:
    """uint8 ``[height, width, 1]``: the inflated alpha section."""
    raw = inflate_exactly(f.alpha, f.width * f.height, "alpha")
    return np.frombuffer(raw, dtype=np.uint8).reshape(f.height, f.width, 1)


@dataclass(frozen=True)
class Section:
    """One optional section. ``write(f)`` gives its body (checking ``f``), ``parse(body,
    h)`` the value a :class:`VQCFile` holds in ``attr``, validated before anything
    sized by it is allocated (``h``: the header fields), ``cost(value, stages)`` the
    bits it costs to store (what the encoder weighs); ``check_length(n, h)`` runs as soon
    as the length field is read."""

    name: str
    attr: str
    write: Callable[[VQCFile], bytes]
    parse: Callable[[bytes, dict], object]
    cost: Callable[[object, int], float]
    check_length: Callable[[int, dict], str | None] | None = None


def _alpha_length(n: int, h: dict) -> str | None:
    if (n > 0) != (MODE_NAMES[h["mode"]] in ALPHA_MODES):
        return "alpha section does not match the image mode"
    return None


def _write_alpha(f: VQCFile) -> bytes:
    if _alpha_length(len(f.alpha), {"mode": MODES[f.mode]}):
        raise ValueError(f"a {f.mode} file needs {'an' if f.mode in ALPHA_MODES else 'no'} alpha")
    return f.alpha


def _checked_depths(f: VQCFile, shape: tuple[int, int]) -> np.ndarray:
    """``f.depths`` as uint8 if it has ``shape``, lies in 1..stages, reaches ``stages`` and
    matches ``f.symbols``; ValueError otherwise."""
    d = np.asarray(f.depths)
    if f.depths is None or d.shape != shape:
        raise ValueError(f"version {f.format_version} needs a depth map of shape {shape}")
    if not np.issubdtype(d.dtype, np.integer):
        raise ValueError(f"depth map must hold integers, not {d.dtype}")
    if d.size == 0 or d.min() < 1 or d.max() != f.stages:
        raise ValueError(f"depths must lie in 1..{f.stages} and reach {f.stages}")
    return d.astype(np.uint8)


def _write_tile_depths(f: VQCFile) -> bytes:
    return zlib.compress(_checked_depths(f, f.tiles).tobytes(), 9)


def _parse_tile_depths(section: bytes, h: dict) -> np.ndarray:
    shape, stages = tile_grid(h["width"], h["height"], h["tile"]), h["stages"]
    raw = inflate_exactly(section, shape[0] * shape[1], "depth")
    depths = np.frombuffer(raw, dtype=np.uint8).reshape(shape).copy()
    low, high = int(depths.min()), int(depths.max())
    if low < 1 or high > stages:
        raise FormatError(f"tile depths span {low}..{high}, outside 1..{stages}")
    if high != stages:
        raise FormatError(f"no tile uses all {stages} stages (deepest tile: {high})")
    return depths


def _write_position_depths(f: VQCFile) -> bytes:
    d = _checked_depths(f, f.grid)
    return np.ascontiguousarray(depthcode.encode(d, f.stages), dtype="<u4").tobytes()


def _parse_position_depths(section: bytes, h: dict) -> np.ndarray:
    stages = h["stages"]
    if len(section) % 4 or not section:
        raise FormatError("depth section is not a whole number of 32-bit words")
    if stages < 2:
        raise FormatError("a version-3 file needs at least 2 stages")
    words = np.frombuffer(section, dtype="<u4").astype(np.uint32)
    shape = latent_grid(h["width"], h["height"], h["tile"], h["downsample"])
    depths = depthcode.decode(words, shape, stages)
    if int(depths.max()) != stages:
        raise FormatError(f"no position uses all {stages} stages (deepest: {int(depths.max())})")
    return depths


ALPHA = Section(
    "alpha", "alpha", _write_alpha, lambda b, h: b, lambda v, s: 8 * len(v), _alpha_length
)
TILE_DEPTHS = Section(
    "tile depths",
    "depths",
    _write_tile_depths,
    _parse_tile_depths,
    lambda v, s: 8 * len(zlib.compress(np.ascontiguousarray(v, np.uint8).tobytes(), 9)),
)
POSITION_DEPTHS = Section(
    "position depths",
    "depths",
    _write_position_depths,
    _parse_position_depths,
    lambda v, s: depthcode.bits(v, s),
)


def _metadata_length(n: int, h: dict) -> str | None:
    if not 0 < n <= metadata.MAX_SECTION:
        return f"metadata section of {n} bytes is outside 1..{metadata.MAX_SECTION}"
    return None


def _write_metadata(f: VQCFile) -> bytes:
    if not f.metadata:
        raise ValueError(f"a version-{f.format_version} file needs metadata")
    return metadata.pack(f.metadata)


METADATA = Section(
    "metadata",
    "metadata",
    _write_metadata,
    lambda b, h: metadata.unpack(b),
    lambda v, s: 8 * len(metadata.pack(v)),
    _metadata_length,
)
SECTIONS = (ALPHA, TILE_DEPTHS, POSITION_DEPTHS, METADATA)
