"""Rate-distortion metrics of the benchmark: MS-SSIM, BD-rate, BD-PSNR and PSNR at a rate.

Conventions of ../shared/notes/rd-anchors.md: RGB PSNR over all samples; MS-SSIM
with pytorch_msssim's 5-scale algorithm on RGB, in dB as -10 log10(1 - MS-SSIM);
curves interpolated piecewise-cubically (PCHIP), never extrapolated. PSNR itself is
:func:`vqcodec.metrics.psnr`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MS_SSIM_MIN_SIDE = 161  # 5 scales of an 11x11 window need a side > (11 - 1) * 2**4


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """MS-SSIM of two uint8 ``[H, W, 3]`` images, or None when a side is under 161 pixels."""
    if min(a.shape[:2]) < MS_SSIM_MIN_SIDE:
        return None
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(x, dtype=np.float64)).permute(2, 0, 1)[None]

    with torch.inference_mode():
        value = _ms_ssim(tensor(a), tensor(b), data_range=255, win_size=11, win_sigma=1.5)
    return float(value)


def ms_ssim_db(value: float | None) -> float | None:
    """MS-SSIM in dB, -10 log10(1 - MS-SSIM), so it can be averaged and interpolated like PSNR."""
    if value is None:
        return None
    return float("inf") if value >= 1 else float(-10 * np.log10(1 - value))


def increasing(rate: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Points sorted by rate, keeping only those that raise both rate and quality."""
    order = np.argsort(np.asarray(rate, dtype=np.float64), kind="stable")
    kept_r: list[float] = []
    kept_q: list[float] = []
    for i in order:
        r, q = float(rate[i]), float(quality[i])
        if not (np.isfinite(r) and np.isfinite(q)) or r <= 0:
            continue
        if not kept_r or (r > kept_r[-1] and q > kept_q[-1]):
            kept_r.append(r)
            kept_q.append(q)
    return np.asarray(kept_r), np.asarray(kept_q)


def _pchip(x: np.ndarray, y: np.ndarray):
    """The PCHIP through (x, y) (scipy loads on first use, not with this module)."""
    from scipy.interpolate import PchipInterpolator

    return PchipInterpolator(x, y)


def _mean_over(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Mean of the PCHIP through (x, y) over [lo, hi], integrated exactly."""
    return float(_pchip(x, y).integrate(lo, hi)) / (hi - lo)


def _interval(
    a: np.ndarray, b: np.ndarray, within: tuple[float, float] | None
) -> tuple[float, float] | None:
    lo, hi = max(a[0], b[0]), min(a[-1], b[-1])
    if within is not None:
        if within[0] < lo or within[1] > hi:
            return None
        lo, hi = within
    return (float(lo), float(hi)) if hi > lo else None


def bd_rate(
    ref: tuple[Sequence[float], Sequence[float]],
    test: tuple[Sequence[float], Sequence[float]],
    within: tuple[float, float] | None = None,
) -> tuple[float, tuple[float, float]] | None:
    """Bjøntegaard rate difference of ``test`` against ``ref``, in percent, and its quality range.

    Each curve is ``(rates, qualities)``. Log-rate is interpolated as a PCHIP of
    quality over the quality range both curves cover (or over ``within``, which both
    must cover). Negative means ``test`` needs fewer bits for the same quality.
    None when the curves have fewer than two usable points or do not overlap.
    """
    (r1, q1), (r2, q2) = increasing(*ref), increasing(*test)
    if len(r1) < 2 or len(r2) < 2:
        return None
    span = _interval(q1, q2, within)
    if span is None:
        return None
    diff = _mean_over(q2, np.log(r2), *span) - _mean_over(q1, np.log(r1), *span)
    return float(100 * np.expm1(diff)), span


def bd_psnr(
    ref: tuple[Sequence[float], Sequence[float]],
    test: tuple[Sequence[float], Sequence[float]],
) -> float | None:
    """Bjøntegaard PSNR difference (dB) of ``test`` against ``ref`` over their shared log-rates."""
    (r1, q1), (r2, q2) = increasing(*ref), increasing(*test)
    if len(r1) < 2 or len(r2) < 2:
        return None
    span = _interval(np.log(r1), np.log(r2), None)
    if span is None:
        return None
    return _mean_over(np.log(r2), q2, *span) - _mean_over(np.log(r1), q1, *span)


def quality_at_rate(rate: Sequence[float], quality: Sequence[float], target: float) -> float | None:
    """Quality at ``target`` rate by PCHIP over log-rate; None outside the measured rates."""
    r, q = increasing(rate, quality)
    if len(r) < 2 or not (r[0] <= target <= r[-1]):
        return None
    return float(_pchip(np.log(r), q)(np.log(target)))


def common_range(
    curves: Sequence[tuple[Sequence[float], Sequence[float]]],
) -> tuple[float, float] | None:
    """The quality range that every curve in ``curves`` covers, or None when there is none."""
    cleaned = [increasing(*c) for c in curves]
    cleaned = [q for _, q in cleaned if len(q) >= 2]
    if not cleaned:
        return None
    lo, hi = max(q[0] for q in cleaned), min(q[-1] for q in cleaned)
    return (float(lo), float(hi)) if hi > lo else None
