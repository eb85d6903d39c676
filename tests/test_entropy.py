"""Entropy coding of indices: exact round trips and a rate near the ideal."""

from __future__ import annotations

import numpy as np
import pytest

from vqcodec import entropy
from vqcodec.errors import FormatError


def test_round_trip_and_rate_close_to_ideal():
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 1000, 256)
    p = counts / counts.sum()
    symbols = rng.choice(256, size=20000, p=p).astype(np.int32)
    words = entropy.encode(symbols, counts)
    assert words.dtype == np.uint32
    assert np.array_equal(entropy.decode(words, counts, len(symbols)), symbols)
    ideal = entropy.ideal_bits(symbols, counts)
    assert ideal <= 32 * len(words) <= ideal + 64


def test_non_contiguous_input_is_coded_in_logical_order():
    counts = np.arange(1, 17)
    grid = np.random.default_rng(1).integers(0, 16, (8, 6)).astype(np.int32)
    fortran = np.asfortranarray(grid)
    words = entropy.encode(fortran, counts)
    assert np.array_equal(entropy.decode(words, counts, grid.size), grid.ravel())


def test_symbols_with_tiny_counts_stay_codable():
    counts = np.array([10**6, 1, 1, 1])
    symbols = np.array([3, 0, 0, 2, 1], dtype=np.int32)
    words = entropy.encode(symbols, counts)
    assert np.array_equal(entropy.decode(words, counts, 5), symbols)


def _tables(rng, k, stage, product=False):
    tables = rng.integers(1, 60, (k, k))
    tables[np.arange(k), np.arange(k)] = 2000  # contexts that predict well
    left = tables.T.copy() if stage < entropy.NEIGHBOUR_STAGES else None
    mix = entropy.product if product else entropy.average
    return entropy.Tables(rng.integers(1, 100, k), tables, left, mix)


@pytest.mark.parametrize("product", [False, True])
@pytest.mark.parametrize("stage", [0, 1, 2, 5])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 1), (13, 40), (300, 70)])
def test_context_coding_round_trips_and_reaches_its_ideal_rate(stage, shape, product):
    rng = np.random.default_rng(stage)
    k = 32
    t = _tables(rng, k, stage, product)
    previous = rng.integers(0, k, shape)
    symbols = np.where(rng.random(shape) < 0.7, previous, rng.integers(0, k, shape))
    words = entropy.encode_stage(symbols, stage, t, previous)
    back = entropy.decode_stage(words, stage, t, previous, shape)
    assert np.array_equal(back, symbols)
    ideal = entropy.position_bits(symbols, stage, t, previous).sum()
    assert ideal <= 32 * len(words) <= ideal * 1.01 + 64


def test_wavefronts_visit_every_position_after_its_neighbours():
    seen = np.full((5, 8), -1)
    for step, (r, c) in enumerate(entropy.wavefronts(5, 8)):
        assert np.all(np.diff(r) > 0)
        seen[r, c] = step
    assert seen.min() == 0
    assert np.all(seen[1:] > seen[:-1]) and np.all(seen[:, 1:] > seen[:, :-1])


def test_neighbour_weights_mix_above_and_left_in_integers():
    counts = np.array([1, 1, 1])
    above = np.array([[6, 2, 2], [1, 8, 1], [2, 2, 6]])
    left = np.array([[1, 1, 2], [3, 3, 4], [1, 1, 8]])
    t = entropy.Tables(counts, above, left)
    grid = np.array([[0, 2], [1, 0]])
    r, c = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    w = entropy.neighbour_weights(t, grid, np.ones((2, 2), dtype=bool), r, c)
    assert w.dtype == np.int64
    assert w[0].tolist() == [1, 1, 1]  # no neighbour: plain table
    assert w[1].tolist() == left[0].tolist()  # left only
    assert w[2].tolist() == above[0].tolist()  # above only
    mixed = above[2] * left[1].sum() + left[1] * above[2].sum()  # above = 2, left = 1
    assert w[3].tolist() == mixed.tolist()
    absent = np.array([[True, False], [True, True]])  # (0, 1) is not coded at this stage
    w = entropy.neighbour_weights(t, grid, absent, r[3:], c[3:])
    assert w[0].tolist() == left[1].tolist()  # the missing neighbour above is ignored


def test_product_weights_multiply_neighbours_over_the_plain_table():
    """Coder 3: (above * left << 8) // counts + 1 where both neighbours are known; the
    single-neighbour and first positions are coder 2's."""
    counts = np.array([2, 1, 4])
    above = np.array([[6, 2, 2], [1, 8, 1], [2, 2, 6]])
    left = np.array([[1, 1, 2], [3, 3, 4], [1, 1, 8]])
    t = entropy.Tables(counts, above, left, entropy.product)
    grid = np.array([[0, 2], [1, 0]])
    r, c = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    w = entropy.neighbour_weights(t, grid, np.ones((2, 2), dtype=bool), r, c)
    assert w[0].tolist() == [2, 1, 4]
    assert w[1].tolist() == left[0].tolist() and w[2].tolist() == above[0].tolist()
    assert w[3].tolist() == [2 * 3 * 256 // 2 + 1, 2 * 3 * 256 + 1, 6 * 4 * 256 // 4 + 1]


def test_product_agrees_more_sharply_than_average():
    """Where above and left both predict an index, the product gives it more probability
    than coder 2's average, so regions of repeated indices cost fewer bits."""
    k = 16
    blocks = np.random.default_rng(3).integers(0, k, (4, 4))
    symbols = np.kron(blocks, np.ones((6, 6), dtype=np.int64))  # 6x6 regions of one index
    tables = np.ones((k, k), dtype=np.int64) + 30 * np.eye(k, dtype=np.int64)
    counts = np.ones(k, dtype=np.int64)
    bits = [
        entropy.position_bits(symbols, 0, entropy.Tables(counts, tables, tables, mix), None).sum()
        for mix in (entropy.average, entropy.product)
    ]
    assert bits[1] < 0.7 * bits[0]


def test_product_fits_bounds_table_entries():
    small = np.ones((2, 4, 4), dtype=np.int64)
    assert entropy.product_fits(small, small)
    assert not entropy.product_fits(small * entropy.PRODUCT_MAX_COUNT, small)


def test_context_coding_uses_its_contexts():
    """Indices equal to their context cost far less than under the plain table."""
    k, shape = 64, (32, 32)
    counts = np.ones(k, dtype=np.int64)
    tables = np.ones((k, k), dtype=np.int64) + 5000 * np.eye(k, dtype=np.int64)
    previous = np.random.default_rng(0).integers(0, k, shape)
    words = entropy.encode_stage(previous, 3, entropy.Tables(counts, tables), previous)
    assert 32 * len(words) < 0.2 * entropy.ideal_bits(previous, counts)


def test_garbage_context_stream_gives_indices_or_format_error():
    k, shape = 16, (8, 8)
    ones = np.ones((k, k), dtype=np.int64)
    words = np.full(3, 0xFFFFFFFF, dtype=np.uint32)
    for stage, previous in ((0, None), (4, np.zeros(shape, dtype=np.int32))):
        t = entropy.Tables(np.ones(k, dtype=np.int64), ones, ones if stage == 0 else None)
        try:
            out = entropy.decode_stage(words, stage, t, previous, shape)
        except FormatError:
            continue
        assert out.shape == shape and 0 <= out.min() and out.max() < k
