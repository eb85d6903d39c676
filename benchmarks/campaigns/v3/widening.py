"""Is the widened latent being used? Per-channel encoder RMS and residual energy per stage.

For each model (a training checkpoint or compact snapshot of the campaign, or ``grown``:
vqcodec-base-v2 grown to the campaign's architecture at step 0, built by the same
``vqcodec.train.setup`` call as ``vqcodec train --steps 0``), over whole held-out photos
(041-049, cut to multiples of 32):

- the RMS of the encoder output per latent channel, old (the first 32, v2's) against new;
- the residual energy left after 0, 12 and all stages of greedy residual VQ, in the old
  and new channels, and how much of it stages 13-20 remove;
- the RMS of the decoder's input weights on the old and new channels (how much the
  decoder listens to them).

    python benchmarks/campaigns/v3/widening.py --grown-like CKPT SNAPSHOT CKPT \
        [--out results.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors import safe_open

from vqcodec.config import ModelConfig, TrainConfig
from vqcodec.model import TILE, VQVAE
from vqcodec.train import load_images, setup

OLD = 32  # v2's latent channels
PHOTOS = Path("/work/shared/data/train")


def _meta(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata())


def from_checkpoint(path: Path) -> tuple[VQVAE, int]:
    """The network of a training checkpoint or snapshot, and its step."""
    meta = _meta(path)
    net = VQVAE(ModelConfig.from_json(meta["model"]))
    with safe_open(str(path), framework="pt") as f:
        state = {k[6:]: f.get_tensor(k).float() for k in f.keys() if k.startswith("model.")}
    net.load_state_dict(state)
    return net.eval(), int(meta["step"])


def grown(like: Path, photos: Path, scratch: Path) -> VQVAE:
    """v2 grown at step 0 exactly as the campaign started (its settings from ``like``)."""
    meta = _meta(like)
    cfg = TrainConfig(**json.loads(meta["train"]))
    train40, val9 = scratch / "train40", scratch / "val9"
    for folder, numbers in ((train40, range(1, 41)), (val9, range(41, 50))):
        folder.mkdir(parents=True, exist_ok=True)
        for i in numbers:
            link = folder / f"{i:03d}.png"
            if not link.exists():
                link.symlink_to(photos / f"{i:03d}.png")
    run = setup(
        train40,
        cfg,
        ModelConfig.from_json(meta["model"]),
        val=val9,
        init_from=meta.get("init_from") or "vqcodec-base-v2",
    )
    return run.net.eval()


@torch.no_grad()
def measure(net: VQVAE, images: list[torch.Tensor]) -> dict:
    """Channel RMS, residual energy by stage and group, decoder input weight RMS."""
    stages, dim = net.cfg.stages, net.cfg.latent_dim
    sq = torch.zeros(dim, dtype=torch.float64)
    left = torch.zeros(stages + 1, dim, dtype=torch.float64)  # residual energy per channel
    rows = 0
    for img in images:
        h, w = (s // TILE * TILE for s in img.shape[1:])
        x = img[None, :, :h, :w].float() / 255
        z = net.encode(x).permute(0, 2, 3, 1).reshape(-1, dim)
        sq += z.double().pow(2).sum(0)
        residual = z.clone()
        left[0] += residual.double().pow(2).sum(0)
        for s, idx in enumerate(net.quantizer.quantize(z, stages).t()):
            residual -= net.quantizer.codebooks[s][idx]
            left[s + 1] += residual.double().pow(2).sum(0)
        rows += z.shape[0]
    rms = (sq / rows).sqrt()
    groups = {"old": slice(0, OLD), "new": slice(OLD, dim)}
    energy = {g: left[:, sl].sum(1) / rows for g, sl in groups.items()}
    total = left.sum(1) / rows
    w = net.decoder[0].weight.detach().double()
    out = {
        "rms_old": float(rms[:OLD].mean()),
        "rms_new": float(rms[OLD:].mean()),
        "rms_new_max": float(rms[OLD:].max()),
        "new_share_of_latent_energy": float(energy["new"][0] / total[0]),
        "residual_after": {str(s): float(total[s] / total[0]) for s in (0, 12, stages)},
        "stages_13_on_remove_of_total": float((total[12] - total[stages]) / total[0]),
        "stages_13_on_remove_of_left_at_12": float((total[12] - total[stages]) / total[12]),
        "new_left_at_12_of_new": float(energy["new"][12] / energy["new"][0]),
        "new_left_at_all_of_new": float(energy["new"][stages] / energy["new"][0]),
        "decoder_in_rms_old": float(w[:, :OLD].pow(2).mean().sqrt()),
        "decoder_in_rms_new": float(w[:, OLD:].pow(2).mean().sqrt()),
        "rms_per_channel": [round(float(v), 5) for v in rms],
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="*", type=Path)
    ap.add_argument("--grown-like", type=Path, help="also measure v2 grown at step 0")
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--scratch", type=Path, default=Path("/work/runs/ship/widening"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    images = load_images(args.photos, TILE)[40:49]
    nets = []
    if args.grown_like:
        nets.append(("grown (step 0)", grown(args.grown_like, args.photos, args.scratch)))
    for path in args.checkpoints:
        net, step = from_checkpoint(path)
        nets.append((f"step {step}", net))
    results = {}
    print(
        "| model | RMS old / new channels | new/old | new share of latent energy "
        "| residual left after 12 / all stages | stages 13-20 remove (of total / of what 12 "
        "leave) | new channels' energy left after 12 / all | decoder input weight RMS "
        "old / new |"
    )
    print("|---|---|---:|---:|---|---|---|---|")
    for label, net in nets:
        r = measure(net, images)
        results[label] = r
        stages = net.cfg.stages
        print(
            f"| {label} | {r['rms_old']:.4f} / {r['rms_new']:.4f} "
            f"| {r['rms_new'] / r['rms_old']:.3f} | {100 * r['new_share_of_latent_energy']:.2f} % "
            f"| {100 * r['residual_after']['12']:.2f} / "
            f"{100 * r['residual_after'][str(stages)]:.2f} % "
            f"| {100 * r['stages_13_on_remove_of_total']:.2f} / "
            f"{100 * r['stages_13_on_remove_of_left_at_12']:.1f} % "
            f"| {100 * r['new_left_at_12_of_new']:.1f} / {100 * r['new_left_at_all_of_new']:.1f} % "
            f"| {r['decoder_in_rms_old']:.4f} / {r['decoder_in_rms_new']:.4f} |"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
