"""Hostile .vqc input: every input ends as an image or a VQCodecError, fast, in bounded memory.

Mutations that keep the checksum valid (re-sealed) reach past the CRC into the
structural checks, the entropy decoder and the alpha inflater.
"""

from __future__ import annotations

import resource
import struct
import time
import zlib

import numpy as np
import pytest
from conftest import synthetic_photo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vqcodec
from vqcodec import VQCodecError
from vqcodec.container import parse

LIMIT = 1 << 20  # pixels: a mutated header cannot make the decoder allocate more
SECONDS_PER_INPUT = 5.0


def reseal(data: bytes) -> bytes:
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]))


@pytest.fixture(scope="module")
def valid_files() -> list[bytes]:
    rgb = synthetic_photo(48, 64, seed=1)
    alpha = np.concatenate([rgb, rgb[:, :, :1]], 2)
    return [
        vqcodec.compress(rgb, 1),
        vqcodec.compress(rgb, 3),
        vqcodec.compress(alpha, 2),
        vqcodec.compress(rgb[:, :, 0], 2),
    ]


def outcome(data: bytes) -> str:
    """Decode ``data``; return 'image' or 'error', failing on anything else."""
    start = time.monotonic()
    try:
        img = vqcodec.decompress(data, max_pixels=LIMIT)
        assert img.width * img.height <= LIMIT
        result = "image"
    except VQCodecError:
        result = "error"
    assert time.monotonic() - start < SECONDS_PER_INPUT
    return result


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One random mutation: bit flips, truncation, random bytes, or extreme header fields."""
    buf = bytearray(data)
    kind = rng.integers(5)
    if kind == 0:
        for _ in range(rng.integers(1, 8)):
            i = rng.integers(len(buf) * 8)
            buf[i // 8] ^= 1 << (i % 8)
    elif kind == 1:
        buf = buf[: rng.integers(len(buf))]
    elif kind == 2:
        i = rng.integers(len(buf))
        buf[i : i + 8] = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
    elif kind == 3:
        offset = 6 + buf[5] + 16 + 4 * rng.integers(0, 6)
        value = int(rng.choice([0, 1, 2**31, 2**32 - 1, rng.integers(2**32)]))
        struct.pack_into("<I", buf, min(offset, len(buf) - 4), value)
    else:
        i = rng.integers(6 + buf[5] + 16, len(buf) - 4)
        buf[i] = int(rng.integers(256))
    out = bytes(buf)
    return reseal(out) if len(out) >= 4 and rng.integers(2) else out


def test_bounded_mutation_run(valid_files):
    rng = np.random.default_rng(2026)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    counts = {"image": 0, "error": 0}
    for i in range(400):
        counts[outcome(mutate(valid_files[i % len(valid_files)], rng))] += 1
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert counts["error"] > 100 and counts["image"] > 10
    assert grown_mib < 512


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_parser(data):
    try:
        parse(data, max_pixels=LIMIT)
    except VQCodecError:
        pass


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.data())
def test_resealed_random_edits_decode_or_fail_cleanly(valid_files, data):
    base = bytearray(data.draw(st.sampled_from(valid_files)))
    n = data.draw(st.integers(1, 4))
    for _ in range(n):
        i = data.draw(st.integers(0, len(base) - 5))
        base[i] = data.draw(st.integers(0, 255))
    outcome(reseal(bytes(base)))


def test_every_truncation_of_a_real_file_is_refused(valid_files):
    data = valid_files[2]
    for n in range(len(data)):
        with pytest.raises(VQCodecError):
            vqcodec.decompress(data[:n])
