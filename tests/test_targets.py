"""Target modes: --target-bpp, --max-bytes and --target-psnr (API alike), from one encode."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import synthetic_photo
from PIL import Image

import vqcodec
from vqcodec import api, codec, effort, ratecontrol, targets
from vqcodec.cli import main
from vqcodec.errors import VQCodecError


@pytest.fixture(scope="module")
def image():
    return synthetic_photo(96, 160, seed=7)


@pytest.fixture(scope="module")
def ends(image, tiny_model):
    """Bytes of the smallest (quality 1) and the largest (every stage) files."""
    small = len(vqcodec.compress(image, 1, model=tiny_model))
    large = len(vqcodec.compress(image, tiny_model.stages, model=tiny_model))
    assert small < large
    return small, large


def test_max_bytes_is_never_exceeded(image, tiny_model, ends):
    small, large = ends
    sizes = []
    for limit in (small + 40, (small + large) // 2, large - 20, large + 1000):
        reached = api.compress_to_target(image, max_bytes=limit, model=tiny_model)
        assert reached.bytes == len(reached.data) <= limit
        assert vqcodec.info(reached.data)["bytes"] == reached.bytes
        sizes.append(reached.bytes)
    assert max(sizes) > 2 * small  # more room, more bytes used


def test_max_bytes_below_quality_1_is_a_clear_error(image, tiny_model, ends):
    with pytest.raises(VQCodecError, match=f"even quality 1 .* needs {ends[0]} bytes"):
        api.compress_to_target(image, max_bytes=ends[0] - 1, model=tiny_model)


def test_target_bpp_moves_with_the_target(image, tiny_model):
    pixels = image.shape[0] * image.shape[1]
    low, high = (api.compress_to_target(image, bpp=b, model=tiny_model) for b in (0.05, 0.25))
    assert low.bpp < high.bpp
    assert high.bpp == pytest.approx(8 * len(high.data) / pixels)
    assert high.bpp == pytest.approx(0.25, rel=0.25)  # the tiny model's steps are coarse


@pytest.mark.slow
def test_target_bpp_and_psnr_with_the_shipped_model(model):
    image = synthetic_photo(128, 192, seed=3)
    for bpp in (0.15, 0.4):
        reached = api.compress_to_target(image, bpp=bpp, model=model)
        assert reached.bpp == pytest.approx(bpp, rel=0.1)
    best = api.compress_to_target(image, psnr=99.0, model=model)  # unreachable: every stage
    assert best.mu == 0.0
    goal = best.psnr - 2.0
    reached = api.compress_to_target(image, psnr=goal, model=model)
    assert reached.psnr >= goal - 0.3  # the search predicts PSNR from per-block errors
    assert reached.bytes < best.bytes


def test_one_encode_not_n(image, tiny_model, monkeypatch):
    passes = []
    decode = ratecontrol.decode_indices
    monkeypatch.setattr(ratecontrol, "decode_indices", lambda *a: passes.append(1) or decode(*a))
    codec.encode_target(image, "RGB", tiny_model, targets.Target("bytes", 900))
    measured = effort.effort(effort.DEFAULT).pass_count(tiny_model.stages)
    assert len(passes) == measured  # the depth search's own passes (at its effort), once


def test_compress_with_a_target_returns_the_same_file(image, tiny_model):
    data = vqcodec.compress(image, target_bpp=0.5, model=tiny_model)
    assert data == api.compress_to_target(image, bpp=0.5, model=tiny_model).data


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"target_bpp": 0.5, "max_bytes": 900}, "at most one"),
        ({"target_bpp": -1.0}, "positive number"),
        ({"target_psnr": float("nan")}, "positive number"),
        ({"max_bytes": 10.5}, "whole number"),
        ({"max_bytes": True}, "positive number"),
    ],
)
def test_bad_targets(image, tiny_model, options, match):
    with pytest.raises(VQCodecError, match=match):
        vqcodec.compress(image, model=tiny_model, **options)


def test_cli_targets(tmp_path, image, tiny_model_path, ends):
    src = tmp_path / "photo.png"
    Image.fromarray(image).save(src)
    limit = (ends[0] + ends[1]) // 2

    def run(*args):
        argv = ["compress", str(src), *map(str, args), "--model", str(tiny_model_path), "-f"]
        return CliRunner().invoke(main, argv)

    result = run(tmp_path / "a.vqc", "--max-bytes", limit)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a.vqc").stat().st_size <= limit
    assert f"(target: {limit} bytes at most)" in result.stderr and "dB PSNR" in result.stderr
    result = run(tmp_path / "b.vqc", "--target-psnr", 20)
    assert result.exit_code == 0 and "(target: 20 dB)" in result.stderr
    result = run(tmp_path / "b.vqc", "--target-bpp", 0.25)
    assert result.exit_code == 0 and "(target: 0.25 bpp)" in result.stderr
    for args, message in (
        (("--max-bytes", ends[0] - 1), "even quality 1"),
        (("-q", 3, "--target-bpp", 0.5), "--quality or one target"),
        (("--target-bpp", 0.5, "--target-psnr", 30), "at most one"),
    ):
        result = run(tmp_path / "c.vqc", *args)
        assert result.exit_code == 1 and message in result.stderr
        assert "Traceback" not in result.output
    out = tmp_path / "out"
    result = run(tmp_path / "photo.png", "-o", out, "--max-bytes", limit)  # a batch
    assert result.exit_code == 1  # the second input is the first one again: same output name
    result = CliRunner().invoke(
        main,
        ["compress", str(src), "-o", str(out), "--max-bytes", str(limit)]
        + ["--model", str(tiny_model_path)],
    )
    assert result.exit_code == 0 and (out / "photo.vqc").stat().st_size <= limit
