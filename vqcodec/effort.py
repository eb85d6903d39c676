"""Effort levels: how hard the encoder searches, like cjxl's ``-e``.

The encoder's time goes into two searches: the code search (a beam over the residual
codebooks, ``beam_width`` paths kept) and the depth search, which weighs each latent
position's pixel error at every depth against its bits. Measuring that error exactly
takes one decoder pass per depth (12 for the shipped model); lower efforts decode only
a few depths (``passes``) and estimate the others from the latent error, which the code
search gives for free: between two decoded depths ``a < d < b`` a position's pixel error
is taken to fall in proportion to its latent error,

    err_d = err_a + (err_b - err_a) * (lat_a - lat_d) / (lat_a - lat_b).

With no pass at all, the pixel error is ``LATENT_GAIN`` times the latent error.
Below the highest effort the networks run in OpenVINO (see :mod:`vqcodec.transform`),
in float32 or, at the lowest efforts, bf16.

The highest effort is the encoder as it always was (files byte-identical to earlier
releases). Below it the code search is greedy (each stage's nearest code: the paths of
all depths then extend one another, so their bits are priced once) or the full beam,
and fewer depths are decoded. The levels were chosen on 512x768 crops of training photos
41 and 42 against the highest effort (greedy codes with every depth decoded: +2.9 %
BD-rate; decoding depths 1, 2, 4, 8, 12: +3.9 %; 1, 4, 12: +5.3 %; none: +6.3 %; on
photo 41 a greedy search weighing rate was 2 points worse than a plain one, and width 2
with three depths decoded +5.0 %); ``benchmarks/effort_table.py`` measures their speed
and cost on Kodak.
"""

from __future__ import annotations

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
    precision: str = "f32"  # the networks' precision below the highest effort
    reference: bool = False  # torch networks, exactly as before effort levels existed

    def depths(self, stages: int) -> list[int]:
        """The depths (1..stages) whose pixel error is measured by a decoder pass: all of
        them, none, the deepest, or ``passes`` spread geometrically from 1 to ``stages``."""
        if self.passes is None or self.passes >= stages:
            return list(range(1, stages + 1))
        if self.passes <= 1:
            return [stages][: self.passes]
        return sorted({round(float(d)) for d in np.geomspace(1, stages, self.passes)})


LEVELS = (
    Effort(1, beam_width=1, passes=0, precision="bf16"),
    Effort(2, beam_width=1, passes=3, precision="bf16"),
    Effort(3, beam_width=1, passes=5),
    Effort(4, beam_width=8, passes=5),
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
