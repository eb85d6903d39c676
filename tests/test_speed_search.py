"""The greedy code search of the lower efforts: each stage's nearest code, with the
latent error left after each stage."""

from __future__ import annotations

import torch

from vqcodec.quantizer import ResidualVQ
from vqcodec.transform import greedy_search


def test_greedy_search_is_the_quantizers_nearest_codes():
    torch.manual_seed(0)
    vq = ResidualVQ(4, 32, 8)
    z = torch.randn(300, 8) * 0.3
    found = greedy_search(vq.codebooks, 4, z)
    idx = found[:4].long()
    assert torch.equal(idx.T, vq.quantize(z, 4))
    for d in range(1, 5):
        rebuilt = vq.dequantize(idx[:d].T)
        assert torch.allclose(found[4 + d - 1], (z - rebuilt).pow(2).sum(1).double(), atol=1e-5)
