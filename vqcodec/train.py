"""Training: random crops, quantizer dropout, EMA codebooks, checkpoints and resume.

Loss (van den Oord et al. 2017, EMA variant): ``mse(x, x_hat) + beta * ||z_e - sg[z_q]||^2``.
The codebooks follow their assigned encoder outputs by EMA, so there is no codebook
term. Everything that decides the result (weights, optimizer, RNG states) is in the
checkpoint, so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from . import entropy
from .errors import VQCodecError
from .metrics import codebook_usage, psnr
from .model import LATENT_TILE, TILE, VQVAE, ModelConfig
from .transform import encode_indices
from .weights import round_weights, save_model

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm"}


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation hyper-parameters; recorded in checkpoints and the model card."""

    steps: int = 20000
    batch_size: int = 8
    crop: int = 128
    lr: float = 3e-4
    warmup: int = 500
    clip: float = 0.1
    beta: float = 0.25
    dropout_p: float = 0.5
    dropout_unit: str = "example"
    rate_lambda: float = 0.0
    seed: int = 0
    log_every: int = 250
    checkpoint_every: int = 500


def load_images(folder: str | Path, min_side: int) -> list[torch.Tensor]:
    """Every image in ``folder`` (sorted by name) as uint8 ``[3, H, W]``, RGB."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    images = []
    for p in files:
        with Image.open(p) as im:
            arr = np.asarray(im.convert("RGB"))
        if min(arr.shape[:2]) >= min_side:
            images.append(torch.from_numpy(arr.copy()).permute(2, 0, 1))
    if not images:
        raise VQCodecError(f"no images of at least {min_side}x{min_side} pixels in {folder}")
    return images


def sample_crops(
    images: list[torch.Tensor], n: int, crop: int, gen: torch.Generator
) -> torch.Tensor:
    """``n`` random crops, randomly mirrored, as float ``[n, 3, crop, crop]`` in [0, 1]."""
    out = []
    for _ in range(n):
        img = images[int(torch.randint(len(images), (1,), generator=gen))]
        _, h, w = img.shape
        y = int(torch.randint(h - crop + 1, (1,), generator=gen))
        x = int(torch.randint(w - crop + 1, (1,), generator=gen))
        c = img[:, y : y + crop, x : x + crop]
        if bool(torch.rand((), generator=gen) < 0.5):
            c = c.flip(2)
        out.append(c)
    return torch.stack(out).float() / 255.0


def sample_active(n: int, stages: int, p: float, gen: torch.Generator) -> torch.Tensor:
    """Quantizer dropout: with probability ``p`` an example uses 1..stages levels, else all."""
    drop = torch.rand(n, generator=gen) < p
    levels = torch.randint(1, stages + 1, (n,), generator=gen)
    return torch.where(drop, levels, torch.full_like(levels, stages))


def sample_levels(cfg: TrainConfig, stages: int, gen: torch.Generator) -> torch.Tensor:
    """Levels per example ``[B]``, or per latent position ``[B, h, w]`` drawn per 32x32 tile.

    Per-tile dropout teaches the decoder latent grids whose depth varies from tile to
    tile, which is what an encoder choosing each tile's depth produces.
    """
    if cfg.dropout_unit == "example":
        return sample_active(cfg.batch_size, stages, cfg.dropout_p, gen)
    tiles = cfg.crop // TILE
    active = sample_active(cfg.batch_size * tiles * tiles, stages, cfg.dropout_p, gen)
    active = active.reshape(cfg.batch_size, tiles, 1, tiles, 1)
    grid = active.expand(-1, -1, LATENT_TILE, -1, LATENT_TILE)
    return grid.reshape(cfg.batch_size, tiles * LATENT_TILE, tiles * LATENT_TILE)


def usage(indices: torch.Tensor, size: int) -> tuple[list[float], list[int]]:
    """Per-stage perplexity (2^entropy of the histogram) and number of codes used."""
    perplexity, used = [], []
    for s in range(indices.shape[1]):
        hist = torch.bincount(indices[:, s].flatten(), minlength=size)
        stage_perplexity, stage_used = codebook_usage(hist.cpu().numpy())
        perplexity.append(round(stage_perplexity, 1))
        used.append(stage_used)
    return perplexity, used


def _uint8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


@torch.no_grad()
def validate(net: VQVAE, val: torch.Tensor) -> dict:
    """PSNR at every number of levels and codebook usage, on a fixed set of crops."""
    net.eval()
    idx = net.indices(val, net.cfg.stages)
    out = {
        "psnr": [
            round(psnr(_uint8(net.reconstruct(idx[:, : s + 1])), _uint8(val)), 2)
            for s in range(net.cfg.stages)
        ]
    }
    flat = idx.permute(0, 2, 3, 1).reshape(-1, net.cfg.stages)
    out["perplexity"], out["codes_used"] = usage(flat, net.cfg.codebook_size)
    net.train()
    return out


CONTEXT_PRIOR = 256


def count_tables(
    net: VQVAE, images: list[torch.Tensor], device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entropy tables from the indices of the whole training images.

    Returns the plain tables ``[S, K]`` (add-one smoothed histograms, coder 1) and the
    two kinds of context tables of coder 2: ``[S, K, K]`` by the index above (first
    ``NEIGHBOUR_STAGES`` stages) or by the previous stage's index (later stages), and
    ``[NEIGHBOUR_STAGES, K, K]`` by the index to the left. Each is the count of
    (context, index) pairs plus ``CONTEXT_PRIOR`` pseudo-counts spread like the stage's
    plain table (at least one per cell), because most of the K*K pairs are rare.
    """
    net.eval()
    stages, size = net.cfg.stages, net.cfg.codebook_size
    neighbours = min(stages, entropy.NEIGHBOUR_STAGES)
    counts = np.ones((stages, size), dtype=np.int64)
    context = np.zeros((stages, size, size), dtype=np.int64)
    left = np.zeros((neighbours, size, size), dtype=np.int64)
    for img in images:
        idx = encode_indices(net, img.permute(1, 2, 0).cpu().numpy(), stages, device)
        for s in range(stages):
            counts[s] += np.bincount(idx[s].ravel(), minlength=size)
            if s < neighbours:
                np.add.at(context[s], (idx[s][:-1].ravel(), idx[s][1:].ravel()), 1)
                np.add.at(left[s], (idx[s][:, :-1].ravel(), idx[s][:, 1:].ravel()), 1)
            else:
                np.add.at(context[s], (idx[s - 1].ravel(), idx[s].ravel()), 1)
    prior = np.maximum(1, np.round(CONTEXT_PRIOR * counts / counts.sum(1, keepdims=True)))
    prior = prior.astype(np.int64)[:, None, :]
    return counts, context + prior, left + prior[:neighbours]


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak rate."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def save_checkpoint(
    path: Path,
    step: int,
    net: VQVAE,
    opt: torch.optim.Optimizer,
    gen: torch.Generator,
    cfg: TrainConfig,
    elapsed: float,
) -> None:
    """Write the whole training state to ``path`` (safetensors) atomically."""
    tensors = {f"model.{k}": v.contiguous() for k, v in net.state_dict().items()}
    state = opt.state_dict()
    for i, st in state["state"].items():
        for k, v in st.items():
            tensors[f"opt.{i}.{k}"] = torch.as_tensor(v).contiguous()
    tensors["rng.gen"] = gen.get_state()
    meta = {
        "step": str(step),
        "elapsed": str(elapsed),
        "train": json.dumps(asdict(cfg)),
        "model": net.cfg.to_json(),
        "param_groups": json.dumps(state["param_groups"]),
    }
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def load_checkpoint(
    path: Path, net: VQVAE, opt: torch.optim.Optimizer, gen: torch.Generator
) -> tuple[int, float]:
    """Restore a checkpoint written by :func:`save_checkpoint`; returns (step, elapsed seconds)."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if meta.get("model") != net.cfg.to_json():
        raise VQCodecError(f"checkpoint {path} was made for another architecture")
    net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    opt_state: dict = {"state": {}, "param_groups": json.loads(meta["param_groups"])}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, i, name = k.split(".", 2)
            opt_state["state"].setdefault(int(i), {})[name] = v
    opt.load_state_dict(opt_state)
    gen.set_state(tensors["rng.gen"])
    return int(meta["step"]), float(meta["elapsed"])


def train(
    data: str | Path,
    out: str | Path,
    name: str,
    cfg: TrainConfig | None = None,
    model_cfg: ModelConfig | None = None,
    checkpoint: str | Path | None = None,
    log: str | Path | None = None,
    progress: Callable | None = None,
    device: str = "cpu",
    time_limit: float | None = None,
) -> dict:
    """Train a model on the images in ``data`` and write it to ``out``; returns its card.

    ``checkpoint`` is written every ``cfg.checkpoint_every`` steps and, if it exists
    when training starts, resumed from. ``log`` receives one JSON line per log step.
    ``progress`` wraps the step range (for example ``tqdm``'s constructor).
    ``device`` is ``cpu`` or ``cuda``; seeded runs repeat exactly on the same device.
    ``time_limit`` (seconds) stops early, checkpointed, and still writes the model; the
    card then records the step reached (a short run to compare designs, not to ship).
    """
    cfg, model_cfg = cfg or TrainConfig(), model_cfg or ModelConfig()
    if cfg.crop % TILE or cfg.crop < TILE:
        raise VQCodecError(f"crop must be a positive multiple of {TILE}")
    if cfg.dropout_unit not in ("example", "tile"):
        raise VQCodecError("dropout_unit must be 'example' or 'tile'")
    if device != "cpu":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    images = [img.to(device) for img in load_images(data, cfg.crop)]
    val = sample_crops(images, 16, cfg.crop, torch.Generator().manual_seed(cfg.seed + 1))
    net = VQVAE(model_cfg).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    ckpt = Path(checkpoint) if checkpoint else None
    start, elapsed = 0, 0.0
    if ckpt is not None and ckpt.exists():
        start, elapsed = load_checkpoint(ckpt, net, opt, gen)
    log_file = open(log, "a") if log else None
    steps = range(start, cfg.steps)
    bar = progress(steps, initial=start, total=cfg.steps) if progress else steps
    net.train()
    t0 = time.perf_counter() - elapsed
    stop_at = time.perf_counter() + time_limit if time_limit else math.inf
    done = start
    window = []
    try:
        for step in bar:
            for group in opt.param_groups:
                group["lr"] = lr_at(step, cfg)
            x = sample_crops(images, cfg.batch_size, cfg.crop, gen)
            active = sample_levels(cfg, model_cfg.stages, gen).to(device)
            lam = None
            if cfg.rate_lambda > 0:
                lam = (torch.rand(cfg.batch_size, generator=gen) * cfg.rate_lambda).to(device)
            x_hat, commitment, idx = net(x, active, gen, lam)
            mse = (x_hat - x).pow(2).mean()
            loss = mse + cfg.beta * commitment
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
            if torch.isfinite(grad_norm):
                opt.step()
            window.append((mse.item(), commitment.item(), grad_norm.item()))
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                m = np.mean(window, axis=0)
                record = {
                    "step": done,
                    "seconds": round(time.perf_counter() - t0, 1),
                    "lr": lr_at(step, cfg),
                    "train_mse": float(m[0]),
                    "train_psnr": round(10 * math.log10(1 / max(float(m[0]), 1e-10)), 2),
                    "commitment": float(m[1]),
                    "grad_norm": float(m[2]),
                    "val": validate(net, val),
                }
                window.clear()
                if log_file:
                    log_file.write(json.dumps(record) + "\n")
                    log_file.flush()
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(psnr=record["train_psnr"], val=record["val"]["psnr"][-1])
            out_of_time = time.perf_counter() > stop_at
            if ckpt is not None and (
                done % cfg.checkpoint_every == 0 or done == cfg.steps or out_of_time
            ):
                save_checkpoint(ckpt, done, net, opt, gen, cfg, time.perf_counter() - t0)
            if out_of_time:
                break
    finally:
        if log_file:
            log_file.close()
    seconds = time.perf_counter() - t0
    round_weights(net)
    counts, context_counts, left_counts = count_tables(net, images, device)
    card = {
        "train": asdict(cfg),
        "data": str(data),
        "images": len(images),
        "steps_done": done,
        "wall_seconds": round(seconds, 1),
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name() if device != "cpu" else "cpu",
        "final_val": validate(net, val),
    }
    save_model(out, name, net, counts, card, context_counts, left_counts)
    return card
