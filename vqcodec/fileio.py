"""Reading inputs and writing outputs safely: ``-`` for stdin/stdout, no overwriting
without ``force``, and atomic writes (a temporary file, then a rename) so a failure
or Ctrl-C never leaves a partial file or damages an existing one.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from .errors import VQCodecError

STDIO = "-"


def read_bytes(source: str) -> bytes:
    """The bytes of a file, or of standard input for ``-``."""
    if source == STDIO:
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise VQCodecError(f"cannot read {source}: {exc.strerror or exc}") from exc


def check_writable(target: str, force: bool) -> None:
    """Refuse early (before any work) to overwrite an existing file without ``force``."""
    if target != STDIO and Path(target).exists() and not force:
        raise VQCodecError(f"{target} exists; pass --force to overwrite it")


def write_bytes(target: str, data: bytes, force: bool) -> None:
    """Write ``data`` to ``target`` atomically, or to standard output for ``-``."""
    if target == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    check_writable(target, force)
    path = Path(target)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise VQCodecError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
