"""The version-3 depth stream: exact round trips, its rate, and garbage input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vqcodec import FormatError, depthcode


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 12).flatmap(
        lambda s: st.tuples(
            st.just(s),
            arrays(
                np.uint8,
                st.tuples(st.integers(1, 9), st.integers(1, 9)),
                elements=st.integers(1, s),
            ),
        )
    )
)
def test_round_trip(case):
    stages, depth = case
    words = depthcode.encode(depth, stages)
    assert words.dtype == np.uint32
    assert np.array_equal(depthcode.decode(words, depth.shape, stages), depth)


@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (40, 1), (64, 96)])
def test_rate_matches_its_ideal(shape):
    rng = np.random.default_rng(0)
    depth = np.repeat(rng.integers(1, 13, (shape[0], 1)), shape[1], 1)
    words = depthcode.encode(depth, 12)
    ideal = depthcode.bits(depth, 12)
    assert ideal <= 32 * len(words) <= ideal * 1.01 + 64


def test_adapts_to_the_map():
    """A map of large uniform regions costs far less than log2(stages) per position."""
    depth = np.ones((64, 96), dtype=np.uint8)
    depth[20:50, 30:80] = 7
    assert depthcode.bits(depth, 12) < 0.05 * depth.size * np.log2(12)


def test_contexts_are_capped():
    """Depths beyond the context cap still round-trip (they share a context)."""
    depth = np.arange(1, 41, dtype=np.uint8).reshape(5, 8)
    words = depthcode.encode(depth, 40)
    assert np.array_equal(depthcode.decode(words, depth.shape, 40), depth)


def test_garbage_gives_depths_in_range_or_format_error():
    rng = np.random.default_rng(3)
    for _ in range(30):
        words = rng.integers(0, 2**32, int(rng.integers(0, 4)), dtype=np.uint32)
        try:
            out = depthcode.decode(words, (6, 7), 5)
        except FormatError:
            continue
        assert out.shape == (6, 7) and out.min() >= 1 and out.max() <= 5
