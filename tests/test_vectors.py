"""The frozen test vectors in formats/vectors: every shipped model keeps decoding them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vqcodec
from vqcodec import codec, container, metadata

VECTORS = Path(__file__).parent.parent / "formats" / "vectors"
CASES = [
    (manifest.name, case)
    for manifest in sorted(VECTORS.glob("*.manifest.json"))
    for case in json.loads(manifest.read_text())
]


def test_every_shipped_model_has_vectors():
    covered = {c["model"] for _, c in CASES if c["expect"] == "image"}
    assert set(vqcodec.shipped()) <= covered


@pytest.mark.parametrize("precision", ["f32", pytest.param("bf16", marks=pytest.mark.slow)])
@pytest.mark.parametrize(("manifest", "case"), CASES, ids=[c["file"] for _, c in CASES])
def test_vector(manifest, case, precision):
    """The spec's float32 decoder, and bf16 (the default where the CPU runs it natively),
    within 2 of the reference pixels."""
    data = (VECTORS / case["file"]).read_bytes()
    if case["expect"] != "image":
        error = getattr(vqcodec, case["expect"])
        with pytest.raises(error, match=case["match"]):
            vqcodec.decompress(data)
        return
    model = vqcodec.get_model(case["model"])
    f = container.parse(data)
    if "sha256_metadata" in case:  # versions 4-6: the metadata section parses to the same
        packed = metadata.pack(f.metadata)
        assert hashlib.sha256(packed).hexdigest() == case["sha256_metadata"]
    idx = codec.decode_streams(f, model)
    assert hashlib.sha256(idx.astype("<i4").tobytes()).hexdigest() == case["sha256_indices"]
    image = vqcodec.decompress(data, precision=precision)
    expected = Image.open(VECTORS / case["reference"])
    assert image.mode == case["mode"] == expected.mode and image.size == expected.size
    diff = np.abs(np.asarray(image, dtype=int) - np.asarray(expected, dtype=int))
    assert diff.max() <= 2
