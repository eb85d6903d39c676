"""The padded image's geometry, and what a .vqc file may ask of a reader: limits on the
image size and on the work per byte of file.

Pure (no torch, no model), shared by the encoder (:mod:`vqcodec.images`) and the parser
(:mod:`vqcodec.container`). Every limit counts the image padded to whole tiles, which is
what the network runs over and the decoder allocates.
"""

from __future__ import annotations

from dataclasses import dataclass

# The pixel limit: at 2^26 padded pixels (an 8192 x 8192 image, room for a 50 MP camera's
# photos) decoding takes 82 CPU seconds and 1.1 GiB. The density limit below bounds what a
# small file can ask for. MAX_SIDE bounds the wavefront coders, which make one call per
# anti-diagonal of the latent grid: at most (65,536 + 65,536) / 8 of them.
DEFAULT_MAX_PIXELS = 1 << 26
MAX_SIDE = 65_535
# A file's bytes bound the work it may ask for: above FREE_PIXELS, a decoder refuses more
# than DEFAULT_PIXELS_PER_BYTE padded pixels per byte of file (0.0078 bpp, a tenth of the
# rate of quality 1 on Kodak), so a file of under 1 KB asks for at most 1 MP (about a
# second of decoding). The writer pads its last stream with zero words (which readers
# ignore) to stay inside: a flat 12 MP image takes 12 KB instead of a few hundred bytes.
DEFAULT_PIXELS_PER_BYTE = 1024
FREE_PIXELS = 1 << 20


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


def size_problem(width: int, height: int, max_pixels: float) -> str | None:
    """What is wrong with an image size under the limits, or None (shared with images.py)."""
    if width < 1 or height < 1:
        return f"invalid image size {width}x{height}"
    if width > MAX_SIDE or height > MAX_SIDE:
        return f"image of {width}x{height} pixels has a side above the limit of {MAX_SIDE}"
    if padded_pixels(width, height) > max_pixels:
        return (
            f"image of {width}x{height} pixels ({padded_pixels(width, height)} once padded to "
            f"whole 32x32 tiles) exceeds the limit of {max_pixels}"
        )
    return None


def density_problem(width: int, height: int, file_bytes: int, per_byte: int) -> str | None:
    """What is wrong with ``file_bytes`` describing a ``width`` x ``height`` image under
    the density limit of ``per_byte`` padded pixels per byte (0: none), or None."""
    pixels = padded_pixels(width, height)
    if per_byte == 0 or pixels <= max(FREE_PIXELS, per_byte * file_bytes):
        return None
    return (
        f"a file of {file_bytes} bytes claims {pixels} padded pixels, more than {per_byte} "
        f"per byte (the density limit, max_pixels_per_byte; files vqcodec writes stay inside it)"
    )


def min_file_bytes(width: int, height: int, per_byte: int = DEFAULT_PIXELS_PER_BYTE) -> int:
    """The fewest bytes a file of this image size needs under the density limit."""
    pixels = padded_pixels(width, height)
    return 0 if pixels <= FREE_PIXELS else -(-pixels // per_byte)


@dataclass(frozen=True)
class Limits:
    """What a reader allows: padded pixels, and padded pixels per byte of a file of
    ``file_bytes`` (``per_byte`` 0 or ``file_bytes`` None: no density limit)."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    per_byte: int = DEFAULT_PIXELS_PER_BYTE
    file_bytes: int | None = None
