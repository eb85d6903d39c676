"""Training on several processes (torchrun, DistributedDataParallel over gloo on the CPU)."""

from __future__ import annotations

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


def _worker(rank: int, folder: Path, tmp: Path, port: int) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2"
    )
    torch.set_num_threads(1)
    run = setup(folder, CFG, TINY)
    fit(run, tmp / "c.ckpt", tmp / "log.jsonl")
    check_replicas(run)
    result = {"digest": weights_digest(run.net), "crop": run.gen.initial_seed()}
    with torch.no_grad():  # a replica that differs must be caught
        run.net.decoder[-1].bias.add_(rank)
    try:
        check_replicas(run)
        result["caught"] = False
    except Exception as exc:  # VQCodecError, pickled names vary under spawn
        result["caught"] = "different weights" in str(exc)
    (tmp / f"rank{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


@pytest.mark.slow  # spawns processes
def test_two_gloo_ranks_end_with_identical_weights(tmp_path):
    mp.spawn(_worker, (_folder(tmp_path), tmp_path, _free_port()), nprocs=2)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["digest"] == r1["digest"]
    assert r0["crop"] != r1["crop"]  # each rank samples its own crops
    assert r0["caught"] and r1["caught"]
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]  # rank 0 alone logs


@pytest.mark.slow  # spawns processes
def test_torchrun_trains_and_resumes(tmp_path):
    out = tmp_path / "m.safetensors"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd += ["--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
    cmd += ["-m", "vqcodec", "train", "--data", str(_folder(tmp_path)), "--out", str(out)]
    cmd += ["--steps", "3", "--batch-size", "2", "--crop", "32", "--stages", "2"]
    cmd += ["--codebook-size", "16", "--latent-dim", "4", "--channels", "8,8,8"]
    cmd += ["--enc-blocks", "1", "--dec-blocks", "1", "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    first = subprocess.run([*cmd, "--time-limit", "1e-9"], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "stopped at step 1 of 3" in first.stderr
    second = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stderr.count("resuming from step 1") == 1  # rank 0 speaks
    from vqcodec.weights import load_model

    card = load_model(out).card
    assert card["ranks"] == 2 and card["steps_done"] == 3 and card["resumed_from"] == 1
