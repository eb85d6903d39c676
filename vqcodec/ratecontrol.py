"""Per-tile depth: how many residual stages each 32x32 tile sends.

Flat tiles are rendered well by a few stages, busy ones need all of them. At
quality ``q`` the encoder gives each tile the depth ``d`` that minimises

    SSE_d(tile) + mu_q * bits_d(tile)

where ``SSE_d`` is the tile's squared pixel error when the image is decoded with
``d`` stages and ``bits_d`` the cost of its first ``d`` stages under the entropy
coder. ``mu_q`` (squared 8-bit error per bit) falls geometrically with quality:
quality 1 sends one stage everywhere, the top quality every stage everywhere.
The ladder was fitted on training photographs (benchmarks/depth_ladder.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .model import LATENT_TILE, TILE, VQVAE
from .transform import decode_indices

MU_HIGH = 2000.0  # quality 2
MU_LOW = 12.0  # the quality below the top
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


def tile_bits(bits: np.ndarray) -> np.ndarray:
    """Per-position bits ``[S, rows, cols]`` -> bits of depths 1..S per tile ``[S, tr, tc]``."""
    s, rows, cols = bits.shape
    per_tile = bits.reshape(s, rows // LATENT_TILE, LATENT_TILE, cols // LATENT_TILE, LATENT_TILE)
    return np.cumsum(per_tile.sum((2, 4)), 0)


def choose_depths(
    net: VQVAE,
    rgb: np.ndarray,
    indices: np.ndarray,
    bits: np.ndarray,
    mu: float,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """uint8 ``[tile_rows, tile_cols]``: each tile's depth in 1..S minimising error + mu * bits.

    ``indices`` and ``bits`` are ``[S, rows, cols]``: every stage's indices and their cost.
    Decodes the image once per depth, so it costs S decoder passes.
    """
    stages = indices.shape[0]
    shape = (indices.shape[1] // LATENT_TILE, indices.shape[2] // LATENT_TILE)
    if math.isinf(mu):
        return np.ones(shape, dtype=np.uint8)
    if mu <= 0:
        return np.full(shape, stages, dtype=np.uint8)
    cost = mu * tile_bits(bits)
    for d in range(stages):
        cost[d] += tile_sse(decode_indices(net, indices[: d + 1], device), rgb)
    return (cost.argmin(0) + 1).astype(np.uint8)
