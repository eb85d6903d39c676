"""Effort levels: how hard the encoder searches, like cjxl's ``-e``.

The encoder's time goes into two searches: the code search (a beam over the residual
codebooks, ``beam_width`` paths kept) and the depth search, which weighs each latent
position's pixel error at every depth against its bits. Measuring that error exactly
takes one decoder pass per depth (12 for the shipped model); lower efforts decode only
a few depth maps and estimate the other depths from the latent error, which the code
search gives for free: between two decoded depths ``a < d < b`` a position's pixel error
is taken to fall in proportion to its latent error,

    err_d = err_a + (err_b - err_a) * (lat_a - lat_d) / (lat_a - lat_b).

With no pass at all, the pixel error is ``LATENT_GAIN`` times the latent error. The
passes either decode the whole image at a few depths (``passes``), or (``around``) at
depth maps offset from a first choice made from the latent errors alone: each position
is then measured at depths near the one it will get, beside neighbours near theirs.
Below the highest effort the networks run in OpenVINO, in bf16 where the CPU runs it
natively and in float32 elsewhere (emulated bf16 was 3.4 to 5.3 times slower than
float32), and effort 1's encoder in int8 where the CPU runs int8 but not bf16 (see
:mod:`vqcodec.openvino_net`): the encoder's precision changes which codes and depths are
chosen, never what a file decodes to.

The highest effort is the encoder as it always was (files byte-identical to earlier
releases): a beam of 8 paths (``ResidualVQ.beam_search``) and every depth decoded in
torch float32. Effort 4 keeps a narrower beam (3 paths, the cheaper
:func:`~vqcodec.quantizer.narrow_beam`), efforts 1-2 the greedy search (each stage's
nearest code: the paths of all depths then extend one another, so their bits are priced
once), and effort 3 greedy codes with effort 4's beam only at the latents where the greedy
choice is in doubt (``doubt``: see :class:`~vqcodec.transform.Greedy`). Every candidate
level was measured on crops of training photos 41-49 (held out);
``benchmarks/results/effort.md`` has those measurements and the Kodak table that
``benchmarks/effort_table.py`` writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import VQCodecError

# pixel squared error (8-bit, per 8x8 block) per unit of latent squared error, for
# efforts without decoder passes: least-squares fit on training photos 41 and 42 (1.00e5
# and 1.12e5, vqcodec-base-v2, greedy codes, all 12 depths decoded)
LATENT_GAIN = 1.06e5


@dataclass(frozen=True)
class Effort:
    """One effort level's search settings."""

    level: int
    beam_width: int  # paths the code search keeps (1: greedy, each stage's nearest code)
    passes: int | None  # decoder passes of the depth search (None: one per depth)
    precision: str = "f32"  # the networks' below the highest effort (auto: bf16 where native)
    encoder: str | None = None  # the encoder's, if not ``precision``'s (int8: see the docstring)
    reference: bool = False  # torch networks, exactly as before effort levels existed
    around: tuple[int, ...] = ()  # passes at depth maps offset from a first estimate's
    doubt: float = math.inf  # a beam only where greedy's margin is below this (transform.Greedy)

    def pass_count(self, stages: int) -> int:
        """How many decoder passes the depth search makes for a model of ``stages``."""
        return len(self.around) if self.around else len(self.depths(stages))

    def depths(self, stages: int) -> list[int]:
        """The depths (1..stages) whose pixel error is measured by a decoder pass: all of
        them, none, the deepest, or ``passes`` spread geometrically from 1 to ``stages``."""
        if self.passes is None or self.passes >= stages:
            return list(range(1, stages + 1))
        if self.passes <= 1:
            return [stages][: self.passes]
        return sorted({round(float(d)) for d in np.geomspace(1, stages, self.passes)})


LEVELS = (
    Effort(1, beam_width=1, passes=0, precision="auto", encoder="int8"),
    Effort(2, beam_width=1, passes=0, precision="auto", around=(-1, 1)),
    Effort(3, beam_width=3, passes=0, precision="auto", around=(-1, 0, 1), doubt=0.016),
    Effort(4, beam_width=3, passes=0, precision="auto", around=(-1, 0, 1)),
    Effort(5, beam_width=8, passes=None, reference=True),
)
DEFAULT = 3
HIGHEST = len(LEVELS)


def effort(level: int) -> Effort:
    """The settings of effort ``level`` (1..:data:`HIGHEST`)."""
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)):
        raise VQCodecError(f"effort must be an integer from 1 to {HIGHEST}, got {level!r}")
    if not 1 <= level <= HIGHEST:
        raise VQCodecError(f"effort must be an integer from 1 to {HIGHEST}, got {level!r}")
    return LEVELS[level - 1]


def estimate_errors(measured: dict[int, np.ndarray], latent: np.ndarray) -> np.ndarray:
    """float64 ``[S, rows, cols]``: each position's pixel error at every depth, from the
    errors ``measured`` at some depths (``{d: [rows, cols]}``) and the latent errors
    ``latent`` ``[S, rows, cols]`` of every depth (see the module docstring)."""
    if not measured:
        return LATENT_GAIN * latent
    out = np.empty_like(latent, dtype=np.float64)
    known = sorted(measured)
    for d in range(1, len(latent) + 1):
        if d in measured:
            out[d - 1] = measured[d]
            continue
        below = [k for k in known if k < d]
        above = [k for k in known if k > d]
        if not below or not above:  # outside the measured depths: shift by latent error
            k = below[-1] if below else above[0]
            out[d - 1] = measured[k] + LATENT_GAIN * (latent[d - 1] - latent[k - 1])
            continue
        a, b = below[-1], above[0]
        span = latent[a - 1] - latent[b - 1]
        share = np.where(span > 0, (latent[a - 1] - latent[d - 1]) / np.where(span > 0, span, 1), 0)
        out[d - 1] = measured[a] + np.clip(share, 0, 1) * (measured[b] - measured[a])
    return np.maximum(out, 0)


def estimate_around(maps: np.ndarray, measured: np.ndarray, latent: np.ndarray) -> np.ndarray:
    """float64 ``[S, rows, cols]``: each position's pixel error at every depth from the
    errors ``measured`` ``[m, rows, cols]`` of decoder passes at the depth maps ``maps``
    (``[m, rows, cols]``, ascending along the first axis at every position) and the latent
    errors ``latent`` ``[S, rows, cols]``: between two measured depths, in proportion to
    the latent error, as :func:`estimate_errors` does with whole-image depths; outside
    them, shifted by ``LATENT_GAIN`` times the latent error."""
    m = len(maps)
    lat = np.take_along_axis(latent, maps.astype(np.int64) - 1, 0)  # latent error at each map
    out = np.empty_like(latent, dtype=np.float64)
    for d in range(1, len(latent) + 1):
        lo = (maps <= d).sum(0) - 1  # the last measured depth at or below d, -1 if none
        hi = m - (maps >= d).sum(0)  # the first at or above d, m if none
        lo_c, hi_c = np.clip(lo, 0, m - 1)[None], np.clip(hi, 0, m - 1)[None]
        e_lo, e_hi = (np.take_along_axis(measured, i, 0)[0] for i in (lo_c, hi_c))
        l_lo, l_hi = (np.take_along_axis(lat, i, 0)[0] for i in (lo_c, hi_c))
        span = l_lo - l_hi
        share = np.where(span > 0, (l_lo - latent[d - 1]) / np.where(span > 0, span, 1), 0)
        between = e_lo + np.clip(share, 0, 1) * (e_hi - e_lo)
        below_all = e_hi + LATENT_GAIN * (latent[d - 1] - l_hi)  # d under every measured depth
        above_all = e_lo + LATENT_GAIN * (latent[d - 1] - l_lo)
        out[d - 1] = np.where(lo < 0, below_all, np.where(hi >= m, above_all, between))
    return np.maximum(out, 0)
