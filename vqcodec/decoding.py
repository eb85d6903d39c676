""".vqc bytes -> indices -> pixels, without torch where OpenVINO runs the decoder.

The decoder runs over the latent grid in blocks of bounded size, each with a halo of
latent positions wide enough to cover its receptive field, so blocks join without seams
and memory stays bounded whatever the image size. On a CPU with OpenVINO the codes are
summed in numpy and the decoder graph is built from the model file's arrays
(:mod:`vqcodec.openvino_net`): the same graph, so the same pixels, as the torch
network's OpenVINO path, and no torch import (about 1-1.6 s of each process). Elsewhere
(CUDA, no OpenVINO) the torch network decodes (:func:`vqcodec.transform.decode_indices`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import coders, container, openvino_net, sections
from . import threads as threads_
from .architecture import DOWNSAMPLE, decoder_layers
from .config import ModelConfig
from .errors import FormatError, VQCodecError
from .registry import model_for
from .weights import Model

# of the decoder network: the spec's float32, bf16 (2.1 times as fast where the CPU runs
# it natively, within 2 of float32's pixels on Kodak), or auto: bf16 where native, else f32
PRECISIONS = ("auto", "f32", "bf16")
DECODE_BLOCK = (64, 128)  # latent positions per decoder block: 512 x 1024 pixels
DECODER_HALO = 6  # latent positions around each decoded block, at least (see decoder_halo)

# (rows, cols) of the latent grid -> float32 [3, 8 * rows, 8 * cols], the decoder's image
Reconstruct = Callable[[slice, slice], np.ndarray]
# (first row, uint8 [rows, W, C]): the image's rows from the top, as soon as they are decoded
RowSink = Callable[[int, np.ndarray], None]


def decoder_halo(cfg: ModelConfig) -> int:
    """Latent positions a decoded block needs on each side to join its neighbours
    exactly: one for the first 3x3 convolution, two per residual block, one for the
    transposed convolutions together (``2 + 2 * dec_blocks``), and never fewer than
    ``DECODER_HALO``, the halo every shipped model's files were decoded with."""
    return max(DECODER_HALO, 2 + 2 * cfg.dec_blocks)


def block_grid(rows: int, cols: int, block: tuple[int, int]):
    """``(top, bottom, left, right)`` of each block of a ``rows`` x ``cols`` grid, in
    raster order."""
    for top in range(0, rows, block[0]):
        for left in range(0, cols, block[1]):
            yield top, min(top + block[0], rows), left, min(left + block[1], cols)


def decode_blocks(
    reconstruct: Reconstruct,
    grid: tuple[int, int],
    halo: int,
    progress: Callable | None = None,
    rows: RowSink | None = None,
    prepare: Callable[[slice, slice], object] | None = None,
) -> np.ndarray:
    """uint8 ``[8h, 8w, 3]`` image of a latent ``grid`` ``(h, w)``, decoded by
    ``reconstruct`` in blocks of ``DECODE_BLOCK`` with ``halo`` positions around each.
    ``progress``, if given, wraps the loop over blocks (called as ``progress(blocks,
    desc=...)``, like ``tqdm``'s constructor); ``rows``, if given, is handed each row of
    blocks once it is decoded (rows of the returned array, which are not changed again).
    ``prepare``, if given, is the first part of each block's work: ``reconstruct`` then
    takes what ``prepare(rows, cols)`` returned instead of the slices. A second thread
    prepares the next block, and turns the last one into pixels, while ``reconstruct``
    runs (numpy and OpenVINO release the GIL): the same pixels, less time on one core."""
    h, w = grid
    out = np.empty((h * DOWNSAMPLE, w * DOWNSAMPLE, 3), dtype=np.uint8)
    blocks = list(block_grid(h, w, DECODE_BLOCK))
    spans = [
        (
            slice(max(0, top - halo), min(h, bottom + halo)),
            slice(max(0, lft - halo), min(w, rgt + halo)),
        )
        for top, bottom, lft, rgt in blocks
    ]
    with ThreadPoolExecutor(1) as helper:
        ahead = helper.submit(prepare, *spans[0]) if prepare else None
        stored = None
        for i, block in enumerate(progress(blocks, desc="decoding") if progress else blocks):
            if ahead is not None:
                made = ahead.result()
                ahead = helper.submit(prepare, *spans[i + 1]) if i + 1 < len(blocks) else None
                img = reconstruct(made)
            else:
                img = reconstruct(*spans[i])
            if stored is not None:
                stored.result()
            stored = helper.submit(_store, out, img, block, spans[i], rows, w)
        if stored is not None:
            stored.result()
    return out


def _store(
    out: np.ndarray,
    img: np.ndarray,
    block: tuple[int, int, int, int],
    span: tuple[slice, slice],
    rows: RowSink | None,
    w: int,
) -> None:
    """The decoded ``img`` of ``span`` (float ``[3, ...]``, 0..1 nominal) as 8-bit pixels
    of ``block`` in ``out``; ``rows`` handed its row of blocks where it ends one."""
    top, bottom, left, right = block
    y0, x0 = (top - span[0].start) * DOWNSAMPLE, (left - span[1].start) * DOWNSAMPLE
    img = img[:, y0 : y0 + (bottom - top) * DOWNSAMPLE, x0 : x0 + (right - left) * DOWNSAMPLE]
    np.clip(img, 0, 1, out=img)  # in place: round(clamp(y, 0, 1) * 255), as torch did
    img *= np.float32(255.0)
    pixels = np.rint(img, out=img).astype(np.uint8)
    out[top * DOWNSAMPLE : bottom * DOWNSAMPLE, left * DOWNSAMPLE : right * DOWNSAMPLE] = (
        pixels.transpose(1, 2, 0)
    )
    if rows is not None and right == w:
        rows(top * DOWNSAMPLE, out[top * DOWNSAMPLE : bottom * DOWNSAMPLE])


def dequantize(books: np.ndarray, indices: np.ndarray, depths: np.ndarray | None) -> np.ndarray:
    """float32 ``[D, h, w]``: the sum of the codes ``indices`` ``[S, h, w]`` name in
    ``books`` ``[stages, K, D]``, stage by stage in the order torch's quantizer adds them
    (the same floats), each position using its first ``depths`` ``[h, w]`` stages (all
    if None)."""
    total = np.zeros((*indices.shape[1:], books.shape[2]), dtype=np.float32)
    for s in range(indices.shape[0]):
        code = books[s][indices[s]]
        total = total + (code if depths is None else code * (depths > s)[..., None])
    return total.transpose(2, 0, 1)


def openvino_decoder(model: Model, precision: str, threads: int) -> Callable:
    """``model``'s decoder compiled by OpenVINO (once per model, precision and thread
    count): float32 latents ``[1, D, h, w]`` to the unclamped image, centred on 0."""
    key = ("decoder", precision, threads)
    if key not in model.compiled:
        layers = decoder_layers(model.cfg)
        model.compiled[key] = openvino_net.compile_stack(
            layers, model.weights, "decoder", precision, threads
        )
    return model.compiled[key]


def decode_with(
    run: Callable[[np.ndarray], np.ndarray],
    books: np.ndarray,
    indices: np.ndarray,
    depths: np.ndarray | None,
    halo: int,
    progress: Callable | None = None,
    rows: RowSink | None = None,
) -> np.ndarray:
    """uint8 ``[8h, 8w, 3]`` image of indices ``[S, h, w]`` (``depths`` ``[h, w]``: stages
    used per position, all if None): the codes of ``books`` summed in numpy, decoded by
    ``run`` (float32 latents ``[1, D, h, w]`` to the image centred on 0) with ``halo``
    (``progress`` and ``rows`` as for :func:`decode_blocks`)."""

    def codes(ys: slice, xs: slice) -> np.ndarray:
        block_depths = None if depths is None else depths[ys, xs]
        return np.ascontiguousarray(dequantize(books, indices[:, ys, xs], block_depths)[None])

    def reconstruct(z: np.ndarray) -> np.ndarray:
        img = run(z)[0]  # a new array
        img += np.float32(0.5)
        return img

    return decode_blocks(reconstruct, indices.shape[1:], halo, progress, rows, codes)


def decode_openvino(
    model: Model,
    indices: np.ndarray,
    depths: np.ndarray | None,
    precision: str,
    threads: int,
    progress: Callable | None = None,
    rows: RowSink | None = None,
) -> np.ndarray:
    """uint8 ``[8h, 8w, 3]`` image of indices ``[S, h, w]`` (``depths`` ``[h, w]``: stages
    used per position, all if None), decoded by OpenVINO without torch."""
    run = openvino_decoder(model, precision, threads)
    books = model.weights["quantizer.codebooks"]
    return decode_with(run, books, indices, depths, decoder_halo(model.cfg), progress, rows)


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """``"f32"`` or ``"bf16"``: ``precision`` checked, ``"auto"`` made bf16 on a CPU
    where OpenVINO runs bf16 natively and float32 elsewhere."""
    if precision not in PRECISIONS:
        raise VQCodecError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    return "bf16" if str(device) == "cpu" and openvino_net.native_bf16() else "f32"


def stage_masks(f: container.VQCFile) -> list[np.ndarray]:
    """Per stage of ``f``, the latent positions it codes (bool ``[rows, cols]``)."""
    depths = container.position_depths(f)
    return [depths > s for s in range(f.stages)]


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
    precision: str = "auto",
) -> tuple[np.ndarray, str]:
    """Decode .vqc bytes to ``(uint8 [H, W, C], mode)`` on ``threads`` CPU threads
    (default: :func:`vqcodec.threads.resolve`, one per core); ``progress`` wraps the
    decoder's loop over blocks (see :func:`decode_blocks`). ``precision`` is the decoder
    network's (:func:`resolve_precision`): ``"f32"`` gives the spec's pixels, ``"bf16"``
    (OpenVINO only) is faster and gives pixels slightly off them, the same on a given CPU
    and thread count; the default ``"auto"`` is bf16 where the CPU runs it natively."""
    f = container.parse(data, max_pixels)
    return decode_file(f, model, device, threads, progress, precision)


def decode_file(
    f: container.VQCFile,
    model: Model | str | None = None,
    device: str = "cpu",
    threads: int | None = None,
    progress: Callable | None = None,
    precision: str = "auto",
    rows: RowSink | None = None,
) -> tuple[np.ndarray, str]:
    """:func:`decode` of a parsed file (whose metadata the caller may want too). ``rows``,
    if given, is handed the image's rows (``[r, W, C]``, as returned) from the top, as
    soon as the decoder has them, so that writing the image can overlap decoding."""
    resolve_precision(precision)  # a bad precision is refused before any work
    m = model_for(f.model, f.fingerprint, model)
    alpha = sections.alpha_plane(f) if f.alpha else None
    n = threads_.resolve(threads)
    streamed = str(device) == "cpu" and openvino_net.available()
    with ThreadPoolExecutor(1) as pool:  # OpenVINO compiles without the GIL: beside the streams
        compile_args = (openvino_decoder, m, resolve_precision(precision), n)
        compiling = pool.submit(*compile_args) if streamed else None
        indices = decode_streams(f, m)
        if compiling is not None:
            compiling.result()
    plain = container.depth_version(f.format_version) == container.VERSION
    depths = None if plain else container.position_depths(f)

    def finished(top: int, rgb: np.ndarray) -> np.ndarray:
        """The decoder's rows from ``top`` as the file's image has them: cropped to its
        size, gray for L and LA, with its alpha."""
        rgb = rgb[: max(0, f.height - top), : f.width]
        if f.mode in ("L", "LA"):
            rgb = np.round(rgb.astype(np.float32).mean(2, keepdims=True)).astype(np.uint8)
        return rgb if alpha is None else np.concatenate([rgb, alpha[top : top + len(rgb)]], 2)

    def sink(top: int, rgb: np.ndarray) -> None:
        if top < f.height:
            rows(top, finished(top, rgb))

    if streamed:
        precision = resolve_precision(precision)
        hook = None if rows is None else sink
        rgb = decode_openvino(m, indices, depths, precision, n, progress, hook)
    else:  # torch: CUDA, or no OpenVINO
        from .codec import resolve_device
        from .transform import decode_indices, network

        dev = resolve_device(device)  # "auto" may be the CPU: then as "cpu", through torch
        with threads_.using(n):
            net = network(m.net.to(dev), dev, n, resolve_precision(precision, dev.type))
            rgb = decode_indices(net, indices, dev, depths, progress)
    image = finished(0, rgb)
    if rows is not None and not streamed:  # the torch path: every row at the end
        rows(0, image)
    return image, f.mode
