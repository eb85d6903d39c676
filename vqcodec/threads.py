"""How many CPU threads the networks use: torch's setting by default (every core unless
the program set another), or as asked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .errors import VQCodecError


def resolve(threads: int | None) -> int:
    """``threads`` checked (a positive integer), or torch's current thread count when
    None (torch starts with one per core)."""
    if threads is None:
        return torch.get_num_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise VQCodecError(f"threads must be a positive integer, got {threads!r}")
    return threads


@contextmanager
def using(threads: int) -> Iterator[None]:
    """Run torch on ``threads`` threads inside the block, then restore the setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
