"""Training: random crops, quantizer dropout, EMA codebooks, checkpoints and resume.

Loss (van den Oord et al. 2017, EMA variant): ``mse(x, x_hat) + beta * ||z_e - sg[z_q]||^2``.
The codebooks follow their assigned encoder outputs by EMA, so there is no codebook
term. Everything that decides the result (weights, optimizer, RNG states) is in the
checkpoint, so a resumed run continues exactly where it stopped.

:func:`train` reads top to bottom: :func:`setup` (data, network, optimizer, an optional
warm start), :func:`resume` (from a checkpoint, refusing changed settings), :func:`fit`
(the loop: :func:`lr_at`, :func:`train_step`, :func:`log_record`, checkpoints) and
:func:`finish` (entropy tables, card, model file). Under ``torchrun`` each rank samples
its own crops, gradients and codebook statistics are summed over ranks, and rank 0
validates and writes the checkpoint, log and model.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from . import entropy
from .config import TrainConfig
from .errors import VQCodecError
from .metrics import codebook_usage, psnr
from .model import LATENT_TILE, TILE, VQVAE, ModelConfig
from .transform import encode_indices
from .weights import round_weights, save_model

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm"}
VAL_CROPS = 16
BOOKKEEPING = ("log_every", "checkpoint_every")  # settings that do not change the weights

__all__ = ["TrainConfig", "train"]


def changed_settings(saved: dict, now: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """``name=old->new`` for each setting that differs (missing old ones read as default)."""
    return [
        f"{k}={saved[k]!r}->{v!r}"
        for k, v in now.items()
        if k in saved and k not in ignore and saved[k] != v
    ]


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


def split_images(
    data: str | Path, val: str | Path | None, cfg: TrainConfig
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Training and validation images: all of ``data`` and all of ``val``, or without
    ``val`` the last ``cfg.holdout`` of ``data``'s images (by name) held out."""
    images = load_images(data, cfg.crop)
    if val is not None:
        return images, load_images(val, cfg.crop)
    held = max(1, round(len(images) * cfg.holdout))
    if held >= len(images):
        raise VQCodecError(
            f"{data} has {len(images)} usable image(s): too few to hold some out for "
            "validation; pass --val with a folder of validation images"
        )
    return images[:-held], images[-held:]


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
    pixels = (img.permute(1, 2, 0).cpu().numpy() for img in images)
    return smoothed_tables(*pair_counts(net, pixels, device))


def pair_counts(
    net: VQVAE, images: Iterable[np.ndarray], device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The raw counts behind :func:`count_tables` for uint8 ``[H, W, 3]`` images: each
    stage's index histogram ``[S, K]``, its (context, index) pairs ``[S, K, K]`` and
    (left, index) pairs ``[NEIGHBOUR_STAGES, K, K]``, of full-depth greedy indices."""
    stages, size = net.cfg.stages, net.cfg.codebook_size
    neighbours = min(stages, entropy.NEIGHBOUR_STAGES)
    counts = np.zeros((stages, size), dtype=np.int64)
    context = np.zeros((stages, size, size), dtype=np.int64)
    left = np.zeros((neighbours, size, size), dtype=np.int64)
    for img in images:
        idx = encode_indices(net, img, stages, device)
        for s in range(stages):
            counts[s] += np.bincount(idx[s].ravel(), minlength=size)
            if s < neighbours:
                np.add.at(context[s], (idx[s][:-1].ravel(), idx[s][1:].ravel()), 1)
                np.add.at(left[s], (idx[s][:, :-1].ravel(), idx[s][:, 1:].ravel()), 1)
            else:
                np.add.at(context[s], (idx[s - 1].ravel(), idx[s].ravel()), 1)
    return counts, context, left


def smoothed_tables(
    counts: np.ndarray, context: np.ndarray, left: np.ndarray, prior: int = CONTEXT_PRIOR
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pair_counts` made tables: each histogram plus one, each context row plus
    ``prior`` pseudo-counts spread like its stage's plain table (at least one a cell)."""
    counts = counts + 1
    spread = np.maximum(1, np.round(prior * counts / counts.sum(1, keepdims=True)))
    spread = spread.astype(np.int64)[:, None, :]
    return counts, context + spread, left + spread[: len(left)]


def lr_at(step: int, cfg: TrainConfig, rewarm_from: int | None = None) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak rate; after a resume
    without optimizer state (``rewarm_from``), a new linear warm-up to that schedule."""
    warmup = cfg.warmup_steps()
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    t = (step - warmup) / max(1, cfg.steps - warmup)
    lr = cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))
    if rewarm_from is not None:
        lr *= min(1.0, (step - rewarm_from + 1) / warmup)
    return lr


# --- one training run ------------------------------------------------------------------


@dataclass
class Run:
    """Everything one training run holds: settings, data, network, optimizer, RNG."""

    cfg: TrainConfig
    net: VQVAE
    model: torch.nn.Module  # ``net``, or its DistributedDataParallel wrapper
    opt: torch.optim.Optimizer
    gen: torch.Generator
    images: list[torch.Tensor]
    val: torch.Tensor
    device: str
    rank: int = 0
    world: int = 1
    init_from: str | None = None
    steps_done: int = 0
    elapsed: float = 0.0
    resumed_from: int = 0
    grad_mean: float = 0.0  # running mean of gradient norms (0: none yet), for ``spike``
    rewarm_from: int | None = None  # step of a resume without optimizer state

    @property
    def main(self) -> bool:
        """Whether this process validates and writes files (rank 0)."""
        return self.rank == 0


def _distributed(device: str) -> tuple[int, int, str]:
    """(rank, world size, device) under torchrun, joining its process group; else (0, 1, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    if device.startswith("cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def setup(
    data: str | Path,
    cfg: TrainConfig,
    model_cfg: ModelConfig,
    device: str = "cpu",
    val: str | Path | None = None,
    init_from: str | Path | None = None,
    grow: bool = True,
) -> Run:
    """Load the images, build the network (grown from ``init_from`` if given and ``grow``:
    a run about to resume skips the growth, which its checkpoint overwrites) and optimizer."""
    if cfg.crop % TILE or cfg.crop < TILE:
        raise VQCodecError(f"crop must be a positive multiple of {TILE}")
    if cfg.dropout_unit not in ("example", "tile"):
        raise VQCodecError("dropout_unit must be 'example' or 'tile'")
    rank, world, device = _distributed(device)
    if device != "cpu":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    torch.manual_seed(cfg.seed)
    train_images, val_images = split_images(data, val, cfg)
    images = [img.to(device) for img in train_images]
    val_gen = torch.Generator().manual_seed(cfg.seed + 1)
    val_crops = sample_crops([v.to(device) for v in val_images], VAL_CROPS, cfg.crop, val_gen)
    if init_from is not None and grow:
        from .grow import grow_from

        net = grow_from(init_from, model_cfg, images, cfg, torch.Generator().manual_seed(cfg.seed))
    else:
        net = VQVAE(model_cfg)
    net = net.to(device)
    model: torch.nn.Module = net
    if world > 1:  # codebooks are kept equal by the quantizer itself
        model = torch.nn.parallel.DistributedDataParallel(net, broadcast_buffers=False)
    opt = torch.optim.Adam(_param_groups(net, cfg, init_from), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed + 7919 * rank)  # each rank its own crops
    return Run(
        cfg, net, model, opt, gen, images, val_crops, device, rank, world,
        None if init_from is None else str(init_from),
    )  # fmt: skip


def _param_groups(net: VQVAE, cfg: TrainConfig, init_from: str | Path | None) -> list[dict]:
    """The optimizer's parameter groups, each with its ``scale`` of the scheduled rate:
    one group, or with ``cfg.grown_lr`` a second one for the blocks growth added (the
    same on a resume, whose checkpoint then fills both)."""
    if init_from is None or cfg.grown_lr == 1.0:
        return [{"params": list(net.parameters()), "scale": 1.0}]
    from .grow import added_blocks
    from .registry import get_model

    old = get_model(str(init_from) if isinstance(init_from, Path) else init_from).cfg
    added = added_blocks(old, net.cfg)
    if not added:
        raise VQCodecError("--grown-lr needs a warm start that adds residual blocks")
    named = list(net.named_parameters())
    return [
        {"params": [p for n, p in named if not n.startswith(added)], "scale": 1.0},
        {"params": [p for n, p in named if n.startswith(added)], "scale": cfg.grown_lr},
    ]


def save_checkpoint(path: Path, run: Run) -> None:
    """Write the whole training state to ``path`` (safetensors) atomically (rank 0),
    with every rank's crop generator."""
    gens = [run.gen.get_state()]
    if run.world > 1:  # on the run's device: nccl moves only GPU tensors
        mine = gens[0].to(run.device)
        gens = [torch.empty_like(mine) for _ in range(run.world)]
        dist.all_gather(gens, mine)
        gens = [g.cpu() for g in gens]
    if not run.main:
        return
    tensors = {f"model.{k}": v.contiguous() for k, v in run.net.state_dict().items()}
    state = run.opt.state_dict()
    for i, st in state["state"].items():
        for k, v in st.items():
            tensors[f"opt.{i}.{k}"] = torch.as_tensor(v).contiguous()
    for r, g in enumerate(gens):
        tensors[f"rng.gen.{r}"] = g
    tensors["train.grad_mean"] = torch.tensor(run.grad_mean, dtype=torch.float64)
    meta = {
        "step": str(run.steps_done),
        "elapsed": str(run.elapsed),
        "train": json.dumps(asdict(run.cfg)),
        "model": run.net.cfg.to_json(),
        "param_groups": json.dumps(state["param_groups"]),
        "world": str(run.world),
        "init_from": run.init_from or "",
        "rewarm_from": "" if run.rewarm_from is None else str(run.rewarm_from),
    }
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def checkpoint_info(path: str | Path) -> dict | None:
    """A checkpoint's step and settings (``step``, ``train``, ``model``), or None if absent."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        return {
            "step": int(meta["step"]),
            "train": json.loads(meta["train"]),
            "model": json.loads(meta["model"]),
            "world": int(meta.get("world", "1")),
        }
    except (OSError, KeyError, ValueError) as exc:
        raise VQCodecError(f"cannot read checkpoint {path}: {exc}") from exc


def resumable(path: str | Path) -> bool:
    """Whether ``path`` holds a run that stopped before its last step."""
    info = checkpoint_info(path)
    return info is not None and info["step"] < info["train"]["steps"]


def resume(run: Run, path: Path, force: bool = False, say: Callable[[str], None] = print) -> None:
    """Restore the checkpoint at ``path`` into ``run`` if it exists.

    A checkpoint made with other settings is refused, naming them, unless ``force``;
    one made for another architecture or number of ranks is always refused.
    """
    info = checkpoint_info(path)
    if info is None:
        return
    arch = changed_settings(info["model"], json.loads(run.net.cfg.to_json()))
    if arch or set(info["model"]) != set(json.loads(run.net.cfg.to_json())):
        raise VQCodecError(
            f"checkpoint {path} was made for another architecture"
            + (f" ({', '.join(arch)})" if arch else "")
        )
    if info["world"] != run.world:
        raise VQCodecError(
            f"checkpoint {path} was made by {info['world']} rank(s), not {run.world}"
        )
    changed = changed_settings(info["train"], asdict(run.cfg), BOOKKEEPING)
    if changed and not force:
        raise VQCodecError(
            f"checkpoint {path} was made with other settings: {', '.join(changed)}; "
            "run with the old values, pass --force to continue with the new ones, "
            "or use another --checkpoint"
        )
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    run.net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    opt_state: dict = {"state": {}, "param_groups": json.loads(meta["param_groups"])}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, i, name = k.split(".", 2)
            opt_state["state"].setdefault(int(i), {})[name] = v
    note = list(changed)
    if opt_state["state"]:
        run.opt.load_state_dict(opt_state)
        rewarm = meta.get("rewarm_from", "")
        run.rewarm_from = int(rewarm) if rewarm else None
    else:  # a snapshot: fresh optimizer, warmed up again
        run.rewarm_from = int(meta["step"])
        note.append(f"no optimizer state: re-warm-up over {run.cfg.warmup_steps()} steps")
    run.gen.set_state(tensors.get(f"rng.gen.{run.rank}", tensors.get("rng.gen")))
    run.grad_mean = float(tensors.get("train.grad_mean", torch.zeros(())))
    run.steps_done = run.resumed_from = int(meta["step"])
    run.elapsed = float(meta["elapsed"])
    if run.main:
        say(f"resuming from step {run.steps_done}" + (f" ({'; '.join(note)})" if note else ""))


SNAPSHOT_FP32 = (
    "model.quantizer.codebooks",
    "model.quantizer.ema_sum",
    "model.quantizer.ema_count",
)


def snapshot(checkpoint: str | Path, out: str | Path) -> None:
    """A compact copy of a checkpoint to resume from when the full one is lost: float16
    network weights, float32 codebooks and EMA state, the step, settings and RNG, and no
    optimizer state (resuming from it warms the learning rate up again)."""
    tensors = {}
    with safe_open(str(checkpoint), framework="pt") as f:
        meta = dict(f.metadata())
        for k in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
            t = f.get_tensor(k)
            if k.startswith("opt."):
                continue
            if k.startswith("model.") and k not in SNAPSHOT_FP32 and t.is_floating_point():
                t = t.half()
            tensors[k] = t
    meta.update(param_groups="[]", snapshot="1")
    save_file(tensors, str(out), metadata=meta)


GRAD_MEAN_DECAY = 0.99


def clip_limit(run: Run) -> float:
    """This step's gradient norm limit: ``clip``, and ``spike`` times the running mean."""
    cfg = run.cfg
    if cfg.spike <= 0 or run.grad_mean <= 0:
        return cfg.clip
    return min(cfg.clip, cfg.spike * run.grad_mean)


def train_step(run: Run, step: int) -> tuple[float, float, float, float]:
    """One optimizer step at ``step``: returns (mse, commitment, gradient norm, limit).

    A non-finite gradient skips the step; an outlier one is clipped at the limit."""
    cfg, net = run.cfg, run.net
    for group in run.opt.param_groups:
        group["lr"] = lr_at(step, cfg, run.rewarm_from) * group.get("scale", 1.0)
    x = sample_crops(run.images, cfg.batch_size, cfg.crop, run.gen)
    active = sample_levels(cfg, net.cfg.stages, run.gen).to(run.device)
    lam = None
    if cfg.rate_lambda > 0:
        lam = (torch.rand(cfg.batch_size, generator=run.gen) * cfg.rate_lambda).to(run.device)
    device_type = "cuda" if run.device.startswith("cuda") else "cpu"
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=cfg.bf16):
        x_hat, commitment, _ = run.model(x, active, run.gen, lam)
    mse = (x_hat - x).pow(2).mean()
    loss = mse + cfg.beta * commitment
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    limit = clip_limit(run)
    grad_norm = float(torch.nn.utils.clip_grad_norm_(net.parameters(), limit))
    if math.isfinite(grad_norm):
        run.opt.step()
        seen = min(grad_norm, limit)
        run.grad_mean = (
            seen
            if run.grad_mean <= 0
            else GRAD_MEAN_DECAY * run.grad_mean + (1 - GRAD_MEAN_DECAY) * seen
        )
    return mse.item(), commitment.item(), grad_norm, limit


def log_record(run: Run, step: int, window: list[tuple[float, float, float, float]]) -> dict:
    """One log line: means of the steps since the last one, outliers, codebook
    replacements, and validation."""
    m = np.mean(window, axis=0)
    norms = [w[2] for w in window]
    replaced = run.net.quantizer.replaced
    record = {
        "step": run.steps_done,
        "seconds": round(run.elapsed, 1),
        "lr": lr_at(step, run.cfg, run.rewarm_from),
        "train_mse": float(m[0]),
        "train_psnr": round(10 * math.log10(1 / max(float(m[0]), 1e-10)), 2),
        "commitment": float(m[1]),
        "grad_norm": float(m[2]),
        "grad_norm_max": max(norms),
        "clipped": sum(w[2] > w[3] for w in window),
        "skipped": sum(not math.isfinite(n) for n in norms),
        "replaced": replaced.tolist(),
        "val": validate(run.net, run.val),
    }
    replaced.zero_()
    return record


def _agree(run: Run, flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank (so all ranks stop at the same step)."""
    if run.world == 1:
        return flag
    t = torch.tensor([int(flag)], device=run.device)
    dist.broadcast(t, 0)
    return bool(t.item())


def fit(
    run: Run,
    checkpoint: Path | None = None,
    log: str | Path | None = None,
    progress: Callable | None = None,
    time_limit: float | None = None,
) -> None:
    """Train from ``run.steps_done`` to ``cfg.steps``, or until ``time_limit`` seconds pass
    (then checkpointed, so the same call resumes); logs and checkpoints on rank 0."""
    cfg = run.cfg
    log_file = open(log, "a") if log and run.main else None
    steps = range(run.steps_done, cfg.steps)
    bar = (
        progress(steps, initial=run.steps_done, total=cfg.steps) if progress and run.main else steps
    )
    run.net.train()
    t0 = time.perf_counter() - run.elapsed
    stop_at = time.perf_counter() + time_limit if time_limit else math.inf
    window: list[tuple[float, float, float, float]] = []
    try:
        for step in bar:
            window.append(train_step(run, step))
            run.steps_done = step + 1
            run.elapsed = time.perf_counter() - t0
            if run.main and (run.steps_done % cfg.log_every == 0 or run.steps_done == cfg.steps):
                record = log_record(run, step, window)
                if log_file:
                    log_file.write(json.dumps(record) + "\n")
                    log_file.flush()
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(psnr=record["train_psnr"], val=record["val"]["psnr"][-1])
            if run.steps_done % cfg.log_every == 0:
                window.clear()
            out_of_time = _agree(run, time.perf_counter() > stop_at)
            if checkpoint is not None and (
                run.steps_done % cfg.checkpoint_every == 0
                or run.steps_done == cfg.steps
                or out_of_time
            ):
                save_checkpoint(checkpoint, run)
            if out_of_time:
                break
    finally:
        if log_file:
            log_file.close()
    run.elapsed = time.perf_counter() - t0


def weights_digest(net: VQVAE) -> str:
    """SHA-256 of every tensor of ``net`` (parameters and buffers), in state-dict order."""
    h = hashlib.sha256()
    for k, v in net.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_replicas(run: Run) -> None:
    """Raise if the ranks do not hold bit-identical weights and codebooks."""
    if run.world == 1:
        return
    mine = weights_digest(run.net)
    digests: list = [None] * run.world
    dist.all_gather_object(digests, mine)
    if len(set(digests)) != 1:
        raise VQCodecError(f"ranks ended with different weights: {digests}")


def finish(run: Run, out: str | Path, name: str, data: str | Path) -> dict:
    """Round to the stored precision, count the entropy tables and write the model (rank 0)."""
    check_replicas(run)
    card = {
        "train": asdict(run.cfg),
        "data": str(data),
        "images": len(run.images),
        "steps_done": run.steps_done,
        "resumed_from": run.resumed_from,
        "init_from": run.init_from,
        "wall_seconds": round(run.elapsed, 1),
        "threads": torch.get_num_threads(),
        "ranks": run.world,
        "device": torch.cuda.get_device_name() if run.device != "cpu" else "cpu",
    }
    if run.main:
        round_weights(run.net)
        counts, context_counts, left_counts = count_tables(run.net, run.images, run.device)
        card["final_val"] = validate(run.net, run.val)
        save_model(out, name, run.net, counts, card, context_counts, left_counts)
    return card


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


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
    val: str | Path | None = None,
    init_from: str | Path | None = None,
    force: bool = False,
    say: Callable[[str], None] = _stderr,
) -> dict:
    """Train a model on the images in ``data`` and write it to ``out``; returns its card.

    ``checkpoint`` is written every ``cfg.checkpoint_every`` steps and, if it exists
    when training starts, resumed from ("resuming from step N" goes to ``say``); a
    checkpoint made with other settings is refused unless ``force``. ``log`` receives
    one JSON line per log step. ``progress`` wraps the step range (for example
    ``tqdm``'s constructor). ``device`` is ``cpu`` or ``cuda``; seeded runs repeat
    exactly on the same device. ``time_limit`` (seconds) stops early, checkpointed, and
    still writes the model; the card then records the step reached, and the same call
    resumes. Validation uses the images in ``val``, or those ``cfg.holdout`` holds out.
    ``init_from`` (a model name or file) starts from that model grown to ``model_cfg``
    (:mod:`vqcodec.grow`).
    """
    cfg, model_cfg = cfg or TrainConfig(), model_cfg or ModelConfig()
    ckpt = Path(checkpoint) if checkpoint else None
    run = setup(
        data, cfg, model_cfg, device, val, init_from, grow=ckpt is None or not ckpt.exists()
    )
    if ckpt is not None:
        resume(run, ckpt, force, say)
    fit(run, ckpt, log, progress, time_limit)
    return finish(run, out, name, data)
