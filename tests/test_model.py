"""The VQ-VAE objective and quantizer: the bugs listed in the training notes must not exist."""

from __future__ import annotations

import torch

from vqcodec.model import VQVAE, ModelConfig, encoder_reach, from_tiles, to_tiles
from vqcodec.quantizer import ResidualVQ

TINY = ModelConfig(channels=(8, 8, 8), latent_dim=4, stages=3, codebook_size=16)


def test_tiles_round_trip_in_raster_order():
    x = torch.arange(2 * 3 * 64 * 96, dtype=torch.float32).reshape(2, 3, 64, 96)
    t = to_tiles(x, 32)
    assert t.shape == (2 * 2 * 3, 3, 32, 32)
    assert torch.equal(t[1], x[0, :, 0:32, 32:64])
    assert torch.equal(from_tiles(t, 2, 2, 3), x)


def test_commitment_trains_the_encoder_only():
    torch.manual_seed(0)
    net = VQVAE(TINY)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64)
    _, commitment, _ = net(x, torch.tensor([3, 3]), gen)
    assert commitment > 0
    commitment.backward()
    assert net.encoder[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.decoder.parameters())


def test_decoder_sees_exactly_the_codes_and_encoder_gets_reconstruction_gradient():
    torch.manual_seed(0)
    net = VQVAE(TINY)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 32, 32)
    seen = {}
    net.decoder.register_forward_hook(lambda m, inp, out: seen.update(z=inp[0]))
    x_hat, _, idx = net(x, torch.tensor([2]), gen)
    codes = net.quantizer.codebooks
    expected = codes[0][idx[:, 0]] + codes[1][idx[:, 1]]
    got = seen["z"].permute(0, 2, 3, 1).reshape(-1, TINY.latent_dim)
    assert torch.allclose(got, expected, atol=1e-6)
    (x_hat - x).pow(2).mean().backward()
    assert net.encoder[0].weight.grad.abs().sum() > 0


def test_ema_moves_codes_toward_their_inputs_and_ignores_dropped_levels():
    gen = torch.Generator().manual_seed(0)
    vq = ResidualVQ(stages=2, size=4, dim=2, decay=0.5, dead_share=0.0)
    vq.initialized.fill_(True)
    vq.codebooks.copy_(torch.tensor([[[0.0, 0], [10, 0], [0, 10], [10, 10]]] * 2))
    vq.ema_sum.copy_(vq.codebooks)
    z = torch.tensor([[1.0, 1.0]] * 8)
    before = vq.codebooks.clone()
    vq.train()
    vq(z, torch.ones(8, dtype=torch.long), gen)
    assert torch.allclose(vq.codebooks[0, 0], torch.tensor([4 / 4.5, 4 / 4.5]))
    assert torch.equal(vq.codebooks[1], before[1])


def test_dead_codes_are_replaced_by_inputs():
    gen = torch.Generator().manual_seed(0)
    vq = ResidualVQ(stages=1, size=4, dim=2, dead_share=0.25)
    vq.initialized.fill_(True)
    vq.codebooks.copy_(torch.tensor([[[0.0, 0], [100, 0], [0, 100], [100, 100]]]))
    z = torch.randn(64, 2) * 0.1
    vq.train()
    for _ in range(200):
        vq(z, torch.ones(64, dtype=torch.long), gen)
    assert (vq.codebooks[0].abs() < 1).all()


def test_quantize_and_dequantize_agree_with_training_pass():
    torch.manual_seed(0)
    vq = ResidualVQ(stages=3, size=16, dim=4)
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(100, 4)
    vq.train()
    vq(z, torch.full((100,), 3), gen)
    vq.eval()
    q, idx = vq(z, torch.full((100,), 3), gen)
    assert torch.equal(vq.quantize(z, 3), idx)
    assert torch.allclose(vq.dequantize(idx), q, atol=1e-5)
    assert idx.min() >= 0 and idx.max() < 16


def test_encoder_reach_is_the_receptive_field():
    """A latent's gradient support reaches exactly ``encoder_reach`` pixels past its block."""
    for blocks in (0, 1, 3):
        net = VQVAE(ModelConfig(channels=(8, 8, 8), enc_blocks=blocks, tiled_encoder=False))
        x = torch.zeros(1, 3, 384, 384, requires_grad=True)
        net.encode(x)[0, :, 24, 24].sum().backward()
        rows = torch.nonzero(x.grad[0].abs().sum((0, 2)))
        assert 24 * 8 - rows.min().item() == encoder_reach(net.cfg)
        assert rows.max().item() - (24 * 8 + 7) == encoder_reach(net.cfg) - 1


def test_untiled_encoder_in_blocks_matches_the_whole_image(monkeypatch):
    """Blocks with their halo give the latents of the whole image, borders included."""
    import numpy as np

    from vqcodec import transform

    torch.manual_seed(0)
    net = VQVAE(ModelConfig(channels=(8, 8, 8), enc_blocks=2, tiled_encoder=False)).eval()
    rgb = np.random.default_rng(0).integers(0, 256, (150, 230, 3), dtype=np.uint8)
    x = torch.from_numpy(transform.pad_to_tiles(rgb).copy()).permute(2, 0, 1)[None] / 255.0
    with torch.no_grad():
        whole = net.encode(x.float())[0]
    monkeypatch.setattr(transform, "ENCODE_BLOCK", (2, 3))
    got = torch.zeros_like(whole)
    for (rs, cs), z, shape in transform._latent_blocks(net, rgb, "cpu"):
        got[:, rs, cs] = z.t().reshape(-1, *shape)
    assert torch.allclose(got, whole, atol=1e-5)
    tiled = VQVAE(ModelConfig(channels=(8, 8, 8), enc_blocks=2))
    tiled.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert not torch.allclose(tiled.encode(x.float())[0], whole, atol=1e-3)


def test_config_json_keeps_older_files_readable():
    assert "tiled_encoder" not in ModelConfig().to_json()
    untiled = ModelConfig(tiled_encoder=False)
    assert ModelConfig.from_json(untiled.to_json()) == untiled
    assert ModelConfig.from_json(ModelConfig().to_json()).tiled_encoder


def test_dead_code_threshold_is_a_share_of_the_rows_per_step():
    vq = ResidualVQ(stages=1, size=4, dim=2)
    vq.ema_count.copy_(torch.tensor([[3000.0, 900, 100, 96]]))  # 4096 rows per step
    assert vq.dead_threshold(0) == 4096 / 4 / 64
    vq.ema_count.div_(8)  # an eighth of the batch: an eighth of the threshold
    assert vq.dead_threshold(0) == 512 / 4 / 64
