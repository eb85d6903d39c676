"""Pixels <-> codebook indices through the network, in strips of tile rows.

The encoder sees one 32x32 tile at a time, so strips of whole tile rows give
exactly the indices of the whole image. The decoder runs over the latent grid;
each strip is decoded with a halo of latent rows wide enough to cover the
decoder's receptive field, so strips join without seams.
"""

from __future__ import annotations

import numpy as np
import torch

from .model import DOWNSAMPLE, TILE, VQVAE

DECODER_HALO = 6  # latent rows; the decoder's receptive field is +-5
STRIP_LATENT_ROWS = 64  # 512 pixel rows per strip


def pad_to_tiles(rgb: np.ndarray) -> np.ndarray:
    """Pad ``[H, W, C]`` to multiples of the tile size by repeating the last row and column."""
    h, w = rgb.shape[:2]
    ph, pw = -h % TILE, -w % TILE
    if ph == 0 and pw == 0:
        return rgb
    return np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge")


@torch.inference_mode()
def encode_indices(
    net: VQVAE, rgb: np.ndarray, stages: int, device: torch.device | str = "cpu"
) -> np.ndarray:
    """Indices ``int32 [stages, Hp/8, Wp/8]`` of a uint8 ``[H, W, 3]`` image padded to tiles."""
    padded = pad_to_tiles(rgb)
    rows = []
    step = STRIP_LATENT_ROWS * DOWNSAMPLE
    for top in range(0, padded.shape[0], step):
        strip = torch.from_numpy(padded[top : top + step].copy())
        x = strip.to(device).permute(2, 0, 1)[None].float() / 255.0
        rows.append(net.indices(x, stages)[0].cpu())
    return torch.cat(rows, 1).numpy().astype(np.int32)


@torch.inference_mode()
def decode_indices(
    net: VQVAE, indices: np.ndarray, device: torch.device | str = "cpu"
) -> np.ndarray:
    """uint8 ``[8h, 8w, 3]`` image from indices ``[S, h, w]``, decoded in strips with a halo."""
    idx = torch.from_numpy(np.ascontiguousarray(indices, dtype=np.int64)).to(device)
    _, h, w = idx.shape
    out = np.empty((h * DOWNSAMPLE, w * DOWNSAMPLE, 3), dtype=np.uint8)
    for top in range(0, h, STRIP_LATENT_ROWS):
        bottom = min(top + STRIP_LATENT_ROWS, h)
        lo, hi = max(0, top - DECODER_HALO), min(h, bottom + DECODER_HALO)
        img = net.reconstruct(idx[None, :, lo:hi])[0]
        img = img[:, (top - lo) * DOWNSAMPLE : (bottom - lo) * DOWNSAMPLE]
        pixels = (img.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0)
        out[top * DOWNSAMPLE : bottom * DOWNSAMPLE] = pixels.cpu().numpy()
    return out
