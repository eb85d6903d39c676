"""A PNG written from rows as a decoder produces them, filtered and deflated on threads.

Pillow's PNG writer needs the whole image first and runs on one thread: on a decoded
12 MP photo about 1 s after the last block is decoded. Here each run of rows is filtered
(PNG filter 3, Average, for every row: computed in numpy without widening, and about as
small as Pillow's Paeth at zlib level 1) and deflated as soon as it arrives, on a pool of
threads (zlib and numpy release the GIL), so the work overlaps the decoder's. Each run
of rows is its own raw deflate stream, flushed to a byte boundary and not final except
the last, so the runs join into one zlib stream (as pigz joins its blocks); the Adler-32
of the whole is combined from the runs'. The metadata chunks (ICC profile, EXIF, XMP)
are the ones Pillow writes for them, taken from a one-pixel PNG Pillow saves.
"""

from __future__ import annotations

import io
import struct
import zlib
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from PIL import Image

from . import metadata

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOR_TYPES = {"L": 0, "RGB": 2, "LA": 4, "RGBA": 6}  # 8 bits per sample
# On a decoded 12 MP photo (one thread, busy machine): Pillow (Paeth filter) at zlib level 2
# 0.98 s of CPU, 18.34 MB; level 1 0.96 s, 18.60 MB. Filters in numpy at level 1: Sub 19.85
# MB, Up 19.69, Average 18.58 (Paeth 18.60, but 5 s in numpy); level 2 costs 20 % more zlib
# time for 1.5 % fewer bytes. Here, Average at level 1 in runs of 128 rows: 0.59-0.68 s of
# CPU, 18.64 MB (runs of 64: 18.65; of 512: 18.63).
LEVEL = 1  # zlib level
AVERAGE = 3  # the PNG filter type used for every row
RUN_ROWS = 128  # rows per deflate stream: 1.5 MB of a 4000-pixel-wide RGB image
_ADLER_BASE = 65521


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC-32 of type and data."""
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))
    )


def adler32_combine(first: int, second: int, length: int) -> int:
    """The Adler-32 of two byte strings joined, from each one's (started at 1) and the
    second's length."""
    a1, b1 = first & 0xFFFF, first >> 16
    a2, b2 = second & 0xFFFF, second >> 16
    a = (a1 + a2 - 1) % _ADLER_BASE
    b = (b1 + b2 + length * (a1 - 1)) % _ADLER_BASE
    return (b << 16) | a


def metadata_chunks(mode: str, meta: metadata.Metadata) -> bytes:
    """The chunks Pillow writes between IHDR and the image data for ``meta`` (iCCP,
    iTXt for XMP, eXIf), as it writes them for a PNG of ``mode``."""
    if not meta:
        return b""
    buf = io.BytesIO()
    Image.new(mode, (1, 1)).save(buf, "PNG", **metadata.save_options(meta, "PNG"))
    data, pos, out = buf.getvalue(), len(SIGNATURE), []
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        if kind not in (b"IHDR", b"IDAT", b"IEND"):
            out.append(data[pos : pos + 12 + length])
        pos += 12 + length
    return b"".join(out)


def average_filter(rows: np.ndarray, above: np.ndarray | None, channels: int) -> bytes:
    """``rows`` (uint8 ``[r, width * channels]``) as PNG scanlines of filter type 3:
    each byte less the floor of the mean of its left neighbour and the byte above
    (``above``: the row before these, None for the image's first)."""
    r, n = rows.shape
    up = np.empty_like(rows)
    up[0] = 0 if above is None else above
    up[1:] = rows[:-1]
    left = np.zeros_like(rows)
    left[:, channels:] = rows[:, :-channels]
    # floor((a + b) / 2) in uint8: (a & b) + ((a ^ b) >> 1)
    mean = np.bitwise_and(left, up)
    np.bitwise_xor(left, up, out=left)
    np.right_shift(left, 1, out=left)
    mean += left
    out = np.empty((r, n + 1), dtype=np.uint8)
    out[:, 0] = AVERAGE
    np.subtract(rows, mean, out=out[:, 1:])
    return out.tobytes()


def _run(rows: np.ndarray, above: np.ndarray | None, channels: int, last: bool):
    """Filter and deflate one run of rows: (its IDAT chunk, Adler-32, raw length)."""
    raw = average_filter(rows, above, channels)
    co = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = co.compress(raw) + co.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
    return chunk(b"IDAT", data), zlib.adler32(raw), len(raw)


class PngStream:
    """A PNG of ``width`` x ``height`` pixels of ``mode`` (L, LA, RGB, RGBA) carrying
    ``meta``: feed its rows from the top with :meth:`add`, then :meth:`finish` for the
    file's bytes. ``threads`` filter and deflate them meanwhile."""

    def __init__(
        self, width: int, height: int, mode: str, meta: metadata.Metadata, threads: int
    ) -> None:
        self.width, self.height, self.mode = width, height, mode
        self.channels = len(mode)
        header = struct.pack(">IIBBBBB", width, height, 8, COLOR_TYPES[mode], 0, 0, 0)
        self.head = SIGNATURE + chunk(b"IHDR", header) + metadata_chunks(mode, meta)
        self.pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="png")
        self.runs: list[Future] = []
        self.rows = 0
        self.above: np.ndarray | None = None

    def __enter__(self) -> PngStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, top: int, pixels: np.ndarray) -> None:
        """The image's rows from ``top`` on, uint8 ``[r, width, channels]``, the next ones
        (a :data:`vqcodec.decoding.RowSink`); they must not change until :meth:`finish`."""
        shape = (self.width, self.channels)
        if top != self.rows or pixels.shape[1:] != shape or top + len(pixels) > self.height:
            raise ValueError(f"rows {top}.. of shape {pixels.shape} do not follow on")
        flat = pixels.reshape(len(pixels), -1)
        for start in range(0, len(flat), RUN_ROWS):
            rows = flat[start : start + RUN_ROWS]
            self.rows += len(rows)
            last = self.rows == self.height
            self.runs.append(self.pool.submit(_run, rows, self.above, self.channels, last))
            self.above = rows[-1]

    def finish(self) -> bytes:
        """The PNG file, once every row was added."""
        if self.rows != self.height:
            self.close()
            raise ValueError(f"{self.rows} of {self.height} rows were added")
        parts, adler = [self.head, chunk(b"IDAT", b"\x78\x01")], 1
        try:
            for run in self.runs:
                idat, run_adler, length = run.result()
                parts.append(idat)
                adler = adler32_combine(adler, run_adler, length)
        finally:
            self.close()
        parts += [chunk(b"IDAT", struct.pack(">I", adler)), chunk(b"IEND", b"")]
        return b"".join(parts)

    def close(self) -> None:
        """Stop the threads (pending runs are dropped)."""
        self.pool.shutdown(wait=True, cancel_futures=True)
