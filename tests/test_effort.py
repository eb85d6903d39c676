"""Effort levels: the highest is the encoder of earlier releases, lower ones search less."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import vqcodec
from vqcodec import VQCodecError, effort


@pytest.mark.slow
@pytest.mark.parametrize(
    ("quality", "sha256"),
    [  # files of the encoder before effort levels (main at f96adc5, this machine's CPU)
        (3, "066b2913df9c7079ada72e0091fb8b4e734251ae7abb22d583154f04737615d8"),
        (8, "3fcb57fd3b89ee8f8c1e035b15f00fc113d92155cd8acef1e49397d34f4532ba"),
    ],
)
def test_highest_effort_writes_the_files_of_earlier_releases(photo, quality, sha256):
    data = vqcodec.compress(photo, quality, effort=effort.HIGHEST, threads=1)
    assert hashlib.sha256(data).hexdigest() == sha256


@pytest.mark.parametrize("level", range(1, effort.HIGHEST + 1))
def test_every_effort_decodes_and_does_not_depend_on_threads(tiny_model, photo, level):
    one = vqcodec.compress(photo, 4, model=tiny_model, effort=level, threads=1)
    assert one == vqcodec.compress(photo, 4, model=tiny_model, effort=level, threads=2)
    back = np.asarray(vqcodec.decompress(one, model=tiny_model))
    assert back.shape == photo.shape


@pytest.mark.parametrize("bad", [0, 6, 2.5, True, "3"])
def test_bad_effort_is_a_codec_error(tiny_model, photo, bad):
    with pytest.raises(VQCodecError, match="effort"):
        vqcodec.compress(photo, 4, model=tiny_model, effort=bad)


def test_pass_depths_spread_from_one_to_the_deepest():
    assert effort.Effort(0, 1, None).depths(12) == list(range(1, 13))
    assert effort.Effort(0, 1, 0).depths(12) == []
    assert effort.Effort(0, 1, 1).depths(12) == [12]
    assert effort.Effort(0, 1, 2).depths(12) == [1, 12]
    assert effort.Effort(0, 1, 3).depths(12) == [1, 3, 12]
    assert effort.Effort(0, 1, 20).depths(6) == list(range(1, 7))


def test_estimated_errors_follow_latent_error_between_measured_depths():
    latent = np.array([8.0, 4.0, 2.0, 1.0])[:, None, None] * np.ones((4, 2, 3))
    measured = {1: np.full((2, 3), 100.0), 4: np.full((2, 3), 30.0)}
    out = effort.estimate_errors(measured, latent)
    assert np.array_equal(out[0], measured[1]) and np.array_equal(out[3], measured[4])
    # latent error falls 4 of 7 and 6 of 7 of the way from depth 1 to 4
    assert np.allclose(out[1], 100 - 70 * 4 / 7) and np.allclose(out[2], 100 - 70 * 6 / 7)
    assert np.allclose(effort.estimate_errors({}, latent), effort.LATENT_GAIN * latent)
    shifted = effort.estimate_errors({4: measured[4]}, latent)  # only the deepest measured
    assert np.allclose(shifted[0], 30 + effort.LATENT_GAIN * 7)
