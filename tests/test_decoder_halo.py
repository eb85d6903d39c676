"""Decoding in blocks is exact only with a halo of at least ``2 + 2 * dec_blocks`` latent
positions (formats/VQC.md, "Blocks"): one for the first 3x3 convolution, two per
residual block, one for the three transposed convolutions together."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors import safe_open

from vqcodec import decoding, registry, transform
from vqcodec.config import ModelConfig
from vqcodec.model import VQVAE


def reach(cfg: ModelConfig) -> int:
    return 2 + 2 * cfg.dec_blocks


@pytest.mark.parametrize("name", registry.shipped())
def test_the_halo_covers_every_shipped_decoder(name):
    with safe_open(str(registry.MODELS_DIR / f"{name}.safetensors"), "numpy") as f:
        cfg = ModelConfig.from_json(f.metadata()["config"])
    assert transform.decoder_halo(cfg) == decoding.DECODER_HALO >= reach(cfg)


@pytest.mark.parametrize("dec_blocks", [0, 1, 2])
def test_blocks_join_exactly_with_a_halo_of_the_reach(dec_blocks, monkeypatch):
    torch.manual_seed(0)
    cfg = ModelConfig(
        channels=(4, 4, 6), latent_dim=4, stages=2, codebook_size=8, dec_blocks=dec_blocks
    )
    net = VQVAE(cfg).eval()
    idx = np.random.default_rng(0).integers(0, 8, (2, 13, 17))
    whole = transform.decode_indices(net, idx)
    monkeypatch.setattr(decoding, "DECODE_BLOCK", (4, 5))
    monkeypatch.setattr(decoding, "DECODER_HALO", reach(cfg))
    np.testing.assert_array_equal(transform.decode_indices(net, idx), whole)
    with torch.no_grad():  # and one position less is not enough
        full = net.reconstruct(torch.from_numpy(idx)[None])[0]
        cut = net.reconstruct(torch.from_numpy(idx[:, : 4 + reach(cfg) - 1])[None])[0]
    assert not torch.equal(cut[:, : 4 * 8], full[:, : 4 * 8])


@pytest.mark.parametrize("dec_blocks", [3, 4])
def test_deeper_decoders_get_the_halo_they_need(dec_blocks, monkeypatch):
    """A model trained with more residual blocks than the shipped ones (vqcodec train
    --dec-blocks 4) still decodes without seams: the halo grows with the decoder."""
    torch.manual_seed(0)
    cfg = ModelConfig(
        channels=(4, 4, 6), latent_dim=4, stages=2, codebook_size=8, dec_blocks=dec_blocks
    )
    assert transform.decoder_halo(cfg) == reach(cfg) > decoding.DECODER_HALO
    net = VQVAE(cfg).eval()
    idx = np.random.default_rng(1).integers(0, 8, (2, 23, 27))
    whole = transform.decode_indices(net, idx)
    monkeypatch.setattr(decoding, "DECODE_BLOCK", (4, 5))
    np.testing.assert_array_equal(transform.decode_indices(net, idx), whole)
