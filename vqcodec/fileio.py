"""Reading inputs and writing outputs safely.

Reads are bounded: a caller that knows the format's magic bytes has them checked before
anything else is read, and no input is read past the most bytes an input under the
pixel limit can take, so ``/dev/zero`` or a 2 GiB file of something else is refused
at once. Writes are atomic and exclusive: the bytes go to a temporary file beside the
target (with the umask's permissions), which is then hard-linked into place, so that
without ``force`` an existing file, directory or symlink (even a dangling one) is
never replaced and of two processes writing the same new path only one succeeds. With
``force`` the temporary file is renamed over the target. A failure, Ctrl-C or SIGTERM
(which the CLI turns into the same interrupt) removes the temporary file.
"""

from __future__ import annotations

import errno
import io
import os
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO

from .errors import FormatError, InputError, VQCodecError

STDIO = "-"
_CHUNK = 1 << 20
Source = str | Path | bytes | bytearray | memoryview | BinaryIO


def input_cap(max_pixels: int) -> int:
    """The most bytes an input under ``max_pixels`` can honestly take: 16 per pixel (a raw
    16-bit RGBA image holds 8, a .vqc of 255 stages of 24-bit codes about 12) plus 1 MiB."""
    return 16 * max_pixels + _CHUNK


def stdin() -> BinaryIO:
    """Standard input as a binary stream, or a one-line error where it is closed."""
    if sys.stdin is None or sys.stdin.closed:
        raise InputError("standard input is closed")
    return sys.stdin.buffer


def _read_stream(f: BinaryIO, limit: int, magic: bytes, what: str) -> bytes:
    try:
        head = _read_upto(f, len(magic), what)
        _check_magic(head, magic)
        rest = _read_upto(f, limit + 1 - len(head), what)
    except (OSError, ValueError) as exc:  # ValueError: a closed file
        raise InputError(f"cannot read {what}: {exc}") from exc
    if len(head) + len(rest) > limit:
        raise InputError(f"{what} is larger than {limit} bytes, more than the pixel limit allows")
    return head + rest


def _read_upto(f: BinaryIO, n: int, what: str) -> bytes:
    """Up to ``n`` bytes from ``f`` (fewer only at its end), in chunks of at most 1 MiB."""
    chunks, total = [], 0
    while total < n:
        part = f.read(min(_CHUNK, n - total))
        if not part:
            break
        if isinstance(part, str):
            raise InputError(f"cannot read {what} from a text stream: open it in binary mode")
        chunks.append(bytes(part))
        total += len(part)
    return b"".join(chunks)


def _check_magic(data: bytes, magic: bytes) -> None:
    if magic and data[: len(magic)] != magic:
        raise FormatError("not a .vqc file (bad magic bytes)")


def read_source(source: Source, limit: int, magic: bytes = b"", what: str = "input") -> bytes:
    """The bytes of ``source`` (bytes, a path or a binary file object), at most ``limit``
    of them, with ``magic`` (if given) checked before the rest is read."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_magic(data, magic)
        if len(data) > limit:
            raise InputError(
                f"{what} is larger than {limit} bytes, more than the pixel limit allows"
            )
        return data
    if isinstance(source, (str, Path)):
        try:
            with open(source, "rb") as f:
                return _read_stream(f, limit, magic, str(source))
        except OSError as exc:
            raise InputError(f"cannot read {source}: {exc.strerror or exc}") from exc
    if hasattr(source, "read"):
        return _read_stream(source, limit, magic, what)
    raise InputError(
        f"cannot read {what} from an object of type {type(source).__name__}: pass bytes, "
        "a path or a binary file object"
    )


def read_bytes(source: str, limit: int | None = None) -> bytes:
    """The bytes of a file, or of standard input for ``-``, at most ``limit`` (default:
    what an input under the default pixel limit can take)."""
    if limit is None:
        from .container import DEFAULT_MAX_PIXELS

        limit = input_cap(DEFAULT_MAX_PIXELS)
    return read_source(stdin() if source == STDIO else source, limit)


def default_output(source: str, suffix: str) -> str:
    """The output name when none is given. Compressing replaces INPUT's suffix with .vqc
    (``photo.png`` -> ``photo.vqc``; ``x.vqc`` -> ``x.vqc.vqc``); decompressing appends the
    image suffix (``photo.vqc`` -> ``photo.vqc.png``), so it never lands on the
    ``photo.png`` the file was made from. ``-`` stays ``-``."""
    if source == STDIO:
        return STDIO
    path = Path(source)
    if suffix == ".vqc" and path.suffix.lower() != ".vqc":
        return str(path.with_suffix(suffix))
    return str(path) + suffix


def check_writable(target: str, force: bool) -> None:
    """Refuse early (before any work) an output that names a directory, or that exists
    (a dangling symlink included) without ``force``."""
    if target == STDIO:
        return
    if target.endswith(("/", os.sep)) or Path(target).is_dir():
        raise VQCodecError(f"{target} is a directory; give the output a file name")
    if os.path.lexists(target) and not force:
        raise VQCodecError(f"{target} exists; pass --force to overwrite it")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_stdout(data: bytes) -> None:
    """Write ``data`` to standard output, unbuffered where it is a real file descriptor,
    so a full disk or closed pipe is a one-line error with nothing left to fail at exit."""
    if sys.stdout is None:
        raise VQCodecError("cannot write to standard output: it is closed")
    try:
        sys.stdout.flush()
        try:
            fd = sys.stdout.fileno()
        except (AttributeError, io.UnsupportedOperation):  # a captured stream (tests)
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise VQCodecError(f"cannot write to standard output: {exc.strerror or exc}") from exc


def _publish(tmp: str, path: Path, force: bool) -> None:
    """Put ``tmp`` at ``path``: a rename with ``force``, else a hard link, which fails if
    anything is there already (the exclusive step), then the temporary name is dropped."""
    if force:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path, follow_symlinks=False)
    except FileExistsError:
        raise VQCodecError(f"{path} exists; pass --force to overwrite it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        _write_exclusive(tmp, path)  # a file system without hard links
    os.unlink(tmp)


def _write_exclusive(tmp: str, path: Path) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise VQCodecError(f"{path} exists; pass --force to overwrite it") from None
    try:
        with os.fdopen(fd, "wb") as f, open(tmp, "rb") as src:
            f.write(src.read())
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def write_bytes(target: str, data: bytes, force: bool) -> None:
    """Write ``data`` to ``target`` atomically and exclusively unless ``force`` (see the
    module docstring), or to standard output for ``-``."""
    if target == STDIO:
        write_stdout(data)
        return
    check_writable(target, force)
    path = Path(target)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, path, force)
        tmp = None
    except OSError as exc:
        raise VQCodecError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
