"""Per-tile depth: how many residual stages each 32x32 tile sends.

Flat tiles are rendered well by a few stages, busy ones need all of them. At
quality ``q`` the encoder gives each tile the depth ``d`` that minimises

    SSE_d(tile) + mu_q * bits_d(tile)

where ``SSE_d`` is the tile's squared pixel error when the image is decoded with
``d`` stages and ``bits_d`` the cost of those indices under the entropy coder. The
indices of each depth come from a beam search over the residual codebooks (best
``d``-stage path, ``BEAM_WIDTH`` paths kept, scored by latent error + ``beam_rate(mu)``
times the bits under the entropy coder's tables), which lowers the error of every
depth for the same bits. ``mu_q`` (squared 8-bit error per bit) falls geometrically
with quality: quality 1 sends one stage everywhere, the top quality every stage
everywhere. The ladder was fitted on training photographs (benchmarks/depth_ladder.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .model import LATENT_TILE, TILE, VQVAE
from .transform import decode_indices

MU_HIGH = 2000.0  # quality 2
MU_LOW = 12.0  # the quality below the top
BEAM_WIDTH = 8
BEAM_RATE_PER_MU = 1e-5  # latent squared error per bit in the beam's score, per unit of mu
_BAND = 8 * TILE  # rows of pixels compared at a time, bounding memory


def quality_mu(quality: int, stages: int) -> float:
    """The Lagrange multiplier of ``quality`` (1..stages): inf at 1, 0 at ``stages``."""
    if quality >= stages:
        return 0.0
    if quality <= 1:
        return math.inf
    if stages == 3:
        return MU_HIGH
    return MU_HIGH * (MU_LOW / MU_HIGH) ** ((quality - 2) / (stages - 3))


def beam_rate(mu: float) -> float:
    """The weight of bits in the beam search's score at multiplier ``mu``.

    The beam scores codes in latent squared error, about 1e5 times smaller than the
    pixel error they cause, so its rate weight is ``mu`` scaled down alike (capped at
    ``MU_HIGH``, quality 1 having an infinite ``mu``).
    """
    return BEAM_RATE_PER_MU * min(mu, MU_HIGH)


def tile_sse(image: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Squared error per tile ``[tile_rows, tile_cols]`` of a decoded padded ``image``
    against the original ``rgb`` (``[H, W, 3]``), over the original's pixels only."""
    h, w = rgb.shape[:2]
    out = np.empty((-(-h // TILE), -(-w // TILE)), dtype=np.float64)
    for top in range(0, h, _BAND):
        a = rgb[top : top + _BAND]
        diff = image[top : top + len(a), :w].astype(np.int32) - a
        err = np.pad((diff * diff).sum(2, dtype=np.int64), ((0, -len(a) % TILE), (0, -w % TILE)))
        rows = err.shape[0] // TILE
        out[top // TILE : top // TILE + rows] = err.reshape(rows, TILE, -1, TILE).sum((1, 3))
    return out


def tile_sum(values: np.ndarray) -> np.ndarray:
    """Sum ``[..., rows, cols]`` latent-grid values over each tile -> ``[tile_rows, tile_cols]``."""
    rows, cols = values.shape[-2:]
    grid = values.reshape(-1, rows // LATENT_TILE, LATENT_TILE, cols // LATENT_TILE, LATENT_TILE)
    return grid.sum((0, 2, 4))


def choose_depths(
    net: VQVAE,
    rgb: np.ndarray,
    paths: list[np.ndarray],
    bits: Callable[[np.ndarray], np.ndarray],
    mu: float,
    device: torch.device | str = "cpu",
    progress: Callable | None = None,
) -> np.ndarray:
    """uint8 ``[tile_rows, tile_cols]``: each tile's depth ``d`` in 1..S minimising its
    error + mu * bits when it sends ``paths[d - 1]``.

    ``paths[d - 1]`` is ``[d, rows, cols]``, the indices to send at depth ``d``;
    ``bits(indices)`` prices every index of such an array. Decodes the image once per
    depth, so it costs S decoder passes; ``progress``, if given, wraps their loop
    (for example ``tqdm``'s constructor).
    """
    stages = len(paths)
    rows, cols = paths[0].shape[1:]
    shape = (rows // LATENT_TILE, cols // LATENT_TILE)
    if math.isinf(mu):
        return np.ones(shape, dtype=np.uint8)
    if mu <= 0:
        return np.full(shape, stages, dtype=np.uint8)
    cost = np.empty((stages, *shape))
    for d, idx in enumerate(progress(paths) if progress else paths):
        cost[d] = mu * tile_sum(bits(idx)) + tile_sse(decode_indices(net, idx, device), rgb)
    return (cost.argmin(0) + 1).astype(np.uint8)


def grid_depths(depths: np.ndarray) -> np.ndarray:
    """Tile depths ``[tile_rows, tile_cols]`` -> the depth of every latent position."""
    return np.repeat(np.repeat(depths, LATENT_TILE, 0), LATENT_TILE, 1)


def assemble(paths: list[np.ndarray], depths: np.ndarray) -> np.ndarray:
    """int32 ``[max depth, rows, cols]``: each tile's indices from the path of its depth
    (zeros in the stages a tile does not use)."""
    stages = int(depths.max())
    grid = grid_depths(depths)
    out = np.zeros((stages, *grid.shape), dtype=np.int32)
    for d in np.unique(depths):
        at = grid == d
        out[:d, at] = paths[d - 1][:, at]
    return out
