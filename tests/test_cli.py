"""The command line: files, stdin/stdout, overwriting, errors and exit codes (tiny model)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vqcodec.cli import main


@pytest.fixture
def png(tmp_path, photo):
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    return path


@pytest.fixture
def tiny(tiny_model_path):
    """``--model`` and the tiny model's file, for compress and decompress."""
    return ("--model", tiny_model_path)


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def assert_clean_error(result, text):
    assert result.exit_code == 1
    assert text in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_compress_decompress_info(png, tmp_path, tiny):
    assert run("compress", png, "-q", 2, *tiny).exit_code == 0
    vqc = tmp_path / "photo.vqc"
    assert vqc.read_bytes()[:4] == b"\x89VQC"
    out = tmp_path / "back.bmp"
    assert run("decompress", vqc, out, *tiny).exit_code == 0
    assert Image.open(out).format == "BMP" and Image.open(out).size == (100, 75)
    result = run("info", vqc, "--json")
    fields = json.loads(result.stdout)
    assert result.exit_code == 0 and fields["model"] == "tiny-test" and 1 <= fields["stages"] <= 6


def test_refuses_to_overwrite_without_force(png, tmp_path, tiny):
    target = tmp_path / "x.vqc"
    target.write_bytes(b"precious")
    assert_clean_error(run("compress", png, target, *tiny), "--force")
    assert target.read_bytes() == b"precious"
    assert run("compress", png, target, "--force", *tiny).exit_code == 0
    assert target.read_bytes()[:4] == b"\x89VQC"


def test_stdin_and_stdout(png, tiny):
    result = run("compress", "-", "-", *tiny, input=png.read_bytes())
    assert result.exit_code == 0 and result.stdout_bytes[:4] == b"\x89VQC"
    back = run("decompress", "-", "-", *tiny, input=result.stdout_bytes)
    assert back.exit_code == 0
    assert Image.open(io.BytesIO(back.stdout_bytes)).size == (100, 75)


def test_corrupt_input_gives_one_line_and_no_output(png, tmp_path, tiny):
    bad = tmp_path / "bad.vqc"
    bad.write_bytes(b"\x89VQC\x01" + bytes(40))
    out = tmp_path / "out.png"
    assert_clean_error(run("decompress", bad, out), "checksum")
    assert not out.exists()
    assert_clean_error(run("compress", tmp_path / "missing.png"), "cannot read")
    assert_clean_error(run("compress", png, "-q", 99), "1 to 12")
    assert_clean_error(run("compress", png, "-q", 7, *tiny), "1 to 6")
    assert_clean_error(run("decompress", bad, tmp_path / "out.xyz"), "--format")


def test_failed_write_leaves_nothing_behind(png, tmp_path, monkeypatch, tiny):
    def broken(src, dst, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    monkeypatch.setattr(os, "link", broken)
    target = tmp_path / "y.vqc"
    assert_clean_error(run("compress", png, target, *tiny), "No space left")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_interrupt_exits_130_without_output(png, tmp_path, monkeypatch):
    import vqcodec.api

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(vqcodec.api, "compress", interrupted)
    result = run("compress", png, tmp_path / "z.vqc")
    assert result.exit_code == 130 and not (tmp_path / "z.vqc").exists()


def test_help_shows_examples():
    for cmd in ([], ["compress"], ["decompress"], ["info"], ["train"]):
        result = run(*cmd, "--help")
        assert result.exit_code == 0 and "Example" in result.output


@pytest.mark.slow  # a fresh process importing torch
def test_python_dash_m_compresses(png, tmp_path, tiny):
    args = ["compress", str(png), str(tmp_path / "m.vqc"), "-q", "1", *map(str, tiny)]
    out = subprocess.run([sys.executable, "-m", "vqcodec", *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "m.vqc").read_bytes()[:4] == b"\x89VQC"


def test_python_dash_m_reports_errors(png):
    bad = subprocess.run(
        [sys.executable, "-m", "vqcodec", "info", str(png)], capture_output=True, text=True
    )
    assert bad.returncode == 1 and "not a .vqc file" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_decompress_keeps_grayscale_mode(tmp_path, photo, tiny):
    src = tmp_path / "g.png"
    Image.fromarray(photo[:, :, 1]).save(src)
    assert run("compress", src, *tiny).exit_code == 0
    assert run("decompress", tmp_path / "g.vqc", tmp_path / "g2.png", *tiny).exit_code == 0
    assert np.asarray(Image.open(tmp_path / "g2.png")).ndim == 2


def test_tile_depths_flag_writes_version_2_or_lower(png, tmp_path, tiny):
    out = tmp_path / "compat.vqc"
    assert run("compress", png, out, "-q", 5, "--tile-depths", *tiny).exit_code == 0
    assert out.read_bytes()[4] in (1, 2)
    assert run("decompress", out, tmp_path / "back.png", *tiny).exit_code == 0
