"""Hostile and unusual inputs to compress, decompress and info, through the API and the
CLI: every one ends as a faithful image or a one-line VQCodecError, never a traceback,
a black image, an unbounded read or an hours-long encode."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import synthetic_photo
from PIL import Image

import vqcodec
from vqcodec import FormatError, ImageError, InputError, VQCodecError
from vqcodec.cli import main
from vqcodec.images import to_pixels


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def syntax_error_png() -> bytes:
    """Opens, then makes Pillow raise SyntaxError on load (a broken chunk inside IDAT)."""
    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)
    raw = zlib.compress(bytes(20))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", raw[:5])
        + _chunk(b"!!!!", raw[5:])
        + _chunk(b"IEND", b"")
    )


def unimplemented_dds() -> bytes:
    """A DDS header with an unknown pixel format: Pillow raises NotImplementedError."""
    header = bytearray(128)
    header[:4] = b"DDS "
    struct.pack_into("<IIII", header, 4, 124, 0x1007, 4, 4)
    struct.pack_into("<II4s", header, 76, 32, 4, b"XXXX")
    return bytes(header) + bytes(64)


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def assert_clean_error(result, text):
    assert result.exit_code == 1, result.output
    assert text in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "data, text", [(syntax_error_png(), "broken PNG"), (unimplemented_dds(), "Unimplemented")]
)
def test_pillow_exceptions_become_image_errors(tmp_path, data, text):
    path = tmp_path / "bad.img"
    path.write_bytes(data)
    for source in (data, path, str(path), io.BytesIO(data)):
        with pytest.raises(ImageError, match=text):
            vqcodec.compress(source)
    assert_clean_error(run("compress", path, tmp_path / "out.vqc"), text)


def test_truncated_lazy_pil_image(tmp_path, photo):
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "PNG")
    lazy = Image.open(io.BytesIO(buf.getvalue()[:300]))  # header fine, pixels cut off
    with pytest.raises(ImageError, match="cannot read image"):
        vqcodec.compress(lazy)


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, "PNG")
    return buf.getvalue()


def test_constant_16_bit_white_stays_white(tmp_path, tiny_model_path):
    """It came back black (range stretching of a constant image), and roundtrip
    reported a PSNR against that black image."""
    data = _png(np.full((40, 40), 65535, np.uint16))
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    with pytest.warns(UserWarning, match="reduced to 8-bit"):
        pixels, mode = to_pixels(data)
    assert mode == "L" and (pixels == 255).all()
    path = tmp_path / "white16.png"
    path.write_bytes(data)
    result = run("roundtrip", path, "-q", 1, "--model", tiny_model_path)
    assert result.exit_code == 0
    assert "PSNR is measured against that 8-bit image" in result.output


def test_high_bit_depth_keeps_its_values():
    gray = synthetic_photo(40, 40)[:, :, 0].astype(np.uint16) * 257
    constant_i = Image.fromarray(np.full((16, 16), 65535, np.int32))
    floats = Image.fromarray(np.full((16, 16), 200.0, np.float32))
    assert constant_i.mode == "I" and floats.mode == "F"
    with pytest.warns(UserWarning):
        assert np.array_equal(to_pixels(Image.fromarray(gray))[0][:, :, 0], gray // 257)
        assert (to_pixels(constant_i)[0] == 255).all()
        assert (to_pixels(floats)[0] == 200).all()


@pytest.mark.slow
def test_16_bit_white_decodes_white_with_the_shipped_model():
    with pytest.warns(UserWarning):
        data = vqcodec.compress(_png(np.full((40, 40), 65535, np.uint16)), 12)
    assert np.asarray(vqcodec.decompress(data)).min() >= 250


@pytest.mark.parametrize(
    "image, text",
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]], np.float32), "NaN or infinite"),
        (np.array([[1.0, 300.0]], np.float32), "outside 0..255"),
        (np.array([[-5, 70000]], np.int32), "outside 0..65535"),
    ],
)
def test_out_of_range_high_bit_depth_is_refused(image, text):
    with pytest.raises(ImageError, match=text):
        vqcodec.compress(Image.fromarray(image))


def _animation(fmt: str) -> bytes:
    frames = [Image.new("RGB", (16, 16), (80 * i, 0, 0)) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=100)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["GIF", "PNG"])
def test_animations_are_refused(tmp_path, fmt):
    data = _animation(fmt)
    with pytest.raises(ImageError, match=f"animated or multi-page {fmt} \\(3 frames\\)"):
        vqcodec.compress(data)
    with pytest.raises(ImageError, match="animated"):
        vqcodec.compress(Image.open(io.BytesIO(data)))
    path = tmp_path / f"anim.{fmt.lower()}"
    path.write_bytes(data)
    assert_clean_error(run("compress", path, tmp_path / "a.vqc"), "refuses to drop the rest")


def test_degenerate_shapes_are_refused_before_decoding(tmp_path, tiny_model):
    """A 1,000,000x1 PNG (about 1 KB) would run the network over 32 MP of padding."""
    data = _png(np.zeros((1, 1_000_000), np.uint8))
    assert len(data) < 4096
    with pytest.raises(ImageError, match="too thin: .* 32 times its area"):
        vqcodec.compress(data)
    path = tmp_path / "strip.png"
    path.write_bytes(data)
    assert_clean_error(run("compress", path), "too thin")
    thin = vqcodec.compress(np.zeros((1, 300, 3), np.uint8), 1, model=tiny_model)
    assert vqcodec.info(thin)["width"] == 300


def test_the_limit_counts_padded_pixels():
    with pytest.raises(ImageError, match="once padded"):
        vqcodec.compress(np.zeros((33, 33, 3), np.uint8), max_pixels=33 * 33)


def test_every_input_kind_is_accepted(tmp_path, photo, tiny_model):
    png = _png(photo)
    path = tmp_path / "p.png"
    path.write_bytes(png)
    made = {
        vqcodec.compress(src, 2, model=tiny_model)
        for src in (png, bytearray(png), path, str(path), io.BytesIO(png), photo)
    }
    assert len(made) == 1
    data = made.pop()
    vqc = tmp_path / "p.vqc"
    vqc.write_bytes(data)
    expected = np.asarray(vqcodec.decompress(data, model=tiny_model))
    with open(vqc, "rb") as f:
        for src in (data, memoryview(data), vqc, str(vqc), io.BytesIO(data), f):
            assert np.array_equal(np.asarray(vqcodec.decompress(src, model=tiny_model)), expected)
            assert vqcodec.info(io.BytesIO(data) if hasattr(src, "read") else src)["width"] == 100


@pytest.mark.parametrize("bad", [None, 42, 3.5, ["x.vqc"], object()])
def test_wrong_types_are_input_errors(bad):
    for fn in (vqcodec.compress, vqcodec.decompress, vqcodec.info):
        with pytest.raises(InputError, match="type"):
            fn(bad)


def test_unreadable_sources_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="No such file"):
        vqcodec.decompress(tmp_path / "missing.vqc")
    with pytest.raises(InputError, match="directory"):
        vqcodec.info(str(tmp_path))
    with pytest.raises(InputError, match="binary mode"):
        vqcodec.decompress(io.StringIO("\x89VQC text"))
    closed = io.BytesIO(b"x")
    closed.close()
    with pytest.raises(InputError, match="closed"):
        vqcodec.info(closed)
    assert issubclass(InputError, VQCodecError)


class Endless(io.RawIOBase):
    """/dev/zero (or a file of 2 GiB), counting what is read from it."""

    def __init__(self, byte: bytes = b"\0") -> None:
        self.byte, self.served = byte, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        b[:] = self.byte * len(b)
        self.served += len(b)
        return len(b)


def test_reads_stop_at_bad_magic_and_at_the_cap():
    zeros = Endless()
    with pytest.raises(FormatError, match="bad magic"):
        vqcodec.info(zeros)
    assert zeros.served <= 1 << 20
    endless_vqc = io.BufferedReader(Endless(b"\x89"))  # magic-looking, never ends
    with pytest.raises(FormatError, match="bad magic"):
        vqcodec.info(endless_vqc)

    class VQCForever(Endless):
        def readinto(self, b) -> int:
            n = super().readinto(b)
            if self.served == n:
                b[:4] = b"\x89VQC"
            return n

    forever = VQCForever()
    with pytest.raises(InputError, match="larger than"):
        vqcodec.info(forever, max_pixels=1000)
    assert forever.served <= 16 * 1000 + (2 << 20)


def test_cli_info_from_dev_zero_and_closed_stdin(tmp_path):
    import subprocess
    import sys

    with open("/dev/zero", "rb") as zeros:
        zero = subprocess.run(
            [sys.executable, "-m", "vqcodec", "info", "-"],
            stdin=zeros,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert zero.returncode == 1 and "bad magic" in zero.stderr and "Traceback" not in zero.stderr
    closed = subprocess.run(
        f"{sys.executable} -m vqcodec decompress - {tmp_path / 'o.png'} <&-",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert closed.returncode == 1 and "standard input is closed" in closed.stderr
    assert "Traceback" not in closed.stderr
