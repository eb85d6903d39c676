"""Orientation and metadata: EXIF orientation applied on input; ICC, EXIF and XMP carried
through .vqc files and written back into the output formats that take them."""

from __future__ import annotations

import io
import struct
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageCms, ImageOps

import vqcodec
from vqcodec import container, metadata
from vqcodec.cli import main
from vqcodec.errors import FormatError
from vqcodec.metrics import psnr

XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


@pytest.fixture(scope="module")
def icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def phone_exif(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    exif[0x8769] = {0x9003: "2026:12:01 12:00:00"}
    return exif


def tags(exif: bytes) -> tuple[dict, dict]:
    parsed = Image.Exif()
    parsed.load(b"Exif\x00\x00" + exif)
    top = {k: v for k, v in parsed.items() if k != 0x8769 and (k, v) != (0x0112, 1)}
    return top, parsed.get_ifd(0x8769)  # AVIF drops an orientation of 1: the default


def orientation(exif: bytes) -> int:
    parsed = Image.Exif()
    parsed.load(b"Exif\x00\x00" + exif)
    return parsed[0x0112]


def phone_jpeg(photo: np.ndarray, icc: bytes) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(photo).save(
        buf, "JPEG", quality=95, exif=phone_exif(), icc_profile=icc, xmp=XMP
    )
    return buf.getvalue()


def test_exif_orientation_is_applied_on_input(tmp_path, photo):
    path = tmp_path / "portrait.jpg"
    Image.fromarray(photo).save(path, exif=phone_exif(6), quality=95)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(path)))
    assert upright.shape == (100, 75, 3)
    for source in (path, path.read_bytes(), Image.open(path)):
        back = np.asarray(vqcodec.decompress(vqcodec.compress(source, 12)))
        assert back.shape == upright.shape
        assert psnr(back, upright) > 25 > psnr(back[::-1, ::-1], upright)


def test_from_image_resets_orientation_and_leaves_the_image_alone(photo, icc):
    im = Image.open(io.BytesIO(phone_jpeg(photo, icc)))
    meta = metadata.from_image(im)
    assert meta.icc == icc and meta.xmp == XMP
    exif = Image.Exif()
    exif.load(b"Exif\x00\x00" + meta.exif)
    assert exif[0x0112] == 1 and exif[0x010F] == "PhoneMaker"
    assert exif.get_ifd(0x8769)[0x9003] == "2026:12:01 12:00:00"
    assert im.getexif()[0x0112] == 6
    assert not metadata.from_image(Image.fromarray(photo))


def test_section_round_trip_and_order(icc):
    meta = metadata.Metadata(icc, b"II*\x00\x08\x00\x00\x00\x00\x00", XMP)
    section = metadata.pack(meta)
    assert metadata.unpack(section) == meta
    assert metadata.unpack(metadata.pack(metadata.Metadata(xmp=XMP))).icc is None
    swapped = bytes([2]) + section[1 + 5 + len(icc) :][: 5 + 10] + section[1 : 1 + 5 + len(icc)]
    with pytest.raises(FormatError, match="order"):
        metadata.unpack(swapped)


@pytest.mark.parametrize(
    ("section", "match"),
    [
        (b"", "1 to 3 entries"),
        (b"\x00", "1 to 3 entries"),
        (b"\x04", "1 to 3 entries"),
        (b"\x01\x03", "truncated"),
        (b"\x01" + struct.pack("<BI", 3, 100) + b"<x/>", "runs past"),
        (b"\x01" + struct.pack("<BI", 9, 4) + b"<x/>", "unknown metadata kind"),
        (b"\x01" + struct.pack("<BI", 3, 0), "outside 1.."),
        (b"\x01" + struct.pack("<BI", 3, 4) + b"<x/>!", "after the last"),
        (b"\x01" + struct.pack("<BI", 3, 2) + b"\xff\xfe", "not UTF-8"),
        (b"\x01" + struct.pack("<BI", 2, 8) + b"JFIF\x00\x00\x00\x00", "TIFF header"),
        (b"\x01" + struct.pack("<BI", 1, 200) + bytes(200), "profile header"),
        (b"\x01" + struct.pack("<BI", 2, 1 << 30) + b"II*\x00", "runs past"),
        (b"\x02" + 2 * (struct.pack("<BI", 3, 4) + b"<x/>"), "repeated"),
    ],
)
def test_bad_sections_are_refused(section, match):
    with pytest.raises(FormatError, match=match):
        metadata.unpack(section)


def test_oversized_input_metadata_is_dropped_with_a_warning(photo):
    im = Image.fromarray(photo)
    im.info["xmp"] = b"<x>" + b" " * metadata.LIMITS[metadata.XMP] + b"</x>"
    with pytest.warns(UserWarning, match="XMP not kept"):
        assert metadata.from_image(im).xmp is None


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "AVIF"])
def test_save_options_write_every_part(fmt, photo, icc):
    meta = metadata.from_image(Image.open(io.BytesIO(phone_jpeg(photo, icc))))
    buf = io.BytesIO()
    Image.fromarray(photo[:16, :16]).save(buf, fmt, **metadata.save_options(meta, fmt))
    back = metadata.from_image(Image.open(buf))
    assert (back.icc, back.xmp) == (meta.icc, meta.xmp)
    assert tags(back.exif) == tags(meta.exif)  # TIFF may change the byte order


@pytest.fixture(scope="module")
def files(photo, tiny_model):
    """Tiny-model files of versions 1 (quality 1) and 2 or 3 (a middle quality)."""
    return [vqcodec.compress(photo, q, model=tiny_model) for q in (1, 3)]


def with_metadata(data: bytes, meta: metadata.Metadata) -> bytes:
    f = container.parse(data)
    version = f.format_version + container.METADATA_VERSIONS
    return container.write(replace(f, metadata=meta, format_version=version))


def test_container_carries_metadata_in_versions_4_to_6(files, icc):
    meta = metadata.Metadata(icc, b"MM\x00*\x00\x00\x00\x08\x00\x00", XMP)
    for data in files:
        f = container.parse(data)
        assert container.write(f) == data  # no metadata: the same bytes as ever
        carried = with_metadata(data, meta)
        g = container.parse(carried)
        assert g.format_version == f.format_version + 3 and g.metadata == meta
        assert np.array_equal(container.position_depths(g), container.position_depths(f))
        assert len(carried) == len(data) + 4 + len(metadata.pack(meta))
    with pytest.raises(ValueError, match="cannot carry metadata"):
        container.write(replace(container.parse(files[0]), metadata=meta))
    with pytest.raises(ValueError, match="needs metadata"):
        container.write(replace(container.parse(files[0]), format_version=4))


def test_bad_metadata_sections_are_refused(files):
    data = with_metadata(files[0], metadata.Metadata(xmp=XMP))
    section = metadata.pack(metadata.Metadata(xmp=XMP))
    body = data[: -4 - len(section)]
    length_at = 35 + data[5] + 8 * container.parse(data).stages + 4  # after the alpha length
    assert body[length_at : length_at + 4] == struct.pack("<I", len(section))
    for bad, match in (
        (b"\x01" + struct.pack("<BI", 3, 4) + b"\xff\xfe\xfd\xfc", "not UTF-8"),
        (b"\x01" + struct.pack("<BI", 7, 4) + b"<x/>", "unknown metadata kind"),
    ):
        edited = body[:length_at] + struct.pack("<I", len(bad)) + body[length_at + 4 :]
        with pytest.raises(FormatError, match=match):
            container.parse(container.seal(edited + bad))
    huge = body[:length_at] + struct.pack("<I", 1 << 31) + body[length_at + 4 :]
    with pytest.raises(FormatError, match="metadata section of 2147483648 bytes"):
        container.parse(container.seal(huge + section))


@pytest.fixture
def phone(tmp_path, photo, icc):
    path = tmp_path / "phone.jpg"
    path.write_bytes(phone_jpeg(photo, icc))
    return path


def test_api_carries_metadata_and_strips_it(phone, tiny_model, icc):
    data = vqcodec.compress(phone, 1, model=tiny_model)
    assert vqcodec.info(data)["metadata"] == {"icc_profile": len(icc), "exif": 100, "xmp": len(XMP)}
    assert vqcodec.info(data)["format_version"] == 4 and vqcodec.info(data)["width"] == 75
    image = vqcodec.decompress(data, model=tiny_model)
    meta = metadata.from_image(image)
    assert (meta.icc, meta.xmp) == (icc, XMP) and orientation(meta.exif) == 1
    assert not metadata.from_image(vqcodec.decompress(data, model=tiny_model, strip=True))
    stripped = vqcodec.compress(phone, 1, model=tiny_model, strip=True)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(phone)))
    assert stripped == vqcodec.compress(upright, 1, model=tiny_model)  # as files always were
    assert len(data) == len(stripped) + 4 + len(metadata.pack(meta))
    opened = Image.open(io.BytesIO(data))  # the Pillow plugin: metadata in info at open
    assert opened.info["icc_profile"] == icc and opened.info["xmp"] == XMP


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_cli_writes_metadata_back_unless_stripped(phone, tmp_path, tiny_model_path, icc, suffix):
    def run(*args):
        return CliRunner().invoke(main, [*map(str, args), "--model", str(tiny_model_path)])

    vqc = tmp_path / "phone.vqc"
    assert run("compress", phone, vqc, "-q", 1).exit_code == 0
    out, bare = tmp_path / f"back{suffix}", tmp_path / f"bare{suffix}"
    assert run("decompress", vqc, out).exit_code == 0
    assert run("decompress", vqc, bare, "--strip").exit_code == 0
    back = metadata.from_image(Image.open(out))
    assert (back.icc, back.xmp) == (icc, XMP)
    assert tags(back.exif)[0][0x010F] == "PhoneMaker"
    assert Image.open(out).getexif().get(0x0112, 1) == 1  # upright pixels, orientation 1
    assert not metadata.from_image(Image.open(bare))


def test_batch_keeps_metadata_unless_stripped(phone, tmp_path, tiny_model_path, icc):
    def run(*args):
        return CliRunner().invoke(main, [*map(str, args), "--model", str(tiny_model_path)])

    assert run("compress", phone, "-o", tmp_path / "vqc", "-q", 1).exit_code == 0
    assert run("decompress", tmp_path / "vqc", "-o", tmp_path / "kept").exit_code == 0
    assert run("decompress", tmp_path / "vqc", "-o", tmp_path / "bare", "--strip").exit_code == 0
    assert metadata.from_image(Image.open(tmp_path / "kept" / "phone.png")).icc == icc
    assert not metadata.from_image(Image.open(tmp_path / "bare" / "phone.png"))
    assert run("compress", phone, "-o", tmp_path / "s", "-q", 1, "--strip").exit_code == 0
    assert vqcodec.info(tmp_path / "s" / "phone.vqc")["metadata"] is None
