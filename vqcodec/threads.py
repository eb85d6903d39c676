"""How many CPU threads the networks use: torch's setting by default (every core unless
the program set another), or as asked; without torch loaded, what torch would start with."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import VQCodecError


def _default() -> int:
    """torch's thread count when torch is loaded (the program may have set it), else what
    torch would start with: ``OMP_NUM_THREADS``, or one per CPU this process may use."""
    if "torch" in sys.modules:
        return sys.modules["torch"].get_num_threads()
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve(threads: int | None) -> int:
    """``threads`` checked (a positive integer), or torch's current thread count when
    None (torch starts with one per core)."""
    if threads is None:
        return _default()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise VQCodecError(f"threads must be a positive integer, got {threads!r}")
    return threads


@contextmanager
def using(threads: int) -> Iterator[None]:
    """Run torch on ``threads`` threads inside the block, then restore the setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
