"""Shared fixtures: the shipped model and small deterministic test images."""

from __future__ import annotations

import numpy as np
import pytest

import vqcodec
from vqcodec.weights import Model


def synthetic_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth, photo-like uint8 RGB image: gradients, soft blobs and mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3))
    for c in range(3):
        a, b = rng.uniform(-1, 1, 2)
        img[:, :, c] = 128 + 60 * (a * x / max(width, 1) + b * y / max(height, 1))
    for _ in range(4):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        r = rng.uniform(0.1, 0.4) * max(height, width)
        blob = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))
        img += blob[:, :, None] * rng.uniform(-60, 60, 3)
    img += rng.normal(0, 3, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def model() -> Model:
    return vqcodec.get_model()


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    return synthetic_photo(75, 100)
