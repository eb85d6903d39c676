"""Write the .vqc test vectors and manifest.json for a shipped model.

Run once when a model ships; the files are then frozen and guard that model forever:

    python formats/vectors/make_vectors.py vqcodec-base-v1

``--depth`` writes the separate set for format version 2 (per-tile depth maps) for a
model that shipped before it, leaving the model's first set untouched:

    python formats/vectors/make_vectors.py vqcodec-base-v2 --depth

``--product`` likewise writes the set for entropy coder 3 (product of neighbour tables)
for a model that shipped before it:

    python formats/vectors/make_vectors.py vqcodec-base-v2 --product

``--positions`` the set for format version 3 (a depth per latent position):

    python formats/vectors/make_vectors.py vqcodec-base-v2 --positions

``--metadata`` the set for format versions 4-6 (1-3 with ICC, EXIF and XMP):

    python formats/vectors/make_vectors.py vqcodec-base-v2 --metadata

and ``--spec`` the set a second implementation asked for (versions 2 and 3 with alpha,
coder 2 in version 3, and a refusal for each check the other sets leave untested):

    python formats/vectors/make_vectors.py vqcodec-base-v2 --spec

Valid files record the SHA-256 of their entropy-decoded indices (exact on every
machine), of their decoded pixels on the reference machine, and a PNG of those pixels.
Invalid files record the error type and a fragment of its message.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

import vqcodec
from vqcodec import codec, container, depthcode, metadata

HERE = Path(__file__).parent


def sample(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth photo-like RGB image: gradients, soft blobs and mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 128 + 50 * np.stack([np.sin(x / (7 + 3 * c) + y / 11) for c in range(3)], 2)
    img += rng.normal(0, 4, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def edit(data: bytes, offset: int, raw: bytes) -> bytes:
    body = bytearray(data[:-4])
    body[offset : offset + len(raw)] = raw
    return container.seal(bytes(body))


def mixed(h: int, w: int, seed: int) -> np.ndarray:
    """Flat and smooth quadrants beside a busy one, so tiles get different depths."""
    img = sample(h, w, seed).astype(np.int32)
    img[: h // 2, : w // 2] = 128
    img[h // 2 :, : w // 2] = 90 + np.arange(w // 2)[None, :, None] // 8
    noise = np.random.default_rng(seed + 10).integers(-40, 40, (h - h // 2, w - w // 2, 3))
    img[h // 2 :, w // 2 :] += noise
    return np.clip(img, 0, 255).astype(np.uint8)


def with_depth_section(data: bytes, section: bytes) -> bytes:
    """A version-2 file with its depth section replaced (and its length field fixed)."""
    f = container.parse(data)
    n = data[5]
    length_field = 35 + n + 8 * f.stages + 4
    streams = 4 * sum(len(w) for w in f.streams)
    start = length_field + 4
    body = (
        data[:length_field]
        + struct.pack("<I", len(section))
        + data[start : start + streams]
        + section
        + f.alpha
    )
    return container.seal(body)


def write_set(tag: str, valid: dict[str, bytes], invalid: dict, model) -> None:
    manifest = []
    for name, data in valid.items():
        (HERE / name).write_bytes(data)
        idx = codec.decode_streams(container.parse(data), model)
        pixels, mode = codec.decode(data, model, precision="f32")  # the spec's pixels
        png = name.replace(".vqc", ".png")
        Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels, mode).save(HERE / png)
        case = {
            "file": name,
            "expect": "image",
            "model": model.name,
            "mode": mode,
            "sha256_indices": hashlib.sha256(idx.astype("<i4").tobytes()).hexdigest(),
            "sha256_pixels": hashlib.sha256(pixels.tobytes()).hexdigest(),
            "reference": png,
        }
        meta = container.parse(data).metadata
        if meta:
            case["sha256_metadata"] = hashlib.sha256(metadata.pack(meta)).hexdigest()
        manifest.append(case)
    for name, (data, error, match) in invalid.items():
        name = f"{tag}-bad-{name}"
        try:
            codec.decode(data)
            raise SystemExit(f"{name} decodes; it should raise {error}")
        except vqcodec.VQCodecError as exc:
            if type(exc).__name__ != error or match not in str(exc):
                raise SystemExit(f"{name} raises {exc!r}, not {error} ({match!r})") from exc
        (HERE / name).write_bytes(data)
        manifest.append({"file": name, "expect": error, "match": match})
    path = HERE / f"{tag}.manifest.json"
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(manifest)} vectors and {path.name}")


def depth_set(model) -> None:
    """Version-2 vectors: files whose tiles use different numbers of stages."""
    tag = f"{model.name}-depth"
    img = mixed(96, 128, 5)
    gray = mixed(64, 64, 6)[:, :, 0]
    low, mid = 2, (model.stages + 1) // 2
    valid = {
        f"{tag}-rgb-q{low}.vqc": vqcodec.compress(img, low, model=model),
        f"{tag}-rgb-q{mid}.vqc": vqcodec.compress(img, mid, model=model),
        f"{tag}-gray-q{mid}.vqc": vqcodec.compress(gray, mid, model=model),
    }
    for name, data in valid.items():
        if container.parse(data).depths is None:
            raise SystemExit(f"{name} came out without a depth map; pick another image")
    base = valid[f"{tag}-rgb-q{low}.vqc"]
    f = container.parse(base)
    d = f.depths
    pack = lambda a: zlib.compress(np.ascontiguousarray(a, dtype=np.uint8).tobytes(), 9)  # noqa: E731
    invalid = {
        "future-version.vqc": (
            container.seal(base[:4] + b"\x03" + base[5:-4]),
            "FormatError",
            "unsupported",
        ),
        "depth-zero.vqc": (
            with_depth_section(base, pack(np.where(d == 1, 0, d))),
            "FormatError",
            "outside",
        ),
        "depth-too-deep.vqc": (
            with_depth_section(base, pack(np.where(d == d.max(), 200, d))),
            "FormatError",
            "outside",
        ),
        "depth-never-full.vqc": (
            with_depth_section(base, pack(np.minimum(d, f.stages - 1))),
            "FormatError",
            "no tile",
        ),
        "depth-bomb.vqc": (
            with_depth_section(base, pack(np.ones(10**6))),
            "FormatError",
            "depth section",
        ),
        "depth-short.vqc": (
            with_depth_section(base, pack(d.ravel()[:-1])),
            "FormatError",
            "depth section",
        ),
        "depth-garbage.vqc": (
            with_depth_section(base, b"not zlib"),
            "FormatError",
            "depth section",
        ),
        "depth-symbols.vqc": (
            edit(base, 35 + base[5] + 8, struct.pack("<I", f.symbols[1] + 16)),
            "FormatError",
            "symbols",
        ),
        "depth-as-version-1.vqc": (
            container.seal(base[:4] + b"\x01" + base[5:-4]),
            "FormatError",
            "lengths",
        ),
    }
    write_set(tag, valid, invalid, model)


def product_set(model) -> None:
    """Coder-3 vectors: uniform and per-tile depths, every mode with colour."""
    tag = f"{model.name}-product"
    img = mixed(96, 128, 7)
    rgba = np.concatenate([sample(40, 36, 8), sample(40, 36, 9)[:, :, :1]], 2)
    mid = (model.stages + 1) // 2
    valid = {
        f"{tag}-rgb-q1.vqc": vqcodec.compress(img, 1, model=model),
        f"{tag}-rgb-q{mid}.vqc": vqcodec.compress(img, mid, model=model),
        f"{tag}-gray-q3.vqc": vqcodec.compress(mixed(64, 64, 10)[:, :, 0], 3, model=model),
        f"{tag}-rgba-q2.vqc": vqcodec.compress(rgba, 2, model=model),
    }
    for name, data in valid.items():
        if container.parse(data).coder != 3:
            raise SystemExit(f"{name} is not coded with coder 3")
    base = valid[f"{tag}-rgb-q1.vqc"]
    coder_at = 6 + base[5] + 16 + 11
    v1 = vqcodec.compress(img, 1, model="vqcodec-base-v1")
    invalid = {
        "unknown-coder.vqc": (edit(base, coder_at, b"\x04"), "FormatError", "coder"),
        "coder-3-without-tables.vqc": (
            edit(v1, 6 + v1[5] + 16 + 11, b"\x03"),
            "FormatError",
            "context tables",
        ),
    }
    write_set(tag, valid, invalid, model)


def positions_set(model) -> None:
    """Version-3 vectors: files whose latent positions use different numbers of stages."""
    tag = f"{model.name}-positions"
    img = mixed(96, 128, 11)
    mid = (model.stages + 1) // 2
    valid = {
        f"{tag}-rgb-q3.vqc": vqcodec.compress(img, 3, model=model),
        f"{tag}-rgb-q{mid}.vqc": vqcodec.compress(img, mid, model=model),
        f"{tag}-gray-q{mid}.vqc": vqcodec.compress(mixed(64, 96, 12)[:, :, 0], mid, model=model),
    }
    for name, data in valid.items():
        if container.parse(data).format_version != container.VERSION_POSITIONS:
            raise SystemExit(f"{name} came out without a position depth map; pick another image")
    base = valid[f"{tag}-rgb-q3.vqc"]
    f = container.parse(base)
    stream = lambda d: depthcode.encode(d, f.stages).astype("<u4").tobytes()  # noqa: E731
    invalid = {
        "future-version.vqc": (  # since version 4 exists: its (missing) metadata refuses it
            container.seal(base[:4] + b"\x04" + base[5:-4]),
            "FormatError",
            "metadata section",
        ),
        "depth-odd-length.vqc": (
            with_depth_section(base, stream(f.depths)[:-1]),
            "FormatError",
            "32-bit words",
        ),
        "depth-empty.vqc": (with_depth_section(base, b""), "FormatError", "32-bit words"),
        "depth-never-full.vqc": (
            with_depth_section(base, stream(np.minimum(f.depths, f.stages - 1))),
            "FormatError",
            "all",
        ),
        "depth-symbols.vqc": (
            edit(base, 35 + base[5] + 8, struct.pack("<I", f.symbols[1] + 1)),
            "FormatError",
            "symbols",
        ),
        "depth-as-version-2.vqc": (
            container.seal(base[:4] + b"\x02" + base[5:-4]),
            "FormatError",
            "depth section",
        ),
    }
    write_set(tag, valid, invalid, model)


def spec_set(model) -> None:
    """Vectors a second implementation asked for: versions 2 and 3 with alpha, coder 2 in
    version 3, and one refusal for each check the other sets leave untested."""
    from vqcodec import coders

    tag = f"{model.name}-spec"
    img = mixed(96, 128, 13)
    alpha = sample(96, 128, 14)[:, :, :1]
    rgba = np.concatenate([img, alpha], 2)
    la = np.concatenate([img[:, :, :1], alpha], 2)
    mid = (model.stages + 1) // 2
    v3 = vqcodec.compress(img, 3, model=model)
    f = container.parse(v3)
    idx = codec.decode_streams(f, model)
    streams = coders.encode_streams(coders.CODERS[2], idx, model, codec.stage_masks(f))
    valid = {
        f"{tag}-v2-rgba-q{mid}.vqc": vqcodec.compress(rgba, mid, model=model, per_position=False),
        f"{tag}-v3-la-q{mid}.vqc": vqcodec.compress(la, mid, model=model),
        f"{tag}-v3-coder2-q3.vqc": container.write(replace(f, coder=2, streams=streams)),
    }
    for name, want in zip(valid, (2, 3, 3), strict=True):
        if container.parse(valid[name]).format_version != want:
            raise SystemExit(f"{name} is not a version-{want} file; pick another image")
    n = v3[5]
    size_at, mode_at = 6 + n + 16, 6 + n + 24
    rgba_file = valid[f"{tag}-v2-rgba-q{mid}.vqc"]
    words = np.full(3, 0xFFFFFFFF, dtype=np.uint32)  # constriction refuses these words
    one_word = (np.array([1], np.uint32),)
    small = container.parse(vqcodec.compress(img[:32, :32], 1, model=model))
    claim = lambda side: container.write(  # noqa: E731
        replace(small, width=side, height=side, symbols=(side * side // 64,), streams=one_word),
        pad=False,
    )
    invalid = {
        "header-truncated.vqc": (container.seal(v3[: 6 + n + 3]), "FormatError", "truncated"),
        "name-with-slash.vqc": (edit(v3, 6, b"/"), "FormatError", "model name"),
        "unknown-mode.vqc": (edit(v3, mode_at, b"\x09"), "FormatError", "mode"),
        "tile-16.vqc": (edit(v3, mode_at + 1, b"\x10"), "FormatError", "tile size"),
        "zero-stages.vqc": (edit(v3, mode_at + 4, b"\x00"), "FormatError", "stages"),
        "alpha-in-rgb.vqc": (edit(rgba_file, mode_at, b"\x03"), "FormatError", "alpha"),
        "no-alpha-in-rgba.vqc": (edit(v3, mode_at, b"\x04"), "FormatError", "alpha"),
        "name-too-long.vqc": (
            container.seal(v3[:5] + bytes([65]) + b"a" * 65 + v3[6 + n : -4]),
            "FormatError",
            "model name",
        ),
        "depth-stream-rejected.vqc": (
            with_depth_section(v3, words.astype("<u4").tobytes()),
            "FormatError",
            "depth stream is invalid",
        ),
        "side-2000000.vqc": (
            edit(v3, size_at, struct.pack("<II", 2_000_000, 1)),
            "FormatError",
            "side above the limit",
        ),
        "padded-over-limit.vqc": (  # over 2^24, the limit when it was made; small: density
            edit(v3, size_at, struct.pack("<II", 4100, 4090)),
            "FormatError",
            "the density limit",
        ),
        "padded-over-2-26.vqc": (  # added by editing the frozen file above: its v3
            edit(v3, size_at, struct.pack("<II", 8200, 8190)),
            "FormatError",
            "once padded",
        ),
        # refused by the density limit (rule 6) since it came; its words are still too few
        "stream-too-short.vqc": (claim(4096), "FormatError", "the density limit"),
    }
    write_set(tag, valid, invalid, model)


# A minimal ICC-shaped profile (the size field, 'acsp' at 36), EXIF with orientation 1
# and a maker, and an XMP packet: small and the same on every machine.
ICC = struct.pack(">I", 132) + bytes(32) + b"acsp" + bytes(92)
EXIF = bytes.fromhex("49492a000800000002000f010200050000002600000012010300010000000100000000000000")
EXIF += b"Make\0"
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


def with_metadata_section(data: bytes, section: bytes) -> bytes:
    """A version 4-6 file with its metadata section replaced (and its length fixed)."""
    f = container.parse(data)
    old = len(metadata.pack(f.metadata))
    layout = container.LAYOUTS[f.format_version]
    field = 35 + data[5] + 8 * f.stages + 4 * (len(layout.lengths) - 1)  # M is the last
    body = data[:-4]
    body = body[:field] + struct.pack("<I", len(section)) + body[field + 4 : len(body) - old]
    return container.seal(body + section)


def metadata_set(model) -> None:
    """Versions 4-6: files of versions 1-3 with a metadata section."""
    tag = f"{model.name}-metadata"
    full = metadata.Metadata(ICC, EXIF, XMP)
    img = mixed(96, 128, 13)
    mid = (model.stages + 1) // 2
    valid = {
        f"{tag}-rgb-q1-v4.vqc": codec.encode(sample(40, 48, 14), "RGB", model, 1, meta=full),
        f"{tag}-rgb-q{mid}-v5.vqc": codec.encode(
            img, "RGB", model, mid, per_position=False, meta=metadata.Metadata(xmp=XMP)
        ),
        f"{tag}-gray-q{mid}-v6.vqc": codec.encode(
            mixed(64, 96, 12)[:, :, :1], "L", model, mid, meta=metadata.Metadata(exif=EXIF)
        ),
    }
    for (name, data), version in zip(valid.items(), (4, 5, 6), strict=True):
        if container.parse(data).format_version != version:
            raise SystemExit(f"{name} came out as another version; pick another image")
    base = valid[f"{tag}-rgb-q1-v4.vqc"]
    entry = lambda kind, value: struct.pack("<BI", kind, len(value)) + value  # noqa: E731
    bad = lambda section: with_metadata_section(base, section)  # noqa: E731
    invalid = {
        "metadata-count-zero.vqc": (bad(b"\x00"), "FormatError", "1 to 3 entries"),
        "metadata-unknown-kind.vqc": (bad(b"\x01" + entry(4, XMP)), "FormatError", "kind 4"),
        "metadata-out-of-order.vqc": (
            bad(b"\x02" + entry(3, XMP) + entry(1, ICC)),
            "FormatError",
            "out of order",
        ),
        "metadata-repeated.vqc": (
            bad(b"\x02" + entry(3, XMP) + entry(3, XMP)),
            "FormatError",
            "repeated",
        ),
        "metadata-bad-utf8.vqc": (bad(b"\x01" + entry(3, b"\xff\xfe")), "FormatError", "UTF-8"),
        "metadata-icc-size.vqc": (
            bad(b"\x01" + entry(1, ICC + b"\0")),
            "FormatError",
            "declared size",
        ),
        "metadata-exif-header.vqc": (
            bad(b"\x01" + entry(2, b"Exif\0\0" + EXIF)),
            "FormatError",
            "TIFF header",
        ),
        "metadata-overrun.vqc": (
            bad(b"\x01" + struct.pack("<BI", 3, 2**20) + XMP),
            "FormatError",
            "runs past",
        ),
        "metadata-trailing.vqc": (bad(b"\x01" + entry(3, XMP) + b"\0"), "FormatError", "after"),
        "metadata-huge-length.vqc": (
            edit(base, 35 + base[5] + 8 * container.parse(base).stages + 4, b"\xff\xff\xff\x7f"),
            "FormatError",
            "metadata section of",
        ),
        "metadata-as-version-1.vqc": (
            container.seal(base[:4] + b"\x01" + base[5:-4]),
            "FormatError",
            "lengths",
        ),
    }
    write_set(tag, valid, invalid, model)


def main(model_name: str) -> None:
    model = vqcodec.get_model(model_name)
    tag = model.name
    rgb = sample(40, 48, 1)
    rgba = np.concatenate([sample(24, 20, 2), sample(24, 20, 3)[:, :, :1]], 2)
    valid = {
        f"{tag}-rgb-q1.vqc": vqcodec.compress(rgb, 1, model=model),
        f"{tag}-rgb-q{model.stages}.vqc": vqcodec.compress(rgb, model.stages, model=model),
        f"{tag}-gray-q3.vqc": vqcodec.compress(sample(17, 33, 4)[:, :, 0], 3, model=model),
        f"{tag}-rgba-q2.vqc": vqcodec.compress(rgba, 2, model=model),
    }
    base = valid[f"{tag}-rgb-q1.vqc"]
    n = base[5]
    dims = 6 + n + 16
    stream_table = dims + 13
    f = container.parse(base)
    bomb = container.write(replace(f, mode="RGBA", alpha=zlib.compress(bytes(10**6))))
    extra = model.stages + 1
    too_many = container.write(replace(f, symbols=f.symbols * extra, streams=f.streams * extra))
    invalid = {
        "truncated.vqc": (base[: len(base) // 2], "FormatError", "checksum"),
        "bad-magic.vqc": (b"\x89PNG" + base[4:], "FormatError", "not a .vqc"),
        "future-version.vqc": (  # the first version this reader does not know
            base[:4] + bytes([max(container.VERSIONS) + 1]) + base[5:],
            "FormatError",
            "unsupported",
        ),
        "bit-flip.vqc": (
            base[:-10] + bytes([base[-10] ^ 4]) + base[-9:],
            "FormatError",
            "checksum",
        ),
        "huge-dimensions.vqc": (
            edit(base, dims, struct.pack("<II", 2**32 - 1, 2**32 - 1)),
            "FormatError",
            "limit",
        ),
        "zero-width.vqc": (edit(base, dims, struct.pack("<I", 0)), "FormatError", "size"),
        "wrong-codebook.vqc": (
            edit(base, 6 + n, bytes(16)),
            "ModelMismatchError",
            "codebook fingerprint",
        ),
        "unknown-model.vqc": (edit(base, 6, b"x" * n), "ModelMismatchError", "x" * n),
        "stream-overrun.vqc": (
            edit(base, stream_table + 4, struct.pack("<I", 2**30)),
            "FormatError",
            "lengths",
        ),
        "wrong-symbol-count.vqc": (
            edit(base, stream_table, struct.pack("<I", 7)),
            "FormatError",
            "symbols",
        ),
        "trailing-bytes.vqc": (container.seal(base[:-4] + b"\0\0\0\0"), "FormatError", "lengths"),
        "alpha-bomb.vqc": (bomb, "FormatError", "alpha"),
        "too-many-stages.vqc": (too_many, "FormatError", "stages"),
        "empty.vqc": (b"", "FormatError", "not a .vqc"),
    }
    write_set(tag, valid, invalid, model)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    name = args[0] if args else vqcodec.DEFAULT_MODEL
    if "--depth" in sys.argv[1:]:
        depth_set(vqcodec.get_model(name))
    elif "--product" in sys.argv[1:]:
        product_set(vqcodec.get_model(name))
    elif "--positions" in sys.argv[1:]:
        positions_set(vqcodec.get_model(name))
    elif "--spec" in sys.argv[1:]:
        spec_set(vqcodec.get_model(name))
    elif "--metadata" in sys.argv[1:]:
        metadata_set(vqcodec.get_model(name))
    else:
        main(name)
