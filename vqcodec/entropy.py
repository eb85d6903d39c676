"""Entropy coding of codebook indices with constriction's range coder.

One stream per stage over all tiles, with probabilities taken from the model's
integer count tables. Both sides build the coder's model the same way,
``Categorical(counts.astype(np.float64), perfect=False)``, so a file decodes to
the same indices on every machine (see ../shared/notes/constriction.md).
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


def ideal_bits(symbols: np.ndarray, counts: np.ndarray) -> float:
    """Sum of -log2 p(symbol) under ``counts``: the rate an ideal coder would reach."""
    p = counts.astype(np.float64) / counts.sum()
    return float(-np.log2(p[symbols.ravel()]).sum())
