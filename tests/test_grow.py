"""Warm starts: a grown model reconstructs exactly what it grew from."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from click.testing import CliRunner
from conftest import synthetic_photo
from PIL import Image

from vqcodec.cli import main
from vqcodec.errors import VQCodecError
from vqcodec.grow import NEW_SCALE, added_blocks, grow
from vqcodec.model import VQVAE, ModelConfig
from vqcodec.train import TrainConfig, count_tables, sample_crops, setup, train, train_step
from vqcodec.weights import load_model, save_model

OLD = ModelConfig(
    channels=(8, 8, 8), latent_dim=4, stages=2, codebook_size=16, enc_blocks=1, dec_blocks=1
)
WIDE = ModelConfig(
    channels=(8, 8, 8), latent_dim=8, stages=4, codebook_size=16, enc_blocks=2, dec_blocks=2
)


def _images(n: int = 3) -> list[torch.Tensor]:
    return [torch.from_numpy(synthetic_photo(64, 96, seed=i)).permute(2, 0, 1) for i in range(n)]


def _trained_old() -> VQVAE:
    """A small model whose codebooks and weights are not at their initial values."""
    torch.manual_seed(0)
    net = VQVAE(OLD)
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(3):
        x = sample_crops(_images(), 4, 32, gen)
        x_hat, commitment, _ = net(x, torch.full((4,), 2), gen)
        opt.zero_grad()
        ((x_hat - x).pow(2).mean() + commitment).backward()
        opt.step()
    return net.eval()


def test_grown_model_reconstructs_what_the_old_one_did():
    old = _trained_old()
    gen = torch.Generator().manual_seed(1)
    crops = sample_crops(_images(), 8, 32, gen)
    new = grow(old, WIDE, crops, gen).eval()
    x = sample_crops(_images(), 3, 64, torch.Generator().manual_seed(2))
    with torch.no_grad():
        before, after = old.indices(x, 2), new.indices(x, 4)
        assert torch.equal(after[:, :2], before)  # same code choices
        for s in (1, 2):
            torch.testing.assert_close(
                new.reconstruct(after[:, :s]), old.reconstruct(before[:, :s]), rtol=0, atol=1e-5
            )
        z = new.encode(x).permute(0, 2, 3, 1).reshape(-1, 8)
        ratio = z[:, 4:].pow(2).mean().sqrt() / z[:, :4].pow(2).mean().sqrt()
        assert ratio == pytest.approx(NEW_SCALE, rel=0.05)  # small, but there to grow
        rows = after.permute(0, 2, 3, 1).reshape(-1, 4)
        err = [(z - new.quantizer.dequantize(rows[:, :s])).pow(2).mean() for s in (2, 3, 4)]
        assert err[0] > err[1] > err[2]  # the k-means stages take residual away
    q = new.quantizer
    assert bool(q.initialized)
    assert all(q.ema_count[s].min() >= 0.99 * q.dead_threshold(s) for s in range(4))
    torch.testing.assert_close(q.ema_sum / q.ema_count[:, :, None], q.codebooks)


def _choices_kept_by_ema(cfg: ModelConfig) -> float:
    """Share of 2-stage code choices unchanged after three codebook updates (no dead codes)."""
    old = _trained_old()
    gen = torch.Generator().manual_seed(1)
    new = grow(old, cfg, sample_crops(_images(), 8, 32, gen), gen)
    x = sample_crops(_images(), 3, 64, torch.Generator().manual_seed(2))
    new.quantizer.dead_share = 0.0
    for _ in range(3):
        new(x, torch.full((3,), cfg.stages), gen)
    new.eval()
    with torch.no_grad():
        return float((new.indices(x, 2) == old.indices(x, 2)).float().mean())


def test_new_latent_channels_do_not_steer_the_old_code_choices():
    """Once the EMA gives codes values in the new dimensions, new channels as large as the
    old ones would change most choices (14 % kept here at NEW_SCALE 1); small ones keep
    as many as growing nothing does."""
    assert _choices_kept_by_ema(WIDE) >= _choices_kept_by_ema(OLD) - 0.02


def test_growth_that_cannot_preserve_the_function_is_refused():
    old = VQVAE(OLD)
    crops = torch.rand(2, 3, 32, 32)
    for bad in (
        ModelConfig(channels=(8, 8, 16), latent_dim=4, stages=2, codebook_size=16),
        ModelConfig(channels=(8, 8, 8), latent_dim=2, stages=2, codebook_size=16),
        ModelConfig(channels=(8, 8, 8), latent_dim=4, stages=2, codebook_size=32),
    ):
        with pytest.raises(VQCodecError, match="cannot grow"):
            grow(old, bad, crops, torch.Generator())


def test_cli_init_from_grows_a_saved_model_and_trains_it(tmp_path):
    old = _trained_old()
    images = _images()
    path = tmp_path / "old.safetensors"
    counts, context, left = count_tables(old, images)
    save_model(path, "old", old, counts, {}, context, left)
    data = tmp_path / "data"
    data.mkdir()
    for i, img in enumerate(images):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(data / f"{i}.png")
    out = tmp_path / "wide.safetensors"
    args = ["train", "--data", str(data), "--out", str(out), "--init-from", str(path)]
    args += ["--steps", "2", "--batch-size", "2", "--crop", "32", "--channels", "8,8,8"]
    args += ["--latent-dim", "8", "--stages", "4", "--codebook-size", "16"]
    result = CliRunner().invoke(main, [*args, "--enc-blocks", "2", "--dec-blocks", "2"])
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model.net.cfg.latent_dim == 8 and model.card["init_from"] == str(path)
    other = [a if a != str(out) else str(tmp_path / "other.safetensors") for a in args]
    bad = CliRunner().invoke(main, [*other, "--channels", "8,8,9"])
    assert bad.exit_code == 1 and "cannot grow the model: channels" in bad.stderr
    assert TrainConfig().crop == 256


def test_grown_lr_gives_the_added_blocks_their_own_rate_and_resumes_exactly(tmp_path):
    old = _trained_old()
    path = tmp_path / "old.safetensors"
    counts, context, left = count_tables(old, _images())
    save_model(path, "old", old, counts, {}, context, left)
    data = tmp_path / "data"
    data.mkdir()
    for i, img in enumerate(_images()):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(data / f"{i}.png")
    deeper = dataclasses.replace(OLD, enc_blocks=2, dec_blocks=3)
    cfg = TrainConfig(steps=4, batch_size=2, crop=32, warmup=1, grown_lr=10.0, checkpoint_every=2)
    assert added_blocks(OLD, deeper) == ("encoder.6.", "decoder.2.", "decoder.3.")
    run = setup(data, cfg, deeper, init_from=path)
    plain, grown = run.opt.param_groups
    names = {id(p): n for n, p in run.net.named_parameters()}
    assert {names[id(p)].split(".conv")[0] for p in grown["params"]} == {
        "encoder.6", "decoder.2", "decoder.3"
    }  # fmt: skip
    train_step(run, 2)
    assert grown["lr"] == pytest.approx(10 * plain["lr"]) and plain["lr"] > 0

    whole = train(data, tmp_path / "a.safetensors", "a", cfg, deeper, init_from=path)
    ckpt = tmp_path / "b.ckpt"
    args = (data, tmp_path / "b.safetensors", "b", cfg, deeper)
    stopped = train(*args, checkpoint=ckpt, init_from=path, time_limit=1e-9)
    assert stopped["steps_done"] == 1
    train(*args, checkpoint=ckpt, init_from=path)
    a, b = load_model(tmp_path / "a.safetensors"), load_model(tmp_path / "b.safetensors")
    assert whole["steps_done"] == 4 and a.digest == b.digest
    with pytest.raises(VQCodecError, match="adds residual blocks"):
        setup(data, cfg, OLD, init_from=path)
