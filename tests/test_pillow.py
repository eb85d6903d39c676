"""The Pillow plugin: Image.open of .vqc files (header only until load) and Image.save."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import vqcodec
from vqcodec import container


@pytest.fixture(scope="module")
def vqc(photo, tiny_model) -> bytes:
    return vqcodec.compress(photo, 1, model=tiny_model)


@pytest.fixture(scope="module")
def shipped_vqc(photo) -> bytes:
    """A shipped model's file: load() finds its model by name, as for any user."""
    return vqcodec.compress(photo, 1)


def test_open_reads_size_and_mode_without_decoding(vqc, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("decoded on open")

    monkeypatch.setattr(vqcodec.api, "decompress", refuse)
    im = Image.open(io.BytesIO(vqc))
    assert (im.format, im.size, im.mode) == ("VQC", (100, 75), "RGB")
    assert im.info["model"] == vqcodec.container.parse(vqc).model


@pytest.mark.slow
def test_load_gives_the_pixels_of_decompress(shipped_vqc):
    im = Image.open(io.BytesIO(shipped_vqc))
    assert np.array_equal(np.asarray(im), np.asarray(vqcodec.decompress(shipped_vqc)))


@pytest.mark.slow
def test_open_by_path_and_grayscale_alpha(tmp_path, photo):
    la = np.dstack([photo[:, :, 0], np.arange(75 * 100, dtype=np.uint8).reshape(75, 100)])
    path = tmp_path / "la.vqc"
    path.write_bytes(vqcodec.compress(la, 1))
    with Image.open(path) as im:
        assert im.mode == "LA" and im.size == (100, 75)
        assert np.array_equal(np.asarray(im)[:, :, 1], la[:, :, 1])


def test_save_by_extension_with_quality(tmp_path, photo, tiny_model):
    im = Image.fromarray(photo)
    im.save(tmp_path / "q1.vqc", quality=1, model=tiny_model)
    im.save(tmp_path / "q6.vqc", quality=6, model=tiny_model)
    small, large = (tmp_path / "q1.vqc").read_bytes(), (tmp_path / "q6.vqc").read_bytes()
    assert small == vqcodec.compress(photo, 1, model=tiny_model)
    assert len(small) < len(large) and vqcodec.info(large)["width"] == 100
    buf = io.BytesIO()
    im.save(buf, format="VQC", quality=1, model=tiny_model)
    assert buf.getvalue() == small


def test_save_with_bad_quality_is_a_vqcodec_error(tmp_path, photo, tiny_model):
    with pytest.raises(vqcodec.VQCodecError, match="quality"):
        Image.fromarray(photo).save(tmp_path / "x.vqc", quality=99, model=tiny_model)


def test_corrupt_header_and_body_raise_format_error(vqc):
    with pytest.raises(vqcodec.FormatError, match="format version"):
        Image.open(io.BytesIO(vqc[:4] + b"\x09" + vqc[5:]))
    with pytest.raises(vqcodec.FormatError, match="truncated"):
        Image.open(io.BytesIO(vqc[:20]))
    im = Image.open(io.BytesIO(vqc[:-1] + bytes([vqc[-1] ^ 1])))
    with pytest.raises(vqcodec.FormatError, match="checksum"):
        im.load()


def test_header_of_every_version_matches_parse(vqc, photo, tiny_model):
    for data in (vqc, vqcodec.compress(photo, 3, model=tiny_model)):
        h, f = container.read_header(data), container.parse(data)
        assert (h.width, h.height, h.mode, h.model, h.stages, h.coder) == (
            f.width,
            f.height,
            f.mode,
            f.model,
            f.stages,
            f.coder,
        )
        assert h.format_version == f.format_version


def test_registering_and_opening_import_no_torch(vqc, tmp_path):
    path = tmp_path / "x.vqc"
    path.write_bytes(vqc)
    code = (
        "import sys, vqcodec\n"
        "lazy = 'torch' not in sys.modules\n"
        "from PIL import Image\n"
        f"im = Image.open({str(path)!r})\n"
        "print(lazy, im.size, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lazy, rest = out.stdout.split(" ", 1)
    if lazy == "False":
        pytest.skip("import vqcodec still imports torch (the package's imports are not lazy)")
    assert rest.strip() == "(100, 75) False"
