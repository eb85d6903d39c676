"""Decoding cost is bounded by what the bytes can carry and by the padded grid (issue 16).

Each test crafts a small hostile file with a valid checksum and checks that the API and
the command line refuse it with one line, before the work it asks for is done.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

import constriction
import numpy as np
import pytest
from click.testing import CliRunner
from mutations import reseal

import vqcodec
from vqcodec import FormatError, ImageError, coders, container, limits
from vqcodec.cli import main
from vqcodec.container import VQCFile

SIZE_AT = 6 + len("tiny-test") + 16  # width and height in a tiny-model file


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_refused(result, text):
    assert result.exit_code == 1, result.output
    assert text in result.stderr and "Traceback" not in result.output + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def small_files(tiny_model, photo):
    """A version-1 file of the tiny model, and a version-3 one of the same header."""
    v1 = vqcodec.compress(photo, 1, model=tiny_model)
    f = container.parse(v1)
    depths = np.ones(f.grid, dtype=np.uint8)
    depths[::3, ::2] = 2
    v3 = replace(
        f,
        symbols=(depths.size, int((depths == 2).sum())),
        streams=f.streams * 2,
        depths=depths,
        format_version=3,
    )
    return {"v1": v1, "v3": container.write(v3)}


def with_size(data: bytes, width: int, height: int) -> bytes:
    bad = bytearray(data)
    struct.pack_into("<II", bad, SIZE_AT, width, height)
    return reseal(bytes(bad))


@pytest.mark.parametrize("kind", ["v1", "v3"])
@pytest.mark.parametrize("width", [2_000_000, 178_956_970])
def test_one_pixel_high_files_are_refused_by_their_side(small_files, kind, width, tmp_path):
    """1 x 2,000,000 took 2 min 42 s (one call per anti-diagonal, a 64 MP network run),
    1 x 178,956,970 allocated toward 16 GiB, and a version-3 one made info range-decode
    millions of wavefronts: now the header's side is refused before anything else."""
    data = with_size(small_files[kind], width, 1)
    assert len(data) < 1024
    for call in (vqcodec.info, vqcodec.decompress):
        with pytest.raises(FormatError, match="side above the limit of 65535"):
            call(data)
    path = tmp_path / "x.vqc"
    path.write_bytes(data)
    assert_refused(cli("info", path), "side above the limit")
    assert_refused(cli("decompress", path, tmp_path / "x.png"), "side above the limit")


def test_the_pixel_limit_counts_the_padded_grid(small_files, tmp_path):
    """8200 x 8190 is 67,158,000 pixels, under 2^26, but the network runs over (and the
    decoder allocates) 8224 x 8192 = 67,371,008; the size is checked before the file's
    density (which this small file would fail too)."""
    data = with_size(small_files["v1"], 8200, 8190)
    with pytest.raises(FormatError, match="67371008 once padded to whole 32x32 tiles"):
        vqcodec.info(data)
    with pytest.raises(FormatError, match="once padded"):
        vqcodec.decompress(data)
    path = tmp_path / "x.vqc"
    path.write_bytes(data)
    assert_refused(cli("decompress", path, tmp_path / "x.png"), "once padded")
    assert_refused(cli("info", path, "--max-pixels", 100), "limit of 100")
    with pytest.raises(ImageError, match="once padded"):
        vqcodec.compress(np.zeros((40, 70, 3), np.uint8), max_pixels=96 * 64 - 1)


def test_the_encoder_refuses_what_no_reader_accepts(tiny_model):
    """The encoder applies the reader's limits too: a 32 x 65,536 image is refused for its
    side (and thinner ones for their padding: a 2.9 KiB PNG of 1,000,000 x 1 could not be
    encoded in 4 minutes); a thin line under them round-trips."""
    with pytest.raises(ImageError, match="side above the limit of 65535"):
        vqcodec.compress(np.zeros((32, 65_536, 3), np.uint8), 1, model=tiny_model)
    for shape in ((1, 65_536, 3), (1_000_000, 1, 3)):
        with pytest.raises(ImageError, match="too thin"):
            vqcodec.compress(np.zeros(shape, np.uint8), 1, model=tiny_model)
    line = np.random.default_rng(0).integers(0, 256, (1, 2000, 3), dtype=np.uint8)
    data = vqcodec.compress(line, 1, model=tiny_model)
    assert vqcodec.decompress(data, model=tiny_model).size == (2000, 1)


def _one_stage(model, width: int, height: int, symbols: int, streams, pad=False) -> bytes:
    """A version-1, one-stage RGB file of ``model`` with these ``streams``."""
    f = VQCFile(
        model=model.name,
        fingerprint=model.fingerprint,
        width=width,
        height=height,
        mode="RGB",
        tile=32,
        downsample=8,
        coder=coders.for_model(model).id,
        symbols=(symbols,),
        streams=streams,
    )
    return container.write(f, pad=pad)


def _claiming(tiny_model, symbols: int, side: int) -> bytes:
    """A ``side`` x ``side`` file whose one stream word claims ``symbols`` symbols (not
    padded to the density limit)."""
    return _one_stage(tiny_model, side, side, symbols, (np.array([12345], dtype=np.uint32),))


def test_more_symbols_than_the_stream_can_carry_are_refused_before_decoding(
    tiny_model, tiny_model_path, monkeypatch, tmp_path
):
    """A 1024 x 1024 file (the density limit's free size) whose one stream word claims
    16,384 indices: each costs at least 0.66 bits under the tiny model's tables, so 32
    bits cannot hold them."""
    data = _claiming(tiny_model, 128 * 128, 1024)
    assert len(data) < 100

    def no_decoding(*args):
        raise AssertionError("the stream was decoded")

    monkeypatch.setattr(coders, "decode_streams", no_decoding)
    with pytest.raises(FormatError, match="claims 16384 symbols, but 1 words hold at most"):
        vqcodec.decompress(data, model=tiny_model)
    path = tmp_path / "x.vqc"
    path.write_bytes(data)
    result = cli("decompress", path, tmp_path / "x.png", "--model", tiny_model_path)
    assert_refused(result, "claims 16384 symbols")


def test_least_bits_bounds_what_constriction_really_spends():
    """The floor is sound: a long run of the most probable symbol under a very sharp
    table, range-coded for real, still needs at least symbols * least_bits bits."""
    counts = np.array([1, 1, 1, 10**7, 3], dtype=np.int64)
    n = 200_000
    enc = constriction.stream.queue.RangeEncoder()
    table = constriction.stream.model.Categorical(counts.astype(np.float64), perfect=False)
    enc.encode(np.full(n, 3, dtype=np.int32), table)
    words = len(enc.get_compressed())
    least = coders.least_bits(counts)
    assert 0 < n * least <= 32 * (words + coders.SLACK_WORDS)


def test_coder_3_floor_covers_its_sharpest_product():
    """Coder 3's floor is taken over every (above, left) pair: a uniform grid coded with
    the sharpest product is accepted by the room check, a stream of one word claiming
    ten times as many indices is not."""
    k = 8
    ctx = np.ones((2, k, k), dtype=np.int64) + 40 * np.eye(k, dtype=np.int64)
    left = ctx.copy()

    @dataclass
    class Tables:
        name: str
        counts: np.ndarray
        context_counts: np.ndarray
        left_counts: np.ndarray

    model = Tables("sharp", np.ones((2, k), dtype=np.int64), ctx, left)
    product = coders.CODERS[3]
    assert product.least_bits(model, 0) < product.quick_bits(model, 0)
    grid = np.full((300, 300), 5)
    words = product.encode(model, 0, grid, None, np.ones(grid.shape, dtype=bool))
    coders.check_room(product, model, [grid.size], [words])
    with pytest.raises(FormatError, match="claims"):
        coders.check_room(product, model, [10 * grid.size], [words[:1]])


def test_words_after_the_last_symbol_are_ignored(tiny_model, photo):
    """VQC.md: words left in a stream after its last symbol are not an error (the room
    check bounds the other direction only)."""
    data = vqcodec.compress(photo, 3, model=tiny_model)
    f = container.parse(data)
    padded = tuple(np.append(w, np.uint32(0xDEADBEEF)) for w in f.streams)
    longer = container.write(replace(f, streams=padded))
    assert len(longer) == len(data) + 4 * f.stages
    back = vqcodec.decompress(longer, model=tiny_model)
    assert np.array_equal(np.asarray(back), np.asarray(vqcodec.decompress(data, model=tiny_model)))


def _flat(model, width: int, height: int, pad: bool) -> bytes:
    """A file of a flat ``width`` x ``height`` image, every index the one that costs least
    repeated (a few hundred bytes for 4096 x 4096 under vqcodec-base-v2's tables),
    padded to the density limit if ``pad``."""
    rows, cols = limits.latent_grid(width, height, 32, 8)
    coder = coders.for_model(model)
    t = coder.tables(model, 0)
    w = t.mix(t.context, t.left, t.counts).astype(np.float64)  # row k: above = left = k
    cheapest = int(np.argmax(np.diag(w) / w.sum(1)))
    indices = np.full((1, rows, cols), cheapest, np.int32)
    streams = coders.encode_streams(coder, indices, model, [np.ones((rows, cols), bool)])
    return _one_stage(model, width, height, rows * cols, streams, pad)


def test_a_small_file_cannot_ask_for_a_big_image(tiny_model, tiny_model_path, tmp_path):
    """A flat 4096 x 4096 file of 142 bytes took 21 s and 801 MiB to decode: above 1 MP a
    file may claim at most 1,024 padded pixels per byte, checked with the size, before
    anything is decoded; --max-pixels-per-byte 0 lifts it; info still reads the file."""
    data = _claiming(tiny_model, 512 * 512, 4096)
    assert len(data) < 100
    with pytest.raises(FormatError, match="claims 16777216 padded pixels, more than 1024 per"):
        vqcodec.decompress(data, model=tiny_model)
    with pytest.raises(FormatError, match="claims 262144 symbols"):  # the next check
        vqcodec.decompress(data, model=tiny_model, max_pixels_per_byte=0)
    assert vqcodec.info(data)["width"] == 4096
    path = tmp_path / "x.vqc"
    path.write_bytes(data)
    result = cli("decompress", path, tmp_path / "x.png", "--model", tiny_model_path)
    assert_refused(result, "the density limit")
    assert not (tmp_path / "x.png").exists()
    args = ("decompress", path, tmp_path / "x.png", "--model", tiny_model_path)
    assert_refused(cli(*args, "--max-pixels-per-byte", 0), "claims 262144 symbols")
    assert cli("info", path).exit_code == 0


def test_the_density_limit_starts_above_1_mp():
    assert limits.density_problem(1024, 1024, 1, 1024) is None  # 1 MP: free
    assert limits.density_problem(1024, 1056, 1056, 1024) is None  # exactly 1024 per byte
    assert "density limit" in limits.density_problem(1024, 1056, 1055, 1024)
    assert limits.density_problem(4096, 4096, 1, 0) is None
    assert limits.min_file_bytes(1024, 1024) == 0
    assert limits.min_file_bytes(1024, 1056) == 1056


@pytest.mark.slow
def test_the_writer_pads_a_flat_file_to_the_density_limit():
    """What vqcodec writes always decodes under the default limits: a flat 4096 x 2080
    image (a few hundred bytes under vqcodec-base-v2's tables) gets zero words after its
    last stream, just as many as the limit needs (8,320 bytes), and decodes to the same
    indices."""
    model = vqcodec.get_model("vqcodec-base-v2")
    raw = _flat(model, 4096, 2080, pad=False)
    padded = _flat(model, 4096, 2080, pad=True)
    need = limits.min_file_bytes(4096, 2080)
    assert len(raw) < need <= len(padded) < need + 4
    with pytest.raises(FormatError, match="density limit"):
        container.parse(raw)
    f, g = container.parse(raw, per_byte=0), container.parse(padded)
    assert len(g.streams[0]) > len(f.streams[0])
    masks = [np.ones(f.grid, bool)]
    coder = coders.for_model(model)
    assert np.array_equal(
        coders.decode_streams(coder, f.streams, model, masks),
        coders.decode_streams(coder, g.streams, model, masks),
    )
