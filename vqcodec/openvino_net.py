"""The encoder and decoder stacks compiled by OpenVINO, for faster CPU inference.

The graph is built layer by layer from a model's float32 arrays and the stack's layer
list (:mod:`vqcodec.architecture`), with no tracing and no torch, so it takes
milliseconds and decoding through it needs numpy alone; batch and spatial sizes are
dynamic, and it is compiled for the CPU at a given precision and thread count. In
float32 it computes what torch computes up to float rounding (the two can differ by one
in a pixel here and there); bf16 is faster again on CPUs with AMX or AVX-512 bf16, and
rounds more. In int8 every convolution's input and weights pass through FakeQuantize
nodes (inputs per tensor over ranges measured on a calibration image, weights per output
channel), which OpenVINO runs as integer convolutions (VNNI, AMX): for the encoder only,
whose precision changes which codes are chosen, never what a file decodes to.
"""

from __future__ import annotations

import math
import queue
from collections.abc import Callable, Mapping
from functools import lru_cache

import numpy as np

from .architecture import Layer

try:  # optional: without OpenVINO the networks run in torch
    import openvino as ov
    import openvino.opset13 as ops
except ImportError:  # pragma: no cover - depends on the installation
    ov = None


def available() -> bool:
    """Whether OpenVINO can be used here."""
    return ov is not None


@lru_cache(maxsize=1)
def _core():
    """One OpenVINO runtime per process (making one takes 0.07-0.17 s)."""
    return ov.Core()


@lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether OpenVINO runs bf16 natively on this CPU (AMX or AVX-512 bf16)."""
    return available() and "BF16" in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@lru_cache(maxsize=1)
def native_int8() -> bool:
    """Whether OpenVINO runs int8 convolutions on this CPU (VNNI, AMX, ...)."""
    return available() and "INT8" in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def _const(a: np.ndarray):
    return ops.constant(np.array(a, dtype=np.float32))  # a copy, owned by the graph


def _bias(b: np.ndarray):
    return _const(b[None, :, None, None])


# widening of the measured input ranges of int8 convolutions, for images whose activations
# go beyond the calibration image's (Kodak, vqcodec-base-v4: latent error 1.4-5.2e-4 of
# the latent's energy at 1.0, 1.9-8.7e-4 at 1.25, 0.5-2.0e-3 at 1.5)
INT8_MARGIN = 1.25


class _Int8:
    """What int8 does to each convolution: FakeQuantize over the next of ``ranges``
    (``(low, high)`` per convolution, in graph order) on its input, and over each output
    channel's largest weight on its weights."""

    def __init__(self, ranges: list[tuple[float, float]]) -> None:
        self.ranges = iter(ranges)

    def input(self, x):
        low, high = next(self.ranges)
        lo, hi = _const(np.float32(low)), _const(np.float32(high))
        return ops.fake_quantize(x, lo, hi, lo, hi, 256)

    def weight(self, w: np.ndarray):
        top = np.abs(w).reshape(len(w), -1).max(1).reshape(-1, *[1] * (w.ndim - 1))
        top = np.maximum(top, np.float32(1e-12))
        return ops.fake_quantize(
            _const(w), _const(-top), _const(top), _const(-top), _const(top), 255
        )


def _conv(x, weights: Mapping[str, np.ndarray], name: str, layer: Layer, int8: _Int8 | None = None):
    s, p = layer.stride, layer.padding
    w = np.asarray(weights[f"{name}.weight"], dtype=np.float32)
    if int8 is not None:
        x, kernel = int8.input(x), int8.weight(w)
    else:
        kernel = _const(w)
    y = ops.convolution(x, kernel, [s, s], [p, p], [p, p], [1, 1])
    return ops.add(y, _bias(weights[f"{name}.bias"]))


def _deconv(x, weights: Mapping[str, np.ndarray], name: str, layer: Layer, int8=None):
    s, p = layer.stride, layer.padding
    y = ops.convolution_backprop_data(
        x,
        _const(weights[f"{name}.weight"]),
        strides=[s, s],
        pads_begin=[p, p],
        pads_end=[p, p],
        dilations=[1, 1],
    )
    return ops.add(y, _bias(weights[f"{name}.bias"]))


# taps of a 4x4 stride-2 transposed convolution that reach output phase i (row or column
# 2m + i): (offset of the input position from m, plus 1 = row of a 3x3 kernel; tap of the 4x4)
_PHASE_TAPS = {0: ((1, 1), (0, 3)), 1: ((2, 0), (1, 2))}


def _subpixel_deconv(x, weights: Mapping[str, np.ndarray], name: str, layer: Layer, int8=None):
    """A 4x4, stride 2, padding 1 transposed convolution as a 3x3 convolution to four
    phases per output channel, then depth-to-space: the same sums in another order.
    OpenVINO runs this in bf16 where it keeps a transposed convolution in float32."""
    w = np.asarray(weights[f"{name}.weight"], dtype=np.float32)  # [in, out, 4, 4]
    cin, cout = w.shape[:2]
    k = np.zeros((cout, 2, 2, cin, 3, 3), dtype=np.float32)
    for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)):
        for r, ky in _PHASE_TAPS[i]:
            for s, kx in _PHASE_TAPS[j]:
                k[:, i, j, :, r, s] = w[:, :, ky, kx].T
    y = ops.convolution(x, _const(k.reshape(4 * cout, cin, 3, 3)), [1, 1], [1, 1], [1, 1], [1, 1])
    y = ops.add(y, _bias(np.repeat(weights[f"{name}.bias"], 4)))
    return ops.depth_to_space(y, "depth_first", 2)


def _gdn(x, weights: Mapping[str, np.ndarray], name: str, layer: Layer, int8=None):
    gamma = np.abs(weights[f"{name}.gamma"])
    beta = np.abs(weights[f"{name}.beta"]) + np.float32(1e-6)
    norm = ops.convolution(ops.abs(x), _const(gamma), [1, 1], [0, 0], [0, 0], [1, 1])
    norm = ops.add(norm, _bias(beta))
    return ops.multiply(x, norm) if layer.kind == "igdn" else ops.divide(x, norm)


def _res(x, weights: Mapping[str, np.ndarray], name: str, layer: Layer, int8=None):
    conv = Layer("conv", layer.cin, layer.cout, layer.kernel, 1, layer.padding)
    inner = ops.relu(_conv(x, weights, f"{name}.conv1", conv, int8))
    return ops.add(x, _conv(inner, weights, f"{name}.conv2", conv, int8))


# every builder takes ``int8``; the convolutions of conv and res layers use it
_BUILDERS = {"conv": _conv, "deconv": _deconv, "gdn": _gdn, "igdn": _gdn, "res": _res}


def graph(
    layers: list[Layer],
    weights: Mapping[str, np.ndarray],
    prefix: str,
    subpixel: bool = False,
    first: int = 0,
    int8: _Int8 | None = None,
):
    """The OpenVINO model of ``layers``, layer ``i``'s arrays named ``{prefix}.{first +
    i}....`` in ``weights`` (a state dict as numpy); ``subpixel`` builds each transposed
    convolution as :func:`_subpixel_deconv`; ``int8``, if given, quantizes each
    convolution's input and weights."""
    x = ops.parameter([-1, layers[0].cin, -1, -1], np.float32)
    y = x
    for i, layer in enumerate(layers, first):
        build = _subpixel_deconv if subpixel and layer.kind == "deconv" else _BUILDERS[layer.kind]
        y = build(y, weights, f"{prefix}.{i}", layer, int8)
    return ov.Model([y], [x])


def int8_ranges(extremes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Each convolution's input range for int8 from the ``(min, max)`` its input took on a
    calibration image: widened by :data:`INT8_MARGIN` about its middle (an input that is
    never negative keeps 0 as its low end) and rounded outward."""
    ranges = []
    for low, high in extremes:
        if low >= 0:
            ranges.append((0.0, _outward(max(high, 1e-6) * INT8_MARGIN)))
        else:
            mid, half = (low + high) / 2, max(high - low, 1e-6) / 2 * INT8_MARGIN
            ranges.append((-_outward(half - mid), _outward(mid + half)))
    return ranges


def _outward(x: float) -> float:
    """``x`` rounded away from zero to 3 significant digits: ranges that float rounding
    elsewhere (another CPU's kernels) cannot move."""
    if x == 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(abs(x))) - 2)
    return math.copysign(math.ceil(abs(x) / step) * step, x)


def compile_stack(
    layers: list[Layer],
    weights: Mapping[str, np.ndarray],
    prefix: str,
    precision: str,
    threads: int,
    first: int = 0,
    ranges: list[tuple[float, float]] | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """The stack (as :func:`graph` names it) compiled for the CPU at ``precision``
    (``"f32"``, ``"bf16"`` with sub-pixel transposed convolutions, or ``"int8"`` over the
    input ``ranges`` of :func:`int8_ranges`) on ``threads`` threads: a function from
    float32 NCHW to float32 NCHW (the weights are read now), which threads may call at
    once (each call on an infer request of its own)."""
    config = {
        "INFERENCE_PRECISION_HINT": "f32" if precision == "int8" else precision,
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
    }
    int8 = _Int8(ranges) if precision == "int8" else None
    model = graph(layers, weights, prefix, precision == "bf16", first, int8)
    compiled = _core().compile_model(model, "CPU", config)
    idle: queue.SimpleQueue = queue.SimpleQueue()  # infer requests not in use

    def run(x: np.ndarray) -> np.ndarray:
        try:
            request = idle.get_nowait()
        except queue.Empty:  # one request per caller at a time: threads run in parallel
            request = compiled.create_infer_request()
        try:
            x = np.ascontiguousarray(x, dtype=np.float32)
            return request.infer({0: x}, share_inputs=True, share_outputs=False)[0]
        finally:
            idle.put(request)

    return run
