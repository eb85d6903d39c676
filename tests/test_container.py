"""The .vqc container: writing, parsing and refusing bad bytes (no model involved)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from vqcodec import FormatError
from vqcodec.container import VQCFile, latent_grid, parse, write


def make_file(width=70, height=40, stages=2, mode="RGB", alpha=b"") -> VQCFile:
    rows, cols = latent_grid(width, height, 32, 8)
    rng = np.random.default_rng(0)
    streams = tuple(rng.integers(0, 2**32, 5 + s, dtype=np.uint32) for s in range(stages))
    return VQCFile(
        model="test-model",
        version=bytes(range(16)),
        width=width,
        height=height,
        mode=mode,
        tile=32,
        downsample=8,
        coder=1,
        symbols=(rows * cols,) * stages,
        streams=streams,
        alpha=alpha,
    )


def reseal(body: bytes) -> bytes:
    """Replace the trailing CRC so a deliberately hostile edit passes the checksum."""
    return body[:-4] + struct.pack("<I", zlib.crc32(body[:-4]))


def test_write_parse_round_trip():
    f = make_file()
    g = parse(write(f))
    assert (g.model, g.version, g.width, g.height, g.mode) == (
        "test-model",
        bytes(range(16)),
        70,
        40,
        "RGB",
    )
    assert g.symbols == f.symbols and g.stages == 2
    for a, b in zip(f.streams, g.streams, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_layout_matches_spec():
    data = write(make_file(stages=1))
    assert data[:4] == b"\x89VQC" and data[4] == 1 and data[5] == len("test-model")
    assert data[6:16] == b"test-model" and data[16:32] == bytes(range(16))
    assert struct.unpack_from("<IIBBBBB", data, 32) == (70, 40, 3, 32, 8, 1, 1)
    assert struct.unpack_from("<II", data, 45) == (8 * 12, 5)
    assert struct.unpack_from("<I", data, 53) == (0,)
    assert len(data) == 57 + 5 * 4 + 4
    assert struct.unpack("<I", data[-4:])[0] == zlib.crc32(data[:-4])


def test_alpha_section_round_trips():
    g = parse(write(make_file(mode="RGBA", alpha=b"xyz")))
    assert g.alpha == b"xyz" and g.mode == "RGBA"


@pytest.mark.parametrize("n", range(0, 97, 1))
def test_every_truncation_is_refused(n):
    data = write(make_file())
    with pytest.raises(FormatError):
        parse(data[:n])


def test_trailing_bytes_are_refused():
    with pytest.raises(FormatError):
        parse(write(make_file()) + b"\0")


def test_every_bit_flip_is_refused():
    data = write(make_file(stages=1))
    for i in range(len(data) * 8):
        bad = bytearray(data)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(FormatError):
            parse(bytes(bad))


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "message"),
    [
        (4, "<B", 2, "version"),
        (32, "<I", 0, "size"),
        (32, "<I", 2**32 - 1, "limit"),
        (36, "<I", 2**32 - 1, "limit"),
        (40, "<B", 9, "mode"),
        (41, "<B", 16, "tile"),
        (43, "<B", 7, "coder"),
        (45, "<I", 10**9, "symbols"),
        (49, "<I", 2**32 - 1, "lengths"),
        (53, "<I", 2**31, "alpha"),
    ],
)
def test_hostile_fields_are_refused(offset, fmt, value, message):
    bad = bytearray(write(make_file(stages=1)))
    struct.pack_into(fmt, bad, offset, value)
    with pytest.raises(FormatError, match=message):
        parse(reseal(bytes(bad)))


def test_pixel_limit_is_configurable():
    data = write(make_file(width=70, height=40))
    parse(data, max_pixels=2800)
    with pytest.raises(FormatError, match="limit"):
        parse(data, max_pixels=2799)


def test_not_a_vqc_file():
    with pytest.raises(FormatError, match="not a .vqc"):
        parse(b"\x89PNG\r\n\x1a\n" + bytes(100))
