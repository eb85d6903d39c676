"""Many files at once: vqcodec compress/decompress with -o, folders, -j, failures, summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import synthetic_photo
from PIL import Image

from vqcodec import batch
from vqcodec.cli import main
from vqcodec.errors import VQCodecError


@pytest.fixture
def run(tiny_model_path):
    """The command line with the tiny model, so that each file codes in milliseconds."""

    def invoke(*args):
        args = [*args, "--model", tiny_model_path]
        return CliRunner().invoke(main, [str(a) for a in args])

    return invoke


@pytest.fixture
def inputs(tmp_path):
    """a.png, b.jpg and a folder holding c.png, a broken PNG and a text file."""
    Image.fromarray(synthetic_photo(40, 48, 1)).save(tmp_path / "a.png")
    Image.fromarray(synthetic_photo(32, 40, 2)).save(tmp_path / "b.jpg")
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(synthetic_photo(36, 36, 3)).save(folder / "c.png")
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    (folder / "notes.txt").write_text("not an image")
    return tmp_path


def test_compress_files_and_folder_reports_failure_and_goes_on(run, inputs):
    out = inputs / "out"
    result = run(
        "compress", inputs / "a.png", inputs / "b.jpg", inputs / "photos", "-o", out, "-q", 1
    )
    assert result.exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.vqc", "b.vqc", "c.vqc"]
    assert "broken.png" in result.stderr and "notes.txt" not in result.stderr
    summary = result.stderr.strip().splitlines()[-1]
    total = sum(p.stat().st_size for p in out.iterdir())
    pixels = 40 * 48 + 32 * 40 + 36 * 36
    assert summary.startswith("compressed 3 of 4 files (1 failed)")
    assert f"-> {total} bytes" in summary and f"{8 * total / pixels:.4f} bpp" in summary
    assert "Traceback" not in result.output


@pytest.mark.slow  # two spawned workers each import torch and load a model
def test_decompress_folder_to_png_with_two_workers(run, inputs):
    vqc = inputs / "vqc"
    assert run("compress", inputs / "a.png", inputs / "b.jpg", "-o", vqc, "-q", 1).exit_code == 0
    back = inputs / "back"
    result = run("decompress", vqc, "-o", back, "--format", "png", "-j", 2)
    assert result.exit_code == 0, result.output
    assert "decompressed 2 of 2 files (0 failed)" in result.stderr
    assert Image.open(back / "a.png").size == (48, 40)
    assert Image.open(back / "b.png").format == "PNG"
    again = run("decompress", vqc, "-o", back, "--format", "png")
    assert again.exit_code == 1 and again.stderr.count("--force") == 2
    assert run("decompress", vqc, "-o", back, "--format", "jpeg", "-f").exit_code == 0
    assert Image.open(back / "a.jpg").format == "JPEG"


def test_outputs_beside_inputs_without_output_dir(run, inputs):
    result = run("compress", inputs / "photos", "-q", 1)
    assert result.exit_code == 1  # broken.png
    assert (inputs / "photos" / "c.vqc").is_file()


def test_batch_matches_single_file(run, inputs, tmp_path):
    assert run("compress", inputs / "a.png", tmp_path / "single.vqc", "-q", 1).exit_code == 0
    assert (
        run("compress", inputs / "a.png", inputs / "b.jpg", "-o", tmp_path / "o", "-q", 1).exit_code
        == 0
    )
    assert (tmp_path / "o" / "a.vqc").read_bytes() == (tmp_path / "single.vqc").read_bytes()


def test_same_output_name_is_refused_before_any_work(run, inputs):
    Image.fromarray(synthetic_photo(8, 8, 4)).save(inputs / "photos" / "a.bmp")
    result = run("compress", inputs / "a.png", inputs / "photos", "-o", inputs / "out")
    assert result.exit_code == 1 and "would both be written to" in result.stderr
    assert not (inputs / "out").exists()


def test_missing_input_and_bad_jobs(run, inputs):
    result = run("compress", inputs / "nope.png", inputs / "a.png", "-o", inputs / "o")
    assert result.exit_code == 1 and "no such file or folder" in result.stderr
    result = run("compress", inputs / "a.png", "-o", inputs / "o", "-j", 0)
    assert result.exit_code == 1 and "--jobs" in result.stderr


def test_plan_and_collect(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    (tmp_path / "y.txt").write_bytes(b"")
    assert batch.collect([str(tmp_path)], {".png"}) == [tmp_path / "x.png"]
    with pytest.raises(VQCodecError, match="no input files"):
        batch.collect([str(tmp_path)], {".jpg"})
    pairs = batch.plan([Path("a/x.png"), Path("b/y.jpg")], None, ".vqc")
    assert pairs == [(Path("a/x.png"), Path("a/x.vqc")), (Path("b/y.jpg"), Path("b/y.vqc"))]


def test_api_run_returns_every_outcome_in_order(inputs, tmp_path, tiny_model_path):
    pairs = batch.plan([inputs / "photos" / "broken.png", inputs / "a.png"], tmp_path, ".vqc")
    settings = batch.Settings("compress", str(tiny_model_path), options={"quality": 1})
    seen = []
    outcomes, summary = batch.run(pairs, settings, 1, seen.append)
    assert [o.source.name for o in outcomes] == ["broken.png", "a.png"] and len(seen) == 2
    assert outcomes[0].error and outcomes[1].error is None
    assert summary.files == 2 and summary.failed == 1 and summary.pixels == 40 * 48
    assert summary.out_bytes == (tmp_path / "a.vqc").stat().st_size
    assert np.isclose(summary.bpp, 8 * summary.out_bytes / summary.pixels)
