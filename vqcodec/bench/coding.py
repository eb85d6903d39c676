"""How close vqcodec's entropy coder gets to the model's ideal rate, and what the header costs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vqcodec.weights import Model


def file_stats(data: bytes, model: Model) -> dict:
    """Payload bits and ideal bits (sum of -log2 p of the indices) per stage, and header bytes.

    The payload of stage s is its range-coded words, ``4 * len(streams[s])`` bytes;
    the header is everything else in the file except the alpha section.
    """
    from vqcodec import codec, container

    f = container.parse(data)
    idx = codec.decode_streams(f, model)
    payload = [32 * len(words) for words in f.streams]
    ideal = codec.ideal_bits(idx, model, codec.stage_masks(f), f.coder)
    return {
        "payload_bits": payload,
        "ideal_bits": ideal,
        "alpha_bytes": len(f.alpha),
        "header_bytes": len(data) - sum(payload) // 8 - len(f.alpha),
        "pixels": f.width * f.height,
    }


def _stage_table(stats: Sequence[dict], key: str) -> np.ndarray:
    """``[files, max stages]`` float64 table of a per-stage list, zero-padded."""
    width = max(len(s[key]) for s in stats)
    return np.array([s[key] + [0] * (width - len(s[key])) for s in stats], dtype=np.float64)


def summarize(quality: int, stats: Sequence[dict]) -> dict:
    """Coding overhead at one quality level over a set of files (one per image).

    Files at one quality may hold different numbers of stages (per-tile depth chooses
    how many); missing stages count as zero bits.
    """
    payload, ideal = _stage_table(stats, "payload_bits"), _stage_table(stats, "ideal_bits")
    header = np.array([s["header_bytes"] for s in stats], dtype=np.float64)
    pixels = np.array([s["pixels"] for s in stats], dtype=np.float64)
    return {
        "quality": quality,
        "payload_bits": float(payload.sum()),
        "ideal_bits": float(ideal.sum()),
        "overhead_percent": float(100 * (payload.sum() / ideal.sum() - 1)),
        "payload_bpp": float(np.mean(payload.sum(1) / pixels)),
        "ideal_bpp": float(np.mean(ideal.sum(1) / pixels)),
        "header_bytes_mean": float(header.mean()),
        "header_bytes_min": int(header.min()),
        "header_bytes_max": int(header.max()),
        "header_bpp": float(np.mean(8 * header / pixels)),
        "per_stage_overhead_percent": [
            float(100 * (p / i - 1)) for p, i in zip(payload.sum(0), ideal.sum(0), strict=True)
        ],
    }
