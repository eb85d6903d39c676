"""Entropy coding of codebook indices with constriction's range coder.

One stream per stage over all tiles, with probabilities taken from the model's
integer count tables. Both sides build the coder's model the same way,
``Categorical(counts.astype(np.float64), perfect=False)``, so a file decodes to
the same indices on every machine (see ../shared/notes/constriction.md).

Coder 1 uses one table per stage. Coder 2 picks, for every index, a row of the
model's context tables ``[S, K, K]``: the index of the position above (same stage)
for the first ``ABOVE_STAGES`` stages, whose first row uses the stage's plain
table; the previous stage's index at the same position for later stages.
"""

from __future__ import annotations

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


ABOVE_STAGES = 2
CHUNK_SYMBOLS = 16384


def _family():
    return constriction.stream.model.Categorical(perfect=False)


def _rows(tables: np.ndarray, ctx: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(tables[ctx.ravel()], dtype=np.int64).astype(np.float64)


def _chunks(rows: int, cols: int):
    """Row ranges of at most ``CHUNK_SYMBOLS`` symbols (at least one row), bounding memory."""
    step = max(1, CHUNK_SYMBOLS // cols)
    return ((r, min(r + step, rows)) for r in range(0, rows, step))


def _contexts(symbols: np.ndarray, stage: int, previous: np.ndarray | None) -> np.ndarray:
    """Context of every position from row 1 (above) or row 0 (previous stage) onward."""
    return symbols[:-1] if stage < ABOVE_STAGES else previous


def encode_stage(
    symbols: np.ndarray,
    stage: int,
    counts: np.ndarray,
    tables: np.ndarray,
    previous: np.ndarray | None,
) -> np.ndarray:
    """Coder 2: range-code one stage's ``[rows, cols]`` indices; ``previous`` is the stage
    before's indices (unused for the first ``ABOVE_STAGES`` stages)."""
    enc = constriction.stream.queue.RangeEncoder()
    sym = np.ascontiguousarray(symbols, dtype=np.int32)
    ctx = _contexts(sym, stage, previous)
    first = 1 if stage < ABOVE_STAGES else 0
    if first:
        enc.encode(sym[0], _model(counts))
    rows, cols = sym.shape
    for r0, r1 in _chunks(rows - first, cols):
        enc.encode(sym[first + r0 : first + r1].ravel(), _family(), _rows(tables, ctx[r0:r1]))
    return enc.get_compressed()


def decode_stage(
    words: np.ndarray,
    stage: int,
    counts: np.ndarray,
    tables: np.ndarray,
    previous: np.ndarray | None,
    shape: tuple[int, int],
) -> np.ndarray:
    """Coder 2: the inverse of :func:`encode_stage`; :class:`FormatError` on invalid data."""
    rows, cols = shape
    out = np.empty((rows, cols), dtype=np.int32)
    try:
        dec = constriction.stream.queue.RangeDecoder(np.ascontiguousarray(words, dtype=np.uint32))
        if stage < ABOVE_STAGES:
            out[0] = dec.decode(_model(counts), cols)
            for r in range(1, rows):
                out[r] = dec.decode(_family(), _rows(tables, out[r - 1]))
        else:
            for r0, r1 in _chunks(rows, cols):
                got = dec.decode(_family(), _rows(tables, previous[r0:r1]))
                out[r0:r1] = np.asarray(got).reshape(r1 - r0, cols)
    except Exception as exc:  # constriction signals invalid data with AssertionError and others
        raise FormatError(f"entropy-coded stream is invalid ({exc!r})") from exc
    return out


def ideal_bits(symbols: np.ndarray, counts: np.ndarray) -> float:
    """Sum of -log2 p(symbol) under ``counts``: the rate an ideal coder would reach."""
    p = counts.astype(np.float64) / counts.sum()
    return float(-np.log2(p[symbols.ravel()]).sum())


def ideal_bits_stage(
    symbols: np.ndarray,
    stage: int,
    counts: np.ndarray,
    tables: np.ndarray,
    previous: np.ndarray | None,
) -> float:
    """Coder 2's ideal rate for one stage: sum of -log2 p(index | context)."""
    sym = np.asarray(symbols)
    first = 1 if stage < ABOVE_STAGES else 0
    bits = ideal_bits(sym[0], counts) if first else 0.0
    ctx = _contexts(sym, stage, previous)
    for r0, r1 in _chunks(sym.shape[0] - first, sym.shape[1]):
        rows = tables[ctx[r0:r1].ravel()].astype(np.float64)
        p = rows[np.arange(len(rows)), sym[first + r0 : first + r1].ravel()] / rows.sum(1)
        bits -= float(np.log2(p).sum())
    return bits
