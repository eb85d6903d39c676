"""Mutations of valid .vqc files, shared by the fuzz tests and the long fuzz campaign."""

from __future__ import annotations

import struct

import numpy as np

from vqcodec.container import seal


def reseal(data: bytes) -> bytes:
    """Replace the trailing CRC-32 so an edit reaches past the checksum."""
    return seal(data[:-4])


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One random mutation: bit flips, truncation, random bytes, or extreme header fields."""
    buf = bytearray(data)
    header = 6 + buf[5] + 16 if len(buf) > 5 else len(buf)
    kind = rng.integers(5) if len(buf) > header + 32 else rng.integers(3)
    if kind == 0:
        for _ in range(rng.integers(1, 8)):
            i = rng.integers(len(buf) * 8)
            buf[i // 8] ^= 1 << (i % 8)
    elif kind == 1:
        buf = buf[: rng.integers(len(buf))]
    elif kind == 2:
        i = rng.integers(len(buf))
        buf[i : i + 8] = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
    elif kind == 3:
        offset = header + 4 * rng.integers(0, 6)
        value = int(rng.choice([0, 1, 2**31, 2**32 - 1, rng.integers(2**32)]))
        struct.pack_into("<I", buf, min(offset, len(buf) - 4), value)
    else:
        i = rng.integers(header, len(buf) - 4)
        buf[i] = int(rng.integers(256))
    out = bytes(buf)
    return reseal(out) if len(out) >= 4 and rng.integers(2) else out
