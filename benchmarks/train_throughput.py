"""Training pixels/s of one vqcodec-base-v2-sized step on the CPU, by variant.

Variants run interleaved in one process (round-robin, medians), so a busy machine
slows them alike: float32 NCHW (the baseline), channels_last, torch.compile, bf16
autocast, and 128² instead of 256² crops at the same pixels per step.

    python benchmarks/train_throughput.py --threads 1 --rounds 3 --out results/x.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import nullcontext

import torch

from vqcodec.config import ModelConfig, TrainConfig
from vqcodec.model import VQVAE
from vqcodec.train import sample_levels

VARIANTS = ("baseline", "channels_last", "compile", "bf16", "crop128", "bf16_crop128")


def make_step(variant: str, pixels: int, arch: ModelConfig):
    """A closure doing one training step of ``variant``; returns its loss."""
    torch.manual_seed(0)
    crop = 128 if "crop128" in variant else 256
    cfg = TrainConfig(batch_size=pixels // crop**2, crop=crop)
    net = VQVAE(arch)
    memory = torch.channels_last if variant == "channels_last" else torch.contiguous_format
    net = net.to(memory_format=memory)
    model = torch.compile(net) if variant == "compile" else net
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(cfg.batch_size, 3, crop, crop).contiguous(memory_format=memory)
    bf16 = "bf16" in variant
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()

    def step() -> float:
        active = sample_levels(cfg, net.cfg.stages, gen)
        with autocast:
            x_hat, commitment, _ = model(x, active, gen)
            loss = (x_hat.float() - x).pow(2).mean() + 0.25 * commitment
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2, help="timed steps per variant per round")
    ap.add_argument("--pixels", type=int, default=4 * 256 * 256, help="pixels per step")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--latent-dim", type=int, default=ModelConfig().latent_dim)
    ap.add_argument("--stages", type=int, default=ModelConfig().stages)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    arch = ModelConfig(latent_dim=args.latent_dim, stages=args.stages)
    steps = {v: make_step(v, args.pixels, arch) for v in args.variants.split(",")}
    for step in steps.values():  # warm-up (and compilation)
        step()
    times: dict[str, list[float]] = {v: [] for v in steps}
    for _ in range(args.rounds):
        for v, step in steps.items():
            t = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[v].append((time.perf_counter() - t) / args.steps)
    base = statistics.median(times[next(iter(times))])
    result = {}
    for v, ts in times.items():
        med = statistics.median(ts)
        result[v] = {"seconds_per_step": round(med, 3), "pixels_per_s": round(args.pixels / med)}
        print(f"{v:14s} {med:7.3f} s/step {args.pixels / med:10.0f} px/s  x{base / med:.2f}")
    if args.out:
        meta = {"threads": args.threads, "pixels_per_step": args.pixels, "rounds": args.rounds}
        meta["arch"] = {"latent_dim": arch.latent_dim, "stages": arch.stages}
        with open(args.out, "w") as f:
            json.dump({**meta, "variants": result}, f, indent=1)


if __name__ == "__main__":
    main()
