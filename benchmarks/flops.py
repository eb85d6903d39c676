"""Encoder and decoder FLOPs per pixel of model files or architectures (torch's FlopCounterMode).

Counted on a 256x256 image (FlopCounterMode counts a multiply-add as 2 FLOPs; the
quantizer's lookups are left out: they are not convolutions).

    python benchmarks/flops.py vqcodec-base-v2 --arch latent_dim=64,stages=20
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
from torch.utils.flop_counter import FlopCounterMode

from vqcodec.config import ModelConfig
from vqcodec.model import VQVAE
from vqcodec.registry import get_model

SIDE = 256


def flops_per_pixel(net: VQVAE) -> tuple[float, float]:
    """(encoder, decoder) FLOPs per pixel."""
    x = torch.rand(1, 3, SIDE, SIDE)
    with torch.no_grad():
        with FlopCounterMode(display=False) as enc:
            z = net.encode(x)
        with FlopCounterMode(display=False) as dec:
            net.decode(z)
    return enc.get_total_flops() / SIDE**2, dec.get_total_flops() / SIDE**2


def _arch(text: str) -> ModelConfig:
    """``name=value,...`` changes to vqcodec-base-v2's architecture (ModelConfig defaults)."""
    changes = dict(item.split("=") for item in text.split(",") if item)
    types = {f.name: type(f.default) for f in dataclasses.fields(ModelConfig)}
    return dataclasses.replace(
        ModelConfig(),
        **{
            k: (v.lower() == "true") if types[k] is bool else types[k](v)
            for k, v in changes.items()
        },
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help="shipped names or .safetensors files")
    ap.add_argument("--arch", action="append", default=[], help="ModelConfig changes, k=v,...")
    args = ap.parse_args()
    nets = [(m, get_model(m).net) for m in args.models]
    nets += [(f"arch {a}", VQVAE(_arch(a))) for a in args.arch]
    for name, net in nets:
        enc, dec = flops_per_pixel(net.eval())
        print(f"{name}: encoder {enc / 1e3:.1f} kFLOP/px, decoder {dec / 1e3:.1f} kFLOP/px")


if __name__ == "__main__":
    main()
