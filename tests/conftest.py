"""Shared fixtures: the shipped model, a tiny model for plumbing tests, and small test images.

Tests that need a shipped model's trained weights (rate, quality, compatibility) are
marked ``slow``; plumbing tests (modes, sizes, paths, CLI, errors) use ``tiny_model``,
which codes an image in milliseconds. ``python -m pytest -m "not slow"`` runs the fast tier.

Where pytest-xdist is installed (the test extra has it), a run of the whole test folder
(``python -m pytest``, with or without ``-m``) goes to one worker process per core, at
most four; naming files or tests runs them in this process, and ``-n 0`` always does.
"""

from __future__ import annotations

import gc
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

import vqcodec
from vqcodec.config import ModelConfig

if TYPE_CHECKING:
    from vqcodec.weights import Model

# torch is imported where it is used, not here: in a parallel run this file is also loaded
# by the process that only hands tests to the workers, which then starts them 2 s sooner.

TINY_NAME = "tiny-test"
TINY_CONFIG = ModelConfig(
    channels=(8, 8, 8), latent_dim=4, stages=6, codebook_size=16, enc_blocks=0, dec_blocks=0
)


MAX_WORKERS = 4

# Files whose tests share a costly first import, by the unit of work a parallel run makes of
# them, so that one worker alone pays it: a torch optimizer's first step imports
# torch._dynamo (about 1 s of CPU), the benchmark's plots and metrics matplotlib and scipy
# (0.8 s).
ONE_WORKER = {
    "tests/test_train.py": "optimizer",
    "tests/test_grow.py": "optimizer",
    "tests/test_bench.py": "plots",
}


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Spread a run of the whole folder over the cores (before xdist reads ``-n``). Each
    worker pays its own start (torch, collection: about 4 s of CPU), which pays off for the
    whole folder, not for a file or two; and the many tests that wait on a child process
    leave a core idle when run one after another."""
    option = config.option
    if getattr(option, "numprocesses", 0) is not None:  # no xdist, or -n given
        return
    if config.args_source is not pytest.Config.ArgsSource.TESTPATHS:
        return
    if option.collectonly or option.usepdb or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if cores and cores > 1:
        option.numprocesses = min(cores, MAX_WORKERS)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: without xdist, nothing calls it
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """xdist's ``load`` distribution, except that each unit of ``ONE_WORKER`` runs on one
    worker (the largest units first); every other test is a unit of its own. xdist's
    ``--dist loadgroup`` cannot do this under pytest 9.2 (pytest-xdist issue 1386)."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedImportsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return ONE_WORKER.get(nodeid.split("::", 1)[0], nodeid)

    return SharedImportsTogether(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Exempt what exists once the tests are collected (torch, OpenVINO, every module: some
    200,000 objects) from the cyclic garbage collector, which otherwise walks them all at
    each full collection; the objects the tests make are collected as usual."""
    gc.freeze()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Exempt everything from the interpreter's last collection at exit, which walks every
    object left (most of a second of CPU in a worker holding torch and OpenVINO objects,
    while xdist waits for the worker to end); the process frees its memory anyway."""
    gc.freeze()


def synthetic_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth, photo-like uint8 RGB image: gradients, soft blobs and mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3))
    for c in range(3):
        a, b = rng.uniform(-1, 1, 2)
        img[:, :, c] = 128 + 60 * (a * x / max(width, 1) + b * y / max(height, 1))
    for _ in range(4):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        r = rng.uniform(0.1, 0.4) * max(height, width)
        blob = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))
        img += blob[:, :, None] * rng.uniform(-60, 60, 3)
    img += rng.normal(0, 3, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def make_tiny_model(path: Path) -> None:
    """Write a 6-stage model of random weights (the default quality, 6, is its top).

    Its codebooks come from one training pass (k-means on the latents of four synthetic
    photos) and its plain and context tables from their indices, so it codes with coder 3
    like the shipped default; its decoder is untrained, so its pixels are poor.
    """
    import torch

    from vqcodec.model import VQVAE
    from vqcodec.train import count_tables
    from vqcodec.weights import round_weights, save_model

    torch.manual_seed(0)
    net = VQVAE(TINY_CONFIG)
    round_weights(net)
    images = [torch.from_numpy(synthetic_photo(64, 64, s)).permute(2, 0, 1) / 255 for s in range(4)]
    with torch.no_grad():
        full = torch.full((len(images),), TINY_CONFIG.stages)
        net(torch.stack(images), full, torch.Generator().manual_seed(0))
    counts, context, left = count_tables(net, images)
    save_model(path, TINY_NAME, net, counts, {"purpose": "tests"}, context, left)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """A ``.safetensors`` file of the tiny model (for ``--model`` on the command line)."""
    path = tmp_path_factory.mktemp("tiny") / f"{TINY_NAME}.safetensors"
    make_tiny_model(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path) -> Model:
    """The tiny model, loaded through the real loader."""
    from vqcodec.weights import load_model

    return load_model(tiny_model_path)


@pytest.fixture(autouse=True)
def one_torch_thread_in_the_fast_tier(request):
    """Tests of the fast tier run torch on one thread: their tensors (the tiny model's,
    small images) are so small that a second thread only adds synchronisation, which on a
    busy machine costs many times the work itself (test_ms_ssim: 3.7 s of CPU on two
    threads beside other work, 0.1 s on one). Tests that ask for threads still get them
    (``threads=2`` sets torch's count for the call). Slow tests keep torch's default, one
    thread per core, except in a worker of a parallel run, where the cores are taken."""
    if request.node.get_closest_marker("slow") and not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _stack_key(layers, weights, prefix, *settings) -> bytes:
    """A digest of what a compiled network depends on: its layers, their settings
    (strides, paddings, GDN's direction), every weight of the stack and how it is compiled."""
    h = hashlib.blake2b(repr((layers, prefix, settings)).encode())
    for name in sorted(weights):
        if name.startswith(f"{prefix}."):
            h.update(name.encode() + np.ascontiguousarray(weights[name]).tobytes())
    return h.digest()


@pytest.fixture(autouse=True, scope="session")
def one_openvino_compile_per_network():
    """Compile each network once for the whole run, as a process that loads a model once
    does. Each CLI test loads the tiny model's file again, and OpenVINO compiles a loaded
    network's stacks once per loaded copy: 88 compiles of the same few networks in the
    fast tier, at 0.1-0.3 s each. Copies of equal layers and weights share one compile
    here, which computes exactly what a fresh compile would."""
    from vqcodec import openvino_net

    real = getattr(openvino_net, "compile_stack", None)
    if real is None:  # the module changed shape: compile as it does
        yield
        return
    done: dict = {}

    def compile_stack(layers, weights, prefix, *settings):
        key = _stack_key(layers, weights, prefix, *settings)
        if key not in done:
            done[key] = real(layers, weights, prefix, *settings)
        return done[key]

    openvino_net.compile_stack = compile_stack
    try:
        yield
    finally:
        openvino_net.compile_stack = real


@pytest.fixture(scope="session")
def model() -> Model:
    """The shipped default model (tests using it are usually marked ``slow``)."""
    return vqcodec.get_model()


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    return synthetic_photo(75, 100)
