"""Lazy imports: the package, --help and info never load torch (checked in fresh processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import vqcodec

VECTOR = (
    Path(__file__).parent.parent / "formats" / "vectors" / "vqcodec-base-v2-positions-rgb-q6.vqc"
)


def loaded_modules(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stderr.strip().splitlines()[-1]))


def cli(*args: str) -> str:
    """Run the command line as ``vqcodec ARGS`` does; return what it loaded."""
    code = f"import sys\nsys.argv = ['vqcodec', *{list(args)!r}]\nfrom vqcodec.cli import main"
    return f"{code}\ntry:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit"


@pytest.mark.parametrize(
    "code",
    [
        "import vqcodec",
        "import vqcodec; vqcodec.VQCodecError, vqcodec.container.parse",
        cli("--help"),
        cli("info", str(VECTOR), "--json"),
        "import vqcodec.bench.worker",  # the classical codecs' timing process
    ],
    ids=["import", "container", "help", "info", "bench-worker"],
)
def test_no_torch(code):
    modules = loaded_modules(code)
    assert "vqcodec" in modules and "torch" not in modules


def reaches_for_torch(code: str) -> bool:
    """Whether ``code``, run in a fresh interpreter where torch cannot be imported, tried
    to import it (cheaper than importing it: the probe's process stays torch-free)."""
    block = (
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            print('reached for torch', file=sys.stderr)\n"
        "            raise ImportError('torch is blocked')\n"
        "sys.meta_path.insert(0, Refuse())\n"
    )
    probe = f"{block}try:\n    {code}\nexcept ImportError:\n    pass"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return "reached for torch" in out.stderr


def test_api_names_load_on_first_use():
    api = loaded_modules("import vqcodec; vqcodec.compress")
    assert "vqcodec.api" in api and "torch" not in api  # loaded when compress is called
    assert not reaches_for_torch("import vqcodec; vqcodec.get_model()")  # numpy loads it
    assert vqcodec.info is vqcodec.api.info and vqcodec.DEFAULT_MODEL == "vqcodec-base-v2"
    assert set(vqcodec.__all__) <= set(dir(vqcodec))
    with pytest.raises(AttributeError, match="no_such_name"):
        vqcodec.no_such_name  # noqa: B018
