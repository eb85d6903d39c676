"""The depth stream of .vqc version 3: how many stages each latent position uses.

Depths are range-coded in wavefront order (anti-diagonals, like the first stages of
coder 2) under adaptive integer counts indexed by the depths above and to the left
(0 where the grid ends, capped at ``CONTEXT_CAP - 1``): every count starts at 1, and
after each anti-diagonal the count of every (above, left, depth) it coded grows by
``INCREMENT``. Both sides update the same integers in the same order, so the floats
given to constriction match on every machine. Pure numpy and constriction: the
container parser uses it on untrusted bytes.
"""

from __future__ import annotations

import constriction
import numpy as np

from .entropy import wavefronts
from .errors import FormatError

CONTEXT_CAP = 16  # depths 15 and above share a context
INCREMENT = 4


def _contexts(depth: np.ndarray, r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    above = np.where(r > 0, depth[np.maximum(r - 1, 0), c], 0)
    left = np.where(c > 0, depth[r, np.maximum(c - 1, 0)], 0)
    return np.minimum(above, CONTEXT_CAP - 1), np.minimum(left, CONTEXT_CAP - 1)


def _family():
    return constriction.stream.model.Categorical(perfect=False)


def _known(depth: np.ndarray, stages: int):
    """Walk a known depth map in coding order: yields each anti-diagonal's weights
    ``[n, stages]`` and symbols, updating the counts after each."""
    depth = np.asarray(depth, dtype=np.int64)
    counts = np.ones((CONTEXT_CAP, CONTEXT_CAP, stages), dtype=np.int64)
    for r, c in wavefronts(*depth.shape):
        a, lf = _contexts(depth, r, c)
        symbols = depth[r, c] - 1
        yield counts[a, lf], symbols
        np.add.at(counts, (a, lf, symbols), INCREMENT)


def encode(depth: np.ndarray, stages: int) -> np.ndarray:
    """Range-code a ``[rows, cols]`` map of depths in 1..``stages`` (at least 2: with one
    stage there is nothing to say); returns uint32 words."""
    if stages < 2:
        raise ValueError("a depth stream needs at least 2 stages")
    enc = constriction.stream.queue.RangeEncoder()
    for weights, symbols in _known(depth, stages):
        enc.encode(symbols.astype(np.int32), _family(), weights.astype(np.float64))
    return enc.get_compressed()


def decode(words: np.ndarray, shape: tuple[int, int], stages: int) -> np.ndarray:
    """The inverse of :func:`encode`: uint8 ``[rows, cols]`` depths in 1..``stages``;
    :class:`FormatError` if constriction rejects the stream."""
    if stages < 2:
        raise FormatError("a depth stream needs at least 2 stages")
    depth = np.zeros(shape, dtype=np.int64)
    counts = np.ones((CONTEXT_CAP, CONTEXT_CAP, stages), dtype=np.int64)
    try:
        dec = constriction.stream.queue.RangeDecoder(np.ascontiguousarray(words, dtype=np.uint32))
        for r, c in wavefronts(*shape):
            a, lf = _contexts(depth, r, c)
            symbols = np.asarray(dec.decode(_family(), counts[a, lf].astype(np.float64)))
            depth[r, c] = symbols + 1
            np.add.at(counts, (a, lf, symbols), INCREMENT)
    except Exception as exc:  # constriction signals invalid data with AssertionError and others
        raise FormatError(f"depth stream is invalid ({exc!r})") from exc
    return depth.astype(np.uint8)


def bits(depth: np.ndarray, stages: int) -> float:
    """The ideal code length of a depth map, in bits (what :func:`encode` spends, within
    the range coder's overhead)."""
    total = 0.0
    for w, symbols in _known(depth, stages):
        total -= np.log2(w[np.arange(len(symbols)), symbols] / w.sum(1)).sum()
    return float(total)
