"""The codec: pixels -> indices -> entropy-coded streams -> .vqc bytes, and back (the
way back is :mod:`vqcodec.decoding`, which needs no torch; its functions are here too)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from . import coders, container, ratecontrol, sections, targets
from . import effort as efforts
from . import threads as threads_
from .decoding import PRECISIONS, decode, decode_file, decode_streams, stage_masks
from .errors import VQCodecError
from .metadata import Metadata
from .model import DOWNSAMPLE, TILE
from .weights import Model

__all__ = ["PRECISIONS", "check_quality", "decode", "decode_file", "decode_streams", "encode"]
__all__ += ["encode_at", "encode_target", "ideal_bits", "resolve_device", "stage_masks"]


def resolve_device(device: str | torch.device) -> torch.device:
    """``cpu``, ``cuda`` (or ``cuda:N``) or ``auto`` (CUDA when available)."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise VQCodecError(f"unknown device {device!r}; use cpu, cuda or auto") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise VQCodecError("device cuda requested but no CUDA GPU is available")
    if dev.type not in ("cpu", "cuda"):
        raise VQCodecError(f"unsupported device {device!r}; use cpu, cuda or auto")
    return dev


def check_quality(model: Model, quality: int) -> None:
    if (
        isinstance(quality, bool)
        or not isinstance(quality, (int, np.integer))
        or not (1 <= quality <= model.stages)
    ):
        raise VQCodecError(f"quality must be an integer from 1 to {model.stages}, got {quality!r}")


def _split_alpha(pixels: np.ndarray, mode: str) -> tuple[np.ndarray, bytes]:
    """RGB(A)/L(A) pixels -> (RGB for the network, losslessly compressed alpha or b'')."""
    alpha = b""
    if mode in ("LA", "RGBA"):
        alpha = sections.deflate_alpha(pixels[:, :, -1])
        pixels = pixels[:, :, :-1]
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return pixels, alpha


def encode(
    pixels: np.ndarray,
    mode: str,
    model: Model,
    quality: int,
    device: str = "cpu",
    progress: Callable | None = None,
    per_position: bool = True,
    effort: int = efforts.DEFAULT,
    threads: int | None = None,
    meta: Metadata | None = None,
) -> bytes:
    """A .vqc file for uint8 ``[H, W, C]`` pixels of ``mode`` at ``quality``, carrying
    ``meta`` (ICC profile, EXIF, XMP) if given (a version 4-6 file).

    Quality 1 sends one stage everywhere and quality ``model.stages`` every stage
    everywhere; in between each tile, or each latent position where that pays, gets its
    own depth (see :mod:`vqcodec.ratecontrol`), searched as hard as ``effort`` says
    (:mod:`vqcodec.effort`; ``progress`` wraps the long loops). ``per_position=False``
    keeps depths per tile, so the file is version 1 or 2, which readers older than
    version 3 can decode. ``threads``: CPU threads (default: torch's setting).
    """
    check_quality(model, quality)
    mu = ratecontrol.quality_mu(quality, model.stages)
    return encode_at(pixels, mode, model, mu, device, progress, per_position, effort, threads, meta)


def encode_at(
    pixels: np.ndarray,
    mode: str,
    model: Model,
    mu: float,
    device: str = "cpu",
    progress: Callable | None = None,
    per_position: bool = True,
    effort: int = efforts.DEFAULT,
    threads: int | None = None,
    meta: Metadata | None = None,
) -> bytes:
    """:func:`encode` at the Lagrange multiplier ``mu`` itself (squared 8-bit error per
    bit; ``inf``: one stage everywhere, 0: every stage), for measuring the ladder."""
    rgb, rate, n, write = _setup(pixels, mode, model, mu, device, progress, effort, threads, meta)
    with threads_.using(n):
        paths = rate.paths(rgb)  # pixels -> latents -> searched indices of every depth
        grid = rate.depths(rgb, paths, per_position)  # -> the depth of each latent position
    return write(paths, grid)


def encode_target(
    pixels: np.ndarray,
    mode: str,
    model: Model,
    target: targets.Target,
    device: str = "cpu",
    progress: Callable | None = None,
    per_position: bool = True,
    effort: int = efforts.DEFAULT,
    threads: int | None = None,
    meta: Metadata | None = None,
) -> tuple[bytes, float]:
    """(a .vqc file meeting ``target``, the mu it was made at), from one encode: the
    depths' errors and bits are measured once, at a mu near the target's, and the mu
    that meets the target is searched over them (see :mod:`vqcodec.targets`)."""
    mu = targets.start_mu(target, pixels.shape[0] * pixels.shape[1], model.stages)
    rgb, rate, n, write = _setup(pixels, mode, model, mu, device, progress, effort, threads, meta)
    with threads_.using(n):
        paths = rate.paths(rgb)
        costs = rate.costs(rgb, paths)
    make = partial(write, paths)  # a depth grid -> its file
    return targets.search(rate, costs, target, pixels.shape[:2], make, per_position)


def _setup(
    pixels: np.ndarray,
    mode: str,
    model: Model,
    mu: float,
    device: str,
    progress: Callable | None,
    effort: int,
    threads: int | None,
    meta: Metadata | None,
) -> tuple[np.ndarray, ratecontrol.RateModel, int, Callable[..., bytes]]:
    """What :func:`encode_at` and :func:`encode_target` share: the RGB pixels the network
    sees, the rate model at ``mu``, the thread count, and ``write(paths, grid)``, the file
    sending each latent position its depth in ``grid`` of the searched ``paths``."""
    rgb, alpha = _split_alpha(pixels, mode)
    coder = coders.for_model(model)
    search, n = efforts.effort(effort), threads_.resolve(threads)
    rate = ratecontrol.RateModel(model, mu, coder, resolve_device(device), progress, search, n)

    def write(paths: list[np.ndarray], grid: np.ndarray) -> bytes:
        return _write(model, coder, pixels.shape, mode, alpha, paths, grid, meta, n)

    return rgb, rate, n, write


def _write(
    model: Model,
    coder: coders.Coder,
    shape: tuple[int, ...],
    mode: str,
    alpha: bytes,
    paths: list[np.ndarray],
    grid: np.ndarray,
    meta: Metadata | None = None,
    workers: int = 1,
) -> bytes:
    """The .vqc file sending each latent position the indices of its depth in ``grid``,
    with ``meta`` if there is any, its stages coded on ``workers`` threads."""
    indices = ratecontrol.assemble(paths, grid)  # -> the indices sent
    masks = [grid > s for s in range(len(indices))]
    h, w = shape[:2]
    meta = meta or None  # an empty Metadata is none: a version 1-3 file
    version, depths = container.smallest_version(grid, meta)
    return container.write(  # -> range-coded streams in a .vqc file
        container.VQCFile(
            model=model.name,
            fingerprint=model.fingerprint,
            width=w,
            height=h,
            mode=mode,
            tile=TILE,
            downsample=DOWNSAMPLE,
            coder=coder.id,
            symbols=tuple(int(m.sum()) for m in masks),
            streams=coders.encode_streams(coder, indices, model, masks, workers),
            alpha=alpha,
            depths=depths,
            format_version=version,
            metadata=meta,
        )
    )


def ideal_bits(
    indices: np.ndarray, model: Model, present: list | None = None, coder: int | None = None
) -> list[float]:
    """Per stage, the bits an ideal coder ``coder`` (default: the model's) would spend on
    ``indices`` (to measure the range coder's overhead)."""
    c = coders.for_model(model) if coder is None else coders.get(coder)
    return [float(b.sum()) for b in coders.position_bits(c, indices, model, present)]
