"""The entropy coders of .vqc streams, one entry per coder id.

Each coder encodes, decodes and prices one stage of codebook indices under a model's
integer tables (the arithmetic is in :mod:`vqcodec.entropy`); the functions at the end
run a coder over every stage. A new coder is one class here, one entry in ``CODERS``
and its vectors in formats/vectors. Pure numpy and constriction, like the parser that
checks a file's coder id against ``CODERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from . import entropy
from .errors import FormatError

if TYPE_CHECKING:
    from .weights import Model


class Coder:
    """One entropy coder: how a stage's indices become 32-bit words and back."""

    id: int
    name: str

    def refusal(self, model: Model) -> str | None:
        """Why ``model`` cannot code with this coder, or None if it can."""
        return None

    def encode(
        self, model: Model, stage: int, symbols: np.ndarray, previous, present: np.ndarray
    ) -> np.ndarray:
        """uint32 words for ``symbols`` ``[rows, cols]`` at the ``present`` positions;
        ``previous`` is the stage before's indices (None at stage 0)."""
        raise NotImplementedError

    def decode(
        self, model: Model, stage: int, words: np.ndarray, previous, present: np.ndarray
    ) -> np.ndarray:
        """The inverse of :meth:`encode`: int32 ``[rows, cols]``, 0 where not present."""
        raise NotImplementedError

    def bits(
        self,
        model: Model,
        stage: int,
        symbols: np.ndarray,
        previous,
        present: np.ndarray,
        where: np.ndarray | None = None,
    ) -> np.ndarray:
        """float64 ``[rows, cols]``: each present index's ideal cost in bits, 0 elsewhere
        (and outside ``where``, if given: only those priced, with every present index
        known as context)."""
        raise NotImplementedError

    def least_bits(self, model: Model, stage: int) -> float:
        """The fewest bits any one index of ``stage`` can cost under ``model``'s tables."""
        raise NotImplementedError

    def quick_bits(self, model: Model, stage: int) -> float:
        """A cheap upper bound of :meth:`least_bits` (see :func:`check_room`)."""
        return self.least_bits(model, stage)


class Plain(Coder):
    """Coder 1: one table per stage, the present indices in row-major order."""

    id, name = 1, "range"

    def encode(self, model, stage, symbols, previous, present):
        return entropy.encode(symbols[present], model.counts[stage])

    def decode(self, model, stage, words, previous, present):
        out = np.zeros(present.shape, dtype=np.int32)
        out[present] = entropy.decode(words, model.counts[stage], int(present.sum()))
        return out

    def bits(self, model, stage, symbols, previous, present, where=None):
        priced = present if where is None else present & where
        return entropy.code_bits(model.counts)[stage][symbols] * priced

    def least_bits(self, model, stage):
        return least_bits(model.counts[stage])


class Context(Coder):
    """Coder 2: the first stages in wavefront order under the average of the tables of
    the indices above and to the left, later stages under the previous stage's index."""

    id, name = 2, "context-average"
    mix: Callable = staticmethod(entropy.average)

    def refusal(self, model):
        if model.context_counts is None:
            return f"file uses context coding but model {model.name} has no context tables"
        return None

    def tables(self, model: Model, stage: int) -> entropy.Tables:
        left = model.left_counts[stage] if stage < entropy.NEIGHBOUR_STAGES else None
        return entropy.Tables(model.counts[stage], model.context_counts[stage], left, self.mix)

    def encode(self, model, stage, symbols, previous, present):
        return entropy.encode_stage(symbols, stage, self.tables(model, stage), previous, present)

    def decode(self, model, stage, words, previous, present):
        t = self.tables(model, stage)
        return entropy.decode_stage(words, stage, t, previous, present.shape, present)

    def bits(self, model, stage, symbols, previous, present, where=None):
        t = self.tables(model, stage)
        return entropy.position_bits(symbols, stage, t, previous, present, where)

    def least_bits(self, model, stage):
        if stage >= entropy.NEIGHBOUR_STAGES:
            return least_bits(model.context_counts[stage])
        # no neighbour, above only, left only; an average is never sharper than its parts
        tables = (model.counts[stage], model.context_counts[stage], model.left_counts[stage])
        return min(least_bits(t) for t in tables)


class Product(Context):
    """Coder 3: coder 2 with the two neighbours' tables multiplied (over the plain table)
    instead of averaged; needs tables small enough for exact float64 products."""

    id, name = 3, "context-product"
    mix = staticmethod(entropy.product)

    def refusal(self, model):
        reason = super().refusal(model)
        neighbours = None if reason else model.context_counts[: entropy.NEIGHBOUR_STAGES]
        if reason is None and not entropy.product_fits(neighbours, model.left_counts):
            reason = f"model {model.name}'s tables are too large for entropy coder 3"
        return reason

    def quick_bits(self, model, stage):
        return super().least_bits(model, stage)  # the product is one more way to code

    def least_bits(self, model, stage):
        single = super().least_bits(model, stage)
        if stage >= entropy.NEIGHBOUR_STAGES:
            return single
        tables = (model.counts[stage], model.context_counts[stage], model.left_counts[stage])
        key = (stage, *map(id, tables))
        if key not in self._products:  # every (above, left) pair: K^3 products, so cached
            self._products[key] = (tables, _least_product_bits(*tables))
        return min(single, self._products[key][1])

    _products: dict = {}  # (stage, ids of the tables) -> (the tables, kept alive; bits)


def least_bits(weights: np.ndarray) -> float:
    """The fewest bits a symbol can cost under any row of integer ``weights`` ``[..., K]``
    once constriction has quantised the row to 24 bits (a probability grows by less than
    ``2K / 2^24`` there, every symbol keeping at least ``1 / 2^24``)."""
    w = np.asarray(weights, dtype=np.float64)
    sharpest = float((w.max(-1) / w.sum(-1)).max())
    return float(-np.log2(min(1.0, sharpest + 2 * w.shape[-1] * 2.0**-24)))


def _least_product_bits(counts: np.ndarray, context: np.ndarray, left: np.ndarray) -> float:
    """:func:`least_bits` of coder 3's product weights over every (above, left) pair."""
    sharpest = 0.0
    for a in range(0, len(context), 16):
        w = entropy.product(context[a : a + 16, None, :], left[None, :, :], counts)
        sharpest = max(sharpest, float((w.max(-1) / w.sum(-1)).max()))  # sums below 2^60
    return float(-np.log2(min(1.0, sharpest + 2 * counts.shape[-1] * 2.0**-24)))


CODERS: dict[int, Coder] = {c.id: c for c in (Plain(), Context(), Product())}
PREFERENCE = (3, 2, 1)  # what new files use: the first coder the model can use


def get(coder_id: int) -> Coder:
    """The coder of id ``coder_id``; :class:`FormatError` for an unknown one."""
    if coder_id not in CODERS:
        raise FormatError(f"unknown entropy coder {coder_id}")
    return CODERS[coder_id]


def for_model(model: Model) -> Coder:
    """The coder of new files: the first of ``PREFERENCE`` that ``model`` can use."""
    return next(CODERS[i] for i in PREFERENCE if CODERS[i].refusal(model) is None)


def _masks(indices: np.ndarray, present: list[np.ndarray] | None) -> list[np.ndarray]:
    if present is None:
        return [np.ones(indices.shape[1:], dtype=bool)] * len(indices)
    return [np.asarray(m, dtype=bool) for m in present]


def encode_streams(
    coder: Coder,
    indices: np.ndarray,
    model: Model,
    present: list[np.ndarray] | None = None,
    workers: int = 1,
) -> tuple[np.ndarray, ...]:
    """Each stage of ``indices`` ``[stages, rows, cols]`` coded at its ``present``
    positions (default: all), the stages spread over ``workers`` threads (each stage's
    stream is its own: the same words whatever the count)."""
    masks = _masks(indices, present)

    def one(s: int) -> np.ndarray:
        return coder.encode(model, s, indices[s], indices[s - 1] if s else None, masks[s])

    if workers <= 1:
        return tuple(map(one, range(len(indices))))
    with ThreadPoolExecutor(workers) as pool:
        return tuple(pool.map(one, range(len(indices))))


def decode_streams(coder: Coder, streams, model: Model, present: list[np.ndarray]) -> np.ndarray:
    """int32 ``[stages, rows, cols]`` from each stage's words, 0 where not ``present``."""
    out = np.zeros((len(present), *present[0].shape), dtype=np.int32)
    for s, (words, m) in enumerate(zip(streams, present, strict=True)):
        out[s] = coder.decode(model, s, words, out[s - 1] if s else None, m)
    return out


def position_bits(
    coder: Coder,
    indices: np.ndarray,
    model: Model,
    present: list[np.ndarray] | None = None,
    workers: int = 1,
) -> np.ndarray:
    """float64 ``[stages, rows, cols]``: the ideal cost in bits of every index at the
    ``present`` positions (default: all; 0 elsewhere), the rate the encoder weighs; the
    stages priced on ``workers`` threads (numpy's sorts and gathers let go of the GIL)."""
    masks = _masks(indices, present)

    def one(s: int) -> np.ndarray:
        return coder.bits(model, s, indices[s], indices[s - 1] if s else None, masks[s])

    if workers <= 1:
        return np.stack(list(map(one, range(len(indices)))))
    with ThreadPoolExecutor(workers) as pool:
        return np.stack(list(pool.map(one, range(len(indices)))))


SLACK_WORDS = 2  # words a range coder's flush may save below the information it carries


def check_room(coder: Coder, model: Model, symbols, streams) -> None:
    """Refuse, before decoding, a stream whose words cannot hold its symbol count: each
    symbol costs at least :meth:`Coder.least_bits`, so ``symbols * least_bits`` must fit
    in ``32 * (words + SLACK_WORDS)`` bits. A hostile file cannot then make the decoder
    work through millions of symbols from a few bytes."""
    for s, (n, words) in enumerate(zip(symbols, streams, strict=True)):
        room = 32 * (len(words) + SLACK_WORDS)
        if n * coder.quick_bits(model, s) <= room:
            continue
        least = coder.least_bits(model, s)
        if n * least > room:
            raise FormatError(
                f"stream {s} claims {n} symbols, but {len(words)} words hold at most "
                f"{int(room / least)} under the tables of model {model.name}"
            )
