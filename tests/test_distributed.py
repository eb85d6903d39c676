"""Training on several processes (torchrun, DistributedDataParallel over gloo on the CPU)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import synthetic_photo
from PIL import Image

from vqcodec.cli import main
from vqcodec.model import ModelConfig
from vqcodec.train import TrainConfig, check_replicas, fit, setup, weights_digest

TINY = ModelConfig(
    channels=(8, 8, 8), latent_dim=4, stages=2, codebook_size=16, enc_blocks=1, dec_blocks=1
)
CFG = TrainConfig(steps=3, batch_size=2, crop=32, log_every=1, checkpoint_every=1)
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _folder(tmp_path: Path) -> Path:
    d = tmp_path / "images"
    d.mkdir()
    for i in range(3):
        Image.fromarray(synthetic_photo(64, 80, seed=i)).save(d / f"{i}.png")
    return d


# The command line's options for the tiny model: both runs below use them.
TRAIN = ["--steps", "3", "--batch-size", "2", "--crop", "32", "--stages", "2"]
TRAIN += ["--codebook-size", "16", "--latent-dim", "4", "--channels", "8,8,8"]
TRAIN += ["--enc-blocks", "1", "--dec-blocks", "1", "--threads", "1"]


def _worker(rank: int, folder: Path, tmp: Path, port: int) -> None:
    """One of two ranks, started as torchrun starts them (its environment variables): first
    ``vqcodec train`` stopped by its time limit after step 1 (the run that torchrun
    resumes in the test), then the training API on the same process group."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank)
    )
    os.environ.update(WORLD_SIZE="2", LOCAL_WORLD_SIZE="2")
    torch.set_num_threads(1)
    argv = ["train", "--data", str(folder), "--out", str(tmp / "m.safetensors"), *TRAIN]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            main([*argv, "--time-limit", "1e-9"])
            code = 0
        except SystemExit as exit:
            code = exit.code
    result = {"cli": code, "cli_stderr": err.getvalue()}
    run = setup(folder, CFG, TINY)
    fit(run, tmp / "c.ckpt", tmp / "log.jsonl")
    check_replicas(run)
    result |= {"digest": weights_digest(run.net), "crop": run.gen.initial_seed()}
    with torch.no_grad():  # a replica that differs must be caught
        run.net.decoder[-1].bias.add_(rank)
    try:
        check_replicas(run)
        result["caught"] = False
    except Exception as exc:  # VQCodecError, pickled names vary under spawn
        result["caught"] = "different weights" in str(exc)
    (tmp / f"rank{rank}.json").write_text(json.dumps(result))
    # Neither rank tears its process group down while the other may still use it, and
    # the spawned process skips interpreter teardown: a rank once died in CI with
    # SIGABRT ("terminate called without an active exception", gloo's threads), place
    # unknown. torchrun's run below still tests a real exit, through its return code.
    dist.barrier()
    dist.destroy_process_group()
    print(f"rank {rank} done", file=sys.__stderr__, flush=True)
    sys.stdout.flush()
    os._exit(0)


@pytest.mark.slow  # spawns processes
def test_two_gloo_ranks_train_alike_and_torchrun_resumes(tmp_path):
    """Two ranks end with identical weights, each sampling its own crops, rank 0 alone
    logging, and a replica that differs is caught; the command line stops both ranks at
    its time limit, and torchrun resumes that run to its end. (One test: each process
    imports torch and torch._dynamo, some 4 s of CPU, so the runs share their processes.)"""
    folder = _folder(tmp_path)
    try:
        mp.spawn(_worker, (folder, tmp_path, _free_port()), nprocs=2)
    except mp.ProcessExitedException as exc:  # say how far the ranks got
        done = sorted(p.name for p in tmp_path.glob("rank*.json"))
        raise AssertionError(f"{exc}; results written by: {done}") from exc
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["cli"] == r1["cli"] == 0, r0["cli_stderr"][-2000:] + r1["cli_stderr"][-2000:]
    assert "stopped at step 1 of 3" in r0["cli_stderr"]
    assert r0["digest"] == r1["digest"]
    assert r0["crop"] != r1["crop"]  # each rank samples its own crops
    assert r0["caught"] and r1["caught"]
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]  # rank 0 alone logs

    out = tmp_path / "m.safetensors"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd += ["--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
    cmd += ["-m", "vqcodec", "train", "--data", str(folder), "--out", str(out), *TRAIN]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    second = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stderr.count("resuming from step 1") == 1  # rank 0 speaks
    from vqcodec.weights import load_model

    card = load_model(out).card
    assert card["ranks"] == 2 and card["steps_done"] == 3 and card["resumed_from"] == 1
