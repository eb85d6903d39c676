"""Measures shared by the CLI, training reports and benchmarks: PSNR and codebook usage."""

from __future__ import annotations

import math

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 images over all samples (RGB PSNR for RGB images)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def codebook_usage(hist: np.ndarray) -> tuple[float, int]:
    """Perplexity (2^entropy) of a histogram of code counts, and how many codes occur."""
    hist = np.asarray(hist, dtype=np.float64)
    p = hist[hist > 0] / hist.sum()
    return float(2 ** -(p * np.log2(p)).sum()), int((hist > 0).sum())
