"""Pixels <-> codebook indices through the network, in blocks of bounded size.

A tiled encoder sees one 32x32 tile at a time, so blocks of whole tiles give exactly
the indices of the whole image; an untiled one gets each block with a halo of whole
tiles at least as wide as a latent's reach, and keeps the block's latents. The decoder
runs over the latent grid in blocks with a halo (:mod:`vqcodec.decoding`). Memory
therefore stays bounded by the block size, whatever the image size.

:func:`network` picks what runs the encoder and decoder stacks: torch, or on a CPU with
OpenVINO installed, the same layers compiled by OpenVINO (:mod:`vqcodec.openvino_net`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import torch

from . import decoding, openvino_net
from .architecture import decoder_layers, encoder_layers
from .decoding import decoder_halo
from .model import DOWNSAMPLE, LATENT_TILE, TILE, VQVAE, encoder_reach

ENCODE_BLOCK = (8, 32)  # tiles per encoder block: 256 x 1024 pixels
PARALLEL_BLOCK = (4, 32)  # tiles per block encoded by one worker (Kodak: 4 or 6 blocks)
SEARCH_ROWS = 512  # latents per call of the beam search
GREEDY_ROWS = 1024  # latents per call of the greedy search (kodim01: 512 39 ms, 2048 32, 1024 30)
DOUBT_STAGES = 3  # stages whose margin decides whether a latent is in doubt (Greedy)


def network(
    net: VQVAE,
    device: torch.device | str,
    threads: int,
    precision: str = "f32",
    encoder: str | None = None,
) -> VQVAE | Accelerated:
    """What runs ``net``'s stacks on ``device``: OpenVINO at ``precision`` (``"f32"`` or
    ``"bf16"``; the encoder at ``encoder``'s if given, which may be ``"int8"``) on
    ``threads`` threads when the device is a CPU and OpenVINO is installed (in float32 its
    decoder gave the same pixels as torch on every shipped vector, at one and two threads,
    1.8 times faster), else ``net`` itself in float32."""
    if torch.device(device).type != "cpu" or not openvino_net.available():
        return net
    return Accelerated(net, precision, threads, encoder)


def pad_to_tiles(rgb: np.ndarray) -> np.ndarray:
    """Pad ``[H, W, C]`` to multiples of the tile size by repeating the last row and column."""
    h, w = rgb.shape[:2]
    ph, pw = -h % TILE, -w % TILE
    if ph == 0 and pw == 0:
        return rgb
    return np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge")


def _padded_window(rgb: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """Rows ``top:bottom`` and columns ``left:right`` of ``rgb`` padded to whole tiles (as
    :func:`pad_to_tiles` pads the whole image), without padding the whole image."""
    h, w = rgb.shape[:2]
    window = rgb[top : min(bottom, h), left : min(right, w)]
    pad = ((0, bottom - top - window.shape[0]), (0, right - left - window.shape[1]), (0, 0))
    return np.pad(window, pad, mode="edge")  # a contiguous copy even when nothing is added


def _encoder_blocks(
    rgb: np.ndarray, size: tuple[int, int] | None = None
) -> list[tuple[int, int, int, int]]:
    """``(top, bottom, left, right)`` in tiles of each block of ``size`` tiles (default
    ``ENCODE_BLOCK``) of ``rgb``."""
    rows, cols = -(-rgb.shape[0] // TILE), -(-rgb.shape[1] // TILE)
    return list(decoding.block_grid(rows, cols, size or ENCODE_BLOCK))


def _latent_blocks(net: VQVAE | Accelerated, rgb: np.ndarray, device: torch.device | str):
    """Encode ``rgb`` in blocks of whole tiles: yields each block's latent-grid slices and
    its latents as rows ``[N, D]`` (row-major over the block) with the block's shape."""
    for block in _encoder_blocks(rgb):
        yield _latent_block(net, rgb, block, device)


def _latent_block(
    net: VQVAE | Accelerated,
    rgb: np.ndarray,
    block: tuple[int, int, int, int],
    device: torch.device | str,
) -> tuple[tuple[slice, slice], torch.Tensor, tuple[int, int]]:
    """One block of :func:`_latent_blocks` (``block`` in tiles, as :func:`_encoder_blocks`)."""
    r0, r1, c0, c1 = block
    halo = 0 if net.cfg.tiled_encoder else -(-encoder_reach(net.cfg) // TILE) * TILE
    rows, cols = -(-rgb.shape[0] // TILE), -(-rgb.shape[1] // TILE)
    top, left = max(0, r0 * TILE - halo), max(0, c0 * TILE - halo)
    bottom, right = min(rows * TILE, r1 * TILE + halo), min(cols * TILE, c1 * TILE + halo)
    pixels = _padded_window(rgb, top, bottom, left, right)
    where = (slice(r0 * LATENT_TILE, r1 * LATENT_TILE), slice(c0 * LATENT_TILE, c1 * LATENT_TILE))
    shape = ((r1 - r0) * LATENT_TILE, (c1 - c0) * LATENT_TILE)
    if isinstance(net, Accelerated) and net.cfg.tiled_encoder:
        return where, torch.from_numpy(_tiled_latents(net, pixels)), shape
    x = torch.from_numpy(pixels).to(device).permute(2, 0, 1)[None].float() / 255.0
    z = net.encode(x)[0]
    y0, x0 = (r0 * TILE - top) // DOWNSAMPLE, (c0 * TILE - left) // DOWNSAMPLE
    z = z[:, y0 : y0 + shape[0], x0 : x0 + shape[1]]
    return where, z.permute(1, 2, 0).reshape(-1, z.shape[0]), shape


def _tiled_latents(net: Accelerated, block: np.ndarray) -> np.ndarray:
    """float32 rows ``[N, D]`` (row-major over the block's latent grid) of a uint8 block
    ``[H, W, 3]`` of whole tiles through ``net``'s OpenVINO encoder, the tiles cut and
    the latents put back in numpy: the floats of :meth:`VQVAE.encode` (``x / 255 - 0.5``
    rounds alike in both) without torch's copies of the block as float32 tensors."""
    h, w = block.shape[:2]
    rows, cols = h // TILE, w // TILE
    tiles = block.reshape(rows, TILE, cols, TILE, 3).transpose(0, 2, 4, 1, 3)
    x = tiles.reshape(-1, 3, TILE, TILE).astype(np.float32) / np.float32(255) - np.float32(0.5)
    z = _numpy_stack(net.net, "encoder", net.encoder_precision, net.threads)(x)  # [tiles, D, 4, 4]
    z = z.reshape(rows, cols, -1, LATENT_TILE, LATENT_TILE).transpose(0, 3, 1, 4, 2)
    return np.ascontiguousarray(z.reshape(rows * cols * LATENT_TILE**2, -1))


def _grid(rgb: np.ndarray) -> tuple[int, int]:
    h, w = rgb.shape[:2]
    return -(-h // TILE) * LATENT_TILE, -(-w // TILE) * LATENT_TILE


@torch.inference_mode()
def encode_indices(
    net: VQVAE, rgb: np.ndarray, stages: int, device: torch.device | str = "cpu"
) -> np.ndarray:
    """Greedy indices ``int32 [stages, Hp/8, Wp/8]`` of a uint8 ``[H, W, 3]`` image padded
    to tiles (each stage's nearest code; what the entropy tables are counted on)."""
    out = np.empty((stages, *_grid(rgb)), dtype=np.int32)
    for (rs, cs), z, shape in _latent_blocks(net, rgb, device):
        idx = net.quantizer.quantize(z, stages)
        out[:, rs, cs] = idx.t().reshape(stages, *shape).cpu().numpy()
    return out


class Paths(list):
    """What the code search found for every depth ``d`` in 1..S of an image: a list whose
    item ``d - 1`` is the ``d``-stage indices (int16 ``[d, rows, cols]``), with each
    position's squared latent error at every depth (float64 ``[S, rows, cols]``);
    ``nested`` when each depth's indices are the deepest's first stages (greedy codes)."""

    def __init__(
        self, indices: list[np.ndarray], latent_error: np.ndarray, nested: bool = False
    ) -> None:
        super().__init__(indices)
        self.latent_error, self.nested = latent_error, nested


def encode_paths(
    net: VQVAE,
    rgb: np.ndarray,
    stages: int,
    search: Callable[[torch.Tensor], torch.Tensor],
    device: torch.device | str = "cpu",
    progress: Callable | None = None,
) -> list[np.ndarray]:
    """For each depth ``d`` in 1..stages, the ``d``-stage indices of a uint8 ``[H, W, 3]``
    image (:func:`search_paths` without the latent errors)."""
    return list(search_paths(net, rgb, stages, search, device, progress))


@torch.inference_mode()
def search_paths(
    net: VQVAE | Accelerated,
    rgb: np.ndarray,
    stages: int,
    search: Callable[[torch.Tensor], torch.Tensor] | None,
    device: torch.device | str = "cpu",
    progress: Callable | None = None,
    doubt: float | None = None,
) -> Paths:
    """The indices of every depth of a uint8 ``[H, W, 3]`` image and their latent errors.

    ``search`` maps latents ``[N, D]`` to the best path of every length, ``[stages, N,
    stages]`` (``ResidualVQ.beam_search``); it runs on ``SEARCH_ROWS`` latents at a time,
    whose working set stays in cache (1.6 times faster than a whole block at width 8, the
    same paths: each row is searched on its own). ``search=None`` is the greedy search
    (each stage's nearest code, :class:`Greedy`), whose paths extend one another: item
    ``d - 1`` is then a view of the deepest path's first ``d`` stages. With ``doubt``,
    greedy codes everywhere and ``search``'s paths only at the latents whose greedy code
    is in doubt (:class:`Greedy`'s margin below ``doubt``; inf: every latent), found in
    the greedy search's workers. ``progress``, if given, wraps the loop over encoder
    blocks (called as ``progress(blocks, desc=..., total=...)``).
    """
    dtype = np.int16 if net.quantizer.size <= 1 << 15 else np.int32
    grid = _grid(rgb)
    error = np.empty((stages, *grid))
    books = net.quantizer.codebooks.float()
    if search is None or doubt is not None:
        deep = np.empty((stages, *grid), dtype=dtype)
        greedy = Greedy(books, stages, 0.0 if search is None else doubt)
        beamed = _greedy_blocks(net, rgb, greedy, deep, error, device, progress, search)
        if search is None:
            return Paths([deep[:d] for d in range(1, stages + 1)], error, nested=True)
        out = [deep[:d].copy() for d in range(1, stages + 1)]
        for (rs, cs), at, best, err in beamed:  # the beam's paths where greedy was in doubt
            r, c = rs.start + at // (cs.stop - cs.start), cs.start + at % (cs.stop - cs.start)
            error[:, r, c] = err
            for d in range(stages):
                out[d][:, r, c] = best[d, :, : d + 1].T
        return Paths(out, error)
    blocks = _latent_blocks(net, rgb, device)
    if progress:
        blocks = progress(blocks, desc="encoding", total=len(_encoder_blocks(rgb)))
    out = [np.empty((d, *grid), dtype=dtype) for d in range(1, stages + 1)]
    with ThreadPoolExecutor(torch.get_num_threads()) as pool:
        for (rs, cs), z, shape in blocks:
            best = _search_rows(pool, search, z)
            with _torch_threads(1):  # small operations, whose threads would wait on each other
                err = _path_errors(books, z, best).reshape(stages, *shape)
                error[:, rs, cs] = err.cpu().numpy()
                for d in range(stages):
                    out[d][:, rs, cs] = best[d, :, : d + 1].T.reshape(d + 1, *shape).cpu().numpy()
    return Paths(out, error)


def _path_errors(books: torch.Tensor, z: torch.Tensor, best: torch.Tensor) -> torch.Tensor:
    """float32 ``[S, N]``: the squared latent error of each row of ``z`` ``[N, D]`` left by
    its path of every length ``best`` ``[S, N, S]``."""
    out, z = torch.empty(best.shape[:2]), z.float()
    for d in range(len(best)):
        rebuilt = sum(books[s][best[d, :, s]] for s in range(d + 1))
        out[d] = (z - rebuilt).pow(2).sum(1)
    return out


def _greedy_blocks(
    net: VQVAE | Accelerated,
    rgb: np.ndarray,
    greedy: Greedy,
    deep: np.ndarray,
    error: np.ndarray,
    device: torch.device | str,
    progress: Callable | None,
    beam: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> list[tuple[tuple[slice, slice], np.ndarray, np.ndarray, np.ndarray]]:
    """Each encoder block encoded and greedily searched, written into ``deep`` (indices
    ``[S, rows, cols]``) and ``error``. With OpenVINO networks the blocks are spread over
    torch's thread count of workers, each encoding (OpenVINO on one thread) and searching
    (torch on one thread) a block of its own: no worker waits for another until the end
    (on the shared 2-core machine, in-block parallelism's hand-offs between threads cost
    more than they gained). A torch network encodes and searches block by block.

    With ``beam`` (see :func:`search_paths`), each worker also searches its block's rows
    in doubt by ``beam``; returns, per block, its latent-grid slices, those rows (flat
    within the block), their paths ``[S, n, S]`` and latent errors ``[S, n]``."""
    beamed = []

    def one(block: tuple[int, int, int, int]) -> None:
        where, z, shape = _latent_block(encoder, rgb, block, device)
        doubt = torch.zeros(len(z), dtype=torch.bool) if beam is not None else None
        found = [
            greedy(z[i : i + GREEDY_ROWS], None if doubt is None else doubt[i : i + GREEDY_ROWS])
            for i in range(0, len(z), GREEDY_ROWS)
        ]
        idx = torch.cat([i for i, _ in found], 1).reshape(-1, *shape)
        err = torch.cat([e for _, e in found], 1).reshape(-1, *shape)
        deep[(slice(None), *where)] = idx.cpu().numpy()
        error[(slice(None), *where)] = err.cpu().numpy()  # float32 -> float64, exact
        if doubt is not None and doubt.any():
            at = doubt.nonzero().flatten()
            rows = z[at]
            best = torch.cat([beam(r) for r in rows.split(SEARCH_ROWS)], 1)
            errors = _path_errors(greedy.books, rows, best)
            beamed.append((where, at.numpy(), best.cpu().numpy(), errors.numpy()))

    if not isinstance(net, Accelerated):
        encoder, blocks, workers = net, _encoder_blocks(rgb), 1
    else:  # the same blocks and one-thread stacks at every thread count: the same files
        encoder, blocks = (
            Accelerated(net.net, net.precision, 1, net.encoder_precision),
            _encoder_blocks(rgb, PARALLEL_BLOCK),
        )
        workers = torch.get_num_threads()
    if workers == 1:
        done = map(one, blocks)
        for _ in progress(done, desc="encoding", total=len(blocks)) if progress else done:
            pass
        return beamed
    with ThreadPoolExecutor(workers) as pool, _torch_threads(1):
        done = pool.map(partial(_inferring, one), blocks)
        for _ in progress(done, desc="encoding", total=len(blocks)) if progress else done:
            pass
    return beamed


class Greedy:
    """The greedy code search: for each row of latents ``z`` ``[N, D]``, each stage's
    nearest code to the residual left by the stages before (int64 ``[stages, N]``) and the
    squared latent error left after each stage (float32 ``[stages, N]``).

    The codes are :meth:`ResidualVQ.quantize`'s and the errors its residuals' (the same
    floats: each code's distance is ``|c|^2 - 2 z.c`` rounded as there, the matrix product
    taken on ``-2 c``, exact, and summed with the norms by ``addmm``). 2.4 times faster
    than computing them per stage as the quantizer does (norms computed once, the
    products, minima and gathers written into buffers: Kodak, kodim01's 6144 latents,
    one thread: 72 -> 30 ms of CPU).

    Given a ``doubt`` buffer, it also marks the rows whose choice is in doubt: at one of
    the first ``DOUBT_STAGES`` stages the second-nearest code's distance is within
    ``margin`` times the residual's energy of the nearest's (every row if ``margin`` is
    inf). Those are the rows a beam search would most likely send elsewhere."""

    def __init__(self, books: torch.Tensor, stages: int, margin: float = 0.0) -> None:
        self.books, self.stages, self.margin = books[:stages], stages, margin
        self.norms = self.books.pow(2).sum(2)
        self.minus2 = (-2 * self.books).transpose(1, 2).contiguous()

    def __call__(
        self, z: torch.Tensor, doubt: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(z)
        residual = z.float().clone()
        idx = torch.empty(self.stages, n, dtype=torch.int64, device=z.device)
        err = torch.empty(self.stages, n, device=z.device)
        score = torch.empty(n, self.books.shape[1], device=z.device)
        least = torch.empty(n, device=z.device)
        if doubt is not None and math.isinf(self.margin):
            doubt.fill_(True)
        marking = doubt is not None and not math.isinf(self.margin)
        for s in range(self.stages):
            torch.addmm(self.norms[s], residual, self.minus2[s], out=score)
            if marking and s < DOUBT_STAGES:
                two = score.topk(2, 1, largest=False).values
                energy = (residual * residual).sum(1)
                doubt |= two[:, 1] - two[:, 0] < self.margin * energy
            torch.min(score, 1, out=(least, idx[s]))
            residual -= self.books[s].index_select(0, idx[s])
            torch.sum(residual * residual, 1, out=err[s])
        return idx, err


@contextmanager
def _torch_threads(count: int | None):
    """torch on ``count`` threads inside the block (None: unchanged), then as before."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _inferring(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():  # per thread: the pool's threads start outside it
        return fn(x)


def _search_rows(
    pool: ThreadPoolExecutor, search: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor
) -> torch.Tensor:
    """``search`` over ``SEARCH_ROWS`` rows of ``z`` at a time, the chunks spread over the
    pool's threads with torch single-threaded inside each (its small operations spend
    more time waiting for each other's threads than computing, and on a shared machine
    far more); each row is searched on its own, so the paths do not depend on it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.cat(list(pool.map(partial(_inferring, search), z.split(SEARCH_ROWS))), 1)
    finally:
        torch.set_num_threads(before)


def decode_indices(
    net: VQVAE | Accelerated,
    indices: np.ndarray,
    device: torch.device | str = "cpu",
    depths: np.ndarray | None = None,
    progress: Callable | None = None,
) -> np.ndarray:
    """uint8 ``[8h, 8w, 3]`` image from indices ``[S, h, w]`` through the torch network
    ``net`` (or its OpenVINO stacks), in blocks with a halo (:func:`decoding.decode_blocks`).

    ``depths`` ``[h, w]``, if given, is how many stages each position uses (default: all).
    ``progress``, if given, wraps the loop over blocks (called as ``progress(blocks,
    desc=...)``, like ``tqdm``'s constructor). OpenVINO stacks get the codes summed in
    numpy (the same floats as torch's quantizer, without its small multi-threaded
    operations: on the busy 2-core machine they were half the wall time of a Kodak
    encode's three depth passes).
    """
    halo = decoder_halo(net.cfg)
    if isinstance(net, Accelerated):
        run = _numpy_stack(net.net, "decoder", net.precision, net.threads)
        books = net.quantizer.codebooks.detach().float().cpu().numpy()
        return decoding.decode_with(run, books, indices, depths, halo, progress)
    idx = torch.from_numpy(np.ascontiguousarray(indices, dtype=np.int64)).to(device)
    lev = None
    if depths is not None:
        lev = torch.from_numpy(np.ascontiguousarray(depths, dtype=np.int64)).to(device)

    @torch.inference_mode()
    def reconstruct(rows: slice, cols: slice) -> np.ndarray:
        levels = None if lev is None else lev[None, rows, cols]
        return net.reconstruct(idx[None, :, rows, cols], levels)[0].float().cpu().numpy()

    return decoding.decode_blocks(reconstruct, idx.shape[1:], halo, progress)


@lru_cache(maxsize=8)
def _numpy_stack(net: VQVAE, part: str, precision: str, threads: int) -> Callable:
    """``net``'s ``part`` (``"encoder"`` or ``"decoder"``) compiled by OpenVINO, once per
    network, precision and thread count, as a function of float32 numpy arrays. In bf16
    and int8 the encoder's last convolution stays float32: a latent rounded to bf16 (8
    significant bits) misleads the deepest stages' code choice (at quality 12 a flat white
    image's darkest pixel fell from 250 to 249); the last layer in float32 costs 0.05 s of
    CPU per Kodak image against 0.09 s for the whole bf16 encoder. int8's input ranges are
    measured on the packaged sample photo (:func:`calibration_input`)."""
    weights = {k: v.detach().float().cpu().numpy() for k, v in net.state_dict().items()}
    layers = (encoder_layers if part == "encoder" else decoder_layers)(net.cfg)
    if part == "encoder" and precision in ("bf16", "int8"):
        ranges = _int8_ranges(net) if precision == "int8" else None
        head = openvino_net.compile_stack(layers[:-1], weights, part, precision, threads, 0, ranges)
        last = len(layers) - 1
        tail = openvino_net.compile_stack(layers[-1:], weights, part, "f32", threads, last)
        stages = [head, tail]
    else:
        stages = [openvino_net.compile_stack(layers, weights, part, precision, threads)]

    def run(x: np.ndarray) -> np.ndarray:
        for stage in stages:
            x = stage(x)
        return x

    return run


@lru_cache(maxsize=8)
def _int8_ranges(net: VQVAE) -> list[tuple[float, float]]:
    """The input ranges of ``net``'s int8 encoder stack (all but its last convolution),
    once per network: measured on :func:`calibration_input`, the first one exactly the
    pixels' (x / 255 - 0.5: 256 levels over [-0.5, 0.5] hold them all)."""
    ranges = openvino_net.int8_ranges(_conv_inputs(net, calibration_input()))
    return [(-0.5, 0.5), *ranges[1:]]


def _conv_inputs(net: VQVAE, x: np.ndarray) -> list[tuple[float, float]]:
    """``(min, max)`` of the input of each of the encoder's convolutions but the last, as
    torch runs it on one thread over ``x`` (NCHW): what int8 ranges are measured from."""
    convs = [m for m in net.encoder.modules() if isinstance(m, torch.nn.Conv2d)][:-1]
    seen: list[tuple[float, float]] = []

    def record(module, args) -> None:
        seen.append((float(args[0].min()), float(args[0].max())))

    hooks = [conv.register_forward_pre_hook(record) for conv in convs]
    try:
        with torch.inference_mode(), _torch_threads(1):
            net.encoder(torch.from_numpy(x))
    finally:
        for hook in hooks:
            hook.remove()
    return seen


@lru_cache(maxsize=1)
def calibration_input() -> np.ndarray:
    """float32 ``[1, 3, H, W]``: the packaged sample photo (300x220 parrots) as the
    encoder sees pixels, padded to whole tiles: what int8 encoders measure ranges on."""
    from PIL import Image

    with Image.open(Path(__file__).parent / "samples" / "parrots.png") as im:
        rgb = pad_to_tiles(np.asarray(im.convert("RGB")))
    return (rgb.transpose(2, 0, 1)[None].astype(np.float32) / 255 - 0.5).astype(np.float32)


def _compiled(net: VQVAE, part: str, precision: str, threads: int) -> Callable:
    """:func:`_numpy_stack` as a function of torch tensors."""
    run = _numpy_stack(net, part, precision, threads)
    return lambda x: torch.from_numpy(run(x.detach().cpu().numpy()))


class Accelerated:
    """A stand-in for a :class:`~vqcodec.model.VQVAE` whose encoder and decoder stacks
    run in OpenVINO (each compiled when first used), sharing the net's quantizer; what
    this module needs of a net."""

    encode = VQVAE.encode
    decode = VQVAE.decode
    reconstruct = VQVAE.reconstruct

    def __init__(
        self, net: VQVAE, precision: str = "f32", threads: int = 1, encoder: str | None = None
    ) -> None:
        self.net, self.precision, self.threads = net, precision, threads
        self.encoder_precision = encoder or precision  # int8 too: it changes codes, not pixels
        self.cfg, self.quantizer = net.cfg, net.quantizer

    @property
    def encoder(self) -> Callable[[torch.Tensor], torch.Tensor]:
        return _compiled(self.net, "encoder", self.encoder_precision, self.threads)

    @property
    def decoder(self) -> Callable[[torch.Tensor], torch.Tensor]:
        return _compiled(self.net, "decoder", self.precision, self.threads)
