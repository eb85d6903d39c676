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

TINY = ModelConfig(
    channels=(8, 8, 8), latent_dim=4, stages=2, codebook_size=16, enc_blocks=1, dec_blocks=1
)


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
    fp = save_model(path, "ctx", net, counts, {}, context, left, fmt="vqcodec-model/1")
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


def _rewrite(path, tmp_path, name="crafted.safetensors", meta_update=None, tensor_update=None):
    """A copy of the model file at ``path`` with its metadata (None: drop the key) or
    tensors changed."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta.update(meta_update or {})
    meta = {k: v for k, v in meta.items() if v is not None}
    if tensor_update:
        tensor_update(tensors)
    out = tmp_path / name
    save_file(tensors, str(out), metadata=meta)
    return out


def test_architecture_is_bounded_by_the_tensors_present(saved, tmp_path):
    """A 1.6 KB file asking for 255 stages x 65,536 codes is refused from its header,
    in milliseconds and without allocating the 4 GiB its config describes."""
    import resource
    import time

    path, _, _ = saved
    config = '{"channels": [8, 8, 8], "codebook_size": 65536, "latent_dim": 4, "stages": 255}'
    bad = _rewrite(path, tmp_path, meta_update={"config": config})
    assert bad.stat().st_size < 32_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    with pytest.raises(VQCodecError, match="has shape .* the architecture needs"):
        load_model(bad)
    assert time.monotonic() - start < 2.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB


@pytest.mark.parametrize(
    "config",
    [
        '{"channels": [8, 8, 8], "codebook_size": 16, "latent_dim": Infinity, "stages": 2}',
        '{"channels": [8, NaN, 8], "codebook_size": 16, "latent_dim": 4, "stages": 2}',
        '{"channels": [8, 8, 8], "codebook_size": 16.5, "latent_dim": 4, "stages": 2}',
        '{"channels": 8, "codebook_size": 16, "latent_dim": 4, "stages": 2}',
        "[1, 2]",
        "[" * 100_000,
    ],
)
def test_malformed_configs_are_one_line_errors(saved, tmp_path, config):
    bad = _rewrite(saved[0], tmp_path, meta_update={"config": config})
    with pytest.raises(VQCodecError, match="malformed model config"):
        load_model(bad)


@pytest.mark.parametrize("name", ["../evil", "a/b", "modèle", "", "x" * 65])
def test_model_names_are_checked_at_load(saved, tmp_path, name):
    bad = _rewrite(saved[0], tmp_path, meta_update={"name": name})
    with pytest.raises(VQCodecError, match="invalid model name"):
        load_model(bad)


def test_context_tables_near_2_31_are_refused(tmp_path):
    """Coder 2 would overflow int64 mixing such tables (a traceback in the encoder)."""
    big = np.full((2, 16, 16), 2**31 - 1)
    path = tmp_path / "big.safetensors"
    save_model(path, "big", VQVAE(TINY), np.ones((2, 16)), {}, big, big)
    with pytest.raises(VQCodecError, match="too large for exact coding"):
        load_model(path)


def test_altered_network_weights_are_caught_by_the_digest(saved, tmp_path):
    def alter(t):
        t["decoder.0.weight"][0, 0, 0, 0] += 1

    bad = _rewrite(saved[0], tmp_path, tensor_update=alter)
    with pytest.raises(ModelMismatchError, match="weights digest .* network weights were altered"):
        load_model(bad)


def test_non_finite_weights_are_refused(saved, tmp_path):
    def poison(t):
        t["decoder.0.weight"][0, 0, 0, 0] = float("nan")

    no_digest = {"weights_digest": None}  # as in files written before the digest
    bad = _rewrite(saved[0], tmp_path, meta_update=no_digest, tensor_update=poison)
    with pytest.raises(ModelMismatchError, match="non-finite weights in decoder.0.weight"):
        load_model(bad)
    net = VQVAE(TINY)
    with torch.no_grad():
        net.decoder[0].weight[0, 0, 0, 0] = float("inf")
    with pytest.raises(VQCodecError, match="non-finite"):
        save_model(tmp_path / "x.safetensors", "x", net, np.ones((2, 16)), {})


def test_a_file_under_a_shipped_name_must_hold_the_shipped_weights(tmp_path):
    """NaN decoder weights under vqcodec-base-v1's name, codebooks and tables intact
    (so the fingerprint matches): refused by the shipped digest, through the API and CLI."""
    from click.testing import CliRunner

    import vqcodec
    from vqcodec.cli import main
    from vqcodec.registry import MODELS_DIR, SHIPPED_DIGESTS, get_model

    for name, digest in SHIPPED_DIGESTS.items():
        assert get_model(name).digest.hex() == digest

    def poison(t):
        t["decoder.0.weight"].fill_(float("nan"))

    source = MODELS_DIR / "vqcodec-base-v1.safetensors"
    bad = _rewrite(source, tmp_path, name="v1.safetensors", tensor_update=poison)
    with pytest.raises(ModelMismatchError, match="non-finite|not that of the shipped"):
        get_model(str(bad))

    def nudge(t):
        t["decoder.0.weight"][0, 0, 0, 0] += 1

    bad = _rewrite(source, tmp_path, name="v1b.safetensors", tensor_update=nudge)
    with pytest.raises(ModelMismatchError, match="not that of the shipped model vqcodec-base-v1"):
        get_model(bad)
    data = vqcodec.compress(np.zeros((8, 8, 3), np.uint8), 1, model="vqcodec-base-v1")
    (tmp_path / "x.vqc").write_bytes(data)
    result = CliRunner().invoke(
        main, ["decompress", str(tmp_path / "x.vqc"), str(tmp_path / "x.png"), "--model", str(bad)]
    )
    assert result.exit_code == 1 and "not that of the shipped" in result.output
    assert "Traceback" not in result.output


def test_model_argument_of_the_wrong_type_is_a_vqcodec_error():
    from vqcodec.registry import get_model

    with pytest.raises(VQCodecError, match="model must be"):
        get_model(42)


def test_a_tampered_installed_model_file_is_refused(tmp_path, monkeypatch):
    """The installed file itself replaced by one with other decoder weights (codebooks and
    tables intact, so its fingerprint still matches)."""
    from vqcodec import registry

    def nudge(t):
        t["decoder.0.bias"][0] += 1

    source = registry.MODELS_DIR / "vqcodec-base-v1.safetensors"
    _rewrite(source, tmp_path, name="vqcodec-base-v1.safetensors", tensor_update=nudge)
    monkeypatch.setattr(registry, "MODELS_DIR", tmp_path)
    registry._load_shipped.cache_clear()
    try:
        with pytest.raises(ModelMismatchError, match="weights digest .* vqcodec-base-v1"):
            registry.get_model("vqcodec-base-v1")
    finally:
        registry._load_shipped.cache_clear()


def test_crafted_models_are_one_line_errors_on_the_command_line(saved, tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from vqcodec.cli import main

    huge = '{"channels": [8, 8, 8], "codebook_size": 65536, "latent_dim": 4, "stages": 255}'
    crafted = {
        "the architecture needs": {"config": huge},
        "non-finite number Infinity": {"config": huge.replace("255", "Infinity")},
        "invalid model name": {"name": "../../etc/x"},
    }
    photo = tmp_path / "p.png"
    Image.new("RGB", (8, 8)).save(photo)
    for i, (text, meta) in enumerate(crafted.items()):
        bad = _rewrite(saved[0], tmp_path, name=f"bad{i}.safetensors", meta_update=meta)
        result = CliRunner().invoke(main, ["compress", str(photo), "--model", str(bad)])
        assert result.exit_code == 1 and text in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1
