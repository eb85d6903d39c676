"""``vqcodec train``: a model from a folder of images. Its options come from the fields of
the settings dataclasses (:class:`~vqcodec.config.TrainConfig`, ``ModelConfig``), so the
command never restates a default."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from .config import ModelConfig, TrainConfig
from .errors import VQCodecError
from .fileio import check_writable


def _config_options(cls: type, skip: tuple[str, ...] = ()):
    """Click options for the fields of a settings dataclass: name, type, default and
    help all come from the field, so ``vqcodec train`` never restates a default."""

    def decorate(command):
        for f in reversed(dataclasses.fields(cls)):
            if f.name in skip:
                continue
            meta = f.metadata
            kwargs = {"default": f.default, "show_default": True, "help": meta.get("help")}
            if isinstance(f.default, bool):
                flags = meta.get(
                    "flag", f"--{f.name.replace('_', '-')}/--no-{f.name.replace('_', '-')}"
                )
                option = click.option(flags, f.name, **kwargs)
            elif isinstance(f.default, tuple):
                kwargs["default"] = ",".join(str(v) for v in f.default)
                option = click.option(
                    f"--{f.name.replace('_', '-')}", f.name, type=_IntList(len(f.default)), **kwargs
                )
            else:
                if "choices" in meta:
                    kwargs["type"] = click.Choice(meta["choices"])
                else:
                    kwargs["type"] = type(f.default)
                option = click.option(f"--{f.name.replace('_', '-')}", f.name, **kwargs)
            command = option(command)
        return command

    return decorate


class _IntList(click.ParamType):
    """``n`` positive integers separated by commas."""

    name = "INTS"

    def __init__(self, n: int) -> None:
        self.n = n

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            out = tuple(int(v) for v in str(value).split(","))
        except ValueError:
            out = ()
        if len(out) != self.n or min(out) < 1:
            self.fail(
                f"needs {self.n} positive integers separated by commas, got {value!r}", param, ctx
            )
        return out


@click.command()
@click.option(
    "--data",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of training images.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the model (.safetensors).",
)
@click.option(
    "--name", default=None, help="Model name written into files it makes [default: OUT's stem]."
)
@click.option(
    "--val",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of validation images [default: hold out the last --holdout of DATA].",
)
@_config_options(TrainConfig)
@_config_options(ModelConfig)
@click.option(
    "--init-from",
    default=None,
    help="Start from this model (shipped name or .safetensors file), grown to the "
    "architecture given: a wider latent, more stages or blocks keep its function.",
)
@click.option(
    "--train-device",
    default="cpu",
    show_default=True,
    help="Where training runs: cpu or cuda. Seeded runs repeat exactly on the same device.",
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Checkpoint file, written periodically and resumed from if it exists "
    "[default: OUT with .ckpt.safetensors].",
)
@click.option(
    "--log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON-lines log of losses, PSNR and codebook usage [default: OUT with .log.jsonl].",
)
@click.option(
    "--time-limit",
    type=float,
    default=None,
    help="Stop after this many minutes (checkpointed) and write the model as it is; "
    "the same command resumes.",
)
@click.option("--threads", type=int, default=None, help="CPU threads for torch.")
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite OUT if it exists; resume a checkpoint made with other settings.",
)
def train(**options) -> None:
    """Train a model on a folder of images (defaults: vqcodec-base-v2's recipe).

    Random crops, a fixed seed, quantizer dropout and EMA codebooks. A checkpoint
    is written every --checkpoint-every steps; run the same command again to resume.
    Under torchrun (torchrun --nproc_per_node N -m vqcodec train ...) every rank
    trains on its own crops and rank 0 writes the files.

    \b
    Example:
      vqcodec train --data ../shared/data/train --out vqc-base.safetensors --steps 6000
    """
    import torch
    from tqdm import tqdm

    from .codec import resolve_device
    from .container import valid_model_name
    from .train import resumable
    from .train import train as run_training

    data, out, force = options.pop("data"), options.pop("out"), options.pop("force")
    name = options.pop("name") or out.name.split(".")[0]
    if not valid_model_name(name):
        raise VQCodecError(f"invalid model name {name!r}; pass --name with A-Z a-z 0-9 . _ -")
    checkpoint = options.pop("checkpoint") or out.with_suffix(".ckpt.safetensors")
    if not resumable(checkpoint):  # a stopped run rewrites the model it wrote
        check_writable(str(out), force)
    if options["threads"]:
        torch.set_num_threads(options["threads"])
    cfg = TrainConfig(**{f.name: options[f.name] for f in dataclasses.fields(TrainConfig)})
    model_cfg = ModelConfig(**{f.name: options[f.name] for f in dataclasses.fields(ModelConfig)})
    time_limit = options["time_limit"]
    card = run_training(
        data,
        out,
        name,
        cfg,
        model_cfg,
        checkpoint=checkpoint,
        log=options["log"] or out.with_suffix(".log.jsonl"),
        progress=lambda r, **kw: tqdm(r, unit="step", **kw),
        device=str(resolve_device(options["train_device"])),
        time_limit=time_limit * 60 if time_limit else None,
        val=options["val"],
        init_from=options["init_from"],
        force=force,
        say=lambda message: click.echo(message, err=True),
    )
    if "final_val" not in card:  # not rank 0
        return
    val = card["final_val"]
    click.echo(
        f"wrote {out}: {card['wall_seconds']:.0f} s, validation PSNR per level {val['psnr']}"
    )
    if card["steps_done"] < cfg.steps:
        click.echo(
            f"stopped at step {card['steps_done']} of {cfg.steps}; run the same command to resume",
            err=True,
        )
