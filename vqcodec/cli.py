"""The ``vqcodec`` command line: a thin shell over :mod:`vqcodec.api`."""

from __future__ import annotations

import json
import os
import signal
import sys
import warnings
from pathlib import Path

import click
import numpy as np

from .bench.cli import bench
from .container import DEFAULT_MAX_PIXELS, DEFAULT_PIXELS_PER_BYTE
from .effort import DEFAULT as DEFAULT_EFFORT
from .effort import HIGHEST as HIGHEST_EFFORT
from .errors import VQCodecError
from .fileio import STDIO, check_writable, default_output, stdin, write_bytes
from .train_cli import train
from .version import __version__


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that cleanup (temporary files) runs."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def _warn(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"vqcodec: warning: {message}", err=True)


def _quiet_stdout() -> None:
    """Point standard output at /dev/null after it failed, so the interpreter's flush at
    exit does not print a second error."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass


class Group(click.Group):
    """Turns every :class:`VQCodecError`, and a failure to print (a full disk, a closed
    pipe), into a one-line message and exit code 1, Ctrl-C and SIGTERM into exit codes 130
    and 143 (after cleanup), and warnings into one line."""

    def invoke(self, ctx: click.Context):
        try:
            previous = signal.signal(signal.SIGTERM, _terminate)
        except ValueError:  # not the main thread: leave signals alone
            previous = None
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _warn
                result = super().invoke(ctx)
            if sys.stdout is not None:
                sys.stdout.flush()
            return result
        except VQCodecError as exc:
            if "standard output" in str(exc):
                _quiet_stdout()
            click.echo(f"vqcodec: error: {exc}", err=True)
            sys.exit(1)
        except OSError as exc:  # printing to a full disk or a closed pipe
            _quiet_stdout()
            click.echo(f"vqcodec: error: cannot write output: {exc.strerror or exc}", err=True)
            sys.exit(1)
        except Terminated:
            click.echo("vqcodec: terminated", err=True)
            sys.exit(143)
        except KeyboardInterrupt:
            click.echo("vqcodec: interrupted", err=True)
            sys.exit(130)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def _check_extension(output: str, wanted: str | None, force: bool) -> None:
    """Refuse, unless ``force`` (then warn), an output whose extension says another format
    than the bytes written (``wanted``: the Pillow format name, or None for .vqc)."""
    from PIL import Image

    if output == STDIO:
        return
    suffix = Path(output).suffix.lower()
    said = "VQC" if suffix == ".vqc" else Image.registered_extensions().get(suffix)
    if said is None or said == (wanted or "VQC"):
        return
    message = f"{output}: its extension says {said} but the content is {wanted or '.vqc'}"
    if not force:
        raise VQCodecError(f"{message}; rename it or pass --force")
    warnings.warn(message, stacklevel=2)


DEVICE = click.option(
    "--device", default="cpu", show_default=True, help="Where the network runs: cpu, cuda or auto."
)
STRIP = click.option(
    "--strip",
    is_flag=True,
    help="Drop the ICC profile, EXIF and XMP (kept by default, wherever the format takes them).",
)
FORCE = click.option(
    "-f",
    "--force",
    is_flag=True,
    help="Overwrite OUTPUT if it exists, or write it despite an extension of another format.",
)
MAX_PIXELS = click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_PIXELS,
    show_default=True,
    help="Refuse images of more pixels, counted padded to whole 32x32 tiles (the work it sets).",
)
MAX_DENSITY = click.option(
    "--max-pixels-per-byte",
    type=click.IntRange(min=0),
    default=DEFAULT_PIXELS_PER_BYTE,
    show_default=True,
    help="Refuse files above 1 MP that claim more padded pixels per byte of file "
    "(bounds the work a small file can ask for; vqcodec's files pass; 0: no limit).",
)
THREADS = click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="CPU threads [default: one per core].",
)


def _progress(it, **kw):
    """A progress bar on stderr for a long loop, shown only when stderr is a terminal."""
    from tqdm import tqdm

    return tqdm(it, leave=False, disable=None, **kw)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="vqcodec")
def main() -> None:
    """vqcodec: a learned image codec (VQ-VAE with residual vector quantization).

    \b
    Examples:
      vqcodec compress photo.png photo.vqc --quality 6
      vqcodec decompress photo.vqc photo.png
      vqcodec info photo.vqc
      vqcodec roundtrip photo.png
      vqcodec train --data photos/ --out my-model.safetensors
    """


OUTPUT_DIR = click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the outputs of many inputs (made if missing) [default: beside each input].",
)
JOBS = click.option(
    "-j", "--jobs", default=1, show_default=True, help="Worker processes for many inputs."
)


def _single(inputs: tuple[str, ...], output_dir: Path | None) -> tuple[str, str | None] | None:
    """(INPUT, OUTPUT) when the arguments name one file and maybe its output, as they always
    have; None for a batch (``-o``, a folder, or more than two inputs)."""
    if not inputs:
        raise click.UsageError("give an INPUT")
    if output_dir is not None or len(inputs) > 2 or any(Path(i).is_dir() for i in inputs):
        return None
    return inputs[0], (inputs[1] if len(inputs) == 2 else None)


def _run_batch(
    inputs: tuple[str, ...], output_dir: Path | None, suffix: str, settings, jobs: int
) -> None:
    """Process many files with one progress bar and a closing summary; exit 1 if any failed."""
    from tqdm import tqdm

    from . import batch

    if STDIO in inputs:
        raise VQCodecError("- (stdin) cannot be one of many inputs")
    read = batch.image_suffixes() if settings.kind == "compress" else {batch.VQC_SUFFIX}
    pairs = batch.plan(batch.collect(inputs, read), output_dir, suffix)
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(pairs), unit="file", disable=None)

    def done(outcome: batch.Outcome) -> None:
        if outcome.error:
            bar.write(f"vqcodec: error: {outcome.source}: {outcome.error}", file=sys.stderr)
        bar.update()

    _, summary = batch.run(pairs, settings, jobs, done)
    bar.close()
    click.echo(
        f"{settings.kind}ed {summary.files - summary.failed} of {summary.files} files "
        f"({summary.failed} failed): {summary.in_bytes} -> {summary.out_bytes} bytes, "
        f"{summary.bpp:.4f} bpp, {summary.seconds:.1f} s",
        err=True,
    )
    if summary.failed:
        sys.exit(1)


@main.command()
@click.argument("inputs", metavar="INPUT... [OUTPUT]", nargs=-1)
@click.option(
    "-q",
    "--quality",
    type=int,
    default=None,
    help="1 (smallest file: one stage everywhere) to the model's stage count (12 for "
    "vqcodec-base-v2: every stage everywhere); in between, each tile (or 8x8 block) gets as many "
    "stages as pay for their bits, and each step up adds about a third more bits [default: 6].",
)
@click.option(
    "--target-bpp", type=float, default=None, help="Instead of -q: the rate nearest this bpp."
)
@click.option(
    "--max-bytes",
    type=int,
    default=None,
    help="Instead of -q: the best file of at most this many bytes (an error if even quality 1 "
    "is larger).",
)
@click.option(
    "--target-psnr",
    type=float,
    default=None,
    help="Instead of -q: the fewest bits whose predicted PSNR reaches this many dB.",
)
@click.option("--model", default=None, help="Shipped model name or a .safetensors file.")
@click.option(
    "--tile-depths",
    is_flag=True,
    help="Depths per 32x32 tile only: a .vqc version 1 or 2 file, for readers older than "
    "version 3 (slightly larger).",
)
@click.option(
    "-e",
    "--effort",
    type=click.IntRange(1, HIGHEST_EFFORT),
    default=DEFAULT_EFFORT,
    show_default=True,
    help=f"How hard the encoder searches: 1 (fastest) to {HIGHEST_EFFORT} (slowest, "
    "smallest files).",
)
@OUTPUT_DIR
@JOBS
@STRIP
@DEVICE
@MAX_PIXELS
@THREADS
@FORCE
def compress(
    inputs: tuple[str, ...],
    quality: int | None,
    target_bpp: float | None,
    max_bytes: int | None,
    target_psnr: float | None,
    model: str | None,
    tile_depths: bool,
    effort: int,
    output_dir: Path | None,
    jobs: int,
    strip: bool,
    device: str,
    max_pixels: int,
    threads: int | None,
    force: bool,
) -> None:
    """Compress an image (PNG, JPEG, ... or - for stdin) to a .vqc file, or many images
    and folders of images into a folder. EXIF orientation is applied; the ICC profile,
    EXIF and XMP are kept in the file unless --strip.

    With one INPUT, OUTPUT defaults to INPUT with the suffix .vqc; - writes to stdout.
    OUTPUT is never overwritten without --force, and an image extension (photo.png) is
    refused for it. With -o OUTDIR, a folder or more than two inputs, each image becomes
    OUTDIR/NAME.vqc (beside it without -o), with one progress bar and a summary; a file
    that fails is reported, the others go on, and the exit code is 1.

    \b
    Examples:
      vqcodec compress photo.png                 # writes photo.vqc
      vqcodec compress photo.png small.vqc -q 1
      vqcodec compress photo.png --max-bytes 20000
      vqcodec compress photo.png -e 5            # slowest search, smallest file
      cat photo.png | vqcodec compress - - > photo.vqc
      vqcodec compress a.png b.jpg photos/ -o out/ -j 2
    """
    from . import api
    from .targets import one_target

    target = one_target(target_bpp, max_bytes, target_psnr)
    if target is not None and quality is not None:
        raise VQCodecError("give --quality or one target (--target-bpp, --max-bytes, ...)")
    quality = 6 if quality is None else quality
    single = _single(inputs, output_dir)
    if single is None:
        from .batch import Settings

        options = {"quality": quality, "per_position": not tile_depths, "effort": effort}
        options["strip"] = strip
        options["max_pixels"] = max_pixels
        options |= {"target_bpp": target_bpp, "max_bytes": max_bytes, "target_psnr": target_psnr}
        settings = Settings("compress", model, device, force, options)
        _run_batch(inputs, output_dir, ".vqc", settings, jobs)
        return
    input, output = single
    output = output or default_output(input, ".vqc")
    check_writable(output, force)
    _check_extension(output, None, force)
    source = stdin() if input == STDIO else Path(input)
    options = {"model": model, "device": device, "progress": _progress}
    options |= {"per_position": not tile_depths, "effort": effort, "threads": threads}
    options["max_pixels"] = max_pixels
    options["strip"] = strip
    if target is None:
        data = api.compress(source, quality, **options)
    else:
        kind = {"bpp": "bpp", "bytes": "max_bytes", "psnr": "psnr"}[target.kind]
        reached = api.compress_to_target(source, **{kind: target.value}, **options)
        data = reached.data
    write_bytes(output, data, force)
    stats = api.info(data)
    line = f"{stats['width']}x{stats['height']} {stats['mode']}, {stats['bytes']} bytes, "
    line += f"{stats['bpp']:.4f} bpp"
    if target is not None:
        line += f", {reached.psnr:.2f} dB PSNR (target: {target.value:g} {target.unit})"
    if output != STDIO or target is not None:
        click.echo(f"{'stdout' if output == STDIO else output}: {line}", err=True)


@main.command()
@click.argument("inputs", metavar="INPUT... [OUTPUT]", nargs=-1)
@click.option(
    "--format",
    "fmt",
    default=None,
    help="Image format (PNG, BMP, TIFF, ...) [default: from OUTPUT's extension; PNG for stdout "
    "and for many inputs].",
)
@click.option("--model", default=None, help="A .safetensors model, if the file's is not shipped.")
@OUTPUT_DIR
@JOBS
@STRIP
@DEVICE
@MAX_PIXELS
@MAX_DENSITY
@THREADS
@click.option(
    "--precision",
    type=click.Choice(["auto", "f32", "bf16"]),
    default="auto",
    show_default=True,
    help="The decoder network's: f32 gives the spec's pixels; bf16 is about twice as fast on "
    "CPUs with bf16 units, pixels within 2 of f32's and dependent on the CPU; auto is bf16 "
    "where the CPU runs it natively, else f32.",
)
@click.option("--bf16", is_flag=True, help="Same as --precision bf16.")
@FORCE
def decompress(
    inputs: tuple[str, ...],
    fmt: str | None,
    model: str | None,
    output_dir: Path | None,
    jobs: int,
    strip: bool,
    device: str,
    max_pixels: int,
    max_pixels_per_byte: int,
    threads: int | None,
    precision: str,
    bf16: bool,
    force: bool,
) -> None:
    """Decompress a .vqc file (or - for stdin) to an image, or many .vqc files and folders
    of them into a folder.

    The image format follows OUTPUT's extension (any format Pillow writes); the file's ICC
    profile, EXIF and XMP go into it wherever the format takes them (PNG, JPEG, WebP, TIFF,
    AVIF), unless --strip.
    With one INPUT, OUTPUT defaults to INPUT with .png (or the --format's extension)
    appended, so that photo.vqc becomes photo.vqc.png, never the photo.png it may have been
    made from; - writes to stdout. OUTPUT is never overwritten without --force, and an
    extension that contradicts the format (.vqc, or .jpg with --format png) is refused.
    With -o OUTDIR, a folder or more than two inputs, each file becomes OUTDIR/NAME.png
    (or the --format's extension), as for compress.

    \b
    Examples:
      vqcodec decompress photo.vqc               # writes photo.vqc.png
      vqcodec decompress photo.vqc photo.bmp
      vqcodec decompress - - --format png < photo.vqc > photo.png
      vqcodec decompress out/ -o back/ --format png -j 2
    """
    from . import api
    from .imagesave import extension_for, format_for

    single = _single(inputs, output_dir)
    if single is None:
        from .batch import Settings

        fmt = fmt or "PNG"
        options = {
            "fmt": fmt,
            "max_pixels": max_pixels,
            "max_pixels_per_byte": max_pixels_per_byte,
            "strip": strip,
        }
        settings = Settings("decompress", model, device, force, options)
        _run_batch(inputs, output_dir, extension_for(fmt), settings, jobs)
        return
    input, output = single
    output = output or default_output(input, extension_for(fmt) if fmt else ".png")
    check_writable(output, force)
    if fmt is None:
        fmt = "PNG" if output == STDIO else format_for(output)
    fmt = fmt.upper()
    extension_for(fmt)  # an unknown format is refused before decoding
    _check_extension(output, fmt, force)
    source = stdin() if input == STDIO else Path(input)
    data = api.decompress_to(
        source,
        fmt,
        model=model,
        device=device,
        max_pixels=max_pixels,
        max_pixels_per_byte=max_pixels_per_byte,
        threads=threads,
        progress=_progress,
        strip=strip,
        precision="bf16" if bf16 else precision,
    )
    write_bytes(output, data, force)


@main.command()
@click.argument("input", metavar="INPUT")
@click.option("--json", "as_json", is_flag=True, help="Print the fields as JSON.")
@MAX_PIXELS
def info(input: str, as_json: bool, max_pixels: int) -> None:
    """Show the header of a .vqc file: model, size, mode, stages, bytes and bpp.

    \b
    Example:
      vqcodec info photo.vqc
    """
    from . import api

    fields = api.info(stdin() if input == STDIO else Path(input), max_pixels=max_pixels)
    if as_json:
        click.echo(json.dumps(fields, indent=2))
        return
    for key, value in fields.items():
        click.echo(f"{key + ':':<20}{round(value, 4) if isinstance(value, float) else value}")


@main.command()
@click.argument("image", required=False, type=click.Path(dir_okay=False))
@click.option(
    "-q",
    "--quality",
    "qualities",
    multiple=True,
    type=int,
    help="Quality level to try (repeatable) [default: all].",
)
@click.option("--model", default=None, help="Shipped model name or a .safetensors file.")
@DEVICE
def roundtrip(
    image: str | None, qualities: tuple[int, ...], model: str | None, device: str
) -> None:
    """Compress and decompress IMAGE in memory and print size, bpp, PSNR and times.

    Without IMAGE it uses the bundled sample (a crop of Kodak image 23).

    \b
    Examples:
      vqcodec roundtrip
      vqcodec roundtrip photo.png -q 1 -q 4
    """
    import time

    from . import api
    from .images import to_pixels
    from .metrics import psnr
    from .registry import get_model

    source = Path(image) if image else Path(__file__).parent / "samples" / "parrots.png"
    m = get_model(model)
    with warnings.catch_warnings(record=True) as reduced:
        warnings.simplefilter("always")
        pixels, _ = to_pixels(source)
    click.echo(
        f"{source.name}: {pixels.shape[1]}x{pixels.shape[0]}, model {m.name}, device {device}"
    )
    for w in reduced:
        click.echo(f"note: {w.message}; PSNR is measured against that 8-bit image")
    click.echo(f"{'quality':>7} {'bytes':>8} {'bpp':>7} {'PSNR dB':>8} {'enc s':>6} {'dec s':>6}")
    for q in qualities or range(1, m.stages + 1):
        t0 = time.perf_counter()
        data = api.compress(pixels, q, model=m, device=device)
        t1 = time.perf_counter()
        back = np.asarray(api.decompress(data, model=m, device=device))
        t2 = time.perf_counter()
        back = back.reshape(pixels.shape)
        bpp = 8 * len(data) / (pixels.shape[0] * pixels.shape[1])
        click.echo(
            f"{q:>7} {len(data):>8} {bpp:>7.4f} {psnr(back, pixels):>8.2f} "
            f"{t1 - t0:>6.2f} {t2 - t1:>6.2f}"
        )


main.add_command(bench)
main.add_command(train)
