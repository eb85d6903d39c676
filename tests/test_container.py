"""The .vqc container: writing, parsing and refusing bad bytes (no model involved)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace

import numpy as np
import pytest
from mutations import reseal

from vqcodec import FormatError
from vqcodec.container import VQCFile, parse, position_depths, stage_symbols, write
from vqcodec.limits import latent_grid, tile_grid

# A 3-stage depth map for the 70x40 image (2x3 tiles): stages hold 6, 4 and 2 tiles.
DEPTHS = np.array([[1, 3, 2], [3, 2, 1]], dtype=np.uint8)


def make_file(width=70, height=40, stages=2, mode="RGB", alpha=b"", depths=None) -> VQCFile:
    rows, cols = latent_grid(width, height, 32, 8)
    rng = np.random.default_rng(0)
    streams = tuple(rng.integers(0, 2**32, 5 + s, dtype=np.uint32) for s in range(stages))
    if depths is None:
        symbols = (rows * cols,) * stages
    else:
        symbols = tuple(16 * int((depths > s).sum()) for s in range(stages))
    return VQCFile(
        model="test-model",
        fingerprint=bytes(range(16)),
        width=width,
        height=height,
        mode=mode,
        tile=32,
        downsample=8,
        coder=1,
        symbols=symbols,
        streams=streams,
        alpha=alpha,
        depths=depths,
        format_version=1 if depths is None else 2,
    )


def make_v2(**kw) -> VQCFile:
    return make_file(stages=3, depths=DEPTHS, **kw)


def test_write_parse_round_trip():
    f = make_file()
    g = parse(write(f))
    assert (g.model, g.fingerprint, g.width, g.height, g.mode) == (
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


SAMPLES = {"v1": make_file, "v1-alpha": lambda: make_file(mode="LA", alpha=b"xyz"), "v2": make_v2}


@pytest.mark.parametrize("kind", SAMPLES)
def test_every_truncation_is_refused(kind):
    data = write(SAMPLES[kind]())
    for n in range(len(data)):
        with pytest.raises(FormatError):
            parse(data[:n])


@pytest.mark.parametrize("kind", SAMPLES)
def test_trailing_bytes_are_refused(kind):
    with pytest.raises(FormatError):
        parse(write(SAMPLES[kind]()) + b"\0")


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_every_bit_flip_is_refused(kind):
    data = write(make_file(stages=1) if kind == "v1" else make_v2())
    for i in range(len(data) * 8):
        bad = bytearray(data)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(FormatError):
            parse(bytes(bad))


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "message"),
    [
        (4, "<B", 7, "version"),  # 4-6 carry metadata
        (4, "<B", 0, "version"),
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


def test_pixel_limit_counts_the_padded_grid_and_is_configurable():
    data = write(make_file(width=70, height=40))  # padded to 96 x 64
    parse(data, max_pixels=96 * 64)
    with pytest.raises(FormatError, match="6144 once padded to whole 32x32 tiles.*limit of 6143"):
        parse(data, max_pixels=96 * 64 - 1)


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [
        (1, 2_000_000, "side above the limit of 65535"),
        (178_956_970, 1, "side above the limit"),
        (65_535, 1025, "once padded"),  # 65,536 x 1,056 padded: over 2^26
        (8193, 8192, "once padded"),  # 8224 x 8192 padded
        (4097, 4096, "density limit"),  # under 2^26, but more than 1,024 pixels per byte
    ],
)
def test_degenerate_and_oversized_shapes_are_refused_from_the_header(width, height, message):
    """Sizes are refused as soon as the header is read, before any section is looked at;
    the writer refuses a side no reader accepts."""
    bad = bytearray(write(make_file(stages=1)))
    struct.pack_into("<II", bad, 32, width, height)
    with pytest.raises(FormatError, match=message):
        parse(reseal(bytes(bad)))
    from vqcodec.limits import size_problem

    assert size_problem(65_535, 1024, 1 << 26) is None  # 65,536 x 1,024 padded: 2^26
    assert size_problem(8192, 8192, 1 << 26) is None
    with pytest.raises(ValueError, match="side"):
        write(make_file(width=65_536, height=1))


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize(
    ("symbols", "message"),
    [
        (lambda n: [7] + n[1:], "stream 0 holds 7 symbols, expected 96"),
        (lambda n: [n[0], n[0] + 1, n[2]], "stream 1 holds 97 symbols, not 1..96"),
        (lambda n: [n[0], n[1], 0], "stream 2 holds 0 symbols"),
    ],
)
def test_symbol_counts_no_depth_map_allows_are_refused_before_depths_are_decoded(
    version, symbols, message, monkeypatch
):
    """A stream table that no depth map fits is refused from the table alone: the depth
    section (a range-coded stream in version 3) is never decoded."""
    from vqcodec import depthcode, sections

    data = bytearray(write({1: lambda: make_file(stages=3), 2: make_v2, 3: make_v3}[version]()))
    counts = symbols([struct.unpack_from("<I", data, 45 + 8 * s)[0] for s in range(3)])
    for s, n in enumerate(counts):
        struct.pack_into("<I", data, 45 + 8 * s, n)

    def no_decoding(*args):
        raise AssertionError("the depth stream was decoded")

    monkeypatch.setattr(depthcode, "decode", no_decoding)
    monkeypatch.setattr(sections, "inflate_exactly", no_decoding)
    with pytest.raises(FormatError, match=message):
        parse(reseal(bytes(data)))


def test_not_a_vqc_file():
    with pytest.raises(FormatError, match="not a .vqc"):
        parse(b"\x89PNG\r\n\x1a\n" + bytes(100))


def test_unsupported_version_names_the_known_ones():
    with pytest.raises(FormatError, match="knows 1, 2, 3, 4, 5, 6"):
        parse(b"\x89VQC\x07" + bytes(40))


# --- version 2: per-tile depth map ---


def test_tile_grid():
    assert tile_grid(70, 40, 32) == (2, 3)
    assert tile_grid(32, 64, 32) == (2, 1)
    assert tile_grid(1, 1, 32) == (1, 1)


def test_v1_file_has_no_depths():
    f = make_file()
    assert f.format_version == 1 and f.tiles == (2, 3)
    g = parse(write(f))
    assert g.depths is None and g.format_version == 1
    assert (position_depths(g) == 2).all() and position_depths(g).shape == g.grid


def test_v2_round_trip():
    f = make_v2(mode="RGBA", alpha=b"xyz")
    assert f.format_version == 2 and f.symbols == (96, 64, 32)
    data = write(f)
    assert data[4] == 2
    g = parse(data)
    assert g.format_version == 2 and g.alpha == b"xyz" and g.symbols == f.symbols
    assert g.depths.dtype == np.uint8 and np.array_equal(g.depths, DEPTHS)
    for a, b in zip(f.streams, g.streams, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert np.array_equal(write(g), data)


def test_v2_layout_matches_spec():
    data = write(make_v2(mode="RGBA", alpha=b"xyz"))
    assert data[:4] == b"\x89VQC" and data[4] == 2 and data[6:16] == b"test-model"
    assert struct.unpack_from("<IIBBBBB", data, 32) == (70, 40, 4, 32, 8, 1, 3)
    assert struct.unpack_from("<6I", data, 45) == (96, 5, 64, 6, 32, 7)
    alpha_len, depth_len = struct.unpack_from("<II", data, 69)
    section = zlib.compress(DEPTHS.tobytes(), 9)
    assert (alpha_len, depth_len) == (3, len(section))
    start = 77 + 4 * (5 + 6 + 7)
    assert data[start : start + depth_len] == section
    assert data[start + depth_len : -4] == b"xyz"
    assert struct.unpack("<I", data[-4:])[0] == zlib.crc32(data[:-4])


def test_position_depths_expand_tiles():
    d = position_depths(make_v2())
    assert d.shape == (8, 12) and d.dtype == np.uint8
    assert np.array_equal(d[::4, ::4], DEPTHS) and (d[4:8, 4:8] == 2).all()


def test_stage_symbols():
    assert stage_symbols(DEPTHS, 3, 16) == [96, 64, 32]
    assert stage_symbols(np.full((2, 2), 1, np.uint8), 1, 16) == [64]


@pytest.mark.parametrize(
    ("depths", "symbols", "message"),
    [
        (DEPTHS[:, :2], (64, 48, 16), "shape"),
        (DEPTHS.astype(np.float32), (96, 64, 32), "integers"),
        (np.where(DEPTHS == 1, 0, DEPTHS), (64, 64, 32), "1..3"),
        (np.where(DEPTHS == 3, 4, DEPTHS), (96, 64, 32), "1..3"),
        (np.where(DEPTHS == 3, 300, DEPTHS), (96, 64, 32), "1..3"),
        (np.minimum(DEPTHS, 2), (96, 64, 0), "reach 3"),
        (DEPTHS, (96, 64, 48), "symbol counts"),
        (DEPTHS, (96, 48, 32), "symbol counts"),
    ],
)
def test_write_refuses_inconsistent_depths(depths, symbols, message):
    f = replace(make_v2(), depths=depths, symbols=symbols)
    with pytest.raises(ValueError, match=message):
        write(f)


# Offsets in the v2 sample (name length 10, 3 stages): stream table at 45, A at 69, D at 73,
# streams at 77 (18 words), then the depth section.
V2_TABLE, V2_D, V2_STREAMS = 45, 73, 77 + 4 * 18


def splice_depths(section: bytes, symbols=None, data=None) -> bytes:
    """A resealed copy of the v2 sample with another depth section (and symbol counts)."""
    data = write(make_v2()) if data is None else data
    (old,) = struct.unpack_from("<I", data, V2_D)
    body = bytearray(data[:V2_STREAMS] + section + data[V2_STREAMS + old :])
    struct.pack_into("<I", body, V2_D, len(section))
    for s, n in enumerate(symbols or ()):
        struct.pack_into("<I", body, V2_TABLE + 8 * s, n)
    return reseal(bytes(body))


def test_splice_reproduces_the_sample():
    data = write(make_v2())
    assert splice_depths(zlib.compress(DEPTHS.tobytes(), 9)) == data
    assert parse(splice_depths(zlib.compress(DEPTHS.tobytes(), 1))).depths.tolist() == (
        DEPTHS.tolist()
    )


@pytest.mark.parametrize(
    ("depths", "symbols", "message"),
    [
        ([[0, 3, 2], [3, 2, 1]], (96, 64, 32), "outside 1..3"),
        ([[4, 3, 2], [3, 2, 1]], (96, 64, 48), "outside 1..3"),
        ([[255, 3, 2], [3, 2, 1]], None, "outside 1..3"),
        ([[1, 2, 2], [2, 2, 1]], (96, 64, 32), "all 3 stages"),
        ([[1, 1, 1], [1, 1, 1]], (96, 64, 32), "all 3 stages"),
        ([[1, 3, 2], [3, 2, 1]], (96, 64, 48), "stream 2 holds 48 symbols, expected 32"),
        ([[1, 3, 2], [3, 2, 1]], (96, 80, 32), "stream 1 holds"),
        ([[1, 3, 2], [3, 2, 1]], (112, 64, 32), "stream 0 holds"),
        ([[3, 3, 3], [3, 3, 3]], None, "stream 1 holds"),
    ],
)
def test_v2_refuses_inconsistent_depths(depths, symbols, message):
    section = zlib.compress(np.array(depths, dtype=np.uint8).tobytes())
    with pytest.raises(FormatError, match=message):
        parse(splice_depths(section, symbols))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (b"", "exactly 6"),
        (zlib.compress(DEPTHS.tobytes()[:5]), "exactly 6"),  # short
        (zlib.compress(DEPTHS.tobytes() + b"\x01"), "exactly 6"),  # one byte too many
        (zlib.compress(bytes(10**6)), "exactly 6"),  # bomb: bounded by the output limit
        (zlib.compress(DEPTHS.tobytes())[:-3], "exactly 6"),  # truncated stream
        (zlib.compress(DEPTHS.tobytes()) + b"\0", "exactly 6"),  # trailing bytes
        (zlib.compress(DEPTHS.tobytes()) * 2, "exactly 6"),  # two streams
        (DEPTHS.tobytes(), "corrupt"),  # not zlib at all
        (b"\x78\x9c" + bytes(10), "corrupt"),
    ],
)
def test_v2_refuses_bad_depth_sections(section, message):
    with pytest.raises(FormatError, match=message):
        parse(splice_depths(section))


@pytest.mark.parametrize(
    ("value", "message"),
    [(0, "lengths"), (1, "lengths"), (2**32 - 1, "lengths"), (2**31, "lengths")],
)
def test_v2_refuses_bad_depth_length(value, message):
    bad = bytearray(write(make_v2()))
    assert struct.unpack_from("<I", bad, V2_D)[0] != value
    struct.pack_into("<I", bad, V2_D, value)
    with pytest.raises(FormatError, match=message):
        parse(reseal(bytes(bad)))


def test_v2_depth_length_shifted_into_alpha_is_refused():
    """Moving bytes between D and A keeps the total but breaks one of the sections."""
    data = bytearray(write(make_v2(mode="RGBA", alpha=zlib.compress(b"abc"))))
    alpha_len, depth_len = struct.unpack_from("<II", data, 69)
    struct.pack_into("<II", data, 69, alpha_len - 1, depth_len + 1)
    with pytest.raises(FormatError, match="depth section"):
        parse(reseal(bytes(data)))


def test_v2_version_byte_on_a_v1_file_is_refused():
    bad = bytearray(write(make_file()))
    bad[4] = 2
    with pytest.raises(FormatError):
        parse(reseal(bytes(bad)))
    bad = bytearray(write(make_v2()))
    bad[4] = 1
    with pytest.raises(FormatError):
        parse(reseal(bytes(bad)))


# --- version 3: a range-coded depth per latent position ---

# The 70x40 image has an 8x12 latent grid; this map is not uniform within tiles.
POSITIONS = np.tile(np.array([1, 2, 3, 2], dtype=np.uint8), (8, 3))


def make_v3(**kw) -> VQCFile:
    f = make_file(stages=3, **kw)
    symbols = tuple(int((POSITIONS > s).sum()) for s in range(3))
    return replace(f, depths=POSITIONS, symbols=symbols, format_version=3)


def test_v3_round_trip():
    f = make_v3(mode="RGBA", alpha=b"xyz")
    assert f.format_version == 3 and f.symbols == (96, 72, 24)
    data = write(f)
    assert data[4] == 3
    g = parse(data)
    assert g.format_version == 3 and g.alpha == b"xyz" and g.symbols == f.symbols
    assert np.array_equal(g.depths, POSITIONS) and np.array_equal(position_depths(g), POSITIONS)
    assert np.array_equal(write(g), data)


def test_v3_depth_section_is_the_depth_stream():
    from vqcodec import depthcode

    data = write(make_v3())
    (depth_len,) = struct.unpack_from("<I", data, V2_D)
    words = depthcode.encode(POSITIONS, 3)
    assert depth_len == 4 * len(words)
    assert data[V2_STREAMS : V2_STREAMS + depth_len] == words.astype("<u4").tobytes()


def _v3_with(section: bytes, symbols=None) -> bytes:
    return splice_depths(section, symbols, write(make_v3()))


@pytest.mark.parametrize(
    ("section", "symbols", "message"),
    [
        (b"", None, "32-bit words"),
        (b"\x01\x02\x03", None, "32-bit words"),
        (lambda: _stream(np.minimum(POSITIONS, 2)), None, "all 3 stages"),
        (lambda: _stream(POSITIONS), (96, 72, 25), "symbols"),
        (lambda: _stream(np.full((8, 12), 3)), None, "symbols"),
    ],
)
def test_v3_hostile_depth_sections_are_refused(section, symbols, message):
    raw = section() if callable(section) else section
    with pytest.raises(FormatError, match=message):
        parse(_v3_with(raw, symbols))


def _stream(depth: np.ndarray) -> bytes:
    from vqcodec import depthcode

    return depthcode.encode(depth, 3).astype("<u4").tobytes()


def test_v3_garbage_depth_stream_gives_error_or_valid_depths():
    """Random words decode to some depth map or a FormatError, never anything else."""
    rng = np.random.default_rng(1)
    for _ in range(20):
        raw = rng.integers(0, 2**32, int(rng.integers(1, 6)), dtype=np.uint32).tobytes()
        try:
            f = parse(_v3_with(raw))
        except FormatError:
            continue
        assert f.depths.shape == (8, 12) and 1 <= f.depths.min() and f.depths.max() == 3


def test_v3_needs_two_stages():
    data = write(make_v3())
    bad = bytearray(data)
    bad[44] = 1  # S = 1: the depth stream cannot say anything
    with pytest.raises(FormatError):
        parse(reseal(bytes(bad)))


# --- the section table ---


@pytest.mark.parametrize("version", [1, 2, 3])
def test_layouts_drive_write_and_parse(version):
    """Each version's sections are written in its layout's orders and read back; each
    section's cost is what its body takes in the file (within the range coder's flush)."""
    from vqcodec import container

    f = {1: make_file, 2: make_v2, 3: make_v3}[version](mode="LA", alpha=b"xyz")
    data = write(f)
    layout = container.LAYOUTS[version]
    start = 45 + 8 * f.stages
    lengths = struct.unpack_from(f"<{len(layout.lengths)}I", data, start)
    bodies = {s.name: s.write(f) for s in layout.lengths}
    assert list(lengths) == [len(bodies[s.name]) for s in layout.lengths]
    tail = b"".join(bodies[s.name] for s in layout.bodies)
    assert data[-4 - len(tail) : -4] == tail
    g = parse(data)
    assert g.format_version == version and g.alpha == b"xyz"
    for s in layout.lengths:
        value = getattr(g, s.attr)
        assert s.cost(value, f.stages) <= 8 * len(bodies[s.name]) <= s.cost(value, f.stages) + 64


@pytest.mark.parametrize(
    ("version", "depths", "message"),
    [
        (1, DEPTHS, "no depth map"),
        (2, None, "shape"),
        (2, POSITIONS, "shape"),
        (3, DEPTHS, "shape"),
        (4, None, "needs metadata"),
        (7, None, "unknown format version"),
    ],
)
def test_write_refuses_a_version_that_disagrees_with_the_depths(version, depths, message):
    f = replace(make_v2(), depths=depths, format_version=version)
    with pytest.raises(ValueError, match=message):
        write(f)


def test_write_refuses_alpha_that_disagrees_with_the_mode():
    with pytest.raises(ValueError, match="alpha"):
        write(make_file(mode="RGBA"))
    with pytest.raises(ValueError, match="alpha"):
        write(make_file(mode="RGB", alpha=b"xyz"))


def test_alpha_plane_inflates_exactly_one_plane():
    from vqcodec.sections import alpha_plane, deflate_alpha

    plane = np.arange(40 * 70, dtype=np.uint32).reshape(40, 70).astype(np.uint8)
    f = make_file(mode="LA", alpha=deflate_alpha(plane))
    assert np.array_equal(alpha_plane(parse(write(f)))[:, :, 0], plane)
    for bad in (deflate_alpha(plane[:-1]), zlib.compress(bytes(10**6)), b"junk"):
        with pytest.raises(FormatError, match="alpha section"):
            alpha_plane(replace(f, alpha=bad))
