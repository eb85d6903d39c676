"""Many files at once: ``vqcodec compress a.png b.jpg photos/ -o OUT`` and its inverse.

Inputs are files and folders (a folder gives the files in it that the job reads, sorted
by name). Each input gets one output in the output folder (or beside it), named after
it. ``jobs`` worker processes each load the model once and take files one at a time; a
file that fails is reported and the others go on. The outcome of every file comes back
to the caller, which prints one progress bar and a closing summary.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from .container import DEFAULT_MAX_PIXELS, DEFAULT_PIXELS_PER_BYTE
from .errors import VQCodecError

VQC_SUFFIX = ".vqc"


@dataclass(frozen=True)
class Settings:
    """What every file of a batch is done with (picklable, sent to each worker once)."""

    kind: str  # "compress" or "decompress"
    model: str | None = None
    device: str = "cpu"
    force: bool = False
    options: dict = field(default_factory=dict)  # api.compress's options; decompress: fmt, strip


@dataclass(frozen=True)
class Outcome:
    """One file's result: sizes and pixels on success, the error message on failure."""

    source: Path
    target: Path
    error: str | None = None
    in_bytes: int = 0
    out_bytes: int = 0
    pixels: int = 0


@dataclass(frozen=True)
class Summary:
    kind: str
    files: int
    failed: int
    in_bytes: int
    out_bytes: int
    pixels: int
    seconds: float

    @property
    def bpp(self) -> float:
        """Bits per pixel of the .vqc side (the outputs when compressing, else the inputs)."""
        vqc = self.out_bytes if self.kind == "compress" else self.in_bytes
        return 8 * vqc / self.pixels if self.pixels else 0.0


def image_suffixes() -> set[str]:
    """Extensions of the image formats Pillow reads (what a folder contributes to compress)."""
    from PIL import Image

    Image.init()
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


def collect(inputs: Sequence[str], suffixes: set[str]) -> list[Path]:
    """The files to process: each file given, and each folder's files with ``suffixes``."""
    out: list[Path] = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        elif path.is_file():
            out.append(path)
        else:
            raise VQCodecError(f"no such file or folder: {name}")
    if not out:
        raise VQCodecError("no input files found")
    return out


def plan(sources: Sequence[Path], outdir: Path | None, suffix: str) -> list[tuple[Path, Path]]:
    """(source, target) pairs, each target ``outdir`` / stem + ``suffix``, or beside the
    source under :func:`fileio.default_output`'s name (which is never the source's own:
    ``a.vqc`` -> ``a.vqc.png``); two sources with one target name are refused before any
    work."""
    from .fileio import default_output

    seen: dict[Path, Path] = {}
    pairs = []
    for source in sources:
        if outdir is None:
            target = Path(default_output(str(source), suffix))
        else:
            target = outdir / (source.stem + suffix)
        if target in seen:
            raise VQCodecError(f"{seen[target]} and {source} would both be written to {target}")
        seen[target] = source
        pairs.append((source, target))
    return pairs


_MODEL = None  # the model a worker process loaded once, in _start
_SETTINGS: Settings | None = None
_THREADS: int | None = None  # a decompress worker's, passed to each call (no torch)


def _start(settings: Settings, threads: int | None) -> None:
    """Worker set-up: thread count, then the one model load of this process."""
    global _MODEL, _SETTINGS, _THREADS
    from .registry import get_model

    if threads and settings.kind == "compress":
        import torch

        torch.set_num_threads(threads)
    _SETTINGS, _THREADS = settings, threads
    if settings.kind == "compress" or settings.model is not None:
        _MODEL = get_model(settings.model)


def _compress(source: Path) -> tuple[int, bytes, int]:
    from . import api

    out = api.compress(source, model=_MODEL, device=_SETTINGS.device, **_SETTINGS.options)
    f = api.info(out, max_pixels=_SETTINGS.options.get("max_pixels", DEFAULT_MAX_PIXELS))
    return source.stat().st_size, out, f["width"] * f["height"]


def _decompress(source: Path) -> tuple[int, bytes, int]:
    from PIL import Image

    from . import api
    from .fileio import read_bytes

    data = read_bytes(str(source))
    options = _SETTINGS.options
    written = api.decompress_to(
        data,
        options["fmt"],
        model=_MODEL,
        device=_SETTINGS.device,
        max_pixels=options.get("max_pixels", DEFAULT_MAX_PIXELS),
        max_pixels_per_byte=options.get("max_pixels_per_byte", DEFAULT_PIXELS_PER_BYTE),
        strip=options.get("strip", False),
        threads=_THREADS,
    )
    width, height = Image.open(io.BytesIO(written)).size  # reads the header only
    return len(data), written, width * height


def _one(source: Path, target: Path) -> Outcome:
    """Process one file in this worker; user errors become the outcome's message."""
    from .fileio import check_writable, write_bytes

    try:
        if target.resolve() == source.resolve():
            raise VQCodecError("the output would overwrite the input")
        check_writable(str(target), _SETTINGS.force)
        work = _compress if _SETTINGS.kind == "compress" else _decompress
        size, out, pixels = work(source)
        write_bytes(str(target), out, _SETTINGS.force)
    except (VQCodecError, OSError) as exc:
        return Outcome(source, target, error=str(exc))
    return Outcome(source, target, None, size, len(out), pixels)


def run(
    pairs: Sequence[tuple[Path, Path]],
    settings: Settings,
    jobs: int = 1,
    on_done: Callable[[Outcome], None] | None = None,
) -> tuple[list[Outcome], Summary]:
    """Process every (source, target) pair with ``jobs`` worker processes (1: in this
    process). ``on_done`` sees each outcome as it arrives (for a progress bar)."""
    if jobs < 1:
        raise VQCodecError(f"--jobs must be at least 1, got {jobs}")
    t0 = time.perf_counter()
    outcomes = []
    for outcome in _outcomes(pairs, settings, min(jobs, len(pairs))):
        outcomes.append(outcome)
        if on_done:
            on_done(outcome)
    ok = [o for o in outcomes if o.error is None]
    summary = Summary(
        kind=settings.kind,
        files=len(outcomes),
        failed=len(outcomes) - len(ok),
        in_bytes=sum(o.in_bytes for o in ok),
        out_bytes=sum(o.out_bytes for o in ok),
        pixels=sum(o.pixels for o in ok),
        seconds=time.perf_counter() - t0,
    )
    order = {source: i for i, (source, _) in enumerate(pairs)}
    return sorted(outcomes, key=lambda o: order[o.source]), summary


def _outcomes(
    pairs: Sequence[tuple[Path, Path]], settings: Settings, jobs: int
) -> Iterator[Outcome]:
    if jobs <= 1:
        _start(settings, None)
        for source, target in pairs:
            yield _one(source, target)
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
    with ProcessPoolExecutor(jobs, context, _start, (settings, threads)) as pool:
        futures = [pool.submit(_one, source, target) for source, target in pairs]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BrokenProcessPool as exc:
            raise VQCodecError(f"a worker process died ({exc})") from exc
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
