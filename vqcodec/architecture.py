"""The encoder and decoder stacks as plain descriptions (no torch): one list of layers
per stack, from which :mod:`vqcodec.model` builds the torch modules, the model loader
computes the tensor shapes a file must hold, and :mod:`vqcodec.openvino_net` builds its
graphs straight from a file's arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import ModelConfig

TILE = 32  # pixels per side of the encoder's tile
DOWNSAMPLE = 8  # pixels per latent position, each way
LATENT_TILE = TILE // DOWNSAMPLE


@dataclass(frozen=True)
class Layer:
    """One layer: ``conv`` (2-d convolution), ``deconv`` (transposed convolution),
    ``gdn`` / ``igdn`` ((inverse) generalized divisive normalization of ``cin``
    channels) or ``res`` (two 3x3 convolutions of ``cin`` channels with a skip)."""

    kind: str
    cin: int
    cout: int
    kernel: int = 1
    stride: int = 1
    padding: int = 0


def encoder_layers(cfg: ModelConfig) -> list[Layer]:
    """Pixels (3 channels) to the latent grid (÷8)."""
    c0, c1, c2 = cfg.channels
    return [
        Layer("conv", 3, c0, 5, 2, 2),
        Layer("gdn", c0, c0),
        Layer("conv", c0, c1, 4, 2, 1),
        Layer("gdn", c1, c1),
        Layer("conv", c1, c2, 4, 2, 1),
        *(Layer("res", c2, c2, 3, 1, 1) for _ in range(cfg.enc_blocks)),
        Layer("conv", c2, cfg.latent_dim, 3, 1, 1),
    ]


def decoder_layers(cfg: ModelConfig) -> list[Layer]:
    """The latent grid back to pixels (×8), unclamped and centred on 0."""
    c0, c1, c2 = cfg.channels
    return [
        Layer("conv", cfg.latent_dim, c2, 3, 1, 1),
        *(Layer("res", c2, c2, 3, 1, 1) for _ in range(cfg.dec_blocks)),
        Layer("deconv", c2, c1, 4, 2, 1),
        Layer("igdn", c1, c1),
        Layer("deconv", c1, c0, 4, 2, 1),
        Layer("igdn", c0, c0),
        Layer("deconv", c0, 3, 4, 2, 1),
    ]


def _layer_shapes(prefix: str, layer: Layer) -> dict[str, tuple[int, ...]]:
    k = layer.kernel
    if layer.kind == "conv":
        return {f"{prefix}.weight": (layer.cout, layer.cin, k, k), f"{prefix}.bias": (layer.cout,)}
    if layer.kind == "deconv":
        return {f"{prefix}.weight": (layer.cin, layer.cout, k, k), f"{prefix}.bias": (layer.cout,)}
    if layer.kind in ("gdn", "igdn"):
        return {f"{prefix}.beta": (layer.cin,), f"{prefix}.gamma": (layer.cin, layer.cin, 1, 1)}
    conv = Layer("conv", layer.cin, layer.cout, k, 1, 1)
    return _layer_shapes(f"{prefix}.conv1", conv) | _layer_shapes(f"{prefix}.conv2", conv)


def parameter_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor of a model's network and codebooks, by state-dict name
    (``encoder.0.weight``, ..., ``quantizer.codebooks``), as a model file stores them."""
    shapes = {}
    for name, layers in (("encoder", encoder_layers(cfg)), ("decoder", decoder_layers(cfg))):
        for i, layer in enumerate(layers):
            shapes |= _layer_shapes(f"{name}.{i}", layer)
    return shapes | {"quantizer.codebooks": (cfg.stages, cfg.codebook_size, cfg.latent_dim)}
