"""The fast paths of the entropy coder give exactly the integer arithmetic's floats."""

from __future__ import annotations

import numpy as np
import pytest

from vqcodec import coders, entropy


def _tables(mix, k: int = 16, big: bool = False) -> entropy.Tables:
    rng = np.random.default_rng(7)
    top = entropy.PRODUCT_MAX_COUNT - 1 if big else 1000
    counts = rng.integers(1, top, k)
    return entropy.Tables(counts, rng.integers(1, top, (k, k)), rng.integers(1, top, (k, k)), mix)


def _reference_bits(t, stage, symbols, previous, present):
    """position_bits as it was: each row's integer weights, cast, over their sum."""
    out = np.zeros(symbols.shape)
    r, c = np.nonzero(present)
    if stage < entropy.NEIGHBOUR_STAGES:
        w = entropy.neighbour_weights(t, symbols, present, r, c).astype(np.float64)
    else:
        w = t.context[previous[r, c]].astype(np.float64)
    out[r, c] = -np.log2(w[np.arange(len(r)), symbols[r, c]] / w.sum(1))
    return out


@pytest.mark.parametrize("mix", [entropy.product, entropy.average])
@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("stage", [0, 1, 2])
def test_fast_weights_and_bits_equal_the_integer_ones(mix, big, stage):
    t = _tables(mix, big=big)
    rng = np.random.default_rng(stage)
    symbols = rng.integers(0, 16, (9, 13)).astype(np.int32)
    previous = rng.integers(0, 16, (9, 13)).astype(np.int32)
    present = rng.random((9, 13)) < 0.8
    r, c = np.nonzero(present)
    fast = entropy._Weigher(t, stage)(symbols, present, previous, r, c)
    if stage < entropy.NEIGHBOUR_STAGES:
        exact = entropy.neighbour_weights(t, symbols, present, r, c)
    else:
        exact = t.context[previous[r, c]]
    assert fast.dtype == np.float64 and np.array_equal(fast, exact.astype(np.float64))
    bits = entropy.position_bits(symbols, stage, t, previous, present)
    assert np.array_equal(bits, _reference_bits(t, stage, symbols, previous, present))
    words = entropy.encode_stage(symbols, stage, t, previous, present)
    back = entropy.decode_stage(words, stage, t, previous, symbols.shape, present)
    assert np.array_equal(back[present], symbols[present]) and not back[~present].any()


def test_stages_coded_on_threads_give_the_same_streams(tiny_model):
    rng = np.random.default_rng(1)
    size = tiny_model.net.quantizer.size
    indices = rng.integers(0, size, (tiny_model.stages, 6, 9)).astype(np.int32)
    coder = coders.for_model(tiny_model)
    one = coders.encode_streams(coder, indices, tiny_model)
    two = coders.encode_streams(coder, indices, tiny_model, workers=2)
    assert len(one) == len(two) == tiny_model.stages
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))
