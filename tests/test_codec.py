"""Round trips: sizes, modes, paths and errors through the tiny model; rate, quality,
determinism and compatibility through the shipped ones (marked slow)."""

from __future__ import annotations

import struct
import warnings
import zlib
from dataclasses import replace

import numpy as np
import pytest
from conftest import synthetic_photo
from PIL import Image

import vqcodec
from vqcodec import FormatError, ImageError, ModelMismatchError, VQCodecError, entropy
from vqcodec.metrics import psnr


@pytest.mark.parametrize("shape", [(1, 1, 3), (17, 33, 3), (33, 17, 3), (32, 32, 3), (70, 45, 3)])
def test_rgb_round_trip_keeps_size(shape, tiny_model):
    img = synthetic_photo(shape[0], shape[1], seed=shape[0])
    out = vqcodec.decompress(vqcodec.compress(img, 2, model=tiny_model), model=tiny_model)
    assert out.mode == "RGB" and out.size == (shape[1], shape[0])


def test_grayscale_and_rgb_inputs_keep_their_mode(photo, tiny_model):
    for mode, img in (("L", photo.mean(2).astype(np.uint8)), ("RGB", photo)):
        out = vqcodec.decompress(vqcodec.compress(img, 3, model=tiny_model), model=tiny_model)
        assert out.mode == mode and np.asarray(out).shape == img.shape


@pytest.mark.slow
def test_grayscale_comes_back_grayscale(photo):
    gray = photo.mean(2).astype(np.uint8)
    out = vqcodec.decompress(vqcodec.compress(gray, quality=4))
    assert out.mode == "L" and np.asarray(out).shape == gray.shape
    assert psnr(np.asarray(out), gray) > 20


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_lossless(photo, mode, tiny_model):
    alpha = np.random.default_rng(0).integers(0, 256, photo.shape[:2], dtype=np.uint8)
    base = photo if mode == "RGBA" else photo[:, :, :1]
    img = np.concatenate([base, alpha[:, :, None]], 2)
    out = vqcodec.decompress(vqcodec.compress(img, 2, model=tiny_model), model=tiny_model)
    assert out.mode == mode
    assert np.array_equal(np.asarray(out)[:, :, -1], alpha)


def test_palette_and_16_bit_inputs(photo, tiny_model):
    pal = Image.fromarray(photo).convert("P")
    data = vqcodec.compress(pal, 1, model=tiny_model)
    assert vqcodec.decompress(data, model=tiny_model).mode == "RGB"
    deep = Image.fromarray(photo[:, :, 0].astype(np.uint16) * 257)
    assert deep.mode == "I;16"
    with pytest.warns(UserWarning, match="8-bit"):
        data = vqcodec.compress(deep, 1, model=tiny_model)
    assert vqcodec.decompress(data, model=tiny_model).mode == "L"


def test_paths_and_bytes_are_accepted(tmp_path, photo, tiny_model):
    path = tmp_path / "p.png"
    Image.fromarray(photo).save(path)
    a = vqcodec.compress(path, 2, model=tiny_model)
    assert a == vqcodec.compress(str(path), 2, model=tiny_model)
    assert a == vqcodec.compress(path.read_bytes(), 2, model=tiny_model)
    assert a == vqcodec.compress(photo, 2, model=tiny_model)


@pytest.mark.slow
def test_quality_trades_rate_for_distortion(photo):
    sizes, scores = [], []
    for q in (1, 4, 8):
        data = vqcodec.compress(photo, quality=q)
        sizes.append(len(data))
        scores.append(psnr(np.asarray(vqcodec.decompress(data)), photo))
    assert sizes[0] < sizes[1] < sizes[2]
    assert scores[0] < scores[2]


@pytest.mark.parametrize("quality", [0, 13, -1, 2.5, "3", True])
def test_bad_quality_names_the_valid_range(photo, quality):
    with pytest.raises(VQCodecError, match="1 to 12"):
        vqcodec.compress(photo, quality=quality)


def test_quality_range_is_the_models_stage_count(photo, tiny_model):
    with pytest.raises(VQCodecError, match=f"1 to {tiny_model.stages}"):
        vqcodec.compress(photo, tiny_model.stages + 1, model=tiny_model)


def test_same_input_gives_identical_bytes_and_pixels(photo, tiny_model):
    a, b = (vqcodec.compress(photo, 3, model=tiny_model) for _ in range(2))
    assert a == b
    once, twice = (np.asarray(vqcodec.decompress(a, model=tiny_model)) for _ in range(2))
    assert np.array_equal(once, twice)


def test_blocks_code_like_the_whole_image(monkeypatch, tiny_model):
    from vqcodec import decoding, transform

    img = synthetic_photo(200, 90, seed=3)
    data = vqcodec.compress(img, 3, model=tiny_model)
    whole = np.asarray(vqcodec.decompress(data, model=tiny_model)).astype(int)
    monkeypatch.setattr(transform, "ENCODE_BLOCK", (1, 2))
    monkeypatch.setattr(decoding, "DECODE_BLOCK", (4, 3))
    assert vqcodec.compress(img, 3, model=tiny_model) == data
    strips = np.asarray(vqcodec.decompress(data, model=tiny_model)).astype(int)
    assert np.abs(whole - strips).max() <= 1


@pytest.mark.slow
def test_no_seams_at_tile_borders():
    img = synthetic_photo(128, 128, seed=5)
    out = np.asarray(vqcodec.decompress(vqcodec.compress(img, 8))).astype(float)
    err = out - img
    jump = np.abs(np.diff(err, axis=1)).mean(axis=(0, 2))
    at_border = jump[31::32][:3].mean()
    inside = np.delete(jump, np.s_[31::32]).mean()
    assert at_border < 1.5 * inside + 0.5


def _with_header(data: bytes, offset: int, raw: bytes) -> bytes:
    body = bytearray(data[:-4])
    body[offset : offset + len(raw)] = raw
    return bytes(body) + struct.pack("<I", zlib.crc32(body))


def test_wrong_codebook_fingerprint_names_both(photo, tiny_model):
    data = vqcodec.compress(photo, 2, model=tiny_model)
    start = 6 + data[5]
    bad = _with_header(data, start, bytes(16))
    with pytest.raises(ModelMismatchError, match=f"{'0' * 32}.*{tiny_model.fingerprint.hex()}"):
        vqcodec.decompress(bad, model=tiny_model)


def test_unknown_model_is_refused(photo, tiny_model):
    data = vqcodec.compress(photo, 2, model=tiny_model)
    with pytest.raises(ModelMismatchError, match="needs model tiny-test"):
        vqcodec.decompress(data)  # the file's model is not shipped and none is given
    bad = _with_header(data, 6, b"tiny-tes9")
    with pytest.raises(ModelMismatchError, match="tiny-tes9.*given is tiny-test"):
        vqcodec.decompress(bad, model=tiny_model)


def test_corrupt_and_truncated_files_raise_our_error(photo, tiny_model):
    data = vqcodec.compress(photo, 2, model=tiny_model)
    for cut in (0, 3, 10, len(data) // 2, len(data) - 1):
        with pytest.raises(FormatError):
            vqcodec.decompress(data[:cut], model=tiny_model)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    with pytest.raises(FormatError):
        vqcodec.decompress(bytes(flipped), model=tiny_model)


def test_unreadable_and_oversized_images(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ImageError):
        vqcodec.compress(bad)
    with pytest.raises(ImageError):
        vqcodec.compress(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="limit"):
        vqcodec.compress(np.zeros((100, 100, 3), np.uint8), max_pixels=9999)
    with pytest.raises(ImageError):
        vqcodec.compress(np.zeros((4, 4, 3), np.float32))


def test_oversized_header_is_refused_before_decoding(photo, tiny_model):
    data = vqcodec.compress(photo, 1, model=tiny_model)
    with pytest.raises(FormatError, match="limit"):
        vqcodec.decompress(data, model=tiny_model, max_pixels=100)


def test_info_reports_header_and_rate(photo, tiny_model):
    data = vqcodec.compress(photo, 3, model=tiny_model)
    info = vqcodec.info(data)
    assert (info["width"], info["height"], info["mode"]) == (100, 75, "RGB")
    assert (
        info["model"] == "tiny-test"
        and info["codebook_fingerprint"] == tiny_model.fingerprint.hex()
    )
    assert 1 <= info["stages"] <= tiny_model.stages and info["format_version"] in (1, 2, 3)
    assert info["coder"] == 3
    assert info["bytes"] == len(data) and info["bpp"] == pytest.approx(8 * len(data) / 7500)


@pytest.mark.parametrize(
    ("name", "version", "per"), [("depth", 2, "tile"), ("positions", 3, "position")]
)
def test_info_reports_depths(name, version, per):
    from pathlib import Path

    vectors = Path(__file__).parent.parent / "formats" / "vectors"
    info = vqcodec.info((vectors / f"vqcodec-base-v2-{name}-rgb-q6.vqc").read_bytes())
    assert info["format_version"] == version
    depths = info["depths"]
    assert depths["per"] == per
    assert 1 <= depths["min"] < depths["mean"] < depths["max"] == info["stages"]
    assert info["symbols"][0] == 12 * 16 > info["symbols"][-1] > 0


def test_no_warnings_on_plain_input(photo, tiny_model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vqcodec.decompress(vqcodec.compress(photo, 1, model=tiny_model), model=tiny_model)


def test_device_choice(photo, tiny_model):
    import torch

    auto = vqcodec.compress(photo, 2, model=tiny_model, device="auto")
    assert auto == vqcodec.compress(photo, 2, model=tiny_model)
    with pytest.raises(VQCodecError, match="device"):
        vqcodec.compress(photo, 2, model=tiny_model, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(VQCodecError, match="no CUDA"):
            data = vqcodec.compress(photo, 1, model=tiny_model)
            vqcodec.decompress(data, model=tiny_model, device="cuda")


@pytest.mark.slow
def test_thread_count_does_not_change_the_file(photo):
    import torch

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = vqcodec.compress(photo, 8)
        torch.set_num_threads(2)
        two = vqcodec.compress(photo, 8)
    finally:
        torch.set_num_threads(threads)
    assert one == two


@pytest.mark.slow
def test_shipped_default_uses_context_coding_and_v1_files_still_decode(photo):
    """The default model codes with context tables (coder 3); a vqcodec-base-v1 file
    (coder 1) still decodes, and claiming coder 2 for it is refused, not misdecoded."""
    data = vqcodec.compress(photo, 3)
    coder_at = 6 + data[5] + 16 + 11
    assert data[coder_at] == 3
    old = vqcodec.compress(photo, 3, model="vqcodec-base-v1")
    assert old[6 + old[5] + 16 + 11] == 1
    assert np.asarray(vqcodec.decompress(old)).shape == photo.shape
    with pytest.raises(FormatError, match="context tables"):
        vqcodec.decompress(_with_header(old, 6 + old[5] + 16 + 11, b"\x02"))


@pytest.mark.slow
def test_context_coding_spends_fewer_bits_than_plain_tables(photo, model):
    from vqcodec import codec, container

    f = container.parse(vqcodec.compress(photo, 4))
    idx = codec.decode_streams(f, model)
    masks = codec.stage_masks(f)
    plain = sum(vqcodec.entropy.ideal_bits(idx[s][m], model.counts[s]) for s, m in enumerate(masks))
    coded = 32 * sum(len(w) for w in f.streams)
    assert coded < plain


@pytest.mark.slow
def test_coder_3_and_coder_2_code_the_same_indices(photo, model):
    """Coder 3 files round-trip the indices coder 2 would send, in fewer bits here; a
    coder-2 file of the same indices still decodes to them."""
    from vqcodec import codec, coders, container

    f = container.parse(vqcodec.compress(photo, 3))
    assert f.coder == 3
    idx, masks = codec.decode_streams(f, model), codec.stage_masks(f)
    streams = coders.encode_streams(coders.CODERS[2], idx, model, masks)
    old = replace(f, coder=2, streams=streams)
    assert np.array_equal(codec.decode_streams(container.parse(container.write(old)), model), idx)
    assert sum(map(len, f.streams)) < sum(map(len, streams))


def test_model_with_huge_tables_falls_back_to_coder_2(photo, tiny_model):
    """Coder 3's integer products must stay exact in float64: a model whose neighbour
    tables are too large for them writes coder 2, and refuses coder-3 files."""
    from vqcodec import coders, container

    big = replace(tiny_model, left_counts=tiny_model.left_counts * entropy.PRODUCT_MAX_COUNT)
    assert coders.for_model(tiny_model).id == 3
    assert coders.for_model(big).id == 2
    data = vqcodec.compress(photo, 2, model=big)
    assert container.parse(data).coder == 2
    with pytest.raises(FormatError, match="too large"):
        vqcodec.decompress(vqcodec.compress(photo, 2, model=tiny_model), model=big)
