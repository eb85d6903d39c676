"""Coverage-guided fuzz targets for atheris, one per decoder layer.

Each target takes raw bytes and must end in success or a :class:`vqcodec.VQCodecError`;
any other exception, a hang (libFuzzer's ``-timeout``) or a memory blow-up
(``-rss_limit_mb``) is a crash. The targets are plain functions, so crash files replay
without atheris (tests/test_fuzz.py replays every file in tests/fuzz/corpus).

    python tests/fuzz/targets.py container tests/fuzz/corpus/container -runs=100000
    python tests/fuzz/targets.py --make-seeds   # rewrite the seed corpus

Targets: ``container`` (the .vqc parser; the targets re-seal the checksum so that
mutations reach the structure), ``depths`` (the version-3 depth stream),
``streams`` (coders 1-3 on small tables), ``model`` (the model-file loader) and
``decode`` (full decode with the shipped models).
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).parent / "corpus"
LIMIT = 1 << 16  # pixels: keeps a full decode to milliseconds
TARGETS: dict[str, Callable[[bytes], None]] = {}


def target(fn: Callable[[bytes], None]) -> Callable[[bytes], None]:
    TARGETS[fn.__name__] = fn
    return fn


def _reseal(data: bytes) -> bytes:
    """``data`` with its last 4 bytes replaced by the CRC-32 of the rest, so mutations
    reach past the checksum into the structure (the checksum itself is tested apart)."""
    if len(data) < 9:
        return data
    return data[:-4] + zlib.crc32(data[:-4]).to_bytes(4, "little")


def _words(data: bytes) -> np.ndarray:
    data = data[: len(data) // 4 * 4][:4096]
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


@target
def container(data: bytes) -> None:
    from vqcodec import VQCodecError
    from vqcodec.container import parse

    try:
        f = parse(_reseal(data), max_pixels=LIMIT)
    except VQCodecError:
        return
    assert f.width * f.height <= LIMIT and 1 <= f.stages <= 255


@target
def depths(data: bytes) -> None:
    """Bytes 0-2: rows, cols (1..16) and stages (2..15); the rest: the stream's words."""
    from vqcodec import VQCodecError
    from vqcodec.depthcode import decode

    if len(data) < 3:
        return
    rows, cols, stages = 1 + data[0] % 16, 1 + data[1] % 16, 2 + data[2] % 14
    try:
        d = decode(_words(data[3:]), (rows, cols), stages)
    except VQCodecError:
        return
    assert d.shape == (rows, cols) and d.min() >= 1 and d.max() <= stages


def _tables():
    from vqcodec import entropy

    rng = np.random.default_rng(7)
    counts = rng.integers(1, 1000, (3, 16))
    context = rng.integers(1, 1000, (3, 16, 16))
    left = rng.integers(1, 1000, (2, 16, 16))
    return entropy, counts, context, left


@target
def streams(data: bytes) -> None:
    """Byte 0: coder (1-3); 1: stage (0-2); 2, 3: rows, cols (1..12); 4: the seed of the
    present mask (0: everywhere); the rest: the stream's words."""
    from vqcodec import VQCodecError

    entropy, counts, context, left = _tables()
    if len(data) < 5:
        return
    coder, stage = 1 + data[0] % 3, data[1] % 3
    rows, cols = 1 + data[2] % 12, 1 + data[3] % 12
    present = np.ones((rows, cols), bool)
    if data[4]:
        present = np.random.default_rng(data[4]).random((rows, cols)) < 0.6
    words = _words(data[5:])
    try:
        if coder == 1:
            out = entropy.decode(words, counts[stage], int(present.sum()))
        else:
            t = entropy.Tables(
                counts[stage], context[stage], left[stage] if stage < 2 else None, coder == 3
            )
            previous = np.zeros((rows, cols), np.int32) if stage else None
            out = entropy.decode_stage(words, stage, t, previous, (rows, cols), present)
    except VQCodecError:
        return
    assert out.min(initial=0) >= 0 and out.max(initial=0) < 16


_MODEL_FILE = Path(tempfile.gettempdir()) / f"vqcodec-fuzz-model-{os.getpid()}.safetensors"


@target
def model(data: bytes) -> None:
    from vqcodec import VQCodecError
    from vqcodec.weights import load_model

    _MODEL_FILE.write_bytes(data)
    try:
        m = load_model(_MODEL_FILE)
    except VQCodecError:
        return
    finally:  # libFuzzer ends the process without unwinding: leave nothing behind
        _MODEL_FILE.unlink(missing_ok=True)
    assert m.counts.min() >= 1


@target
def decode(data: bytes) -> None:
    import vqcodec

    try:
        img = vqcodec.decompress(_reseal(data), max_pixels=LIMIT)
    except vqcodec.VQCodecError:
        return
    assert img.width * img.height <= LIMIT


def make_seeds() -> None:
    """Write the small seed corpus: valid files of every version, mode and coder, and
    the stream and model inputs they contain."""
    import torch

    import vqcodec
    from vqcodec import container as ct
    from vqcodec import depthcode
    from vqcodec.model import VQVAE, ModelConfig
    from vqcodec.weights import save_model

    rng = np.random.default_rng(0)
    vqc = []
    for h, w, c, q, model_name in [
        (16, 24, 3, 1, "vqcodec-base-v2"),
        (40, 33, 3, 6, "vqcodec-base-v2"),
        (17, 20, 1, 3, "vqcodec-base-v2"),
        (24, 40, 4, 2, "vqcodec-base-v2"),
        (1, 1, 3, 1, "vqcodec-base-v2"),
        (20, 30, 2, 4, "vqcodec-base-v1"),
        (40, 40, 3, 8, "vqcodec-base-v1"),
    ]:
        img = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
        vqc.append(vqcodec.compress(img.squeeze() if c == 1 else img, q, model=model_name))
    vqc.append(vqcodec.compress(rng.integers(0, 256, (40, 40, 3), np.uint8), 5, per_position=False))
    for name in ("container", "decode"):
        for i, data in enumerate(vqc):
            _seed(name, f"seed-{i}.vqc", data)
    for i, data in enumerate(vqc):
        f = ct.parse(data)
        if f.format_version == ct.VERSION_POSITIONS:
            words = depthcode.encode(ct.position_depths(f), f.stages)
            rows, cols = f.grid
            head = bytes([(rows - 1) % 16, (cols - 1) % 16, (f.stages - 2) % 14])
            _seed("depths", f"seed-{i}", head + words.astype("<u4").tobytes()[:4000])
    entropy, counts, context, left = _tables()
    for coder in (1, 2, 3):
        for stage in range(3):
            idx = rng.integers(0, 16, (6, 5)).astype(np.int32)
            if coder == 1:
                words = entropy.encode(idx, counts[stage])
            else:
                t = entropy.Tables(
                    counts[stage], context[stage], left[stage] if stage < 2 else None, coder == 3
                )
                words = entropy.encode_stage(
                    idx, stage, t, np.zeros((6, 5), np.int32) if stage else None
                )
            head = bytes([coder - 1, stage, 5, 4, 0])
            _seed("streams", f"seed-{coder}-{stage}", head + words.astype("<u4").tobytes())
    torch.manual_seed(0)
    tiny = ModelConfig(
        channels=(4, 4, 4), latent_dim=2, stages=2, codebook_size=4, enc_blocks=0, dec_blocks=0
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.safetensors"
        save_model(path, "tiny", VQVAE(tiny), np.ones((2, 4)), {})
        _seed("model", "seed-plain.safetensors", path.read_bytes())
        save_model(
            path, "tiny", VQVAE(tiny), np.ones((2, 4)), {}, np.ones((2, 4, 4)), np.ones((2, 4, 4))
        )
        _seed("model", "seed-context.safetensors", path.read_bytes())


# The modules each target runs, instrumented for coverage (with what they import): the
# parser's targets never import torch, so their processes start in a fraction of the time.
REACHES = {
    "container": ["vqcodec.container"],
    "depths": ["vqcodec.depthcode"],
    "streams": ["vqcodec.entropy"],
    "model": ["vqcodec.weights"],
    "decode": ["vqcodec.api", "vqcodec.codec", "vqcodec.depthcode", "vqcodec.weights"],
}


def _seed(name: str, file: str, data: bytes) -> None:
    (CORPUS / name).mkdir(parents=True, exist_ok=True)
    (CORPUS / name / file).write_bytes(data)


def main() -> None:
    if sys.argv[1:] == ["--make-seeds"]:
        make_seeds()
        return
    name, args = sys.argv[1], [sys.argv[0], *sys.argv[2:]]
    import atheris

    with atheris.instrument_imports(include=["vqcodec"]):
        for module in REACHES[name]:
            importlib.import_module(module)

    run = TARGETS[name]
    atheris.Setup(args, run)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
