"""Depth: how many residual stages each 32x32 tile, or each latent position, sends.

Flat areas are rendered well by a few stages, busy ones need all of them. At
quality ``q`` the encoder gives each tile the depth ``d`` that minimises

    SSE_d(tile) + mu_q * bits_d(tile)

where ``SSE_d`` is the tile's squared pixel error when the image is decoded with
``d`` stages and ``bits_d`` the cost of those indices under the entropy coder. The
indices of each depth come from a beam search over the residual codebooks (best
``d``-stage path, the effort's beam width of paths kept, scored by latent error + ``beam_rate(mu)``
times the bits under the entropy coder's tables), which lowers the error of every
depth for the same bits. ``mu_q`` (squared 8-bit error per bit) falls with quality:
quality 1 sends one stage everywhere, the top quality every stage everywhere, and the
qualities between are spaced so that each step adds about the same fraction of bits
(``MU_LADDER``, calibrated on training photographs by benchmarks/quality_ladder.py).

:func:`position_choice` goes further: one depth per latent position (8x8
pixels), the same cost per position plus the bits of the range-coded depth map
(.vqc version 3), kept only where that beats the per-tile map.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from . import coders, container, depthcode, entropy, openvino_net
from .coders import Coder
from .decoding import resolve_precision
from .effort import DEFAULT, Effort, effort, estimate_around, estimate_errors
from .model import DOWNSAMPLE, LATENT_TILE, TILE, VQVAE
from .quantizer import narrow_beam
from .transform import Paths, decode_indices, network, search_paths

if TYPE_CHECKING:
    from .weights import Model

# mu of qualities 2..11 of a 12-stage model: on training photos 41-49 (quality_ladder.py)
# each step multiplies the rate by about 1.32, from 0.048 bpp at quality 1 to 1.03 at 12
MU_LADDER = (6150.0, 3510.0, 2250.0, 1430.0, 886.0, 501.0, 262.0, 123.0, 48.8, 13.5)
BEAM_MU_CAP = 2000.0  # the beam's rate weight stops growing here (tuned at this mu)
BEAM_RATE_PER_MU = 1e-5  # latent squared error per bit in the beam's score, per unit of mu
_BAND = 8 * TILE  # rows of pixels compared at a time, bounding memory


def quality_mu(quality: int, stages: int) -> float:
    """The Lagrange multiplier of ``quality`` (1..stages): inf at 1, 0 at ``stages``, and
    ``MU_LADDER`` between, stretched in log(mu) over models with other stage counts."""
    if quality >= stages:
        return 0.0
    if quality <= 1:
        return math.inf
    at = 0.0 if stages == 3 else (quality - 2) / (stages - 3) * (len(MU_LADDER) - 1)
    log_mu = np.interp(at, np.arange(len(MU_LADDER)), np.log(MU_LADDER))
    return float(np.exp(log_mu))


def beam_rate(mu: float) -> float:
    """The weight of bits in the beam search's score at multiplier ``mu``.

    The beam scores codes in latent squared error, about 1e5 times smaller than the
    pixel error they cause, so its rate weight is ``mu`` scaled down alike (capped at
    ``BEAM_MU_CAP``, quality 1 having an infinite ``mu``).
    """
    return BEAM_RATE_PER_MU * min(mu, BEAM_MU_CAP)


def block_sse(image: np.ndarray, rgb: np.ndarray, block: int = DOWNSAMPLE) -> np.ndarray:
    """Squared error per ``block`` x ``block`` square of a decoded padded ``image`` against
    the original ``rgb`` (``[H, W, 3]``), over the original's pixels only; ``block``
    divides the tile size (8: one value per latent position)."""
    h, w = rgb.shape[:2]
    rows, cols = -(-h // TILE) * (TILE // block), -(-w // TILE) * (TILE // block)
    out = np.empty((rows, cols), dtype=np.float64)
    for top in range(0, h, _BAND):
        a = rgb[top : top + _BAND]
        diff = image[top : top + len(a), :w].astype(np.int32) - a
        err = np.pad((diff * diff).sum(2, dtype=np.int64), ((0, -len(a) % TILE), (0, -w % TILE)))
        n = err.shape[0] // block
        out[top // block : top // block + n] = err.reshape(n, block, -1, block).sum((1, 3))
    return out


def tile_sse(image: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Squared error per tile ``[tile_rows, tile_cols]`` (see :func:`block_sse`)."""
    return block_sse(image, rgb, TILE)


def tile_sum(values: np.ndarray) -> np.ndarray:
    """Sum ``[..., rows, cols]`` latent-grid values over each tile -> ``[tile_rows, tile_cols]``."""
    rows, cols = values.shape[-2:]
    grid = values.reshape(-1, rows // LATENT_TILE, LATENT_TILE, cols // LATENT_TILE, LATENT_TILE)
    return grid.sum((0, 2, 4))


@dataclass(frozen=True)
class DepthCosts:
    """Per depth ``d`` in 1..S (axis 0) and latent position: the squared pixel error of
    its 8x8 block and the bits of its indices when the image sends ``paths[d - 1]``.

    Measuring them costs S decoder passes; :meth:`at` prices them at any ``mu``
    without another, so a search over ``mu`` (for a target rate) reuses them.
    """

    error: np.ndarray  # float64 [S, rows, cols]
    bits: np.ndarray  # float64 [S, rows, cols]

    def at(self, mu: float) -> np.ndarray:
        """float64 ``[S, rows, cols]``: error + mu * bits."""
        return mu * self.bits + self.error


@dataclass(frozen=True)
class RateModel:
    """What the encoder weighs and how: ``model``'s codebooks searched and its indices
    priced by ``coder``'s tables, at the Lagrange multiplier ``mu`` (squared 8-bit error
    per bit; ``inf``: one stage everywhere, 0: every stage), the network run on
    ``device`` with ``threads`` CPU threads, searching as hard as ``effort`` says (see
    :mod:`vqcodec.effort`; the default effort unless given). ``progress``, if given, wraps the
    loops over encoder blocks and decoder passes (called as ``progress(items, desc=...)``,
    like ``tqdm``'s constructor).

    The encoder's steps: :meth:`paths` (indices of every depth) -> :meth:`depths` (each
    position's depth) -> :func:`assemble`.
    """

    model: Model
    mu: float
    coder: Coder
    device: torch.device | str = "cpu"
    progress: Callable | None = None
    effort: Effort = effort(DEFAULT)
    threads: int = 1

    @property
    def stages(self) -> int:
        """The deepest depth searched: 1 when ``mu`` is infinite, else every stage."""
        return 1 if math.isinf(self.mu) else self.model.stages

    @property
    def uniform(self) -> bool:
        """Whether one depth is sent everywhere (``mu`` infinite or 0): no search."""
        return math.isinf(self.mu) or self.mu <= 0

    def search(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The code search: a beam over the codebooks, scored by latent error +
        :func:`beam_rate` times the bits under the model's tables (its previous-stage
        tables where it has them): at the highest effort ``ResidualVQ.beam_search``, as
        it always was, below it the cheaper :func:`~vqcodec.quantizer.narrow_beam`; None
        for the greedy search (each stage's nearest code,
        :class:`~vqcodec.transform.Greedy`)."""
        m, width, stages = self.model, self.effort.beam_width, self.stages
        if width == 1 and not self.effort.reference:
            return None
        bits = torch.from_numpy(entropy.code_bits(m.counts))
        context = None
        if m.context_counts is not None:
            context = torch.from_numpy(entropy.code_bits(m.context_counts))
        quantizer, first, rate = m.net.quantizer, entropy.NEIGHBOUR_STAGES, beam_rate(self.mu)
        if self.effort.reference:
            return lambda z: quantizer.beam_search(z, stages, width, rate, bits, context, first)
        books = quantizer.codebooks[:stages].detach().float()
        plain = rate * bits[:stages].float()
        priced = None if context is None else rate * context[:stages].float()
        return lambda z: narrow_beam(books, z, width, plain, priced, first)

    def net(self) -> VQVAE:
        """What runs the networks: torch at the highest effort (as the encoder always
        did), else OpenVINO where it can (see :func:`~vqcodec.transform.network`)."""
        net = self.model.net.to(self.device)
        if self.effort.reference:
            return net
        precision = resolve_precision(self.effort.precision, str(self.device))
        encoder = self.effort.encoder
        if encoder == "int8" and (precision == "bf16" or not openvino_net.native_int8()):
            encoder = None  # int8 measured faster than float32; against native bf16, not yet
        return network(net, self.device, self.threads, precision, encoder)

    def paths(self, rgb: np.ndarray) -> Paths:
        """For each depth ``d`` in 1..:attr:`stages`, the indices ``[d, rows, cols]`` an
        image ``[H, W, 3]`` sends at that depth (and their latent errors)."""
        doubt = None if self.effort.reference else self.effort.doubt
        net, search = self.net(), self.search()
        return search_paths(net, rgb, self.stages, search, self.device, self.progress, doubt)

    def bits(self, indices: np.ndarray) -> np.ndarray:
        """The ideal cost in bits ``[stages, rows, cols]`` of every index of ``indices``."""
        return coders.position_bits(self.coder, indices, self.model, workers=self.threads)

    def costs(self, rgb: np.ndarray, paths: Paths) -> DepthCosts:
        """Each depth's error and bits at every position: one decoder pass per depth, or
        at lower efforts a few, the other depths' errors estimated from their latent
        errors (:func:`~vqcodec.effort.estimate_errors`)."""
        net = self.net()
        measure = self.effort.depths(len(paths))
        if self.effort.reference:
            bits = np.stack([self.bits(idx).sum(0) for idx in paths])
        else:
            bits = self.shared_bits(paths)
        if self.effort.around:
            return self.costs_around(rgb, paths, bits)
        error = {}
        for d in self.progress(measure, desc="depths") if self.progress else measure:
            error[d] = block_sse(decode_indices(net, paths[d - 1], self.device), rgb)
        if len(error) < len(paths):
            return DepthCosts(estimate_errors(error, paths.latent_error), bits)
        return DepthCosts(np.stack([error[d] for d in range(1, len(paths) + 1)]), bits)

    def costs_around(self, rgb: np.ndarray, paths: Paths, bits: np.ndarray) -> DepthCosts:
        """Each depth's error and bits from decoder passes at depth maps around a first
        choice: the depths chosen from the latent errors alone, offset by each of the
        effort's ``around`` (clipped to 1..S). Each pass measures every position at a
        depth near the one it will get, beside neighbours near theirs, as in the file."""
        stages = len(paths)
        first = self.choose(DepthCosts(estimate_errors({}, paths.latent_error), bits))
        maps = np.stack(
            [np.clip(first.astype(np.int64) + o, 1, stages) for o in self.effort.around]
        )
        net, measured = self.net(), []
        passes = self.progress(maps, desc="depths") if self.progress else maps
        for depth in passes:
            image = decode_indices(net, assemble(paths, depth), self.device, depth)
            measured.append(block_sse(image, rgb))
        return DepthCosts(estimate_around(maps, np.stack(measured), paths.latent_error), bits)

    def shared_bits(self, paths: list[np.ndarray]) -> np.ndarray:
        """float64 ``[S, rows, cols]``: the bits of each depth's path, pricing only where it
        differs from the deepest path.

        Each stage's index is priced once on the deepest path; a shallower path reuses
        that price wherever its index and the one before equal the deepest path's, and
        prices its own index elsewhere. In the first stages, priced by the indices above
        and to the left too, a path prices its own where any of the three differ. The
        same bits as pricing every path, several times faster.
        """
        deepest = paths[-1]
        base = self.bits(deepest)  # [S, rows, cols]
        if isinstance(paths, Paths) and paths.nested:  # every path the deepest's first stages
            return np.cumsum(base, 0)  # the sums below, added in the same order
        m, out = self.model, np.empty((len(paths), *deepest.shape[1:]))
        for d, idx in enumerate(paths, 1):
            total = np.zeros(deepest.shape[1:])
            for s in range(d):
                differ = idx[s] != deepest[s]
                if s:
                    differ |= idx[s - 1] != deepest[s - 1]
                if not differ.any():
                    total += base[s]
                    continue
                present = differ
                if s < entropy.NEIGHBOUR_STAGES:  # priced by the indices above and left too
                    present = np.ones_like(differ)
                    differ[1:] |= differ[:-1].copy()
                    differ[:, 1:] |= differ[:, :-1].copy()
                total += np.where(differ, 0.0, base[s])
                prev = idx[s - 1] if s else None
                total += self.coder.bits(m, s, idx[s], prev, present, differ)
            out[d - 1] = total
        return out

    def depths(self, rgb: np.ndarray, paths: Paths, per_position: bool = True) -> np.ndarray:
        """uint8 ``[rows, cols]``: each latent position's depth (see :meth:`choose`)."""
        if self.uniform:
            depth = 1 if math.isinf(self.mu) else len(paths)
            return np.full(paths[0].shape[1:], depth, dtype=np.uint8)
        return self.choose(self.costs(rgb, paths), per_position)

    def choose(self, costs: DepthCosts, per_position: bool = True) -> np.ndarray:
        """uint8 ``[rows, cols]``: the depths that minimise error + mu * bits at this
        ``mu``, per tile (``per_position=False``) or per position, whichever costs less
        once the depth map's own bits are counted (see :func:`position_choice`)."""
        cost = costs.at(self.mu)
        if per_position:
            return position_choice(cost, self.mu)
        return container.tiles_to_grid(tile_choice(cost))


def tile_choice(cost: np.ndarray) -> np.ndarray:
    """uint8 ``[tile_rows, tile_cols]``: each tile's depth ``d`` in 1..S minimising the
    sum of ``cost`` ``[S, rows, cols]`` over its positions."""
    return (np.stack([tile_sum(c) for c in cost]).argmin(0) + 1).astype(np.uint8)


def position_choice(cost: np.ndarray, mu: float) -> np.ndarray:
    """uint8 ``[rows, cols]``: each latent position's depth under ``cost`` ``[S, rows,
    cols]`` (error + ``mu`` * bits), per tile or per position, whichever costs less once
    the depth map's own bits are counted.

    Per position, the depths start from the per-tile choice, are smoothed (each
    neighbour of another depth costs ``SMOOTH_BITS``), then refined against the
    map's code length under the image's own (above, left) depth statistics. The result
    is kept if error + mu * (index bits + map bits) beats the per-tile map (version 2,
    whose map is small) by that measure.
    """
    stages = len(cost)
    tiles = tile_choice(cost)
    tile_map = container.tiles_to_grid(tiles)
    positions = _refine(cost, mu, _smooth(cost, mu, tile_map))

    def total(depth: np.ndarray, side_bits: float) -> float:
        picked = np.take_along_axis(cost, depth[None].astype(np.int64) - 1, 0)
        return float(picked.sum()) + mu * side_bits

    tile_bits = container.TILE_DEPTHS.cost(tiles, stages)
    if total(positions, container.POSITION_DEPTHS.cost(positions, stages)) < total(
        tile_map, tile_bits
    ):
        return positions
    return tile_map


SMOOTH_BITS = 2.0  # price of a neighbour at another depth while smoothing, in bits
ROUNDS = 4  # passes of smoothing and of refinement


def _differing(depth: np.ndarray, stages: int) -> np.ndarray:
    """``[stages, rows, cols]``: for each candidate depth, how many 4-neighbours differ."""
    padded = np.pad(depth.astype(np.int64), 1, constant_values=-1)
    levels = np.arange(1, stages + 1)[:, None, None]
    count = np.zeros((stages, *depth.shape), dtype=np.uint8)
    for dr, dc in ((0, 1), (2, 1), (1, 0), (1, 2)):
        nb = padded[dr : dr + depth.shape[0], dc : dc + depth.shape[1]][None]
        count += (levels != nb) & (nb >= 0)
    return count


def _smooth(cost: np.ndarray, mu: float, start: np.ndarray) -> np.ndarray:
    """Iterated conditional modes on error + mu * (bits + SMOOTH_BITS per differing neighbour)."""
    depth = start
    for _ in range(ROUNDS):
        depth = (cost + mu * SMOOTH_BITS * _differing(depth, len(cost))).argmin(0) + 1
    return depth.astype(np.uint8)


def _refine(cost: np.ndarray, mu: float, start: np.ndarray) -> np.ndarray:
    """Rounds of choosing each position's depth by error + mu * (bits + the map's code
    length there), the code length taken from the map's own (above, left) statistics."""
    stages = len(cost)
    cap = depthcode.CONTEXT_CAP
    depth = start.astype(np.int64)
    for _ in range(ROUNDS):
        above = np.minimum(np.pad(depth, ((1, 0), (0, 0)))[:-1], cap - 1)
        left = np.minimum(np.pad(depth, ((0, 0), (1, 0)))[:, :-1], cap - 1)
        counts = np.full((cap, cap, stages + 1), 0.5)
        np.add.at(counts, (above, left, depth), 1)
        counts[:, :, 0] = 0  # depth 0 does not exist
        length = -np.log2(counts[:, :, 1:] / counts.sum(2, keepdims=True))  # [a, l, d - 1]
        total = np.empty_like(cost)
        for d in range(1, stages + 1):
            here = length[above, left, d - 1]
            right = np.zeros(depth.shape)
            below = np.zeros(depth.shape)
            right[:, :-1] = length[above[:, 1:], min(d, cap - 1), depth[:, 1:] - 1]
            below[:-1] = length[min(d, cap - 1), left[1:], depth[1:] - 1]
            total[d - 1] = cost[d - 1] + mu * (here + right + below)
        depth = total.argmin(0) + 1
    return depth.astype(np.uint8)


def assemble(paths: list[np.ndarray], depths: np.ndarray) -> np.ndarray:
    """int32 ``[max depth, rows, cols]``: each latent position's indices from the path of
    its depth ``depths`` ``[rows, cols]`` (zeros in the stages it does not use)."""
    stages = int(depths.max())
    out = np.zeros((stages, *depths.shape), dtype=np.int32)
    for d in np.unique(depths):
        at = depths == d
        out[:d, at] = paths[d - 1][:, at]
    return out
