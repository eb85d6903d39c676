"""Summary figures from the rate-distortion curves: BD-rate, BD-PSNR and PSNR at set rates."""

from __future__ import annotations

from . import rdmetrics
from .codecs import CLASSICAL

RATES = (0.25, 0.5, 1.0)
REFERENCE = "jpeg"  # JPEG 4:2:0, the anchors' reference
TARGET = "vqcodec"


def rd_curve(points: list[dict], key: str = "psnr") -> tuple[list[float], list[float]] | None:
    """(mean bpp, mean ``key``) over a codec's settings, or None when ``key`` is missing."""
    pairs = [(p["bpp"], p[key]) for p in points if p.get(key) is not None]
    return ([b for b, _ in pairs], [q for _, q in pairs]) if pairs else None


def _versus(curve, other, within=None) -> dict | None:
    if curve is None or other is None:
        return None
    found = rdmetrics.bd_rate(other, curve, within)
    return None if found is None else {"percent": found[0], "psnr_range": list(found[1])}


def summarize(rd: dict[str, dict], published: dict[str, dict]) -> dict:
    """BD figures of every measured and published curve against JPEG 4:2:0 and vqcodec.

    BD-rate over the PSNR range each pair shares, and also (against JPEG) over the
    one range every classical codec in the run reaches; BD-PSNR over the shared
    rate range; BD-rate on MS-SSIM (dB) where measured; PSNR at 0.25, 0.5, 1 bpp.
    """
    psnr = {name: rd_curve(r["points"], "psnr") for name, r in rd.items()}
    msssim = {name: rd_curve(r["points"], "ms_ssim_db") for name, r in rd.items()}
    for name, ref in published.items():
        psnr[name], msssim[name] = (ref["bpp"], ref["psnr"]), None
    common = rdmetrics.common_range([c for n, c in psnr.items() if n in CLASSICAL and c])
    rows = []
    for name, curve in psnr.items():
        label = rd[name]["label"] if name in rd else published[name]["label"]
        ref, target = psnr.get(REFERENCE), psnr.get(TARGET)
        bd_psnr = rdmetrics.bd_psnr(ref, curve) if ref and curve else None
        rows.append(
            {
                "codec": name,
                "label": label,
                "published": name in published,
                "psnr_at_bpp": {
                    str(r): rdmetrics.quality_at_rate(*curve, r) if curve else None for r in RATES
                },
                "bd_rate_vs_jpeg": _versus(curve, ref),
                "bd_rate_vs_jpeg_common_range": _versus(curve, ref, common) if common else None,
                "bd_psnr_vs_jpeg": bd_psnr,
                "bd_rate_msssim_vs_jpeg": _versus(msssim[name], msssim.get(REFERENCE)),
                "bd_rate_vs_vqcodec": _versus(curve, target),
            }
        )
    return {
        "reference": REFERENCE,
        "target": TARGET,
        "common_psnr_range": list(common) if common else None,
        "rates_bpp": list(RATES),
        "rows": rows,
    }
