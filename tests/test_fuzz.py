"""Hostile .vqc input: every input ends as an image or a VQCodecError, fast, in bounded memory.

Mutations that keep the checksum valid (re-sealed) reach past the CRC into the
structural checks, the entropy decoder and the alpha inflater.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_photo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import mutate, reseal

import vqcodec
from vqcodec import VQCodecError
from vqcodec.container import parse

VECTORS = Path(__file__).parent.parent / "formats" / "vectors"
LIMIT = 1 << 20  # pixels: a mutated header cannot make the decoder allocate more
SECONDS_PER_INPUT = 5.0


@pytest.fixture(scope="module")
def valid_files() -> list[bytes]:
    rgb = synthetic_photo(48, 64, seed=1)
    alpha = np.concatenate([rgb, rgb[:, :, :1]], 2)
    return [
        vqcodec.compress(rgb, 1),
        vqcodec.compress(rgb, 3),
        vqcodec.compress(alpha, 2),
        vqcodec.compress(rgb[:, :, 0], 2),
        *(p.read_bytes() for p in sorted(VECTORS.glob("*-depth-rgb-q*.vqc"))),
        *(p.read_bytes() for p in sorted(VECTORS.glob("*-positions-rgb-q*.vqc"))),
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


FUZZ = Path(__file__).parent / "fuzz"
sys.path.insert(0, str(FUZZ))
from targets import CORPUS, TARGETS  # noqa: E402

SMOKE_RUNS = {"container": 3000, "depths": 1000, "streams": 1000, "model": 200, "decode": 300}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_corpus_and_regressions_replay_cleanly(name):
    """Every seed and every crash the fuzzer ever found (saved as crash-*) ends in
    success or a VQCodecError, without atheris."""
    files = sorted((CORPUS / name).iterdir())
    assert files
    for path in files:
        TARGETS[name](path.read_bytes())


@pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None,
    reason="atheris is not installed: pip install 'vqcodec[fuzz]' (the test extra has it)",
)
@pytest.mark.slow  # spawns an atheris process per target
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_coverage_guided_smoke_run(tmp_path, name):
    """A bounded atheris run of each target from the committed seeds: no crash, hang or
    memory blow-up (about 2 minutes for all five on a quiet 2-core machine)."""
    out = subprocess.run(
        [
            sys.executable,
            str(FUZZ / "targets.py"),
            name,
            str(tmp_path),
            str(CORPUS / name),
            f"-runs={SMOKE_RUNS[name]}",
            "-max_total_time=25",
            "-timeout=20",
            "-rss_limit_mb=3000",
            f"-artifact_prefix={tmp_path}/",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(FUZZ.parent.parent)},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "DONE" in out.stderr or "Done" in out.stderr
