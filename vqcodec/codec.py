"""The codec: pixels -> indices -> entropy-coded streams -> .vqc bytes, and back."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable

import numpy as np
import torch

from . import container, entropy, ratecontrol
from .errors import FormatError, VQCodecError
from .model import DOWNSAMPLE, LATENT_TILE, TILE
from .registry import model_for
from .transform import decode_indices, encode_paths
from .weights import Model


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
        alpha = zlib.compress(np.ascontiguousarray(pixels[:, :, -1]).tobytes(), 9)
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
) -> bytes:
    """A .vqc file for uint8 ``[H, W, C]`` pixels of ``mode`` at ``quality``.

    Quality 1 sends one stage everywhere and quality ``model.stages`` every stage
    everywhere; in between each tile, or each latent position where that pays, gets its
    own depth (see :mod:`vqcodec.ratecontrol`), which costs one decoder pass per stage
    (``progress`` wraps that loop). ``per_position=False`` keeps depths per tile, so the
    file is version 1 or 2, which readers older than version 3 can decode.
    """
    check_quality(model, quality)
    mu = ratecontrol.quality_mu(quality, model.stages)
    return encode_at(pixels, mode, model, mu, device, progress, per_position)


def encode_at(
    pixels: np.ndarray,
    mode: str,
    model: Model,
    mu: float,
    device: str = "cpu",
    progress: Callable | None = None,
    per_position: bool = True,
) -> bytes:
    """:func:`encode` at the Lagrange multiplier ``mu`` itself (squared 8-bit error per
    bit; ``inf``: one stage everywhere, 0: every stage), for measuring the ladder."""
    dev = resolve_device(device)
    h, w = pixels.shape[:2]
    rgb, alpha = _split_alpha(pixels, mode)
    net = model.net.to(dev)
    stages = 1 if math.isinf(mu) else model.stages  # quality 1 needs only the first stage
    coder = coder_for(model)
    paths = encode_paths(
        net, rgb, stages, code_search(model, stages, ratecontrol.beam_rate(mu)), dev
    )
    bits = lambda idx: position_bits(idx, model, coder=coder)  # noqa: E731
    if per_position:
        grid = ratecontrol.choose_position_depths(net, rgb, paths, bits, mu, dev, progress)
    else:
        tiles = ratecontrol.choose_depths(net, rgb, paths, bits, mu, dev, progress)
        grid = ratecontrol.grid_depths(tiles)
    indices = ratecontrol.assemble(paths, grid)
    stages = len(indices)
    masks = [grid > s for s in range(stages)]
    return container.write(
        container.VQCFile(
            model=model.name,
            version=model.fingerprint,
            width=w,
            height=h,
            mode=mode,
            tile=TILE,
            downsample=DOWNSAMPLE,
            coder=coder,
            symbols=tuple(int(m.sum()) for m in masks),
            streams=encode_streams(indices, model, masks, coder),
            alpha=alpha,
            depths=container_depths(grid),
        )
    )


def container_depths(grid: np.ndarray) -> np.ndarray | None:
    """The depth map a file stores for per-position depths ``grid``: none when every
    position uses every stage (version 1), the tile map when each tile is uniform
    (version 2), else ``grid`` itself (version 3)."""
    if (grid == grid.max()).all():
        return None
    per = LATENT_TILE
    tiles = grid[::per, ::per]
    return tiles if np.array_equal(ratecontrol.grid_depths(tiles), grid) else grid


def code_search(
    model: Model, stages: int, rate: float, width: int = ratecontrol.BEAM_WIDTH
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The encoder's code search: a beam over ``model``'s codebooks, pricing codes by
    the tables the entropy coder will use (coder 2's previous-stage tables where it has
    them)."""
    bits = torch.from_numpy(entropy.code_bits(model.counts))
    context = None
    if model.context_counts is not None:
        context = torch.from_numpy(entropy.code_bits(model.context_counts))
    quantizer = model.net.quantizer
    return lambda z: quantizer.beam_search(
        z, stages, width, rate, bits, context, entropy.NEIGHBOUR_STAGES
    )


def coder_for(model: Model) -> int:
    """The entropy coder of new files: 3 for a model with context tables (2 if its tables
    are too large for 3's integer products), 1 for a model without."""
    if model.context_counts is None:
        return container.CODER_RANGE
    neighbours = model.context_counts[: entropy.NEIGHBOUR_STAGES]
    if entropy.product_fits(neighbours, model.left_counts):
        return container.CODER_PRODUCT
    return container.CODER_CONTEXT


def stage_tables(model: Model, stage: int, coder: int) -> entropy.Tables:
    """Coder 2's or 3's tables for ``stage`` of ``model`` (which must have context tables)."""
    left = model.left_counts[stage] if stage < entropy.NEIGHBOUR_STAGES else None
    product = coder == container.CODER_PRODUCT
    return entropy.Tables(model.counts[stage], model.context_counts[stage], left, product)


def stage_masks(f: container.VQCFile) -> list[np.ndarray]:
    """Per stage of ``f``, the latent positions it codes (bool ``[rows, cols]``)."""
    depths = container.position_depths(f)
    return [depths > s for s in range(f.stages)]


def encode_streams(
    indices: np.ndarray,
    model: Model,
    present: list[np.ndarray] | None = None,
    coder: int | None = None,
) -> tuple[np.ndarray, ...]:
    """Range-code each stage of ``indices`` ``[stages, rows, cols]`` at its ``present``
    positions (default: all) with ``coder`` (default: :func:`coder_for`)."""
    masks = present or [None] * len(indices)
    coder = coder or coder_for(model)
    if coder == container.CODER_RANGE:
        return tuple(
            entropy.encode(idx if m is None else idx[m], model.counts[s])
            for s, (idx, m) in enumerate(zip(indices, masks, strict=True))
        )
    return tuple(
        entropy.encode_stage(
            idx, s, stage_tables(model, s, coder), indices[s - 1] if s else None, m
        )
        for s, (idx, m) in enumerate(zip(indices, masks, strict=True))
    )


def position_bits(
    indices: np.ndarray,
    model: Model,
    present: list[np.ndarray] | None = None,
    coder: int | None = None,
) -> np.ndarray:
    """Ideal cost in bits of every index ``[stages, rows, cols]`` under ``coder``'s tables
    (default: :func:`coder_for`), at the ``present`` positions (default: all; 0 elsewhere):
    the rate the depth choice weighs."""
    masks = present or [None] * len(indices)
    coder = coder or coder_for(model)
    if coder == container.CODER_RANGE:
        bits = entropy.code_bits(model.counts)
        return np.stack(
            [
                bits[s][idx] * (True if m is None else m)
                for s, (idx, m) in enumerate(zip(indices, masks, strict=True))
            ]
        )
    return np.stack(
        [
            entropy.position_bits(
                idx, s, stage_tables(model, s, coder), indices[s - 1] if s else None, m
            )
            for s, (idx, m) in enumerate(zip(indices, masks, strict=True))
        ]
    )


def ideal_bits(
    indices: np.ndarray, model: Model, present: list | None = None, coder: int | None = None
) -> list[float]:
    """Per stage, the bits an ideal coder would spend on ``indices`` (to measure the range
    coder's overhead)."""
    return [float(b.sum()) for b in position_bits(indices, model, present, coder)]


def decode_streams(f: container.VQCFile, model: Model) -> np.ndarray:
    """Entropy-decode every stage of ``f``: int32 ``[stages, rows, cols]`` (0 where a
    tile is shallower than the stage)."""
    if f.stages > model.stages:
        raise FormatError(f"file has {f.stages} stages but model {model.name} has {model.stages}")
    context = f.coder != container.CODER_RANGE
    if context and model.context_counts is None:
        raise FormatError(f"file uses context coding but model {model.name} has no context tables")
    if f.coder == container.CODER_PRODUCT and coder_for(model) != f.coder:
        raise FormatError(f"model {model.name}'s tables are too large for entropy coder 3")
    rows, cols = f.grid
    masks = stage_masks(f)
    out = np.zeros((f.stages, rows, cols), dtype=np.int32)
    for s, (words, m) in enumerate(zip(f.streams, masks, strict=True)):
        if context:
            previous = out[s - 1] if s else None
            out[s] = entropy.decode_stage(
                words, s, stage_tables(model, s, f.coder), previous, (rows, cols), m
            )
        else:
            out[s][m] = entropy.decode(words, model.counts[s], f.symbols[s])
    return out


def _alpha(f: container.VQCFile) -> np.ndarray:
    """Inflate the alpha plane, refusing more or fewer bytes than the image needs."""
    n = f.width * f.height
    try:
        d = zlib.decompressobj()
        raw = d.decompress(f.alpha, n)
        if len(raw) != n or not d.eof or d.unconsumed_tail or d.unused_data:
            raise FormatError("alpha section does not hold exactly one plane")
    except zlib.error as exc:
        raise FormatError(f"alpha section is corrupt ({exc})") from exc
    return np.frombuffer(raw, dtype=np.uint8).reshape(f.height, f.width, 1)


def decode(
    data: bytes,
    model: Model | str | None = None,
    device: str = "cpu",
    max_pixels: int = container.DEFAULT_MAX_PIXELS,
) -> tuple[np.ndarray, str]:
    """Decode .vqc bytes to ``(uint8 [H, W, C], mode)``."""
    f = container.parse(data, max_pixels)
    m = model_for(f.model, f.version, model)
    alpha = _alpha(f) if f.alpha else None
    indices = decode_streams(f, m)
    dev = resolve_device(device)
    depths = None if f.depths is None else container.position_depths(f)
    rgb = decode_indices(m.net.to(dev), indices, dev, depths)[: f.height, : f.width]
    if f.mode in ("L", "LA"):
        rgb = np.round(rgb.astype(np.float32).mean(2, keepdims=True)).astype(np.uint8)
    return (rgb if alpha is None else np.concatenate([rgb, alpha], 2)), f.mode
