"""Training smoke runs: a tiny model trains, saves, compresses, and resumes exactly."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import synthetic_photo
from PIL import Image
from safetensors import safe_open

import vqcodec
from vqcodec.errors import VQCodecError
from vqcodec.model import ModelConfig
from vqcodec.train import TrainConfig, lr_at, resumable, sample_levels, split_images, train
from vqcodec.weights import load_model

TINY = ModelConfig(
    channels=(8, 8, 8), latent_dim=4, stages=2, codebook_size=16, enc_blocks=0, dec_blocks=0
)
CFG = TrainConfig(steps=4, batch_size=2, crop=64, log_every=2, checkpoint_every=2)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "images"
    d.mkdir()
    for i in range(3):
        Image.fromarray(synthetic_photo(80, 96, seed=i)).save(d / f"{i}.png")
    return d


def test_train_writes_a_usable_model(folder, tmp_path):
    out, log = tmp_path / "m.safetensors", tmp_path / "log.jsonl"
    card = train(folder, out, "tiny-test", CFG, TINY, checkpoint=tmp_path / "c.st", log=log)
    assert card["images"] == 2 and card["train"]["steps"] == 4  # the last one validates
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert len(records[-1]["val"]["perplexity"]) == 2
    model = load_model(out)
    assert model.name == "tiny-test" and model.counts.min() >= 1
    img = synthetic_photo(40, 40)
    data = vqcodec.compress(img, quality=2, model=out)
    assert vqcodec.decompress(data, model=out).size == (40, 40)


def test_resume_continues_exactly(folder, tmp_path):
    train(folder, tmp_path / "a.safetensors", "t", CFG, TINY, checkpoint=tmp_path / "a.ckpt")

    def stop_after_two(steps, **kwargs):
        for step in steps:
            if step == 2:
                raise KeyboardInterrupt
            yield step

    ckpt = tmp_path / "b.ckpt"
    with pytest.raises(KeyboardInterrupt):
        train(
            folder,
            tmp_path / "b.safetensors",
            "t",
            CFG,
            TINY,
            checkpoint=ckpt,
            progress=stop_after_two,
        )
    train(folder, tmp_path / "b.safetensors", "t", CFG, TINY, checkpoint=ckpt)
    with (
        safe_open(str(tmp_path / "a.safetensors"), "pt") as fa,
        safe_open(str(tmp_path / "b.safetensors"), "pt") as fb,
    ):
        assert sorted(fa.keys()) == sorted(fb.keys())
        for k in fa.keys():
            assert torch.equal(fa.get_tensor(k), fb.get_tensor(k)), k


def test_cli_train_smoke(folder, tmp_path):
    from click.testing import CliRunner

    from vqcodec.cli import main

    out = tmp_path / "cli.safetensors"
    args = [
        "train",
        "--data",
        str(folder),
        "--out",
        str(out),
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--crop",
        "32",
        "--stages",
        "2",
        "--codebook-size",
        "16",
        "--channels",
        "8,8,8",
        "--enc-blocks",
        "0",
        "--dec-blocks",
        "0",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert load_model(out).stages == 2
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "--force" in again.stderr


def test_cli_trains_an_untiled_encoder_that_codes_images(folder, tmp_path):
    from click.testing import CliRunner

    from vqcodec.cli import main

    out = tmp_path / "untiled.safetensors"
    args = ["train", "--data", str(folder), "--out", str(out), "--steps", "2"]
    args += ["--batch-size", "2", "--crop", "64", "--stages", "2", "--codebook-size", "16"]
    result = CliRunner().invoke(main, [*args, "--channels", "8,8,12", "--untiled-encoder"])
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model.net.cfg.channels == (8, 8, 12) and not model.net.cfg.tiled_encoder
    img = np.random.default_rng(1).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    back = vqcodec.decompress(vqcodec.compress(img, 2, model=model), model=model)
    assert np.asarray(back).shape == img.shape
    bad = CliRunner().invoke(main, [*args, "--channels", "8,x", "--force"])
    assert bad.exit_code != 0 and "--channels" in bad.stderr


def test_per_tile_dropout_is_constant_within_each_tile():
    cfg = TrainConfig(batch_size=3, crop=128, dropout_unit="tile", dropout_p=1.0)
    levels = sample_levels(cfg, 12, torch.Generator().manual_seed(0))
    assert levels.shape == (3, 16, 16)
    tiles = levels.reshape(3, 4, 4, 4, 4)
    assert (tiles == tiles[:, :, :1, :, :1]).all()
    assert levels.min() >= 1 and levels.max() <= 12 and len(levels.unique()) > 1


def test_v2_options_train_resume_and_time_limit(folder, tmp_path):
    """Per-tile dropout, the rate term and extra residual blocks train and resume exactly."""
    arch = ModelConfig(
        channels=(8, 8, 8), latent_dim=4, stages=3, codebook_size=16, enc_blocks=2, dec_blocks=0
    )
    cfg = TrainConfig(
        steps=4,
        batch_size=2,
        crop=64,
        log_every=2,
        checkpoint_every=2,
        dropout_unit="tile",
        rate_lambda=0.1,
    )
    train(folder, tmp_path / "a.safetensors", "t", cfg, arch, checkpoint=tmp_path / "a.ckpt")
    ckpt = tmp_path / "b.ckpt"
    stopped = train(
        folder, tmp_path / "b.safetensors", "t", cfg, arch, checkpoint=ckpt, time_limit=1e-9
    )
    assert stopped["steps_done"] == 1
    done = train(folder, tmp_path / "b.safetensors", "t", cfg, arch, checkpoint=ckpt)
    assert done["steps_done"] == 4
    a, b = load_model(tmp_path / "a.safetensors"), load_model(tmp_path / "b.safetensors")
    assert a.net.cfg == arch and a.fingerprint == b.fingerprint


def test_configs_without_block_counts_load_as_one_block():
    legacy = '{"channels": [96, 128, 192], "codebook_size": 256, "latent_dim": 32, "stages": 8}'
    cfg = ModelConfig.from_json(legacy)
    assert (cfg.enc_blocks, cfg.dec_blocks) == (1, 1)
    with pytest.raises(ValueError):
        ModelConfig.from_json(legacy[:-1] + ', "dec_blocks": 99}')


def _cli(*args: str):
    from click.testing import CliRunner

    from vqcodec.cli import main

    return CliRunner().invoke(main, ["train", *args])


def _tiny_args(folder, out) -> list[str]:
    return [
        "--data", str(folder), "--out", str(out), "--steps", "3", "--batch-size", "2",
        "--crop", "32", "--stages", "2", "--codebook-size", "16", "--latent-dim", "4",
        "--channels", "8,8,8", "--enc-blocks", "0", "--dec-blocks", "0",
        "--log-every", "1", "--checkpoint-every", "1",
    ]  # fmt: skip


def test_cli_options_are_the_config_fields_with_their_defaults():
    import dataclasses

    from vqcodec.cli import train as command
    from vqcodec.config import ModelConfig as Config

    params = {p.name: p for p in command.params}
    for cls in (TrainConfig, Config):
        for f in dataclasses.fields(cls):
            default = params[f.name].default
            if isinstance(f.default, tuple):
                default = tuple(int(v) for v in default.split(","))
            assert default == f.default, f.name
    assert ModelConfig().stages == 12  # the shipped default model's, vqcodec-base-v2


def test_warmup_scales_with_the_number_of_steps():
    short = TrainConfig(steps=40, lr=1e-3)
    assert short.warmup_steps() == 2
    assert [round(lr_at(s, short), 6) for s in (0, 1)] == [5e-4, 1e-3]
    assert lr_at(39, short) >= 1e-4  # ends near a tenth of the peak, not at 2.4e-5
    assert TrainConfig(steps=27000).warmup_steps() == 500  # v2's recipe unchanged


def test_validation_holds_out_images(folder, tmp_path):
    cfg = TrainConfig(crop=64)
    images, val = split_images(folder, None, cfg)
    assert len(images) == 2 and len(val) == 1
    assert not any(torch.equal(val[0], img) for img in images)
    other = tmp_path / "val"
    other.mkdir()
    Image.fromarray(synthetic_photo(70, 70, seed=9)).save(other / "v.png")
    images, val = split_images(folder, other, cfg)
    assert len(images) == 3 and val[0].shape == (3, 70, 70)
    one = tmp_path / "one"
    one.mkdir()
    Image.fromarray(synthetic_photo(70, 70)).save(one / "a.png")
    with pytest.raises(VQCodecError, match="--val"):
        split_images(one, None, cfg)
    out = tmp_path / "m.safetensors"
    assert _cli(*_tiny_args(one, out), "--val", str(other)).exit_code == 0
    refused = _cli(*_tiny_args(one, tmp_path / "n.safetensors"))
    assert refused.exit_code == 1 and "--val" in refused.stderr


def test_cli_time_limit_then_the_same_command_resumes(folder, tmp_path):
    out = tmp_path / "m.safetensors"
    args = _tiny_args(folder, out)
    first = _cli(*args, "--time-limit", "1e-9")
    assert first.exit_code == 0, first.output
    assert "stopped at step 1 of 3" in first.stderr
    assert load_model(out).card["steps_done"] == 1
    again = _cli(*args)
    assert again.exit_code == 0, again.output
    assert "resuming from step 1" in again.stderr
    assert load_model(out).card["steps_done"] == 3
    done = _cli(*args)  # finished: the model is not overwritten without --force
    assert done.exit_code == 1 and "--force" in done.stderr


def test_changed_settings_on_resume_are_refused_unless_forced(folder, tmp_path):
    out = tmp_path / "m.safetensors"
    args = _tiny_args(folder, out)
    assert _cli(*args, "--time-limit", "1e-9").exit_code == 0
    changed = _cli(*args, "--lr", "0.001", "--batch-size", "3")
    assert changed.exit_code == 1
    assert "lr=0.0003->0.001" in changed.stderr and "batch_size=2->3" in changed.stderr
    assert "Traceback" not in changed.output
    arch = _cli(*[a if a != "16" else "32" for a in args])
    assert arch.exit_code == 1 and "codebook_size=16->32" in arch.stderr
    forced = _cli(*args, "--lr", "0.001", "--force")
    assert forced.exit_code == 0 and "resuming from step 1 (lr=0.0003->0.001)" in forced.stderr


def test_api_resume_says_so_and_refuses_changes(folder, tmp_path):
    ckpt, said = tmp_path / "c.ckpt", []
    cfg = TrainConfig(steps=3, batch_size=2, crop=32, log_every=1, checkpoint_every=1)
    stopped = train(folder, tmp_path / "a.st", "t", cfg, TINY, checkpoint=ckpt, time_limit=1e-9)
    assert stopped["steps_done"] == 1 and resumable(ckpt)
    with pytest.raises(VQCodecError, match=r"crop=32->64"):
        train(folder, tmp_path / "a.st", "t", replace(cfg, crop=64), TINY, checkpoint=ckpt)
    card = train(folder, tmp_path / "a.st", "t", cfg, TINY, checkpoint=ckpt, say=said.append)
    assert said == ["resuming from step 1"] and card["steps_done"] == 3
    assert card["resumed_from"] == 1 and not resumable(ckpt)


def test_outlier_gradients_are_clipped_at_a_multiple_of_their_running_mean(folder, tmp_path):
    from vqcodec.train import clip_limit, setup, train_step

    cfg = TrainConfig(steps=3, batch_size=2, crop=32, clip=0.1, spike=4.0)
    run = setup(folder, cfg, TINY)
    assert clip_limit(run) == 0.1  # no history yet
    run.grad_mean = 0.01
    assert clip_limit(run) == pytest.approx(0.04)
    with torch.no_grad():  # an outlier: the decoder's output scaled up 1000x
        run.net.decoder[-1].weight.mul_(1000)
    mse, _, norm, limit = train_step(run, 0)
    assert norm > 100 * limit and limit == pytest.approx(0.04)
    assert run.grad_mean == pytest.approx(0.99 * 0.01 + 0.01 * 0.04)
    assert clip_limit(replace(run, cfg=replace(cfg, spike=0.0))) == 0.1
    log = tmp_path / "log.jsonl"
    train(folder, tmp_path / "m.st", "t", replace(cfg, log_every=3), TINY, log=log)
    record = json.loads(log.read_text())
    assert {"grad_norm_max", "clipped", "skipped", "replaced"} <= set(record)
    assert len(record["replaced"]) == TINY.stages


def test_a_snapshot_resumes_with_a_new_warm_up(folder, tmp_path):
    from vqcodec.train import snapshot

    ckpt, snap, said = tmp_path / "c.ckpt", tmp_path / "snap.st", []
    cfg = TrainConfig(steps=60, batch_size=2, crop=32, warmup=10, log_every=30)
    train(folder, tmp_path / "a.st", "t", cfg, TINY, checkpoint=ckpt, time_limit=1e-9)
    snapshot(ckpt, snap)
    assert snap.stat().st_size < 0.7 * ckpt.stat().st_size
    with safe_open(str(snap), "pt") as f:
        assert not any(k.startswith("opt.") for k in f.keys())  # noqa: SIM118
        assert f.get_tensor("model.decoder.0.weight").dtype == torch.float16
        assert f.get_tensor("model.quantizer.codebooks").dtype == torch.float32
    card = train(
        folder, tmp_path / "b.st", "t", cfg, TINY, checkpoint=snap, say=said.append, time_limit=1e-9
    )
    assert said == ["resuming from step 1 (no optimizer state: re-warm-up over 3 steps)"]
    assert card["steps_done"] == 2
    with safe_open(str(snap), "pt") as f:
        assert f.metadata()["rewarm_from"] == "1"  # a later exact resume keeps the new warm-up
    assert lr_at(5, cfg, rewarm_from=4) == pytest.approx(lr_at(5, cfg) * 2 / 3)
    assert lr_at(30, cfg, rewarm_from=4) == lr_at(30, cfg)


def test_bf16_autocast_trains_and_keeps_float32_weights(folder, tmp_path):
    cfg = TrainConfig(steps=2, batch_size=2, crop=32, bf16=True, log_every=2)
    train(folder, tmp_path / "a.st", "t", cfg, TINY)
    model = load_model(tmp_path / "a.st")
    assert model.card["train"]["bf16"] and model.net.quantizer.codebooks.dtype == torch.float32
    assert np.isfinite(model.card["final_val"]["psnr"]).all()
