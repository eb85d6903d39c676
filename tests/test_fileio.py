"""Writing outputs: exclusive without --force, atomic, cleaned up after SIGTERM, never
through a dangling symlink or into a directory name, with the umask's permissions, with
default names that never land on the input, and extensions that match the content."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import vqcodec
from vqcodec import VQCodecError, fileio
from vqcodec.cli import main

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def run(tiny_model_path):
    """The CLI, with compress and decompress using the tiny model."""

    def invoke(*args):
        extra = ["--model", tiny_model_path] if args[0] in ("compress", "decompress") else []
        return CliRunner().invoke(main, [str(a) for a in (*args, *extra)])

    return invoke


def assert_clean_error(result, text):
    assert result.exit_code == 1, result.output
    assert text in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def vqc_bytes(tiny_model) -> bytes:
    return vqcodec.compress(np.full((20, 30, 3), 90, np.uint8), 1, model=tiny_model)


def _racer(target: str, payload: bytes, barrier, results) -> None:
    barrier.wait()
    try:
        fileio.write_bytes(target, payload, force=False)
        results.put(payload)
    except VQCodecError:
        results.put(b"")


def test_two_writers_of_one_new_path_cannot_both_succeed(tmp_path):
    ctx = multiprocessing.get_context("fork")
    for trial in range(4):
        target = str(tmp_path / f"race{trial}.png")
        barrier, results = ctx.Barrier(6), ctx.Queue()
        procs = [
            ctx.Process(target=_racer, args=(target, bytes([i]) * 200_000, barrier, results))
            for i in range(6)
        ]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join()
        winners = [o for o in outcomes if o]
        assert len(winners) == 1
        assert Path(target).read_bytes() == winners[0]
    assert not list(tmp_path.glob(".*.part"))


def test_the_target_appearing_after_the_check_is_not_replaced(tmp_path, monkeypatch):
    target = tmp_path / "late.vqc"
    monkeypatch.setattr(fileio, "check_writable", lambda *a: None)
    target.write_bytes(b"precious")
    with pytest.raises(VQCodecError, match="exists"):
        fileio.write_bytes(str(target), b"new", force=False)
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.vqc"]


# A fresh process running the CLI whose decoding is stubbed out (a 30x20 image), so that
# it never imports torch: these tests are about the process (its signals, exit code and
# standard output), and a process importing torch would spend 2 s before the write.
STUB_DECODE = (
    "import io, sys\n"
    "from PIL import Image\n"
    "import vqcodec.api\n"
    "png = io.BytesIO()\n"
    "Image.new('RGB', (30, 20)).save(png, 'PNG')\n"
    "vqcodec.api.decompress_to = lambda source, fmt, **options: png.getvalue()\n"
)
RUN_CLI = "from vqcodec.cli import main\nmain(sys.argv[1:])\n"


def test_sigterm_during_the_write_leaves_no_temporary_file(tmp_path, vqc_bytes):
    src = tmp_path / "x.vqc"
    src.write_bytes(vqc_bytes)
    script = (
        STUB_DECODE + "import os, signal\n"
        "real = os.fsync\n"
        "def fsync(fd):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    real(fd)\n"
        "os.fsync = fsync\n" + RUN_CLI
    )
    out = subprocess.run(
        [sys.executable, "-c", script, "decompress", str(src), str(tmp_path / "x.png")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 143 and "terminated" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.vqc"]


def test_a_dangling_symlink_is_not_replaced_without_force(tmp_path, vqc_bytes, run):
    src = tmp_path / "x.vqc"
    src.write_bytes(vqc_bytes)
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "nowhere.png")
    assert_clean_error(run("decompress", src, link), "exists")
    assert link.is_symlink() and not (tmp_path / "nowhere.png").exists()
    with pytest.raises(VQCodecError, match="exists"):
        fileio.write_bytes(str(link), b"x", force=False)
    assert run("decompress", src, link, "--force").exit_code == 0
    assert not link.is_symlink() and not (tmp_path / "nowhere.png").exists()
    assert Image.open(link).size == (30, 20)


def test_a_directory_name_as_output_is_an_error(tmp_path, vqc_bytes, run):
    src = tmp_path / "x.vqc"
    src.write_bytes(vqc_bytes)
    assert_clean_error(run("decompress", src, f"{tmp_path}/newdir/"), "is a directory")
    assert not (tmp_path / "newdir").exists()
    (tmp_path / "old").mkdir()
    with pytest.raises(VQCodecError, match="is a directory"):
        fileio.write_bytes(str(tmp_path / "old"), b"x", force=True)
    assert (tmp_path / "old").is_dir()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_follow_the_umask(tmp_path, vqc_bytes, umask, mode, run):
    previous = os.umask(umask)
    try:
        fileio.write_bytes(str(tmp_path / "o.vqc"), vqc_bytes, force=False)
        src = tmp_path / "o.vqc"
        assert run("decompress", src, tmp_path / "o.png").exit_code == 0
    finally:
        os.umask(previous)
    for name in ("o.vqc", "o.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode


def test_default_names_never_collide_with_the_input(tmp_path, run):
    photo = tmp_path / "kodim23.png"
    Image.new("RGB", (24, 16), (10, 120, 200)).save(photo)
    original = photo.read_bytes()
    assert run("compress", photo, "-q", 1).exit_code == 0
    assert run("decompress", tmp_path / "kodim23.vqc").exit_code == 0
    assert photo.read_bytes() == original
    assert Image.open(tmp_path / "kodim23.vqc.png").size == (24, 16)
    assert run("decompress", tmp_path / "kodim23.vqc", "--format", "bmp").exit_code == 0
    assert Image.open(tmp_path / "kodim23.vqc.bmp").format == "BMP"
    assert fileio.default_output("a.vqc", ".vqc") == "a.vqc.vqc"
    assert fileio.default_output("-", ".png") == "-"


def test_extensions_that_contradict_the_content_are_refused(tmp_path, vqc_bytes, run):
    photo = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(photo)
    victim = tmp_path / "victim.png"
    assert_clean_error(run("compress", "-q", 1, photo, victim), "extension says PNG")
    assert not victim.exists()
    result = run("compress", "-f", "-q", 1, photo, victim)
    assert result.exit_code == 0 and "warning" in result.stderr
    src = tmp_path / "x.vqc"
    src.write_bytes(vqc_bytes)
    assert_clean_error(
        run("decompress", src, tmp_path / "y.vqc", "--format", "png"), "extension says VQC"
    )
    assert_clean_error(run("decompress", src, tmp_path / "y.jpg", "--format", "png"), "JPEG")
    assert_clean_error(run("decompress", src, tmp_path / "y.png", "--format", "nope"), "unknown")
    assert run("decompress", src, tmp_path / "y.jpg").exit_code == 0


def test_stdout_errors_are_one_line(tmp_path, vqc_bytes):
    src = tmp_path / "x.vqc"
    src.write_bytes(vqc_bytes)
    for command in (
        ["-c", STUB_DECODE + RUN_CLI, "decompress", str(src), "-"],  # a PNG to stdout
        ["-m", "vqcodec", "info", str(src)],  # click.echo
    ):
        with open("/dev/full", "wb") as full:
            out = subprocess.run(
                [sys.executable, *command],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                timeout=300,
            )
        assert out.returncode == 1, out.stderr
        assert "No space left on device" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_version(run):
    from vqcodec.version import __version__

    assert vqcodec.__version__ == __version__
    for flag in ("-V", "--version"):
        result = run(flag)
        assert result.exit_code == 0 and __version__ in result.output
    assert (ROOT / "vqcodec" / "py.typed").exists()
    assert '"py.typed"' in (ROOT / "pyproject.toml").read_text()
