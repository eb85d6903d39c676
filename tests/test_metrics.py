"""Shared measures (vqcodec.metrics) that training logs and model cards report."""

from __future__ import annotations

import numpy as np
import pytest

from vqcodec.metrics import codebook_usage


def test_codebook_usage_is_perplexity_and_codes_used():
    assert codebook_usage(np.array([5, 0, 5, 5, 0, 5])) == (pytest.approx(4.0), 4)
    assert codebook_usage(np.array([0, 9, 0])) == (pytest.approx(1.0), 1)
    skewed, used = codebook_usage(np.array([3, 1]))
    entropy = -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))
    assert skewed == pytest.approx(2**entropy) and 1 < skewed < 2 and used == 2
