"""Training and architecture settings as plain dataclasses (no torch), so the command
line builds its ``vqcodec train`` options from them without importing torch: one place
for every default and help text."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation hyper-parameters; recorded in checkpoints and the model card.

    The defaults are the recipe of the shipped default model, vqcodec-base-v2; the
    ``vqcodec train`` options are generated from these fields.
    """

    steps: int = field(default=27000, metadata=_help("Optimizer steps."))
    batch_size: int = field(default=16, metadata=_help("Crops per step (per rank)."))
    crop: int = field(default=256, metadata=_help("Crop side in pixels (multiple of 32)."))
    lr: float = field(default=3e-4, metadata=_help("Peak learning rate (Adam, cosine decay)."))
    warmup: int = field(default=500, metadata=_help("Linear warm-up steps, at most 5% of --steps."))
    clip: float = field(default=0.1, metadata=_help("Gradient norm clipping."))
    spike: float = field(
        default=4.0,
        metadata=_help(
            "Also clip the gradient norm at this multiple of its running mean (0: off): "
            "a rare outlier step otherwise moves Adam's normalised update far."
        ),
    )
    beta: float = field(default=0.25, metadata=_help("Commitment loss weight."))
    dropout_p: float = field(
        default=0.5, metadata=_help("Probability that a unit uses fewer than all stages.")
    )
    dropout_unit: str = field(
        default="tile",
        metadata=_help(
            "Draw the quantizer-dropout depth per example or per 32x32 tile.",
            choices=("example", "tile"),
        ),
    )
    rate_lambda: float = field(
        default=0.0,
        metadata=_help("Largest rate weight for entropy-constrained code choice (0: off)."),
    )
    grown_lr: float = field(
        default=1.0,
        metadata=_help(
            "With --init-from: the learning rate of the residual blocks the warm start adds, "
            "as a multiple of --lr (new blocks start as the identity and have everything to "
            "learn; the trained layers may need a rate too low for that)."
        ),
    )
    seed: int = field(default=0, metadata=_help("Seed of every random draw."))
    bf16: bool = field(
        default=False,
        metadata=_help(
            "Run the convolutions in bfloat16 autocast (weights, optimizer and codebook "
            "lookups stay float32): 2.8x the training pixels/s on a CPU with AMX."
        ),
    )
    log_every: int = field(default=250, metadata=_help("Steps between log lines."))
    checkpoint_every: int = field(default=500, metadata=_help("Steps between checkpoints."))
    holdout: float = field(
        default=0.1,
        metadata=_help(
            "Without --val: the last fraction of DATA's images (by name, at least one) "
            "is held out for validation."
        ),
    )

    def warmup_steps(self) -> int:
        """The warm-up actually used: ``warmup`` steps, at most a twentieth of the run."""
        return max(1, min(self.warmup, self.steps // 20))


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyper-parameters; stored in every weights file. The defaults are
    vqcodec-base-v2's."""

    channels: tuple[int, int, int] = field(
        default=(96, 128, 192),
        metadata=_help("Channels at 1/2, 1/4 and 1/8 scale, comma-separated."),
    )
    latent_dim: int = field(default=32, metadata=_help("Values per latent position."))
    stages: int = field(default=12, metadata=_help("Residual VQ levels (= quality levels)."))
    codebook_size: int = field(default=256, metadata=_help("Codes per stage."))
    enc_blocks: int = field(
        default=3, metadata=_help("Residual blocks at the encoder's 1/8 scale.")
    )
    dec_blocks: int = field(
        default=2, metadata=_help("Residual blocks at the decoder's 1/8 scale.")
    )
    tiled_encoder: bool = field(
        default=True,
        metadata=_help(
            "Encode each 32x32 tile on its own, or (--untiled-encoder) the whole image, so "
            "latents at tile borders see across them (tiles are still quantized on their own).",
            flag="--tiled-encoder/--untiled-encoder",
        ),
    )

    def to_json(self) -> str:
        raw = asdict(self)
        if raw["tiled_encoder"]:  # omitted when true: configs written before it read the same
            del raw["tiled_encoder"]
        return json.dumps(raw, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        """Parse and bound-check a stored config (model files may come from anyone)."""
        raw = json.loads(text)
        cfg = cls(
            channels=tuple(int(c) for c in raw["channels"]),
            latent_dim=int(raw["latent_dim"]),
            stages=int(raw["stages"]),
            codebook_size=int(raw["codebook_size"]),
            enc_blocks=int(raw.get("enc_blocks", 1)),
            dec_blocks=int(raw.get("dec_blocks", 1)),
            tiled_encoder=bool(raw.get("tiled_encoder", True)),
        )
        if (
            len(cfg.channels) != 3
            or not all(1 <= c <= 1024 for c in cfg.channels)
            or not 1 <= cfg.latent_dim <= 256
            or not 1 <= cfg.stages <= 255
            or not 2 <= cfg.codebook_size <= 65536
            or not 0 <= cfg.enc_blocks <= 16
            or not 0 <= cfg.dec_blocks <= 16
        ):
            raise ValueError(f"architecture out of bounds: {cfg}")
        return cfg
