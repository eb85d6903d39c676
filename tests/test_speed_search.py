"""The greedy code search of the lower efforts: each stage's nearest code, with the
latent error left after each stage."""

from __future__ import annotations

import numpy as np
import torch

from vqcodec import effort
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


def test_errors_around_a_first_choice_follow_latent_error_like_whole_image_passes():
    rng = np.random.default_rng(0)
    latent = np.sort(rng.random((6, 3, 4)), 0)[::-1] * 1e-3  # falls with depth
    measured = {2: rng.random((3, 4)) * 300, 5: rng.random((3, 4)) * 100}
    maps = np.stack([np.full((3, 4), d) for d in measured])
    around = effort.estimate_around(maps, np.stack(list(measured.values())), latent)
    assert np.allclose(around, effort.estimate_errors(measured, latent))
    # per position: depths 1 and 3 measured at one, 4 and 6 at another
    maps = np.array([[[1, 4]], [[3, 6]]])
    errors = np.array([[[90.0, 40.0]], [[50.0, 10.0]]])
    out = effort.estimate_around(maps, errors, latent[:, :1, :2])
    assert out[0, 0, 0] == 90 and out[2, 0, 0] == 50 and out[3, 0, 1] == 40 and out[5, 0, 1] == 10
    assert 50 <= out[1, 0, 0] <= 90 and 10 <= out[4, 0, 1] <= 40


def test_every_effort_below_the_highest_decodes_no_more_than_five_maps():
    for level in range(1, effort.HIGHEST):
        assert effort.effort(level).pass_count(12) <= 5
    assert effort.effort(effort.HIGHEST).pass_count(12) == 12
