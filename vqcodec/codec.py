"""The codec: pixels -> indices -> entropy-coded streams -> .vqc bytes, and back."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from . import coders, container, ratecontrol, targets
from . import effort as efforts
from . import threads as threads_
from .errors import FormatError, VQCodecError
from .metadata import Metadata
from .model import DOWNSAMPLE, TILE
from .registry import model_for
from .transform import decode_indices, network
from .weights import Model

PRECISIONS = ("f32", "bf16")  # of the decoder network: the spec's float32, or faster bf16


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
        alpha = container.deflate_alpha(pixels[:, :, -1])
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
    rgb, alpha = _split_alpha(pixels, mode)
    coder = coders.for_model(model)
    search, n = efforts.effort(effort), threads_.resolve(threads)
    rate = ratecontrol.RateModel(model, mu, coder, resolve_device(device), progress, search, n)
    with threads_.using(n):
        paths = rate.paths(rgb)  # pixels -> latents -> searched indices of every depth
        grid = rate.depths(rgb, paths, per_position)  # -> the depth of each latent position
    return _write(model, coder, pixels.shape, mode, alpha, paths, grid, meta, n)


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
    rgb, alpha = _split_alpha(pixels, mode)
    coder = coders.for_model(model)
    mu = targets.start_mu(target, pixels.shape[0] * pixels.shape[1], model.stages)
    search, n = efforts.effort(effort), threads_.resolve(threads)
    rate = ratecontrol.RateModel(model, mu, coder, resolve_device(device), progress, search, n)
    with threads_.using(n):
        paths = rate.paths(rgb)
        costs = rate.costs(rgb, paths)
    make = lambda grid: _write(model, coder, pixels.shape, mode, alpha, paths, grid, meta, n)  # noqa: E731
    return targets.search(rate, costs, target, pixels.shape[:2], make, per_position)


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


def stage_masks(f: container.VQCFile) -> list[np.ndarray]:
    """Per stage of ``f``, the latent positions it codes (bool ``[rows, cols]``)."""
    depths = container.position_depths(f)
    return [depths > s for s in range(f.stages)]


def ideal_bits(
    indices: np.ndarray, model: Model, present: list | None = None, coder: int | None = None
) -> list[float]:
    """Per stage, the bits an ideal coder ``coder`` (default: the model's) would spend on
    ``indices`` (to measure the range coder's overhead)."""
    c = coders.for_model(model) if coder is None else coders.get(coder)
    return [float(b.sum()) for b in coders.position_bits(c, indices, model, present)]


def decode_streams(f: container.VQCFile, model: Model) -> np.ndarray:
    """Entropy-decode every stage of ``f``: int32 ``[stages, rows, cols]`` (0 where a
    position is shallower than the stage)."""
    if f.stages > model.stages:
        raise FormatError(f"file has {f.stages} stages but model {model.name} has {model.stages}")
    coder = coders.get(f.coder)
    refusal = coder.refusal(model)
    if refusal:
        raise FormatError(refusal)
    coders.check_room(coder, model, f.symbols, f.streams)
    return coders.decode_streams(coder, f.streams, model, stage_masks(f))


def decode(
    data: bytes,
    model: Model | str | None = None,
    device: str = "cpu",
    max_pixels: int = container.DEFAULT_MAX_PIXELS,
    threads: int | None = None,
    progress: Callable | None = None,
    precision: str = "f32",
) -> tuple[np.ndarray, str]:
    """Decode .vqc bytes to ``(uint8 [H, W, C], mode)`` on ``threads`` CPU threads
    (default: torch's setting, one per core); ``progress`` wraps the decoder's loop over
    blocks (see :func:`~vqcodec.transform.decode_indices`). ``precision="bf16"`` runs the
    decoder network in bf16 where OpenVINO runs it (faster, slightly different pixels
    that depend on the CPU); the default float32 gives the spec's pixels."""
    f = container.parse(data, max_pixels)
    return decode_file(f, model, device, threads, progress, precision)


def decode_file(
    f: container.VQCFile,
    model: Model | str | None = None,
    device: str = "cpu",
    threads: int | None = None,
    progress: Callable | None = None,
    precision: str = "f32",
) -> tuple[np.ndarray, str]:
    """:func:`decode` of a parsed file (whose metadata the caller may want too)."""
    if precision not in PRECISIONS:
        raise VQCodecError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    m = model_for(f.model, f.fingerprint, model)
    alpha = container.alpha_plane(f) if f.alpha else None
    n = threads_.resolve(threads)
    indices = decode_streams(f, m)
    dev = resolve_device(device)
    plain = container.depth_version(f.format_version) == container.VERSION
    depths = None if plain else container.position_depths(f)
    with threads_.using(n):
        net = network(m.net.to(dev), dev, n, precision)
        rgb = decode_indices(net, indices, dev, depths, progress)[: f.height, : f.width]
    if f.mode in ("L", "LA"):
        rgb = np.round(rgb.astype(np.float32).mean(2, keepdims=True)).astype(np.uint8)
    return (rgb if alpha is None else np.concatenate([rgb, alpha], 2)), f.mode
