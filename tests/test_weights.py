"""Model files: safetensors only, and a fingerprint that catches altered codebooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vqcodec import ModelMismatchError, VQCodecError
from vqcodec.model import VQVAE, ModelConfig
from vqcodec.weights import load_model, save_model

TINY = ModelConfig(channels=(8, 8, 8), latent_dim=4, stages=2, codebook_size=16)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    net = VQVAE(TINY)
    path = tmp_path / "tiny.safetensors"
    fp = save_model(path, "tiny", net, np.ones((2, 16), dtype=np.int64), {"steps": 0})
    return path, net, fp


def test_save_load_round_trip(saved):
    path, net, fp = saved
    m = load_model(path)
    assert m.name == "tiny" and m.fingerprint == fp and m.card == {"steps": 0}
    assert torch.equal(m.net.quantizer.codebooks, net.quantizer.codebooks)
    w = net.decoder[0].weight.detach()
    assert torch.equal(m.net.decoder[0].weight, w.half().float())


def test_altered_codebook_is_refused(saved, tmp_path):
    path, _, _ = saved
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors["quantizer.codebooks"][0, 0, 0] += 1
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(ModelMismatchError, match="differs from the recorded"):
        load_model(bad)


def test_non_safetensors_files_are_refused(tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\x80\x04not a safetensors file, maybe a pickle")
    with pytest.raises(VQCodecError):
        load_model(bad)


def test_absurd_architecture_is_refused_before_allocating(saved, tmp_path):
    path, _, _ = saved
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta["config"] = meta["config"].replace('"latent_dim": 4', '"latent_dim": 100000000')
    bad = tmp_path / "huge.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(VQCodecError, match="out of bounds"):
        load_model(bad)


def test_model_names_must_fit_the_header(tmp_path):
    with pytest.raises(VQCodecError, match="invalid model name"):
        save_model(tmp_path / "x.safetensors", "bad name!", VQVAE(TINY), np.ones((2, 16)), {})


def test_context_tables_round_trip_and_are_fingerprinted(tmp_path):
    torch.manual_seed(0)
    net = VQVAE(TINY)
    counts = np.ones((2, 16), dtype=np.int64)
    context = np.random.default_rng(0).integers(1, 9, (2, 16, 16))
    left = np.random.default_rng(1).integers(1, 9, (2, 16, 16))
    path = tmp_path / "ctx.safetensors"
    fp = save_model(path, "ctx", net, counts, {}, context, left)
    m = load_model(path)
    assert np.array_equal(m.context_counts, context) and m.fingerprint == fp
    assert np.array_equal(m.left_counts, left)
    assert fp != save_model(tmp_path / "plain.safetensors", "ctx", net, counts, {})
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    for key in ("entropy.context_counts", "entropy.left_counts"):
        altered = {k: v.clone() for k, v in tensors.items()}
        altered[key][1, 2, 3] += 1
        save_file(altered, str(tmp_path / "bad.safetensors"), metadata=meta)
        with pytest.raises(ModelMismatchError):
            load_model(tmp_path / "bad.safetensors")
    with pytest.raises(ValueError):
        save_model(tmp_path / "x.safetensors", "ctx", net, counts, {}, context[:, :4], left)
    with pytest.raises(ValueError):
        save_model(tmp_path / "x.safetensors", "ctx", net, counts, {}, context)
