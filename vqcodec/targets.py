"""Target modes: the rate chosen for a bpp, a file size or a PSNR, from one encode.

The encoder measures each depth's error and bits at every latent position once (S
decoder passes, :class:`vqcodec.ratecontrol.DepthCosts`). Choosing the depths at
another multiplier mu costs no decoder pass, so the search for the mu that meets a
target bisects over log(mu) on those measurements: the bits of the chosen indices
plus the depth map's predict the file's size (corrected by the bytes of one real
file), their errors its PSNR. ``max_bytes`` is then checked against the real file;
if it is larger, a short bisection over real files finds one that fits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from . import container
from .errors import VQCodecError

if TYPE_CHECKING:  # ratecontrol loads torch; the API imports Target and Reached without it
    from .ratecontrol import DepthCosts, RateModel

KINDS = {"bpp": "target bpp", "bytes": "max bytes", "psnr": "target PSNR"}
UNITS = {"bpp": "bpp", "bytes": "bytes at most", "psnr": "dB"}
MU_RANGE = (1e-3, 1e7)  # the search's bounds: all but every stage, and about one stage
STEPS = 24  # bisection steps over log(mu): mu found to about 1e-6 of itself
LADDER_BPP, LADDER_STEP = 0.048, math.log(1.32)  # quality 1's rate, log of each step's ratio
ROUNDS = 3  # of predicting, writing a file and correcting the prediction by its real size
STAGE_BITS = 8 * 12  # a stage's stream-table entry (8 bytes) and its coder's last word (4)
FIT_STEPS = 12  # bisection steps on real files when the predicted size was too large


@dataclass(frozen=True)
class Target:
    """What to reach: ``kind`` one of ``bpp`` (nearest), ``bytes`` (at most) or ``psnr``
    (at least, in dB, with the fewest bits)."""

    kind: str
    value: float

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise VQCodecError(f"unknown target {self.kind!r}; use one of {', '.join(KINDS)}")
        v = self.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise VQCodecError(f"{KINDS[self.kind]} must be a positive number, got {v!r}")
        if self.kind == "bytes" and v != int(v):
            raise VQCodecError(f"max bytes must be a whole number, got {v!r}")

    @property
    def unit(self) -> str:
        return UNITS[self.kind]


def one_target(bpp: float | None, max_bytes: int | None, psnr: float | None) -> Target | None:
    """The target among the three options given (at most one may be)."""
    given = [
        Target(k, v) for k, v in zip(KINDS, (bpp, max_bytes, psnr), strict=True) if v is not None
    ]
    if len(given) > 1:
        raise VQCodecError("give at most one of target bpp, max bytes and target PSNR")
    return given[0] if given else None


@dataclass(frozen=True)
class Reached:
    """A file made for a target, and what it reached."""

    data: bytes
    target: Target
    mu: float
    bytes: int
    bpp: float
    psnr: float  # measured on the decoded file


def start_mu(target: Target, pixels: int, stages: int) -> float:
    """The mu the code search (beam) starts from: the quality ladder's at a rate near the
    target's (on training photos each quality step adds about 32 % bits from 0.048 bpp at
    quality 1), interpolated in log(mu); the ladder's middle for a PSNR."""
    from .ratecontrol import BEAM_MU_CAP, quality_mu

    if stages < 4:  # no ladder between the ends to interpolate in
        return BEAM_MU_CAP
    bpp = {"bpp": target.value, "bytes": 8 * target.value / pixels}.get(target.kind)
    quality = (stages + 1) / 2
    if bpp is not None:
        quality = 1 + math.log(max(bpp, 1e-9) / LADDER_BPP) / LADDER_STEP
    q = min(max(quality, 2.0), stages - 1.0)
    lo = min(math.floor(q), stages - 2)
    a, b = quality_mu(lo, stages), quality_mu(lo + 1, stages)
    return math.exp(math.log(a) + (q - lo) * (math.log(b) - math.log(a)))


def _side_bits(grid: np.ndarray) -> float:
    """The bits of the depth map a file stores for ``grid``, by the container's own
    pricing of the depth section it would write."""
    version, depths = container.smallest_version(grid)
    sections = [x for x in container.LAYOUTS[version].lengths if x.attr == "depths"]
    return float(sum(x.cost(depths, int(grid.max())) for x in sections))


@dataclass
class _Search:
    """Depths, predicted bits and error at any mu, from one set of measurements."""

    rate: RateModel
    costs: DepthCosts
    per_position: bool

    def depths(self, mu: float) -> np.ndarray:
        if math.isinf(mu):
            return np.ones(self.costs.bits.shape[1:], dtype=np.uint8)
        if mu <= 0:
            return np.full(self.costs.bits.shape[1:], len(self.costs.bits), dtype=np.uint8)
        return replace(self.rate, mu=mu).choose(self.costs, self.per_position)

    def predict(self, grid: np.ndarray) -> tuple[float, float]:
        """(bits of the indices, the depth map and the stages' fixed costs, squared error)
        of depths ``grid``."""
        at = grid[None].astype(np.int64) - 1
        bits = float(np.take_along_axis(self.costs.bits, at, 0).sum())
        error = float(np.take_along_axis(self.costs.error, at, 0).sum())
        return bits + _side_bits(grid) + STAGE_BITS * int(grid.max()), error

    def most_bits_within(self, limit: float) -> float:
        """The smallest mu whose predicted bits are at most ``limit``: 0 when every stage
        fits, inf when only one stage everywhere may (or nothing does)."""
        return self._bisect(lambda g: self.predict(g)[0] <= limit, passes_high=True)

    def fewest_bits_for(self, error: float) -> float:
        """The largest mu whose predicted squared error is at most ``error``: inf when one
        stage everywhere is good enough, 0 (every stage) when nothing is."""
        return self._bisect(lambda g: self.predict(g)[1] <= error, passes_high=False)

    def _bisect(self, ok: Callable[[np.ndarray], bool], passes_high: bool) -> float:
        """The mu at the edge of where ``ok`` holds, which is above it (``passes_high``) or
        below it; the rate falls as mu grows, so ``ok`` holds on one side only."""
        ends = (0.0, math.inf) if passes_high else (math.inf, 0.0)
        if ok(self.depths(ends[0])):
            return ends[0]  # every stage fits / one stage is good enough
        lo, hi = (math.log(m) for m in MU_RANGE)
        if not ok(self.depths(math.exp(hi if passes_high else lo))):
            return ends[1]  # only one stage fits / nothing is good enough
        for _ in range(STEPS):
            mid = (lo + hi) / 2
            if ok(self.depths(math.exp(mid))) == passes_high:
                hi = mid
            else:
                lo = mid
        return math.exp(hi if passes_high else lo)


def search(
    rate: RateModel,
    costs: DepthCosts,
    target: Target,
    shape: tuple[int, int],
    make_file: Callable[[np.ndarray], bytes],
    per_position: bool = True,
) -> tuple[bytes, float]:
    """(the file, its mu) meeting ``target`` for an image of ``shape`` (height, width),
    ``make_file(depths)`` writing the file of a depth map."""
    s = _Search(rate, costs, per_position)
    pixels = shape[0] * shape[1]
    if target.kind == "psnr":
        worst = pixels * 3 * 255.0**2 / 10 ** (target.value / 10)  # squared error allowed
        mu = s.fewest_bits_for(worst)
        return make_file(s.depths(mu)), mu
    goal = 8 * (target.value * pixels / 8 if target.kind == "bpp" else target.value)
    overhead = 0.0  # bits a real file adds to the prediction (header, alpha, coder's slack)
    for _ in range(ROUNDS):  # each round uses the overhead the last file showed
        mu = s.most_bits_within(goal - overhead)
        grid = s.depths(mu)
        data = make_file(grid)
        overhead = 8 * len(data) - s.predict(grid)[0]
    if target.kind == "bytes":
        return _fit(s, data, mu, int(target.value), make_file)
    if mu > 0:  # the file with the next more bits may be nearer the rate asked for
        above = mu / (1 + 1e-6) if math.isfinite(mu) else MU_RANGE[1]
        more = make_file(s.depths(above))
        if abs(8 * len(more) - goal) < abs(8 * len(data) - goal):
            return more, above
    return data, mu


def _fit(
    s: _Search, data: bytes, mu: float, limit: int, make_file: Callable[[np.ndarray], bytes]
) -> tuple[bytes, float]:
    """The file at ``mu`` if it has at most ``limit`` bytes, else the best that does, by
    bisecting over log(mu) on real files between ``mu`` and one stage everywhere; a clear
    error when even that is larger."""
    if len(data) <= limit:
        return data, mu
    best, best_mu = make_file(s.depths(math.inf)), math.inf
    if len(best) > limit:
        raise VQCodecError(
            f"cannot fit in {limit} bytes: even quality 1 (one stage everywhere) needs "
            f"{len(best)} bytes"
        )
    lo, hi = math.log(max(mu, MU_RANGE[0])), math.log(MU_RANGE[1])
    for _ in range(FIT_STEPS):
        mid = (lo + hi) / 2
        candidate = make_file(s.depths(math.exp(mid)))
        if len(candidate) <= limit:
            hi, best, best_mu = mid, candidate, math.exp(mid)
        else:
            lo = mid
    return best, best_mu
