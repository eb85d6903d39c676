"""PNGs written while decoding (vqcodec.pngstream): valid files, read back by Pillow and
by a second reader written from the PNG spec here, to the decoder's pixels; the
metadata Pillow writes; the rows handed over as the decoder finishes them."""

from __future__ import annotations

import io
import struct
import threading
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageCms

import vqcodec
from vqcodec import container, decoding, imagesave, metadata, openvino_net, pngstream
from vqcodec.cli import main

needs_openvino = pytest.mark.skipif(not openvino_net.available(), reason="no OpenVINO")
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


def spec_read(data: bytes) -> tuple[np.ndarray, dict[bytes, bytes]]:
    """A second PNG reader, from the spec: chunks and their CRCs checked, the IDATs
    inflated as one zlib stream (its Adler-32 checked by zlib), every filter type undone
    byte by byte. Returns uint8 [H, W, C] and the other chunks by type."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, other = 8, [], {}
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        assert crc == zlib.crc32(kind + body), kind
        if kind == b"IDAT":
            idat.append(body)
        else:
            other[kind] = body
        pos += 12 + length
    assert pos == len(data) and kind == b"IEND"
    width, height, depth, color, *_ = struct.unpack(">IIBBBBB", other[b"IHDR"])
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    assert depth == 8
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    assert len(raw) == height * (stride + 1)
    out, prior = [], bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prior[i], prior[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            else:
                assert kind == 0
        out.append(bytes(line))
        prior = line
    return np.frombuffer(b"".join(out), np.uint8).reshape(height, width, channels), other


@pytest.fixture
def small_runs(monkeypatch):
    monkeypatch.setattr(pngstream, "RUN_ROWS", 7)  # many deflate streams joined


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_streamed_pngs_read_back_to_the_same_pixels(mode, photo, small_runs):
    rng = np.random.default_rng(1)
    pixels = np.concatenate([photo, rng.integers(0, 256, photo.shape[:2] + (1,), np.uint8)], 2)
    pixels = np.ascontiguousarray(
        pixels[:, :, {"L": [0], "LA": [0, 3], "RGB": [0, 1, 2]}.get(mode, slice(None))]
    )
    pixels[:5, :9] = 255  # runs of equal bytes, extremes next to others
    pixels[5:8] = 0
    png = pngstream.PngStream(pixels.shape[1], pixels.shape[0], mode, metadata.Metadata(), 2)
    with png:
        for top in (0, 3, 4, 30, 60):  # pieces of any size, not matching the runs
            png.add(top, pixels[top : {0: 3, 3: 4, 4: 30, 30: 60, 60: None}[top]])
        data = png.finish()
    back = Image.open(io.BytesIO(data))
    assert back.mode == mode
    want = pixels[:, :, 0] if mode == "L" else pixels
    assert np.array_equal(np.asarray(back), want)
    ours, chunks = spec_read(data)
    assert np.array_equal(ours, pixels)
    assert set(chunks) == {b"IHDR", b"IEND"}


def test_rows_out_of_order_or_missing_are_refused(photo):
    png = pngstream.PngStream(100, 75, "RGB", metadata.Metadata(), 1)
    with png:
        with pytest.raises(ValueError, match="do not follow on"):
            png.add(1, photo[1:3])
        with pytest.raises(ValueError, match="do not follow on"):
            png.add(0, photo[:, :50])
        png.add(0, photo[:10])
        with pytest.raises(ValueError, match="10 of 75 rows"):
            png.finish()


def test_adler32_of_joined_runs():
    rng = np.random.default_rng(2)
    data = rng.integers(0, 256, 200_000, np.uint8).tobytes()
    for cut in (0, 1, 5_552, 123_457, len(data)):
        left, right = data[:cut], data[cut:]
        combined = pngstream.adler32_combine(zlib.adler32(left), zlib.adler32(right), len(right))
        assert combined == zlib.adler32(data)


def test_metadata_chunks_are_pillows(photo):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "Maker"
    meta = metadata.Metadata(icc, exif.tobytes()[6:], XMP)
    image = Image.fromarray(photo)
    image.info.update(metadata.to_info(meta))
    data = imagesave.image_bytes(image, "PNG", threads=2)
    assert metadata.from_image(Image.open(io.BytesIO(data))) == meta
    _, ours = spec_read(data)
    buf = io.BytesIO()
    image.save(buf, "PNG", **metadata.save_options(meta, "PNG"))
    _, pillows = spec_read(buf.getvalue())
    assert ours == pillows | {b"IHDR": ours[b"IHDR"]} and ours[b"IHDR"] == pillows[b"IHDR"]


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(decoding, "DECODE_BLOCK", (3, 4))  # several rows of blocks


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize("openvino", [True, False])
def test_rows_are_handed_over_as_decoded(
    mode, openvino, photo, tiny_model, small_blocks, monkeypatch
):
    if openvino and not openvino_net.available():
        pytest.skip("no OpenVINO")
    if not openvino:
        monkeypatch.setattr(openvino_net, "available", lambda: False)
    image = Image.fromarray(photo).convert(mode)
    data = vqcodec.compress(image, 3, model=tiny_model, threads=1)
    got = []
    sink = lambda top, r: got.append((top, r.copy()))  # noqa: E731
    pixels, _ = decoding.decode_file(container.parse(data), tiny_model, threads=1, rows=sink)
    tops = [top for top, _ in got]
    assert tops == ([0, 24, 48, 72] if openvino else [0])  # 3 latent rows: 24 pixel rows
    assert np.array_equal(np.concatenate([r for _, r in got]), pixels)
    written = vqcodec.decompress_to(data, "PNG", model=tiny_model, threads=2)
    want = np.asarray(vqcodec.decompress(data, model=tiny_model, threads=1))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(written))), want)
    assert np.array_equal(spec_read(written)[0], pixels)


def test_decompress_to_other_formats_and_metadata(photo, tiny_model, tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = Image.fromarray(photo)
    image.info["icc_profile"] = icc
    data = vqcodec.compress(image, 3, model=tiny_model)
    want = vqcodec.decompress(data, model=tiny_model)
    bmp = vqcodec.decompress_to(data, "BMP", model=tiny_model)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(bmp))), np.asarray(want))
    png = Image.open(io.BytesIO(vqcodec.decompress_to(data, "png", model=tiny_model)))
    assert png.info["icc_profile"] == icc
    bare = vqcodec.decompress_to(data, "PNG", model=tiny_model, strip=True)
    assert "icc_profile" not in Image.open(io.BytesIO(bare)).info
    with pytest.raises(vqcodec.VQCodecError, match="unknown image format"):
        vqcodec.decompress_to(data, "NOPE", model=tiny_model)


def test_cli_png_is_the_api_png(photo, tiny_model, tiny_model_path, tmp_path):
    Image.fromarray(photo).save(tmp_path / "a.png")
    model = ["--model", str(tiny_model_path)]
    run = CliRunner().invoke
    assert run(main, ["compress", str(tmp_path / "a.png"), *model]).exit_code == 0
    result = run(main, ["decompress", str(tmp_path / "a.vqc"), str(tmp_path / "b.png"), *model])
    assert result.exit_code == 0, result.output
    data = (tmp_path / "a.vqc").read_bytes()
    assert (tmp_path / "b.png").read_bytes() == vqcodec.decompress_to(data, model=tiny_model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.vqc", "b.png"]


@needs_openvino
def test_a_decode_failing_midway_leaves_no_file_and_no_threads(
    photo, tiny_model, tiny_model_path, tmp_path, small_blocks, monkeypatch
):
    data = vqcodec.compress(photo, 3, model=tiny_model)
    (tmp_path / "a.vqc").write_bytes(data)
    calls = []
    real = decoding.openvino_decoder

    def failing(*args):
        run = real(*args)

        def once(z):
            calls.append(1)
            if len(calls) > 5:  # after the first row of blocks went to the PNG writer
                raise vqcodec.FormatError("block 6 is broken")
            return run(z)

        return once

    monkeypatch.setattr(decoding, "openvino_decoder", failing)
    args = ["decompress", str(tmp_path / "a.vqc"), str(tmp_path / "b.png"), "--threads", "2"]
    result = CliRunner().invoke(main, [*args, "--model", str(tiny_model_path)])
    assert result.exit_code == 1 and "block 6 is broken" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.vqc"]
    assert not [t for t in threading.enumerate() if t.name.startswith("png")]
