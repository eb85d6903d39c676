"""Entropy coding of codebook indices with constriction's range coder.

One stream per stage over all tiles, with probabilities taken from the model's
integer count tables. Both sides build the coder's model the same way,
``Categorical(counts.astype(np.float64), perfect=False)``, so a file decodes to
the same indices on every machine (see ../shared/notes/constriction.md).

Coder 1 uses one table per stage. Coder 2 codes each index with weights built from
the model's context tables, all in integers so both sides get the same floats:

* the first ``NEIGHBOUR_STAGES`` stages, in anti-diagonal (wavefront) order, mix the
  row of the index above (``above[a]``) and the row of the index to the left
  (``left[l]``) as ``above[a] * sum(left[l]) + left[l] * sum(above[a])``: the average
  of the two conditional distributions, scaled to integers. A position with one
  neighbour uses that neighbour's row; the first position the plain table;
* later stages use the row of the previous stage's index at the same position, in
  row-major order.

Coder 3 is coder 2 with one change: where both neighbours are known it multiplies the
two conditional distributions and divides by the plain one (a product of experts,
``(above[a] * left[l] << PRODUCT_SHIFT) // counts + 1``), which is sharper than their
average when the neighbours agree: -8 % bits on stage 0 on held-out training photos.

The decoder needs each wavefront's neighbours before it, so it decodes one
wavefront per call; the encoder, which knows every index, codes them in chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import constriction
import numpy as np

from .errors import FormatError


def _model(counts: np.ndarray):
    return constriction.stream.model.Categorical(
        np.ascontiguousarray(counts, dtype=np.int64).astype(np.float64), perfect=False
    )


def encode(symbols: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Range-code ``symbols`` (values in 0..K-1) under ``counts`` ``[K]``; returns uint32 words."""
    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(np.ascontiguousarray(symbols.ravel(), dtype=np.int32), _model(counts))
    return enc.get_compressed()


def decode(words: np.ndarray, counts: np.ndarray, n: int) -> np.ndarray:
    """Decode ``n`` symbols from ``words``; raises :class:`FormatError` on invalid data."""
    try:
        dec = constriction.stream.queue.RangeDecoder(np.ascontiguousarray(words, dtype=np.uint32))
        out = dec.decode(_model(counts), n)
    except Exception as exc:  # constriction signals invalid data with AssertionError and others
        raise FormatError(f"entropy-coded stream is invalid ({exc!r})") from exc
    return np.asarray(out, dtype=np.int32)


NEIGHBOUR_STAGES = 2
CHUNK_SYMBOLS = 16384
KNOWN_CHUNK = 512  # symbols weighed at a time where every index is known: rows stay in cache
PRODUCT_SHIFT = 8  # fractional bits of coder 3's products
PRODUCT_MAX_COUNT = 1 << 22  # coder 3 needs neighbour table entries below this


def _family():
    return constriction.stream.model.Categorical(perfect=False)


def _floats(weights: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(weights, dtype=np.int64).astype(np.float64)


def wavefronts(rows: int, cols: int):
    """Positions ``(r, c)`` grouped by anti-diagonal ``r + c``, each with ``r`` ascending."""
    for d in range(rows + cols - 1):
        r = np.arange(max(0, d - cols + 1), min(rows, d + 1))
        yield r, d - r


def average(above: np.ndarray, left: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Coder 2's weights ``[n, K]`` where both neighbours are known: the average of the
    two conditional distributions, in integers."""
    return above * left.sum(1, keepdims=True) + left * above.sum(1, keepdims=True)


def product(above: np.ndarray, left: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Coder 3's weights ``[n, K]`` where both neighbours are known: their product over
    the plain table, in integers."""
    return ((above * left) << PRODUCT_SHIFT) // counts + 1


@dataclass(frozen=True)
class Tables:
    """Coder 2's or 3's integer tables for one stage."""

    counts: np.ndarray  # [K] plain table
    context: np.ndarray  # [K, K]: rows by the index above, or by the previous stage's index
    left: np.ndarray | None = None  # [K, K]: rows by the index to the left (first stages)
    mix: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] = average  # both known


def product_fits(context: np.ndarray, left: np.ndarray) -> bool:
    """Whether coder 3's products of these neighbour tables stay below 2^52, so every
    weight is exact as a float64."""
    return max(int(context.max()), int(left.max())) < PRODUCT_MAX_COUNT


def neighbour_weights(
    t: Tables, grid: np.ndarray, present: np.ndarray, r: np.ndarray, c: np.ndarray
) -> np.ndarray:
    """Integer weights ``[n, K]`` for positions ``(r, c)`` from their decoded neighbours;
    a neighbour counts only where ``present`` (bool, the grid's shape) is set."""
    n = len(r)
    out = np.empty((n, t.counts.shape[0]), dtype=np.int64)
    ra, cl = np.maximum(r - 1, 0), np.maximum(c - 1, 0)
    up, lf = (r > 0) & present[ra, c], (c > 0) & present[r, cl]
    above = t.context[grid[ra, c]]
    left = t.left[grid[r, cl]]
    both = up & lf
    out[both] = t.mix(above[both], left[both], t.counts)
    out[up & ~lf] = above[up & ~lf]
    out[~up & lf] = left[~up & lf]
    out[~up & ~lf] = t.counts
    return out


def _order(stage: int, present: np.ndarray):
    """Coding order of coders 2 and 3 over the ``present`` positions, as chunks ``(r, c)``."""
    if stage < NEIGHBOUR_STAGES:
        for r, c in wavefronts(*present.shape):
            keep = present[r, c]
            if keep.any():
                yield r[keep], c[keep]
        return
    r_all, c_all = np.nonzero(present)
    for i in range(0, len(r_all), CHUNK_SYMBOLS):
        yield r_all[i : i + CHUNK_SYMBOLS], c_all[i : i + CHUNK_SYMBOLS]


class _Weigher:
    """One stage's weights as float64 rows ``[n, K]`` (what constriction takes), equal to
    the integer weights of :func:`neighbour_weights` or the previous stage's rows cast to
    float64, computed faster: the tables are cast once per stage, not per row, and coder
    3's product is taken in float64, where it is exact (below).

    With every entry below ``PRODUCT_MAX_COUNT`` (2^22), ``above * left * 256`` is an
    integer below 2^52, exact in float64, and so is the quotient's floor: the true
    quotient ``x / c`` lies at least ``1 / c`` below the next integer ``n``, more than
    half a unit in the last place of ``n`` (``n * c < 2^53``), so rounding the division
    cannot reach ``n``.
    """

    def __init__(self, t: Tables, stage: int) -> None:
        self.t, self.stage = t, stage
        self.context = _floats(t.context)
        self.fast = stage >= NEIGHBOUR_STAGES or (
            t.mix is product and t.left is not None and product_fits(t.context, t.left)
        )
        if stage < NEIGHBOUR_STAGES and self.fast:
            self.left = _floats(t.left)
            self.left256 = self.left * float(1 << PRODUCT_SHIFT)
            self.counts = _floats(t.counts)

    def __call__(self, grid: np.ndarray, present: np.ndarray, previous, r, c) -> np.ndarray:
        if self.stage >= NEIGHBOUR_STAGES:
            return self.context[previous[r, c]]
        if not self.fast:
            return _floats(neighbour_weights(self.t, grid, present, r, c))
        ra, cl = np.maximum(r - 1, 0), np.maximum(c - 1, 0)
        up, lf = (r > 0) & present[ra, c], (c > 0) & present[r, cl]
        a, left = grid[ra, c], grid[r, cl]
        out = self.context[a]
        out *= self.left256[left]
        out /= self.counts
        np.floor(out, out=out)
        out += 1.0
        if not (up & lf).all():  # the few positions on the first row or column
            out[up & ~lf] = self.context[a[up & ~lf]]
            out[~up & lf] = self.left[left[~up & lf]]
            out[~up & ~lf] = self.counts
        return out


def _known_chunks(stage: int, present: np.ndarray):
    """The coding order in slices of ``KNOWN_CHUNK`` positions, for sides that know every
    index already (the encoder, the ideal rate): the wavefronts of :func:`_order` as one
    sort (by anti-diagonal, then row), and rows of weights small enough to stay in cache
    (kodim01's stage 0: 13 -> 5 ms; the words do not depend on the slicing)."""
    r_all, c_all = np.nonzero(present)
    if stage < NEIGHBOUR_STAGES:
        order = np.lexsort((r_all, r_all + c_all))
        r_all, c_all = r_all[order], c_all[order]
    for i in range(0, len(r_all), KNOWN_CHUNK):
        yield r_all[i : i + KNOWN_CHUNK], c_all[i : i + KNOWN_CHUNK]


def _everywhere(present: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    return np.ones(shape, dtype=bool) if present is None else np.asarray(present, dtype=bool)


def encode_stage(
    symbols: np.ndarray,
    stage: int,
    t: Tables,
    previous: np.ndarray | None,
    present: np.ndarray | None = None,
) -> np.ndarray:
    """Coders 2 and 3: range-code one stage's ``[rows, cols]`` indices at the ``present``
    positions (default: all); ``previous`` is the stage before's indices (unused for the
    first ``NEIGHBOUR_STAGES`` stages)."""
    enc = constriction.stream.queue.RangeEncoder()
    sym = np.ascontiguousarray(symbols, dtype=np.int32)
    mask = _everywhere(present, sym.shape)
    weigh = _Weigher(t, stage)
    for r, c in _known_chunks(stage, mask):
        enc.encode(np.ascontiguousarray(sym[r, c]), _family(), weigh(sym, mask, previous, r, c))
    return enc.get_compressed()


def decode_stage(
    words: np.ndarray,
    stage: int,
    t: Tables,
    previous: np.ndarray | None,
    shape: tuple[int, int],
    present: np.ndarray | None = None,
) -> np.ndarray:
    """Coders 2 and 3: the inverse of :func:`encode_stage` (absent positions read 0);
    :class:`FormatError` on invalid data."""
    out = np.zeros(shape, dtype=np.int32)
    mask = _everywhere(present, shape)
    try:
        dec = constriction.stream.queue.RangeDecoder(np.ascontiguousarray(words, dtype=np.uint32))
        weigh = _Weigher(t, stage)
        for r, c in _order(stage, mask):
            out[r, c] = dec.decode(_family(), weigh(out, mask, previous, r, c))
    except Exception as exc:  # constriction signals invalid data with AssertionError and others
        raise FormatError(f"entropy-coded stream is invalid ({exc!r})") from exc
    return out


def position_bits(
    symbols: np.ndarray,
    stage: int,
    t: Tables,
    previous: np.ndarray | None,
    present: np.ndarray | None = None,
    where: np.ndarray | None = None,
) -> np.ndarray:
    """Coder 2's or 3's ideal cost of each index, ``-log2 p(index | context)``, as float64
    ``[rows, cols]`` (0 where absent): what the encoder weighs when it chooses depths.
    ``where``, if given, limits the positions priced (0 elsewhere) without changing which
    indices count as known: each costs what it costs when every present one is priced.

    Each cost is the index's weight over its row's sum, the row as :class:`_Weigher`
    gives it to the range coder; a row's sum is taken once per context (previous index,
    or pair of neighbours), not once per position: the same floats, summed the same way.
    """
    sym = np.asarray(symbols)
    mask = _everywhere(present, sym.shape)
    out = np.zeros(sym.shape, dtype=np.float64)
    weigh = _Weigher(t, stage)
    priced = mask if where is None else mask & where
    r, c = np.nonzero(priced)
    if not len(r):
        return out
    k = sym[r, c]
    if stage >= NEIGHBOUR_STAGES:
        row = previous[r, c]
        out[r, c] = -np.log2(weigh.context[row, k] / weigh.context.sum(1)[row])
        return out
    if not weigh.fast:
        for r, c in _known_chunks(stage, mask):
            w = _floats(neighbour_weights(t, sym, mask, r, c))
            out[r, c] = -np.log2(w[np.arange(len(r)), sym[r, c]] / w.sum(1))
        return out if where is None else np.where(priced, out, 0.0)
    ra, cl = np.maximum(r - 1, 0), np.maximum(c - 1, 0)
    up, lf = (r > 0) & mask[ra, c], (c > 0) & mask[r, cl]
    a, left = sym[ra, c], sym[r, cl]
    weight = np.floor(weigh.context[a, k] * weigh.left256[left, k] / weigh.counts[k]) + 1.0
    total = np.empty(len(r))
    pairs, where = np.unique(a * len(weigh.counts) + left, return_inverse=True)
    sums = np.empty(len(pairs))
    for i in range(0, len(pairs), KNOWN_CHUNK):  # rows of the pairs present, a few at a time
        pa, pl = np.divmod(pairs[i : i + KNOWN_CHUNK], len(weigh.counts))
        rows = weigh.context[pa]
        rows *= weigh.left256[pl]
        rows /= weigh.counts
        np.floor(rows, out=rows)
        rows += 1.0
        sums[i : i + KNOWN_CHUNK] = rows.sum(1)
    total[:] = sums[where]
    for only, table, index in ((up & ~lf, weigh.context, a), (~up & lf, weigh.left, left)):
        weight[only] = table[index[only], k[only]]
        total[only] = table.sum(1)[index[only]]
    neither = ~up & ~lf
    weight[neither] = weigh.counts[k[neither]]
    total[neither] = weigh.counts.sum()
    out[r, c] = -np.log2(weight / total)
    return out


def code_bits(counts: np.ndarray) -> np.ndarray:
    """``-log2 p(k)`` for every symbol ``k`` of each table in ``counts`` ``[..., K]``
    (a plain table, a stack of them, or a context table's rows), as float64."""
    c = counts.astype(np.float64)
    return -np.log2(c / c.sum(-1, keepdims=True))


def ideal_bits(symbols: np.ndarray, counts: np.ndarray) -> float:
    """Sum of -log2 p(symbol) under ``counts``: the rate an ideal coder would reach."""
    return float(code_bits(counts)[symbols.ravel()].sum())
