"""The int8 encoder of the fastest effort: FakeQuantize over measured input ranges, close
to float32 yet really quantized, and used only where the CPU runs int8."""

from __future__ import annotations

import numpy as np
import pytest

from vqcodec import coders, effort, openvino_net, ratecontrol, transform
from vqcodec.architecture import encoder_layers

pytestmark = pytest.mark.skipif(not openvino_net.available(), reason="needs OpenVINO")


def test_every_convolution_but_the_last_gets_a_range_that_holds_its_input(tiny_model):
    layers = encoder_layers(tiny_model.cfg)
    seen = transform._conv_inputs(tiny_model.net, transform.calibration_input())
    convs = sum(1 for a in layers if a.kind == "conv") + 2 * sum(a.kind == "res" for a in layers)
    assert len(seen) == convs - 1  # the last convolution stays float32
    assert -0.5 <= seen[0][0] < -0.4 and 0.4 < seen[0][1] <= 0.5  # pixels: x / 255 - 0.5
    ranges = openvino_net.int8_ranges(seen)
    assert all(lo <= a and b <= hi for (a, b), (lo, hi) in zip(seen, ranges, strict=True))
    assert all(float(f"{v:.3g}") == v for r in ranges for v in r)  # 3 digits, rounded out


def test_ranges_round_away_from_zero():
    assert openvino_net._outward(0.12341) == pytest.approx(0.124)
    assert openvino_net._outward(-0.12341) == pytest.approx(-0.124)
    assert openvino_net._outward(123.0) == 123.0


def test_the_int8_encoder_is_quantized_and_close_to_float32(tiny_model, photo):
    x = photo[None, :64, :64].transpose(0, 3, 1, 2).astype(np.float32) / 255 - 0.5
    exact = transform._numpy_stack(tiny_model.net, "encoder", "f32", 1)(x)
    fast = transform._numpy_stack(tiny_model.net, "encoder", "int8", 1)(x)
    error = float(np.mean((fast - exact) ** 2) / np.mean(exact**2))
    assert 0 < error < 1e-2
    assert np.array_equal(fast, transform._numpy_stack(tiny_model.net, "encoder", "int8", 1)(x))


@pytest.mark.parametrize("int8", [False, True])
@pytest.mark.parametrize("bf16", [False, True])
def test_effort_1_encodes_in_int8_where_the_cpu_runs_it_and_not_bf16(
    tiny_model, monkeypatch, int8, bf16
):
    monkeypatch.setattr(openvino_net, "native_int8", lambda: int8)
    monkeypatch.setattr(openvino_net, "native_bf16", lambda: bf16)
    coder = coders.for_model(tiny_model)
    for level in (1, 2, 3, 4):
        net = ratecontrol.RateModel(tiny_model, 1.0, coder, effort=effort.effort(level)).net()
        assert net.precision == ("bf16" if bf16 else "f32")
        fast = int8 and not bf16 and level == 1
        assert net.encoder_precision == ("int8" if fast else net.precision)
