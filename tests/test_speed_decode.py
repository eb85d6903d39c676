"""The opt-in bf16 decoder: OpenVINO's bf16 networks, transposed convolutions as
3x3 convolutions and depth-to-space; the default decode stays float32."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import vqcodec
from vqcodec import VQCodecError, decoding, openvino_net
from vqcodec.architecture import decoder_layers
from vqcodec.cli import main
from vqcodec.metrics import psnr

needs_openvino = pytest.mark.skipif(not openvino_net.available(), reason="no OpenVINO")


@needs_openvino
def test_subpixel_transposed_convolutions_compute_the_same_decoder(tiny_model):
    z = np.random.default_rng(0).normal(size=(1, tiny_model.cfg.latent_dim, 5, 7))
    layers = decoder_layers(tiny_model.cfg)
    plain = openvino_net.compile_stack(layers, tiny_model.weights, "decoder", "f32", 1)
    graph = openvino_net.graph(layers, tiny_model.weights, "decoder", subpixel=True)
    subpixel = openvino_net.ov.Core().compile_model(
        graph, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    out = subpixel(z.astype(np.float32))[0]
    assert out.shape == (1, 3, 40, 56)
    np.testing.assert_allclose(out, plain(z), atol=1e-5)


def test_bf16_decode_is_close_and_the_default_is_bf16_where_native(tiny_model, photo):
    data = vqcodec.compress(photo, 4, model=tiny_model, threads=1)
    default = np.asarray(vqcodec.decompress(data, model=tiny_model, threads=1))
    exact = np.asarray(vqcodec.decompress(data, model=tiny_model, threads=1, precision="f32"))
    fast = np.asarray(vqcodec.decompress(data, model=tiny_model, threads=1, precision="bf16"))
    assert np.array_equal(default, fast if openvino_net.native_bf16() else exact)
    assert fast.shape == exact.shape and psnr(exact, fast) > 35
    two = np.asarray(vqcodec.decompress(data, model=tiny_model, threads=2, precision="bf16"))
    assert np.array_equal(fast, two)  # bf16 too gives the same pixels at any thread count
    assert decoding.resolve_precision("auto", "cuda") == "f32"
    with pytest.raises(VQCodecError, match="precision"):
        vqcodec.decompress(data, model=tiny_model, precision="fp8")


def test_cli_bf16_flag(tmp_path, photo, tiny_model_path):
    Image.fromarray(photo).save(tmp_path / "a.png")
    model = ["--model", str(tiny_model_path)]
    run = CliRunner().invoke
    assert run(main, ["compress", str(tmp_path / "a.png"), *model]).exit_code == 0
    args = ["decompress", str(tmp_path / "a.vqc"), str(tmp_path / "b.png"), "--bf16", *model]
    assert run(main, args).exit_code == 0
    assert Image.open(tmp_path / "b.png").size == (100, 75)


def test_cli_precision_option(tmp_path, photo, tiny_model_path, tiny_model):
    Image.fromarray(photo).save(tmp_path / "a.png")
    model = ["--model", str(tiny_model_path)]
    run = CliRunner().invoke
    assert run(main, ["compress", str(tmp_path / "a.png"), *model]).exit_code == 0
    data = (tmp_path / "a.vqc").read_bytes()
    for precision in ("f32", "bf16"):
        out = tmp_path / f"{precision}.png"
        args = ["decompress", str(tmp_path / "a.vqc"), str(out), "--precision", precision]
        assert run(main, [*args, "--threads", "1", *model]).exit_code == 0
        want = vqcodec.decompress(data, model=tiny_model, threads=1, precision=precision)
        assert np.array_equal(np.asarray(Image.open(out)), np.asarray(want))
    bad = run(main, ["decompress", str(tmp_path / "a.vqc"), "--precision", "fp8", *model])
    assert bad.exit_code == 2 and "--precision" in bad.output


def test_device_auto_on_a_cpu_decodes_as_cpu_does(tiny_model, photo, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    data = vqcodec.compress(photo, 4, model=tiny_model, threads=1)
    cpu = np.asarray(vqcodec.decompress(data, model=tiny_model, threads=1))
    auto = np.asarray(vqcodec.decompress(data, model=tiny_model, threads=1, device="auto"))
    assert np.array_equal(cpu, auto)  # the default precision too, through torch's stand-in
