"""Model files: safetensors weights, integer entropy tables and the codebook fingerprint.

A model file holds the encoder, decoder and codebook tensors, the per-stage integer
count tables used for entropy coding (``entropy.counts``), and metadata: the model
name, its architecture, its fingerprint and a free-form training record. Nothing is
ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .container import FINGERPRINT_BYTES, valid_model_name
from .entropy import NEIGHBOUR_STAGES
from .errors import ModelMismatchError, VQCodecError
from .model import VQVAE, ModelConfig

FORMAT_TAG = "vqcodec-model/1"
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


@dataclass
class Model:
    """A loaded model: network, entropy tables and identity."""

    name: str
    net: VQVAE
    counts: np.ndarray  # int64 [stages, codebook_size], every entry >= 1
    fingerprint: bytes
    card: dict
    context_counts: np.ndarray | None = None  # int64 [stages, K, K] for coders 2-3, or None
    left_counts: np.ndarray | None = None  # int64 [NEIGHBOUR_STAGES, K, K] for coders 2-3
    digest: bytes = b""  # weights_digest of the file: covers every tensor, the network too

    @property
    def stages(self) -> int:
        return self.net.cfg.stages


def _storage(key: str, t: torch.Tensor) -> torch.Tensor:
    """Network weights are stored as float16 (half the size); codebooks stay float32."""
    if t.is_floating_point() and key != "quantizer.codebooks":
        t = t.half()
    return t.contiguous()


def round_weights(net: VQVAE) -> None:
    """Round the network to the float16 values a saved file holds, so tables match it."""
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
) -> bytes:
    """Write ``net`` and its tables to a safetensors file; returns the fingerprint.

    Refuses non-finite weights. The metadata records :func:`weights_digest`, which
    :func:`load_model` checks.

    ``context_counts`` ``[stages, K, K]`` and ``left_counts`` ``[NEIGHBOUR_STAGES, K, K]``
    (both or neither) are the tables of coders 2 and 3.
    """
    if not valid_model_name(name):
        raise VQCodecError(f"invalid model name {name!r}: use 1-64 characters of A-Z a-z 0-9 . _ -")
    counts = np.asarray(counts, dtype=np.int64)
    if counts.shape != (net.cfg.stages, net.cfg.codebook_size) or counts.min() < 1:
        raise ValueError("counts must be [stages, codebook_size] with every entry >= 1")
    if counts.max() >= 2**31:
        raise ValueError("counts must fit in int32")
    tensors = {
        k: _storage(k, v.detach().cpu())
        for k, v in net.state_dict().items()
        if k not in _TRAINING_ONLY
    }
    if any(v.is_floating_point() and not v.isfinite().all() for v in tensors.values()):
        raise VQCodecError("the network has non-finite weights (after float16 rounding)")
    tensors["entropy.counts"] = torch.from_numpy(counts.astype(np.int32))
    if (context_counts is None) != (left_counts is None):
        raise ValueError("give both context_counts and left_counts, or neither")
    if context_counts is not None:
        k, stages = net.cfg.codebook_size, net.cfg.stages
        shapes = {
            "context_counts": (stages, k, k),
            "left_counts": (min(stages, NEIGHBOUR_STAGES), k, k),
        }
        for key, arr in (("context_counts", context_counts), ("left_counts", left_counts)):
            arr = np.asarray(arr, dtype=np.int64)
            if arr.shape != shapes[key] or arr.min() < 1 or arr.max() >= 2**31:
                raise ValueError(f"{key} must be {list(shapes[key])}, entries 1..2^31-1")
            tensors[f"entropy.{key}"] = torch.from_numpy(arr.astype(np.int32))
    fp = fingerprint(tensors["quantizer.codebooks"].numpy(), counts, context_counts, left_counts)
    meta = {
        "format": FORMAT_TAG,
        "name": name,
        "config": net.cfg.to_json(),
        "fingerprint": fp.hex(),
        "weights_digest": weights_digest(tensors).hex(),
        "card": json.dumps(card, sort_keys=True),
    }
    save_file(tensors, str(path), metadata=meta)
    return fp


def weights_digest(tensors: dict[str, torch.Tensor]) -> bytes:
    """SHA-256 over every tensor of a model file as stored (name, dtype, shape and
    little-endian bytes, in name order): unlike the fingerprint it covers the network."""
    h = hashlib.sha256(b"vqcodec-weights-v1")
    for key in sorted(tensors):
        a = tensors[key].contiguous().numpy()
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        for part in (key, str(tensors[key].dtype), json.dumps(list(a.shape))):
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
    allocating (the network is built on torch's meta device)."""
    with torch.device("meta"):
        net = VQVAE(cfg)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items() if k not in _TRAINING_ONLY}
    k, stages = cfg.codebook_size, cfg.stages
    shapes["entropy.counts"] = (stages, k)
    if context:
        shapes["entropy.context_counts"] = (stages, k, k)
        shapes["entropy.left_counts"] = (min(stages, NEIGHBOUR_STAGES), k, k)
    return shapes


def _check_layout(path: Path, cfg: ModelConfig, present: dict[str, tuple[list, str]]) -> None:
    """Refuse a file whose tensors are not exactly the ones ``cfg`` needs, before any is
    read: the architecture is bounded by the bytes actually in the file."""
    context = "entropy.context_counts" in present or "entropy.left_counts" in present
    want = expected_shapes(cfg, context)
    if set(present) != set(want):
        extra, missing = sorted(set(present) - set(want)), sorted(set(want) - set(present))
        raise VQCodecError(
            f"{path}: tensors do not match the architecture "
            f"(missing {missing[:3]}, unexpected {extra[:3]})"
        )
    for key, (shape, dtype) in present.items():
        if tuple(shape) != want[key]:
            raise VQCodecError(
                f"{path}: tensor {key} has shape {list(shape)}, the architecture needs "
                f"{list(want[key])}"
            )
        ok = dtype == "I32" if key.startswith("entropy.") else dtype in ("F16", "F32", "BF16")
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


def _read(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """Metadata and tensors of a model file, every check that needs only the header
    (format, name, architecture, tensor shapes) done before any tensor is read."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT_TAG:
                raise VQCodecError(f"{path} is not a vqcodec model file")
            if not valid_model_name(meta.get("name", "")):
                raise VQCodecError(f"{path}: invalid model name {meta.get('name')!r}")
            try:
                cfg = _config(meta["config"])
            except (KeyError, ValueError, TypeError, OverflowError, RecursionError) as exc:
                raise VQCodecError(f"{path}: malformed model config ({exc})") from exc
            present = {
                k: (f.get_slice(k).get_shape(), f.get_slice(k).get_dtype()) for k in f.keys()
            }
            _check_layout(path, cfg, present)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, SafetensorError) as exc:
        raise VQCodecError(f"cannot read model file {path}: {exc}") from exc
    return meta | {"config": cfg}, tensors


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
    counts = tensors.pop("entropy.counts").numpy().astype(np.int64)
    context, left = (
        None if t is None else t.numpy().astype(np.int64)
        for t in (
            tensors.pop("entropy.context_counts", None),
            tensors.pop("entropy.left_counts", None),
        )
    )
    _check_tables(path, counts, context, left)
    actual = fingerprint(tensors["quantizer.codebooks"].float().numpy(), counts, context, left)
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
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not v.isfinite().all()]
    if bad:
        raise ModelMismatchError(f"{path}: non-finite weights in {', '.join(bad[:3])}")
    net = VQVAE(cfg)
    net.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
    net.quantizer.initialized.fill_(True)
    net.eval()
    return Model(
        name=meta["name"],
        net=net,
        counts=counts,
        fingerprint=actual,
        card=card,
        context_counts=context,
        left_counts=left,
        digest=digest,
    )
