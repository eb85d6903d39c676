"""The benchmark (vqcodec.bench) on two tiny generated images: metrics, adapters, runs, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import vqcodec
from vqcodec.bench import cli as bench_cli
from vqcodec.bench import codecs, coding, rdmetrics, reference, speed
from vqcodec.bench.cli import bench
from vqcodec.bench.images import BenchImage
from vqcodec.bench.run import Options, run_benchmark
from vqcodec.bench.summary import summarize
from vqcodec.cli import Group
from vqcodec.metrics import psnr

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# bmshj2018-factorized on Kodak as published by CompressAI, and its PSNR at 0.25, 0.5, 1 bpp
# by PCHIP over log-rate as listed in the project's anchors.
FACTORIZED = (
    [0.1226, 0.1885, 0.2878, 0.4404, 0.6481, 0.9670, 1.3512, 1.8333],
    [26.91, 28.22, 29.62, 31.28, 32.96, 35.38, 37.40, 39.62],
)


def gradient(height: int, width: int, seed: int) -> np.ndarray:
    """A colour gradient with mild noise: uint8 [height, width, 3]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([4 * x + 40, 3 * y + 60, 2 * (x + y) + 30], axis=2).astype(np.float64)
    img += rng.normal(0, 6, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("images")
    Image.fromarray(gradient(48, 64, 1)).save(path / "a.png")
    Image.fromarray(gradient(40, 40, 2)).save(path / "b.png")
    (path / "notes.txt").write_text("not an image")
    return path


def strict_json(text: str) -> dict:
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_psnr_of_known_mse():
    a = np.full((8, 8, 3), 100, np.uint8)
    assert psnr(a, a + 5) == pytest.approx(10 * math.log10(255**2 / 25))
    assert psnr(a, a) == math.inf


def test_ms_ssim():
    rng = np.random.default_rng(0)
    a = gradient(170, 180, 3)
    noisy = np.clip(a + rng.normal(0, 8, a.shape), 0, 255).astype(np.uint8)
    assert rdmetrics.ms_ssim(a, a) == pytest.approx(1.0)
    assert 0.5 < rdmetrics.ms_ssim(a, noisy) < 1.0
    assert rdmetrics.ms_ssim(a[:160], a[:160]) is None
    assert rdmetrics.ms_ssim_db(0.99) == pytest.approx(20.0)
    assert rdmetrics.ms_ssim_db(None) is None


def test_bd_rate_against_itself_and_at_half_rate():
    rate, quality = FACTORIZED
    assert rdmetrics.bd_rate(FACTORIZED, FACTORIZED)[0] == pytest.approx(0.0, abs=1e-9)
    percent, span = rdmetrics.bd_rate(FACTORIZED, ([r / 2 for r in rate], quality))
    assert percent == pytest.approx(-50.0)
    assert span == (26.91, 39.62)
    assert rdmetrics.bd_psnr(FACTORIZED, FACTORIZED) == pytest.approx(0.0, abs=1e-9)
    within = rdmetrics.bd_rate(FACTORIZED, ([r * 2 for r in rate], quality), (28.0, 35.0))
    assert within[0] == pytest.approx(100.0) and within[1] == (28.0, 35.0)
    assert rdmetrics.bd_rate(FACTORIZED, FACTORIZED, (20.0, 30.0)) is None
    assert rdmetrics.bd_rate(FACTORIZED, ([1, 2], [10, 12])) is None  # no shared PSNR range


def test_increasing_drops_points_that_do_not_improve():
    rate, quality = rdmetrics.increasing([0.5, 0.1, 0.3, 0.4, 0.6], [30, 25, 28, 27, 31])
    assert list(rate) == [0.1, 0.3, 0.5, 0.6] and list(quality) == [25, 28, 30, 31]


def test_psnr_at_bpp_by_pchip_without_extrapolation():
    found = [rdmetrics.quality_at_rate(*FACTORIZED, r) for r in (0.25, 0.5, 1.0)]
    assert found == pytest.approx([29.13, 31.80, 35.58], abs=0.005)
    assert rdmetrics.quality_at_rate(*FACTORIZED, 0.1226) == pytest.approx(26.91)
    assert rdmetrics.quality_at_rate(*FACTORIZED, 0.1) is None
    assert rdmetrics.quality_at_rate(*FACTORIZED, 2.0) is None


@pytest.mark.parametrize("name", codecs.CLASSICAL)
def test_classical_adapter_round_trips(name):
    reason = codecs.missing(name)
    if reason:
        pytest.skip(reason)
    codec = codecs.make(name)
    image = gradient(48, 64, 1)
    low, high = (codec.encode(image, s) for s in (codec.sweep[0], codec.sweep[-1]))
    decoded = codec.decode(high)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert psnr(image, decoded) > 25
    bpp_low, bpp_high = (8 * len(d) / (48 * 64) for d in (low, high))
    assert 0.05 < bpp_low < bpp_high < 12
    assert codec.record()["library"]


def test_vqcodec_adapter_and_entropy_stats(tiny_model_path, tiny_model):
    codec = codecs.make("vqcodec", str(tiny_model_path))
    image = gradient(40, 40, 2)
    data = codec.encode(image, 2)
    assert codec.decode(data).shape == image.shape
    stats = codec.inspect(data)
    assert len(stats["payload_bits"]) == vqcodec.container.parse(data).stages
    assert stats["pixels"] == 1600
    assert stats["header_bytes"] == len(data) - sum(stats["payload_bits"]) // 8
    assert stats["header_bytes"] > 0
    for payload, ideal in zip(stats["payload_bits"], stats["ideal_bits"], strict=True):
        assert 0 < ideal <= payload + 64
    summary = coding.summarize(2, [stats, stats])
    assert summary["ideal_bits"] == pytest.approx(2 * sum(stats["ideal_bits"]))
    assert tiny_model.stages == len(codec.sweep)


def test_quick_run_writes_json_and_pngs(folder, tmp_path, tiny_model_path, tiny_model):
    options = Options(quick=True, speed=False, progress=False, model=str(tiny_model_path))
    run_benchmark(folder, tmp_path, options)
    results = strict_json((tmp_path / "results.json").read_text())
    measured = [n for n in codecs.ALL if codecs.missing(n) is None]
    assert list(results["rd"]) == measured
    assert [i["name"] for i in results["meta"]["images"]] == ["a.png", "b.png"]
    for name, rd in results["rd"].items():
        assert len(rd["points"]) == len(codecs.make(name, str(tiny_model_path)).quick)
        for point in rd["points"]:
            assert point["bpp"] == pytest.approx(np.mean(point["images"]["bpp"]))
            assert point["ms_ssim"] is None  # images under 161 pixels a side
    rows = {r["codec"]: r for r in results["summary"]["rows"]}
    assert rows["jpeg"]["bd_rate_vs_jpeg"]["percent"] == pytest.approx(0.0, abs=1e-9)
    assert not any(r["published"] for r in rows.values())  # not Kodak: no published curves
    assert results["reference"] == {"kodak": False, "published": {}, "kodak_anchors": None}
    assert "Kodak anchors" not in (tmp_path / "summary.md").read_text()
    for name, rd in results["rd"].items():
        layout = strict_json((tmp_path / "compressai" / f"{name}.json").read_text())
        assert layout["name"] == name and set(layout["results"]) == {"bpp", "psnr-rgb", "ms-ssim"}
        assert layout["results"]["psnr-rgb"] == [p["psnr"] for p in rd["points"]]
        assert layout["results"]["bpp"] == [p["bpp"] for p in rd["points"]]
    assert len(results["entropy_coding"]) == tiny_model.stages
    assert "versions" in results["meta"] and results["rd"]["jpeg"]["options"]["optimize"]
    for png in ("rd_psnr.png", "crop.png"):
        assert (tmp_path / png).read_bytes()[:8] == PNG_MAGIC
    assert "## Rate–distortion" in (tmp_path / "summary.md").read_text()


def test_published_curves_only_on_kodak():
    kodak = [
        BenchImage(f"kodim{i:02d}.png", np.zeros((512, 768, 3), np.uint8)) for i in range(1, 25)
    ]
    assert reference.is_kodak(kodak) and reference.is_kodak(kodak[::-1])
    assert not reference.is_kodak(kodak[:23])
    resized = [*kodak[:23], BenchImage("kodim24.png", np.zeros((500, 768, 3), np.uint8))]
    assert not reference.is_kodak(resized)
    rows = {r["codec"]: r for r in summarize({}, reference.published_curves())["rows"]}
    assert rows["vtm"]["published"]
    assert rows["vtm"]["psnr_at_bpp"]["0.5"] == pytest.approx(34.35, abs=0.005)


def test_speed_worker_measures_time_and_memory(folder):
    job = {"codec": "jpeg", "setting": 50, "threads": 1, "device": "cpu", "repeats": 2}
    result = speed.summarize(speed.run_worker({**job, "images": [str(folder / "a.png")]}))
    assert result["per_image"][0]["pixels"] == 64 * 48
    assert result["encode_cpu_ms"] > 0 and result["decode_wall_mp_per_s"] > 0
    assert result["peak_rss_mb"] >= result["baseline_rss_mb"] > 0
    assert "error" in speed.run_worker({**job, "images": [str(folder / "missing.png")]})


def run(*args):
    cli = Group(name="vqcodec", commands={"bench": bench})
    return CliRunner().invoke(cli, ["bench", *(str(a) for a in args)])


@pytest.mark.slow  # a speed worker per codec, each a fresh process importing torch
def test_bench_command(folder, tmp_path, tiny_model_path):
    args = ("--codecs", "vqcodec,jpeg", "--model", tiny_model_path, "--out", tmp_path)
    result = run(folder, "--quick", *args, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "| JPEG 4:2:0 |" in result.stdout and "Speed and memory" in result.stdout
    results = strict_json((tmp_path / "results.json").read_text())
    assert set(results["speed"]) >= {"vqcodec", "jpeg"}
    assert results["speed"]["vqcodec"]["threads"] == 1
    assert results["speed"]["vqcodec"]["peak_rss_mb"] > results["speed"]["jpeg"]["peak_rss_mb"]


def test_bench_scaling(tmp_path):
    result = run("--scaling", "--max-mp", 0.01, "--codecs", "jpeg", "--out", tmp_path, "--quick")
    assert result.exit_code == 0, result.output
    runs = strict_json((tmp_path / "scaling.json").read_text())["scaling"]["jpeg"]["runs"]
    assert len(runs) == 1 and runs[0]["megapixels"] == pytest.approx(0.01, rel=0.05)
    assert (tmp_path / "scaling.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "give a FOLDER"),
        (("{empty}",), "no images"),
        (("{missing}",), "is not a folder"),
        (("{folder}", "--codecs", "jpeg,png"), "unknown codec png"),
        (("{folder}", "--crop-image", "zzz.png"), "--crop-image"),
    ],
)
def test_bench_user_errors(folder, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    paths = {"empty": tmp_path / "empty", "missing": tmp_path / "nope", "folder": folder}
    result = run(*(a.format(**paths) for a in args), "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output


def test_bench_keeps_earlier_results_without_force(folder, tmp_path):
    (tmp_path / "results.json").write_text("{}")
    result = run(folder, "--quick", "--out", tmp_path, "--no-speed")
    assert result.exit_code == 1 and "--force" in result.stderr
    assert (tmp_path / "results.json").read_text() == "{}"
    (tmp_path / "scaling.png").write_bytes(b"x")
    result = run("--scaling", "--out", tmp_path)
    assert result.exit_code == 1 and "scaling.png" in result.stderr
    assert bench_cli.DEFAULT_OUT.parts == ("vqcodec-bench",)  # never the committed figures


def test_missing_extra_is_one_line_naming_the_install(folder, tmp_path, monkeypatch):
    real = bench_cli.find_spec
    monkeypatch.setattr(bench_cli, "find_spec", lambda n: None if n == "scipy" else real(n))
    result = run(folder, "--out", tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip() == (
        'vqcodec: error: vqcodec bench needs scipy: pip install "vqcodec[bench]"'
    )
