"""``vqcodec bench``: the benchmark from the command line (registered on the main group)."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import click

from vqcodec.errors import VQCodecError

from .codecs import ALL

DEFAULT_OUT = Path("vqcodec-bench")
EXTRA = ("matplotlib", "pytorch_msssim", "scipy")  # what the [bench] extra adds that it needs
SCALING_OUTPUTS = ("scaling.json", "scaling.md", "scaling.png")


def check_extra() -> None:
    """One line naming the install command when the [bench] extra is missing."""
    missing = [name for name in EXTRA if find_spec(name) is None]
    if missing:
        raise VQCodecError(
            f'vqcodec bench needs {", ".join(missing)}: pip install "vqcodec[bench]"'
        )


def _codec_names(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in ALL]
    if unknown or not names:
        given = ", ".join(unknown) if unknown else repr(value)
        raise VQCodecError(f"unknown codec {given}; choose from {', '.join(ALL)}")
    return names


@click.command("bench")
@click.argument("folder", required=False, type=click.Path(path_type=Path))
@click.option(
    "--out",
    default=DEFAULT_OUT,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for results.json, summary.md, the PNG figures and compressai/*.json.",
)
@click.option(
    "-f", "--force", is_flag=True, help="Overwrite the results of an earlier run in --out."
)
@click.option("--quick", is_flag=True, help="3 images, fewer quality points, 1 timing run.")
@click.option("--codecs", default=",".join(ALL), show_default=True, help="Comma-separated codecs.")
@click.option("--model", default=None, help="vqcodec model: shipped name or .safetensors file.")
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    help="Where vqcodec runs for the rate sweep: cpu, cuda or auto.",
)
@click.option(
    "--threads",
    default=1,
    show_default=True,
    help="CPU threads for vqcodec (torch); classical codecs use one.",
)
@click.option("--limit", type=int, default=None, help="Use only the first N images, by name.")
@click.option(
    "--repeats",
    type=int,
    default=None,
    help="Timing runs per image, best kept [default: 3; 1 with --quick].",
)
@click.option("--no-speed", is_flag=True, help="Skip the speed and memory measurement.")
@click.option(
    "--scaling", is_flag=True, help="Time every codec on synthetic 0.1, 1, 4, 16 and 64 MP images."
)
@click.option(
    "--max-mp", type=float, default=64, show_default=True, help="Largest image size for --scaling."
)
@click.option(
    "--crop-image", default=None, help="File name of the image for crop.png [default: the first]."
)
@click.option("--crop-bpp", type=float, default=0.5, show_default=True, help="Rate of crop.png.")
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Progress bars on stderr."
)
def bench(
    folder: Path | None,
    out: Path,
    force: bool,
    quick: bool,
    codecs: str,
    model: str | None,
    device: str,
    threads: int,
    limit: int | None,
    repeats: int | None,
    no_speed: bool,
    scaling: bool,
    max_mp: float,
    crop_image: str | None,
    crop_bpp: float,
    progress: bool,
) -> None:
    """Benchmark vqcodec against JPEG, WebP, JPEG 2000, AVIF and JPEG XL on FOLDER.

    Sweeps every codec's quality over about 0.05-2 bpp and reports bpp, PSNR and
    MS-SSIM per setting, BD-rates against JPEG 4:2:0 and vqcodec, PSNR at 0.25,
    0.5 and 1 bpp, encode/decode speed and peak memory, and vqcodec's entropy
    coding overhead. Writes results.json, summary.md, rd_psnr.png, rd_msssim.png,
    crop.png and compressai/CODEC.json (CompressAI's layout) into --out (scaling.json and
    scaling.png with --scaling); results of an earlier run there are kept unless --force.
    Published curves and the Kodak anchors are shown only when FOLDER is the 24 Kodak
    images.

    \b
    Examples:
      vqcodec bench ../shared/data/kodak                    # full run, into vqcodec-bench/
      vqcodec bench ../shared/data/kodak --quick            # about 4 minutes
      vqcodec bench --scaling --max-mp 16                   # size scaling only
    """
    if folder is None and not scaling:
        raise VQCodecError("give a FOLDER of images, or --scaling")
    check_extra()
    import torch

    from .report import markdown, scaling_markdown
    from .run import Options, earlier_outputs, run_benchmark
    from .scaling import run_scaling

    earlier = earlier_outputs(out) if folder is not None else []
    earlier += [out / n for n in SCALING_OUTPUTS if scaling and (out / n).exists()]
    if earlier and not force:
        names = ", ".join(sorted({p.name for p in earlier}))
        raise VQCodecError(
            f"{out} holds results of an earlier run ({names}); "
            "pass --force to overwrite them, or another --out"
        )
    if threads < 1 or (repeats is not None and repeats < 1) or (limit is not None and limit < 1):
        raise VQCodecError("--threads, --repeats and --limit must be at least 1")
    torch.set_num_threads(threads)
    options = Options(
        codecs=_codec_names(codecs),
        quick=quick,
        model=model,
        device=device,
        threads=threads,
        limit=limit,
        repeats=repeats,
        speed=not no_speed,
        crop_image=crop_image,
        crop_bpp=crop_bpp,
        progress=progress,
    )
    if folder is not None:
        results = run_benchmark(folder, out, options)
        click.echo(markdown(results))
    if scaling:
        click.echo(scaling_markdown(run_scaling(out, options, max_mp)))
    click.echo(f"results in {out}")
