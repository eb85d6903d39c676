"""Published and measured reference numbers for Kodak, copied with their sources.

Plotted and tabulated as reference lines only: they were measured elsewhere, on
the 24 Kodak images, so they compare with a run only when that run is on Kodak.
"""

from __future__ import annotations

COMPRESSAI_SOURCE = (
    "CompressAI (InterDigitalInc/CompressAI, commit 869a9f5), results/image/kodak/*.json; "
    "bpp counts the entropy-coded payload, PSNR is RGB, mean over the 24 Kodak images"
)

# name -> (label, source file, [(bpp, PSNR-RGB dB), ...]) per quality level
PUBLISHED: dict[str, tuple[str, str, list[tuple[float, float]]]] = {
    "bmshj2018-factorized": (
        "bmshj2018-factorized (published)",
        "compressai-bmshj2018-factorized_mse_cuda.json",
        [
            (0.1226, 26.91),
            (0.1885, 28.22),
            (0.2878, 29.62),
            (0.4404, 31.28),
            (0.6481, 32.96),
            (0.9670, 35.38),
            (1.3512, 37.40),
            (1.8333, 39.62),
        ],
    ),
    "mbt2018-mean": (
        "mbt2018-mean (published)",
        "compressai-mbt2018-mean_mse_cuda.json",
        [
            (0.1239, 27.70),
            (0.1980, 29.36),
            (0.3072, 31.13),
            (0.4606, 32.95),
            (0.6617, 34.97),
            (0.9144, 36.91),
            (1.2342, 38.84),
            (1.6191, 40.63),
        ],
    ),
    "vtm": (
        "VTM-9.1 (published)",
        "vtm.json (VTM-9.1, QP 47 to 12 in steps of 5)",
        [
            (0.048, 26.14),
            (0.112, 28.49),
            (0.246, 31.20),
            (0.491, 34.26),
            (0.875, 37.42),
            (1.431, 40.42),
            (2.325, 43.51),
            (3.633, 46.59),
        ],
    ),
}

ANCHORS_SOURCE = (
    "vqcodec project measurement on the 24 Kodak images (../shared/notes/rd-anchors.md): "
    "Pillow 13 (libjpeg-turbo 3.2.0, libwebp 1.6.0, OpenJPEG 2.5.4, "
    "libavif 1.4.2 with aom 3.14.1), "
    "imagecodecs 2026.3.6 (libjxl 0.11.2), with the settings of vqcodec.bench.codecs"
)

# codec -> expected PSNR (dB) at 0.25, 0.5 and 1.0 bpp and BD-rate (%) against JPEG 4:2:0
ANCHORS_KODAK: dict[str, dict[str, float]] = {
    "jpeg": {"0.25": 26.59, "0.5": 29.61, "1.0": 32.87, "bd_rate_vs_jpeg": 0.0},
    "jpeg444": {"0.25": 25.82, "0.5": 29.34, "1.0": 32.72, "bd_rate_vs_jpeg": 12.5},
    "webp": {"0.25": 28.59, "0.5": 31.46, "1.0": 35.25, "bd_rate_vs_jpeg": -36.3},
    "jpeg2000": {"0.25": 29.27, "0.5": 32.19, "1.0": 36.00, "bd_rate_vs_jpeg": -47.9},
    "avif": {"0.25": 29.63, "0.5": 32.49, "1.0": 36.12, "bd_rate_vs_jpeg": -49.2},
    "avif444psnr": {"0.25": 29.87, "0.5": 32.86, "1.0": 36.69, "bd_rate_vs_jpeg": -54.8},
    "jxl": {"0.25": 28.06, "0.5": 31.08, "1.0": 34.70, "bd_rate_vs_jpeg": -27.9},
}


KODAK_NAMES = frozenset(f"kodim{i:02d}.png" for i in range(1, 25))
KODAK_SIZES = {(512, 768, 3), (768, 512, 3)}


def is_kodak(images: list) -> bool:
    """Whether ``images`` (``BenchImage``s) are the 24 Kodak images, by name and size: the
    only set the published curves and the anchors were measured on."""
    names = sorted(i.name for i in images)
    return names == sorted(KODAK_NAMES) and all(i.pixels.shape in KODAK_SIZES for i in images)


def published_curves() -> dict[str, dict]:
    """The published curves as results-style records: label, source, bpp and PSNR lists."""
    return {
        name: {
            "label": label,
            "source": f"{COMPRESSAI_SOURCE}; {file}",
            "bpp": [b for b, _ in points],
            "psnr": [p for _, p in points],
        }
        for name, (label, file, points) in PUBLISHED.items()
    }
