"""The spec is enough: tests/reference_decoder.py, written from formats/VQC.md alone,
reproduces the vectors' indices exactly and their pixels up to float32 rounding; and
words left in a stream after its last symbol are ignored, as the spec says."""

from __future__ import annotations

import functools
import hashlib
import json
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import reference_decoder as ref
from PIL import Image

import vqcodec
from vqcodec import codec, container
from vqcodec.registry import MODELS_DIR

VECTORS = Path(__file__).parent.parent / "formats" / "vectors"
VALID = [
    case
    for manifest in sorted(VECTORS.glob("*.manifest.json"))
    for case in json.loads(manifest.read_text())
    if case["expect"] == "image"
]
pytestmark = pytest.mark.slow  # the shipped models' weights


@functools.cache
def _model(name: str) -> dict:
    return ref.load_model(MODELS_DIR / f"{name}.safetensors")


@pytest.mark.parametrize("case", VALID, ids=[c["file"] for c in VALID])
def test_reference_decoder_reproduces_the_vector(case):
    f = ref.parse((VECTORS / case["file"]).read_bytes())
    model = _model(f["model"])
    idx = ref.indices(f, model)
    assert hashlib.sha256(idx.astype("<i4").tobytes()).hexdigest() == case["sha256_indices"]
    pixels = ref.pixels(f, idx, model)
    expected = np.asarray(Image.open(VECTORS / case["reference"])).reshape(pixels.shape)
    diff = np.abs(pixels.astype(int) - expected)
    # float32 sums in another order than PyTorch's: a sample exactly at k + 0.5 in one
    # evaluation may round the other way in the other (1 sample in all the vectors)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    if (diff == 0).all():
        assert hashlib.sha256(pixels.tobytes()).hexdigest() == case["sha256_pixels"]


def _with_trailing_word(data: bytes, stage: int) -> bytes:
    f = container.parse(data)
    streams = list(f.streams)
    streams[stage] = np.append(streams[stage], np.uint32(0xDEADBEEF))
    return container.write(replace(f, streams=tuple(streams)))


def _with_trailing_depth_word(data: bytes) -> bytes:
    """A version-3 file whose depth stream has one more word (length field fixed)."""
    f = container.parse(data)
    at = 35 + data[5] + 8 * f.stages + 4  # the depth length field
    (depth_len,) = struct.unpack_from("<I", data, at)
    end = at + 4 + 4 * sum(len(w) for w in f.streams) + depth_len
    body = data[:at] + struct.pack("<I", depth_len + 4) + data[at + 4 : end]
    return container.seal(body + b"\xef\xbe\xad\xde" + data[end:-4])


@pytest.mark.parametrize(
    "name",
    [
        "vqcodec-base-v1-rgb-q8.vqc",  # coder 1
        "vqcodec-base-v2-rgba-q2.vqc",  # coder 2 or 3, stages 0 and 1 (wavefront)
        "vqcodec-base-v2-positions-gray-q6.vqc",  # version 3, stages >= 2 (row-major)
    ],
)
def test_words_after_the_last_symbol_are_ignored(name):
    data = (VECTORS / name).read_bytes()
    f = container.parse(data)
    model = vqcodec.get_model(f.model)
    want = codec.decode_streams(f, model)
    variants = [_with_trailing_word(data, s) for s in range(f.stages)]
    if f.format_version == container.VERSION_POSITIONS:
        variants.append(_with_trailing_depth_word(data))
    for variant in variants:
        g = container.parse(variant)
        np.testing.assert_array_equal(codec.decode_streams(g, model), want)
        np.testing.assert_array_equal(container.position_depths(g), container.position_depths(f))
        r = ref.parse(variant)
        np.testing.assert_array_equal(ref.indices(r, _model(f.model)), want)
