"""Model-file format 2: entropy tables stored as deflate streams, refused when crafted."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vqcodec import ModelMismatchError, VQCodecError
from vqcodec.model import VQVAE, ModelConfig
from vqcodec.registry import MODELS_DIR, SHIPPED_DIGESTS
from vqcodec.weights import FORMAT_TAG, FORMATS, deflate_bound, load_model, save_model

TINY = ModelConfig(
    channels=(8, 8, 8), latent_dim=4, stages=3, codebook_size=16, enc_blocks=1, dec_blocks=1
)
OLD, NEW = "vqcodec-model/1", "vqcodec-model/2"


def _tables(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain, context and left tables with values in every byte plane (up to 2^21)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 2**21, (3, 16))
    context = rng.integers(1, 300, (3, 16, 16))
    context[0, 0, :4] = [1, 255, 256, 2**21 - 1]
    left = rng.integers(1, 9, (2, 16, 16))
    return counts, context, left


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The same tiny model written in format 1 and format 2."""
    tmp = tmp_path_factory.mktemp("compact")
    torch.manual_seed(0)
    net = VQVAE(TINY)
    out = {}
    for fmt in (OLD, NEW):
        path = tmp / f"{fmt[-1]}.safetensors"
        counts, context, left = _tables()
        fp = save_model(path, "tiny", net, counts, {}, context, left, fmt=fmt)
        out[fmt] = path, fp
    return out


def _stored(path):
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}


def _rewrite(path, out, meta_update=None, tensor_update=None):
    meta, tensors = _stored(path)
    meta.update(meta_update or {})
    if tensor_update:
        tensor_update(tensors)
    save_file(tensors, str(out), metadata=meta)
    return out


def test_new_files_are_compact_and_read_back_identical_tables(files):
    assert FORMAT_TAG == NEW
    counts, context, left = _tables()
    old, new = (load_model(files[fmt][0]) for fmt in (OLD, NEW))
    for m in (old, new):
        assert np.array_equal(m.counts, counts)
        assert np.array_equal(m.context_counts, context)
        assert np.array_equal(m.left_counts, left)
    assert old.fingerprint == new.fingerprint == files[NEW][1] == files[OLD][1]
    for key in ("quantizer.codebooks", "decoder.0.weight"):
        assert torch.equal(old.net.state_dict()[key], new.net.state_dict()[key])
    meta, tensors = _stored(files[NEW][0])
    assert meta["format"] == NEW
    for key in ("entropy.counts", "entropy.context_counts", "entropy.left_counts"):
        assert tensors[key].dtype == torch.uint8 and tensors[key].dim() == 1
    assert files[NEW][0].stat().st_size < files[OLD][0].stat().st_size


# Each shipped file keeps the format it shipped in: v1 and v2 before format 2 existed.
SHIPPED_FORMATS = {
    "vqcodec-base-v1": OLD,
    "vqcodec-base-v2": OLD,
    "vqcodec-base-v3": NEW,
    "vqcodec-base-v4": NEW,
}


def test_shipped_models_keep_their_format_and_digests():
    assert set(SHIPPED_FORMATS) == set(SHIPPED_DIGESTS)
    for name, digest in SHIPPED_DIGESTS.items():
        path = MODELS_DIR / f"{name}.safetensors"
        with safe_open(str(path), framework="pt") as f:
            assert f.metadata()["format"] == SHIPPED_FORMATS[name]
        assert load_model(path).digest.hex() == digest


def _table(tensors, key, stream: bytes):
    tensors[key] = torch.tensor(list(stream), dtype=torch.uint8)


def _planes(arr) -> bytes:
    return np.ascontiguousarray(np.asarray(arr, "<i4").view(np.uint8).reshape(-1, 4).T).tobytes()


COUNTS_BYTES = 4 * 3 * 16
CRAFTED = {
    "garbage": (lambda t: _table(t, "entropy.counts", b"not deflate"), "not a deflate stream"),
    "inflates-too-far": (
        lambda t: _table(t, "entropy.counts", zlib.compress(bytes(COUNTS_BYTES + 1))),
        "does not hold exactly",
    ),
    "inflates-short": (
        lambda t: _table(t, "entropy.counts", zlib.compress(bytes(COUNTS_BYTES - 4))),
        "does not hold exactly",
    ),
    "truncated": (
        lambda t: _table(t, "entropy.counts", zlib.compress(_planes(np.ones((3, 16))))[:-3]),
        "does not hold exactly",
    ),
    "trailing": (
        lambda t: _table(t, "entropy.counts", zlib.compress(_planes(np.ones((3, 16)))) + b"x"),
        "does not hold exactly",
    ),
    "zero-counts": (
        lambda t: _table(t, "entropy.counts", zlib.compress(_planes(np.zeros((3, 16))))),
        "zero or negative counts",
    ),
    "too-long-for-its-table": (
        lambda t: _table(t, "entropy.counts", bytes(deflate_bound(COUNTS_BYTES) + 1)),
        r"has shape \[206\], the architecture needs \[3, 16\] as a uint8 deflate stream",
    ),
    "two-dimensional": (
        lambda t: t.update({"entropy.left_counts": t["entropy.left_counts"][None]}),
        "has shape",
    ),
    "int32-stream": (
        lambda t: t.update({"entropy.counts": t["entropy.counts"].int()}),
        "wrong type I32",
    ),
    "empty": (lambda t: _table(t, "entropy.counts", b""), "has shape"),
}


@pytest.mark.parametrize("case", CRAFTED)
def test_crafted_compact_tables_are_refused(files, tmp_path, case):
    alter, match = CRAFTED[case]
    bad = _rewrite(files[NEW][0], tmp_path / "bad.safetensors", tensor_update=alter)
    with pytest.raises(VQCodecError, match=match) as info:
        load_model(bad)
    assert "\n" not in str(info.value)


def test_another_stream_of_the_same_tables_is_caught_by_the_digest(files, tmp_path):
    """Deflate streams are not unique: a re-packed table decodes the same but is not the
    file that was recorded."""

    def repack(t):
        _table(t, "entropy.counts", zlib.compress(_planes(_tables()[0]), 1))

    bad = _rewrite(files[NEW][0], tmp_path / "bad.safetensors", tensor_update=repack)
    with pytest.raises(ModelMismatchError, match="weights digest"):
        load_model(bad)


@pytest.mark.parametrize(("relabel", "match"), [(OLD, "has shape"), ("vqcodec-model/9", "known")])
def test_formats_are_not_interchangeable(files, tmp_path, relabel, match):
    bad = _rewrite(files[NEW][0], tmp_path / "bad.safetensors", {"format": relabel})
    with pytest.raises(VQCodecError, match=match):
        load_model(bad)
    bad = _rewrite(files[OLD][0], tmp_path / "bad1.safetensors", {"format": NEW})
    with pytest.raises(VQCodecError, match="has shape"):
        load_model(bad)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_absurd_architecture_is_refused_from_the_header_in_every_format(files, tmp_path, fmt):
    """255 stages x 65,536 codes asked for by a small file: refused before allocating."""
    import resource

    config = '{"channels": [8, 8, 8], "codebook_size": 65536, "latent_dim": 4, "stages": 255}'
    bad = _rewrite(files[fmt][0], tmp_path / "huge.safetensors", {"config": config})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(VQCodecError, match="the architecture needs"):
        load_model(bad)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB
