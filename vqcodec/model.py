"""The VQ-VAE: a convolutional encoder, a residual vector quantizer, and a convolutional
decoder run over the whole latent grid (so tile borders leave no seams).

The encoder sees one 32x32 tile at a time (``tiled_encoder``, as in the shipped models) or
the whole image, so that latents at tile borders see their neighbours' pixels too; either
way each tile's latents are quantized on their own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .architecture import DOWNSAMPLE, LATENT_TILE, TILE, Layer, decoder_layers, encoder_layers
from .config import ModelConfig
from .quantizer import ResidualVQ

__all__ = ["VQVAE", "ModelConfig", "TILE", "DOWNSAMPLE", "LATENT_TILE", "encoder_reach"]


class GDN(nn.Module):
    """Simplified (inverse) generalized divisive normalization, Johnston et al. 2019:
    y = x / (beta + gamma |x|), or y = x * (beta + gamma |x|) when inverse."""

    def __init__(self, channels: int, inverse: bool = False) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(channels))
        eye = torch.zeros(channels, channels).fill_diagonal_(0.1)  # see ResidualVQ.__init__
        self.gamma = nn.Parameter(eye[:, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = F.conv2d(x.abs(), self.gamma.abs(), self.beta.abs() + 1e-6)
        return x * norm if self.inverse else x / norm


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


def encoder_reach(cfg: ModelConfig) -> int:
    """Pixels beyond its own 8x8 block that one encoder latent depends on: 16 for the
    three strided convolutions and the last 3x3, 16 more per residual block."""
    return 16 * (1 + cfg.enc_blocks)


def _module(layer: Layer) -> nn.Module:
    if layer.kind == "conv":
        return nn.Conv2d(layer.cin, layer.cout, layer.kernel, layer.stride, layer.padding)
    if layer.kind == "deconv":
        return nn.ConvTranspose2d(layer.cin, layer.cout, layer.kernel, layer.stride, layer.padding)
    if layer.kind in ("gdn", "igdn"):
        return GDN(layer.cin, inverse=layer.kind == "igdn")
    return ResBlock(layer.cin)


def make_encoder(cfg: ModelConfig) -> nn.Sequential:
    return nn.Sequential(*map(_module, encoder_layers(cfg)))


def make_decoder(cfg: ModelConfig) -> nn.Sequential:
    return nn.Sequential(*map(_module, decoder_layers(cfg)))


def to_tiles(x: torch.Tensor, tile: int) -> torch.Tensor:
    """``[B, C, H, W]`` -> ``[B * nH * nW, C, tile, tile]``, tiles in raster order."""
    b, c, h, w = x.shape
    t = x.reshape(b, c, h // tile, tile, w // tile, tile)
    return t.permute(0, 2, 4, 1, 3, 5).reshape(-1, c, tile, tile)


def from_tiles(t: torch.Tensor, batch: int, rows: int, cols: int) -> torch.Tensor:
    """Inverse of :func:`to_tiles`: ``[B * rows * cols, C, s, s]`` -> ``[B, C, rows*s, cols*s]``."""
    _, c, s, _ = t.shape
    x = t.reshape(batch, rows, cols, c, s, s).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(batch, c, rows * s, cols * s)


class VQVAE(nn.Module):
    """Encoder, residual VQ and decoder. Images are float tensors in [0, 1], ``[B, 3, H, W]``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = make_encoder(cfg)
        self.quantizer = ResidualVQ(cfg.stages, cfg.codebook_size, cfg.latent_dim)
        self.decoder = make_decoder(cfg)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent grid ``[B, D, H/8, W/8]``: each 32x32 tile encoded on its own, or the
        whole image at once if the encoder is not tiled."""
        if not self.cfg.tiled_encoder:
            return self.encoder(x - 0.5)
        b, _, h, w = x.shape
        z = self.encoder(to_tiles(x - 0.5, TILE))
        return from_tiles(z, b, h // TILE, w // TILE)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Image ``[B, 3, 8h, 8w]`` (unclamped) from a latent grid ``[B, D, h, w]``."""
        return self.decoder(z) + 0.5

    def indices(self, x: torch.Tensor, stages: int) -> torch.Tensor:
        """Codebook indices ``[B, stages, H/8, W/8]`` for images ``x``."""
        z = self.encode(x)
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        idx = self.quantizer.quantize(flat, stages)
        return idx.reshape(b, h, w, stages).permute(0, 3, 1, 2)

    def reconstruct(
        self, indices: torch.Tensor, levels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Image from indices ``[B, S, h, w]``, using the first S codebooks.

        ``levels`` ``[B, h, w]``, if given, is the number of stages used at each position.
        """
        b, s, h, w = indices.shape
        flat = indices.permute(0, 2, 3, 1).reshape(-1, s)
        per_row = None if levels is None else levels.reshape(-1)
        z = self.quantizer.dequantize(flat, per_row).reshape(b, h, w, -1).permute(0, 3, 1, 2)
        return self.decode(z)

    def forward(
        self,
        x: torch.Tensor,
        active: torch.Tensor,
        generator: torch.Generator,
        lam: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training pass with quantizer dropout.

        ``active`` is the number of levels used: ``[B]`` per example, or ``[B, h, w]``
        per latent position. ``lam`` ``[B]``, if given, is each example's rate weight
        for entropy-constrained code choice. Returns the reconstruction, the commitment
        loss ``mean ||z_e - sg[z_q]||^2`` and the indices ``[N, stages]`` (rows of latents).
        """
        z_e = self.encode(x)
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        per_row = active.repeat_interleave(h * w) if active.dim() == 1 else active.reshape(-1)
        lam_rows = lam.repeat_interleave(h * w) if lam is not None else None
        q, idx = self.quantizer(flat, per_row, generator, lam_rows)
        commitment = (flat - q).pow(2).mean()
        z_q = flat + (q - flat).detach()
        z_q = z_q.reshape(b, h, w, d).permute(0, 3, 1, 2)
        return self.decode(z_q), commitment, idx
