"""The torch-free decoder (vqcodec.decoding): OpenVINO's graph built from a model file's
arrays gives the pixels of the torch network's OpenVINO path, and a decompress process
never imports torch."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import synthetic_photo
from test_imports import VECTOR, cli, loaded_modules

import vqcodec
from vqcodec import architecture, decoding, openvino_net, transform
from vqcodec.config import ModelConfig
from vqcodec.errors import FormatError
from vqcodec.model import VQVAE

needs_openvino = pytest.mark.skipif(not openvino_net.available(), reason="no OpenVINO")


@pytest.mark.parametrize(
    "cfg",
    [
        ModelConfig(),
        ModelConfig(channels=(4, 5, 6), latent_dim=7, stages=3, codebook_size=9, enc_blocks=0),
        ModelConfig(channels=(4, 4, 6), latent_dim=4, stages=2, codebook_size=8, dec_blocks=3),
    ],
    ids=["default", "no-encoder-blocks", "three-decoder-blocks"],
)
def test_parameter_shapes_are_the_torch_networks(cfg):
    with torch.device("meta"):
        state = VQVAE(cfg).state_dict()
    training_only = ("quantizer.ema_count", "quantizer.ema_sum", "quantizer.initialized")
    shapes = {k: tuple(v.shape) for k, v in state.items() if k not in training_only}
    assert architecture.parameter_shapes(cfg) == shapes


def test_dequantize_adds_the_codes_as_torch_does(tiny_model):
    rng = np.random.default_rng(0)
    stages, size = tiny_model.stages, tiny_model.cfg.codebook_size
    idx = rng.integers(0, size, (stages, 5, 7))
    depths = rng.integers(1, stages + 1, (5, 7))
    ours = decoding.dequantize(tiny_model.weights["quantizer.codebooks"], idx, depths)
    flat = torch.from_numpy(idx.reshape(stages, -1).T.copy())
    theirs = tiny_model.net.quantizer.dequantize(flat, torch.from_numpy(depths.reshape(-1)))
    assert np.array_equal(ours, theirs.numpy().T.reshape(-1, 5, 7))


def test_the_torch_network_shares_the_model_arrays(tiny_model_path):
    model = vqcodec.get_model(tiny_model_path)
    with torch.no_grad():
        model.net.decoder[0].bias[0] += 1.0
    assert model.weights["decoder.0.bias"][0] == model.net.decoder[0].bias[0].item()


def _decoders_agree(model, idx, depths, threads):
    ours = decoding.decode_openvino(model, idx, depths, "f32", threads)
    accelerated = transform.network(model.net, "cpu", threads)
    assert isinstance(accelerated, transform.Accelerated)
    assert np.array_equal(ours, transform.decode_indices(accelerated, idx, depths=depths))
    plain = transform.decode_indices(model.net, idx, depths=depths)
    assert np.abs(ours.astype(int) - plain).max() <= 2  # what the vectors allow


@needs_openvino
@pytest.mark.parametrize("threads", [1, 2])
def test_torch_free_decoder_gives_the_accelerated_pixels(tiny_model, threads, monkeypatch):
    monkeypatch.setattr(decoding, "DECODE_BLOCK", (4, 5))  # several blocks and halos
    img = synthetic_photo(96, 160, seed=2)
    idx = transform.encode_indices(tiny_model.net, img, tiny_model.stages)
    depths = np.random.default_rng(0).integers(1, tiny_model.stages + 1, idx.shape[1:])
    _decoders_agree(tiny_model, idx, depths, threads)
    _decoders_agree(tiny_model, idx, None, threads)


@pytest.mark.slow
@needs_openvino
def test_torch_free_decoder_gives_the_accelerated_pixels_on_the_shipped_model(model):
    img = synthetic_photo(64, 96, seed=4)
    idx = transform.encode_indices(model.net, img, model.stages)
    depths = np.random.default_rng(1).integers(1, model.stages + 1, idx.shape[1:])
    _decoders_agree(model, idx, depths, 2)


@needs_openvino
def test_decompress_never_imports_torch(tmp_path):
    out = tmp_path / "back.png"
    modules = loaded_modules(cli("decompress", str(VECTOR), str(out), "--threads", "1"))
    assert "openvino" in modules and "torch" not in modules and out.is_file()
    api = f"import vqcodec; vqcodec.decompress({str(VECTOR)!r}, threads=1)"
    assert "torch" not in loaded_modules(api)


def test_default_threads_without_torch_follow_omp_num_threads():
    code = "import sys; from vqcodec import threads; print(threads.resolve(None))"
    code += "; print('torch' in sys.modules)"
    env = {**os.environ, "OMP_NUM_THREADS": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["3", "False"], out.stderr


def test_blocks_prepared_on_a_second_thread_give_the_same_pixels(monkeypatch):
    monkeypatch.setattr(decoding, "DECODE_BLOCK", (3, 5))  # 4 x 3 blocks, ragged at the edges
    rng = np.random.default_rng(3)
    latent = rng.normal(0.5, 0.6, (3, 10, 13)).astype(np.float32)  # values beyond 0..1 too

    def image(ys: slice, xs: slice) -> np.ndarray:  # a block's "decoder": each latent 8x8
        return np.repeat(np.repeat(latent[:, ys, xs], 8, 1), 8, 2)

    seen: dict[str, list[int]] = {"plain": [], "prepared": []}
    plain = decoding.decode_blocks(
        image, (10, 13), 2, rows=lambda top, r: seen["plain"].append(top)
    )
    prepared = decoding.decode_blocks(
        lambda spans: image(*spans),
        (10, 13),
        2,
        rows=lambda top, r: seen["prepared"].append(top),
        prepare=lambda ys, xs: (ys, xs),
    )
    want = np.rint(np.clip(np.repeat(np.repeat(latent, 8, 1), 8, 2), 0, 1) * 255).astype(np.uint8)
    assert np.array_equal(plain, want.transpose(1, 2, 0)) and np.array_equal(prepared, plain)
    assert seen["plain"] == seen["prepared"] == [0, 24, 48, 72]

    def broken(ys: slice, xs: slice):
        if ys.start > 0:
            raise FormatError("bad block")
        return ys, xs

    with pytest.raises(FormatError, match="bad block"):
        decoding.decode_blocks(lambda s: image(*s), (10, 13), 2, prepare=broken)
