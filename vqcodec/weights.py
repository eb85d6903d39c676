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

from .container import valid_model_name
from .entropy import NEIGHBOUR_STAGES
from .errors import ModelMismatchError, VQCodecError
from .model import VQVAE, ModelConfig

FORMAT_TAG = "vqcodec-model/1"
FINGERPRINT_BYTES = 16
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

    @property
    def stages(self) -> int:
        return self.net.cfg.stages

    @property
    def version(self) -> str:
        """The codebook version as printed to users: the fingerprint in hex."""
        return self.fingerprint.hex()


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
        "card": json.dumps(card, sort_keys=True),
    }
    save_file(tensors, str(path), metadata=meta)
    return fp


def load_model(path: str | Path) -> Model:
    """Load a model file, refusing it if its tensors do not match its recorded fingerprint."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, SafetensorError) as exc:
        raise VQCodecError(f"cannot read model file {path}: {exc}") from exc
    if meta.get("format") != FORMAT_TAG:
        raise VQCodecError(f"{path} is not a vqcodec model file")
    try:
        cfg = ModelConfig.from_json(meta["config"])
        counts = tensors.pop("entropy.counts").numpy().astype(np.int64)
        context, left = (
            None if t is None else t.numpy().astype(np.int64)
            for t in (
                tensors.pop("entropy.context_counts", None),
                tensors.pop("entropy.left_counts", None),
            )
        )
        net = VQVAE(cfg)
        tensors = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
        missing, unexpected = net.load_state_dict(tensors, strict=False)
        if unexpected or set(missing) - set(_TRAINING_ONLY):
            raise VQCodecError(f"{path}: tensors do not match the architecture")
        name, recorded = meta["name"], bytes.fromhex(meta["fingerprint"])
        card = json.loads(meta.get("card", "{}"))
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise VQCodecError(f"{path}: malformed model file ({exc})") from exc
    if (context is None) != (left is None):
        raise VQCodecError(f"{path}: context tables come without left tables or vice versa")
    actual = fingerprint(net.quantizer.codebooks.numpy(), counts, context, left)
    if actual != recorded:
        raise ModelMismatchError(
            f"{path}: codebook fingerprint {actual.hex()} differs from the recorded "
            f"{recorded.hex()}; the weights were altered"
        )
    if counts.shape != (cfg.stages, cfg.codebook_size) or counts.min() < 1:
        raise VQCodecError(f"{path}: entropy tables have the wrong shape or zero counts")
    k = cfg.codebook_size
    if context is not None and (
        context.shape != (cfg.stages, k, k)
        or left.shape != (min(cfg.stages, NEIGHBOUR_STAGES), k, k)
        or min(context.min(), left.min()) < 1
    ):
        raise VQCodecError(f"{path}: context tables have the wrong shape or zero counts")
    net.quantizer.initialized.fill_(True)
    net.eval()
    return Model(
        name=name,
        net=net,
        counts=counts,
        fingerprint=actual,
        card=card,
        context_counts=context,
        left_counts=left,
    )
