"""Model files: safetensors weights, integer entropy tables and the codebook fingerprint.

A model file holds the encoder, decoder and codebook tensors, the per-stage integer
count tables used for entropy coding (``entropy.counts``, and for coders 2-3
``entropy.context_counts`` and ``entropy.left_counts``), and metadata: the file format,
the model name, its architecture, its fingerprint and a free-form training record.
Nothing is ever unpickled.

The file formats differ only in how the tables are stored (:data:`FORMATS`): format 1
(vqcodec-base-v1, -v2) as int32 tensors, format 2 (new files) as deflate streams of their
int32 values grouped by byte plane, a fifth of the size. The tables read back, the
fingerprint and so every .vqc file are the same either way.

Files are read and checked with numpy alone; the torch network (:attr:`Model.net`) is
built on first use, so decoding through OpenVINO never imports torch.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError, safe_open

from .architecture import parameter_shapes
from .config import ModelConfig
from .container import FINGERPRINT_BYTES, valid_model_name
from .entropy import NEIGHBOUR_STAGES
from .errors import ModelMismatchError, VQCodecError

if TYPE_CHECKING:  # torch: only where a network is built or saved
    from .model import VQVAE

_TRAINING_ONLY = ("quantizer.ema_count", "quantizer.ema_sum", "quantizer.initialized")


def fingerprint(
    codebooks: np.ndarray,
    counts: np.ndarray,
    context_counts: np.ndarray | None = None,
    left_counts: np.ndarray | None = None,
) -> bytes:
    """First 16 bytes of SHA-256 over the codebooks (float32 LE) and tables (int32 LE),
    then the context and left tables (int32 LE) when the model has them."""
    h = hashlib.sha256(b"vqcodec-codebooks-v1")
    arrays = [(codebooks, "<f4"), (counts, "<i4")]
    if context_counts is not None:
        arrays += [(context_counts, "<i4"), (left_counts, "<i4")]
    for arr, dtype in arrays:
        a = np.ascontiguousarray(arr, dtype=dtype)
        h.update(np.asarray(a.shape, dtype="<u4").tobytes())
        h.update(a.tobytes())
    return h.digest()[:FINGERPRINT_BYTES]


def _int32_fits(stored: tuple[int, ...], table: tuple[int, ...]) -> bool:
    return stored == table


def _int32_pack(table: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(table, dtype=np.int32)


def _int32_unpack(stored: np.ndarray, table: tuple[int, ...]) -> np.ndarray:
    return stored.astype(np.int64)


def deflate_bound(size: int) -> int:
    """The longest zlib stream of ``size`` bytes (zlib's compressBound)."""
    return size + (size >> 12) + (size >> 14) + (size >> 25) + 13


def _deflated_fits(stored: tuple[int, ...], table: tuple[int, ...]) -> bool:
    return len(stored) == 1 and 1 <= stored[0] <= deflate_bound(4 * int(np.prod(table)))


def _deflate_pack(table: np.ndarray) -> np.ndarray:
    planes = np.ascontiguousarray(table, dtype="<i4").view(np.uint8).reshape(-1, 4).T
    stream = zlib.compress(np.ascontiguousarray(planes).tobytes(), 9)
    return np.frombuffer(stream, dtype=np.uint8).copy()


def _deflate_unpack(stored: np.ndarray, table: tuple[int, ...]) -> np.ndarray:
    """The table a stream holds: exactly its size in bytes, inflated at most one byte
    further (room for the stream's end to be read, so that a longer one shows)."""
    size = 4 * int(np.prod(table))
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(stored.tobytes(), size + 1)
    except zlib.error as exc:
        raise ValueError(f"not a deflate stream ({exc})") from exc
    if len(raw) != size or not inflate.eof or inflate.unconsumed_tail or inflate.unused_data:
        raise ValueError(f"deflate stream does not hold exactly {size} bytes")
    planes = np.frombuffer(raw, np.uint8).reshape(4, -1)
    return np.ascontiguousarray(planes.T).view("<i4").reshape(table).astype(np.int64)


@dataclass(frozen=True)
class TableStorage:
    """How one model-file format stores each integer entropy table on disk."""

    dtype: str  # safetensors dtype of a stored table
    fits: Callable[[tuple[int, ...], tuple[int, ...]], bool]  # (stored shape, table shape)
    pack: Callable[[np.ndarray], np.ndarray]
    unpack: Callable[[np.ndarray, tuple[int, ...]], np.ndarray]  # ValueError if bad
    layout: str  # what ``fits`` asks, for error messages


# Model-file formats by the tag in their metadata. A format, once files exist, never
# changes; a new storage is a new entry.
FORMATS = {
    "vqcodec-model/1": TableStorage(
        "I32", _int32_fits, _int32_pack, _int32_unpack, "int32 of the table's shape"
    ),
    "vqcodec-model/2": TableStorage(
        "U8",
        _deflated_fits,
        _deflate_pack,
        _deflate_unpack,
        "a uint8 deflate stream of the int32 byte planes",
    ),
}
FORMAT_TAG = "vqcodec-model/2"  # what new files are written in


@dataclass(eq=False)  # compared (and cached by) identity
class Model:
    """A loaded model: network weights, entropy tables and identity."""

    name: str
    cfg: ModelConfig
    weights: dict[str, np.ndarray]  # float32 network and codebooks by state-dict name
    counts: np.ndarray  # int64 [stages, codebook_size], every entry >= 1
    fingerprint: bytes
    card: dict
    context_counts: np.ndarray | None = None  # int64 [stages, K, K] for coders 2-3, or None
    left_counts: np.ndarray | None = None  # int64 [NEIGHBOUR_STAGES, K, K] for coders 2-3
    digest: bytes = b""  # weights_digest of the file: covers every tensor, the network too
    file_format: str = FORMAT_TAG  # the key of FORMATS the file was stored in
    compiled: dict = field(default_factory=dict, repr=False)  # by openvino_net, per setting

    @property
    def stages(self) -> int:
        return self.cfg.stages

    @cached_property
    def net(self) -> VQVAE:
        """The torch network, built on first use (importing torch); its tensors share
        memory with :attr:`weights`, so a change to one is a change to the other."""
        import torch

        from .model import VQVAE

        net = VQVAE(self.cfg)
        state = {k: torch.from_numpy(v) for k, v in self.weights.items()}
        net.load_state_dict(state, strict=False, assign=True)
        net.quantizer.initialized.fill_(True)
        return net.eval()


def _storage(key: str, t: np.ndarray) -> np.ndarray:
    """Network weights are stored as float16 (half the size); codebooks stay float32."""
    if t.dtype.kind == "f" and key != "quantizer.codebooks":
        t = t.astype(np.float16)
    return np.ascontiguousarray(t)


def round_weights(net: VQVAE) -> None:
    """Round the network to the float16 values a saved file holds, so tables match it."""
    import torch

    with torch.no_grad():
        for k, v in net.state_dict().items():
            if v.is_floating_point() and k != "quantizer.codebooks":
                v.copy_(v.half().float())


def save_model(
    path: str | Path,
    name: str,
    net: VQVAE,
    counts: np.ndarray,
    card: dict,
    context_counts: np.ndarray | None = None,
    left_counts: np.ndarray | None = None,
    fmt: str = FORMAT_TAG,
) -> bytes:
    """Write ``net`` and its tables to a safetensors file; returns the fingerprint.

    Refuses non-finite weights. The metadata records :func:`weights_digest`, which
    :func:`load_model` checks.

    ``context_counts`` ``[stages, K, K]`` and ``left_counts`` ``[NEIGHBOUR_STAGES, K, K]``
    (both or neither) are the tables of coders 2 and 3. ``fmt`` is a key of
    :data:`FORMATS` (how the tables are stored; the fingerprint does not depend on it).
    """
    from safetensors.numpy import save_file

    storage = FORMATS[fmt]
    if not valid_model_name(name):
        raise VQCodecError(f"invalid model name {name!r}: use 1-64 characters of A-Z a-z 0-9 . _ -")
    counts = np.asarray(counts, dtype=np.int64)
    if counts.shape != (net.cfg.stages, net.cfg.codebook_size) or counts.min() < 1:
        raise ValueError("counts must be [stages, codebook_size] with every entry >= 1")
    if counts.max() >= 2**31:
        raise ValueError("counts must fit in int32")
    tensors = {
        k: _storage(k, v.detach().cpu().numpy())
        for k, v in net.state_dict().items()
        if k not in _TRAINING_ONLY
    }
    if any(v.dtype.kind == "f" and not np.isfinite(v).all() for v in tensors.values()):
        raise VQCodecError("the network has non-finite weights (after float16 rounding)")
    tables = {"counts": counts}
    if (context_counts is None) != (left_counts is None):
        raise ValueError("give both context_counts and left_counts, or neither")
    if context_counts is not None:
        shapes = table_shapes(net.cfg)
        for key, arr in (("context_counts", context_counts), ("left_counts", left_counts)):
            arr = np.asarray(arr, dtype=np.int64)
            want = shapes[f"entropy.{key}"]
            if arr.shape != want or arr.min() < 1 or arr.max() >= 2**31:
                raise ValueError(f"{key} must be {list(want)}, entries 1..2^31-1")
            tables[key] = arr
    tensors |= {f"entropy.{key}": storage.pack(arr) for key, arr in tables.items()}
    fp = fingerprint(tensors["quantizer.codebooks"], counts, context_counts, left_counts)
    meta = {
        "format": fmt,
        "name": name,
        "config": net.cfg.to_json(),
        "fingerprint": fp.hex(),
        "weights_digest": weights_digest(tensors).hex(),
        "card": json.dumps(card, sort_keys=True),
    }
    save_file(tensors, str(path), metadata=meta)
    return fp


# the dtype names the weights digest hashes: torch's, which it was first computed with
_DIGEST_DTYPES = {"float16": "torch.float16", "float32": "torch.float32"}
_DIGEST_DTYPES |= {"int32": "torch.int32", "uint8": "torch.uint8"}


def weights_digest(tensors: dict[str, np.ndarray]) -> bytes:
    """SHA-256 over every tensor of a model file as stored (name, dtype, shape and
    little-endian bytes, in name order): unlike the fingerprint it covers the network."""
    h = hashlib.sha256(b"vqcodec-weights-v1")
    for key in sorted(tensors):
        a = np.ascontiguousarray(tensors[key])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        for part in (key, _DIGEST_DTYPES[a.dtype.name], json.dumps(list(a.shape))):
            h.update(part.encode("ascii") + b"\0")
        h.update(a.tobytes())
    return h.digest()


def _reject_constant(name: str):
    raise ValueError(f"non-finite number {name} in the config")


def _config(text: str) -> ModelConfig:
    """The architecture a file claims, refusing non-finite and non-integer numbers."""
    raw = json.loads(text, parse_constant=_reject_constant)
    if not isinstance(raw, dict):
        raise ValueError("config is not a JSON object")
    numbers = [*raw.get("channels", ()), *(v for k, v in raw.items() if k != "channels")]
    if any(isinstance(v, float) for v in numbers):
        raise ValueError("config numbers must be integers")
    return ModelConfig.from_json(text)


def expected_shapes(cfg: ModelConfig, context: bool) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor a model file of ``cfg`` must hold, computed without
    allocating."""
    shapes = parameter_shapes(cfg)
    tables = table_shapes(cfg)
    return shapes | (tables if context else {"entropy.counts": tables["entropy.counts"]})


def table_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The shape of each entropy table of ``cfg`` (context ones for coders 2-3)."""
    k, stages = cfg.codebook_size, cfg.stages
    return {
        "entropy.counts": (stages, k),
        "entropy.context_counts": (stages, k, k),
        "entropy.left_counts": (min(stages, NEIGHBOUR_STAGES), k, k),
    }


def _check_layout(
    path: Path, cfg: ModelConfig, storage: TableStorage, present: dict[str, tuple[list, str]]
) -> None:
    """Refuse a file whose tensors are not exactly the ones ``cfg`` needs, stored as
    ``storage`` says, before any is read: the architecture is bounded by the bytes
    actually in the file."""
    context = "entropy.context_counts" in present or "entropy.left_counts" in present
    want = expected_shapes(cfg, context)
    if set(present) != set(want):
        extra, missing = sorted(set(present) - set(want)), sorted(set(want) - set(present))
        raise VQCodecError(
            f"{path}: tensors do not match the architecture "
            f"(missing {missing[:3]}, unexpected {extra[:3]})"
        )
    for key, (shape, dtype) in present.items():
        table = key.startswith("entropy.")
        if table and not storage.fits(tuple(shape), want[key]):
            raise VQCodecError(
                f"{path}: tensor {key} has shape {list(shape)}, the architecture needs "
                f"{list(want[key])} as {storage.layout}"
            )
        if not table and tuple(shape) != want[key]:
            raise VQCodecError(
                f"{path}: tensor {key} has shape {list(shape)}, the architecture needs "
                f"{list(want[key])}"
            )
        ok = dtype == storage.dtype if table else dtype in ("F16", "F32")
        if not ok:
            raise VQCodecError(f"{path}: tensor {key} has the wrong type {dtype}")


def _check_tables(path: Path, counts, context, left) -> None:
    """Every count at least 1, and coder 2's mixed weights exact in float64 (< 2^53)."""
    if counts.min() < 1 or (context is not None and min(context.min(), left.min()) < 1):
        raise VQCodecError(f"{path}: entropy tables hold zero or negative counts")
    if context is not None:
        ctx = context[:NEIGHBOUR_STAGES]
        peak = int(ctx.max()) * int(left.sum(-1).max()) + int(left.max()) * int(ctx.sum(-1).max())
        if peak >= 2**53 or int(context.sum(-1).max()) >= 2**53:
            raise VQCodecError(f"{path}: context tables are too large for exact coding")


def _read(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Metadata and tensors of a model file, every check that needs only the header
    (format, name, architecture, tensor shapes) done before any tensor is read."""
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            storage = FORMATS.get(meta.get("format", ""))
            if storage is None:
                raise VQCodecError(
                    f"{path} is not a vqcodec model file of a known format ({', '.join(FORMATS)})"
                )
            if not valid_model_name(meta.get("name", "")):
                raise VQCodecError(f"{path}: invalid model name {meta.get('name')!r}")
            try:
                cfg = _config(meta["config"])
            except (KeyError, ValueError, TypeError, OverflowError, RecursionError) as exc:
                raise VQCodecError(f"{path}: malformed model config ({exc})") from exc
            present = {
                k: (f.get_slice(k).get_shape(), f.get_slice(k).get_dtype()) for k in f.keys()
            }
            _check_layout(path, cfg, storage, present)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, SafetensorError) as exc:
        raise VQCodecError(f"cannot read model file {path}: {exc}") from exc
    return meta | {"config": cfg, "storage": storage}, tensors


def _tables(path: Path, meta: dict, tensors: dict[str, np.ndarray]) -> list:
    """The plain, context and left tables (int64; None where absent), taken out of
    ``tensors`` and unpacked as the file's format stores them."""
    storage, shapes = meta["storage"], table_shapes(meta["config"])
    out = []
    for key in shapes:
        stored = tensors.pop(key, None)
        try:
            out.append(None if stored is None else storage.unpack(stored, shapes[key]))
        except ValueError as exc:
            raise VQCodecError(f"{path}: tensor {key}: {exc}") from exc
    return out


def load_model(path: str | Path) -> Model:
    """Load a model file, refusing it unless its tensors are exactly what its config
    needs, finite, and match its recorded fingerprint and (if it has one) weights digest."""
    path = Path(path)
    meta, tensors = _read(path)
    cfg = meta["config"]
    try:
        recorded = bytes.fromhex(meta["fingerprint"])
        recorded_digest = (
            bytes.fromhex(meta["weights_digest"]) if "weights_digest" in meta else None
        )
        card = json.loads(meta.get("card", "{}"), parse_constant=_reject_constant)
    except (KeyError, ValueError, TypeError, RecursionError) as exc:
        raise VQCodecError(f"{path}: malformed model file ({exc})") from exc
    digest = weights_digest(tensors)
    counts, context, left = _tables(path, meta, tensors)
    _check_tables(path, counts, context, left)
    actual = fingerprint(tensors["quantizer.codebooks"].astype(np.float32), counts, context, left)
    if actual != recorded:
        raise ModelMismatchError(
            f"{path}: codebook fingerprint {actual.hex()} differs from the recorded "
            f"{recorded.hex()}; the codebooks or entropy tables were altered"
        )
    if recorded_digest is not None and digest != recorded_digest:
        raise ModelMismatchError(
            f"{path}: weights digest {digest.hex()[:32]} differs from the recorded "
            f"{recorded_digest.hex()[:32]}; the network weights were altered"
        )
    bad = [k for k, v in tensors.items() if not np.isfinite(v).all()]
    if bad:
        raise ModelMismatchError(f"{path}: non-finite weights in {', '.join(bad[:3])}")
    return Model(
        name=meta["name"],
        cfg=cfg,
        weights={k: np.array(v, dtype=np.float32) for k, v in tensors.items()},
        counts=counts,
        fingerprint=actual,
        card=card,
        context_counts=context,
        left_counts=left,
        digest=digest,
        file_format=meta["format"],
    )
