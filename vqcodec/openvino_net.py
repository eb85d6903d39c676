"""The encoder and decoder stacks compiled by OpenVINO, for faster CPU inference.

The graph is built layer by layer from the torch module's weights (no tracing, so it
takes milliseconds), with dynamic batch and spatial sizes, and compiled for the CPU at
a given precision and thread count. In float32 it computes what torch computes up to
float rounding (the two can differ by one in a pixel here and there); bf16 is faster
again on CPUs with AMX or AVX-512 bf16, and rounds more.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn

from .model import GDN, VQVAE, ResBlock

try:  # optional: without OpenVINO the networks run in torch
    import openvino as ov
    import openvino.opset13 as ops
except ImportError:  # pragma: no cover - depends on the installation
    ov = None


def available() -> bool:
    """Whether OpenVINO can be used here."""
    return ov is not None


def _array(t: torch.Tensor) -> np.ndarray:
    return np.array(t.detach().float().cpu().numpy(), copy=True)  # owned by the graph


def _const(t: torch.Tensor):
    return ops.constant(_array(t))


def _bias(b: torch.Tensor):
    return ops.constant(_array(b)[None, :, None, None])


def _conv(x, layer: nn.Conv2d):
    (s, _), (p, _) = layer.stride, layer.padding
    y = ops.convolution(x, _const(layer.weight), [s, s], [p, p], [p, p], [1, 1])
    return y if layer.bias is None else ops.add(y, _bias(layer.bias))


def _deconv(x, layer: nn.ConvTranspose2d):
    (s, _), (p, _) = layer.stride, layer.padding
    w = _const(layer.weight)
    y = ops.convolution_backprop_data(
        x, w, strides=[s, s], pads_begin=[p, p], pads_end=[p, p], dilations=[1, 1]
    )
    return y if layer.bias is None else ops.add(y, _bias(layer.bias))


# taps of a 4x4 stride-2 transposed convolution that reach output phase i (row or column
# 2m + i): (offset of the input position from m, plus 1 = row of a 3x3 kernel; tap of the 4x4)
_PHASE_TAPS = {0: ((1, 1), (0, 3)), 1: ((2, 0), (1, 2))}


def _subpixel_deconv(x, layer: nn.ConvTranspose2d):
    """``layer`` (4x4, stride 2, padding 1) as a 3x3 convolution to four phases per output
    channel, then depth-to-space: the same sums in another order. OpenVINO runs this in
    bf16 where it keeps a transposed convolution in float32."""
    w = layer.weight.detach().float()  # [in, out, 4, 4]
    cin, cout = w.shape[:2]
    k = torch.zeros(cout, 2, 2, cin, 3, 3)
    for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)):
        for r, ky in _PHASE_TAPS[i]:
            for s, kx in _PHASE_TAPS[j]:
                k[:, i, j, :, r, s] = w[:, :, ky, kx].T
    y = ops.convolution(x, _const(k.reshape(4 * cout, cin, 3, 3)), [1, 1], [1, 1], [1, 1], [1, 1])
    if layer.bias is not None:
        y = ops.add(y, _bias(layer.bias.detach().repeat_interleave(4)))
    return ops.depth_to_space(y, "depth_first", 2)


def _gdn(x, layer: GDN):
    gamma = layer.gamma.detach().abs()
    beta = layer.beta.detach().abs() + 1e-6
    norm = ops.convolution(ops.abs(x), _const(gamma), [1, 1], [0, 0], [0, 0], [1, 1])
    norm = ops.add(norm, _bias(beta))
    return ops.multiply(x, norm) if layer.inverse else ops.divide(x, norm)


def _layer(x, layer: nn.Module, subpixel: bool = False):
    if isinstance(layer, nn.ConvTranspose2d):
        return _subpixel_deconv(x, layer) if subpixel else _deconv(x, layer)
    if isinstance(layer, nn.Conv2d):
        return _conv(x, layer)
    if isinstance(layer, GDN):
        return _gdn(x, layer)
    if isinstance(layer, ResBlock):
        return ops.add(x, _conv(ops.relu(_conv(x, layer.conv1)), layer.conv2))
    raise TypeError(f"no OpenVINO equivalent for {type(layer).__name__}")


def _graph(stack: nn.Sequential, channels: int, subpixel: bool = False):
    x = ops.parameter([-1, channels, -1, -1], np.float32)
    y = x
    for layer in stack:
        y = _layer(y, layer, subpixel)
    return ov.Model([y], [x])


class CompiledStack(nn.Module):
    """A ``nn.Sequential`` of the model's layers, run by OpenVINO: float32 NCHW in and out."""

    def __init__(self, stack: nn.Sequential, channels: int, precision: str, threads: int):
        super().__init__()
        config = {
            "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
        }
        graph = _graph(stack, channels, subpixel=precision == "bf16")
        self._compiled = ov.Core().compile_model(graph, "CPU", config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        data = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(self._compiled(data)[0].copy())


@lru_cache(maxsize=8)
def compiled(stack: nn.Sequential, channels: int, precision: str, threads: int) -> CompiledStack:
    """``stack`` compiled at ``precision`` (``"f32"`` or ``"bf16"``) for ``threads``
    threads, once per process (the weights are read when it is compiled)."""
    return CompiledStack(stack, channels, precision, threads)


@lru_cache(maxsize=4)
def split_encoder(stack: nn.Sequential, threads: int) -> nn.Sequential:
    """The encoder ``stack`` in bf16 but for its last convolution, in float32: a latent
    rounded to bf16 (8 significant bits) misleads the deepest stages' code choice (at
    quality 12 a flat white image's darkest pixel fell from 250 to 249); the last layer in float32
    costs 0.05 s of CPU per Kodak image against 0.09 s for the whole bf16 encoder."""
    last = stack[-1]
    return nn.Sequential(
        compiled(stack[:-1], 3, "bf16", threads),
        CompiledStack(stack[-1:], last.in_channels, "f32", threads),
    )


class Accelerated:
    """A stand-in for a :class:`~vqcodec.model.VQVAE` whose encoder and decoder stacks
    run in OpenVINO (each compiled when first used), sharing the net's quantizer; what
    :mod:`vqcodec.transform` needs of a net."""

    encode = VQVAE.encode
    decode = VQVAE.decode
    reconstruct = VQVAE.reconstruct

    def __init__(self, net: VQVAE, precision: str = "f32", threads: int = 1) -> None:
        self.net, self.precision, self.threads = net, precision, threads
        self.cfg, self.quantizer = net.cfg, net.quantizer

    @property
    def encoder(self) -> nn.Module:
        if self.precision == "bf16":
            return split_encoder(self.net.encoder, self.threads)
        return compiled(self.net.encoder, 3, self.precision, self.threads)

    @property
    def decoder(self) -> CompiledStack:
        return compiled(self.net.decoder, self.cfg.latent_dim, self.precision, self.threads)
