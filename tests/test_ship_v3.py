"""benchmarks/campaigns/v3/ship.py: the recorded command, periods and registry entry."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import shlex
from pathlib import Path

from vqcodec.cli import main as cli
from vqcodec.config import ModelConfig, TrainConfig

ROOT = Path(__file__).parent.parent
SPEC = importlib.util.spec_from_file_location("ship", ROOT / "benchmarks/campaigns/v3/ship.py")
ship = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(ship)


def test_the_recorded_command_parses_to_the_run_settings():
    train = TrainConfig(steps=24000, batch_size=8, crop=128, lr=1e-4, bf16=True, log_every=100)
    model = ModelConfig(latent_dim=64, stages=20)
    command = ship.campaign_command(
        dataclasses.asdict(train), json.loads(model.to_json()), threads=1
    )
    args = shlex.split(command.replace("MINUTES", "5"))[2:]
    ctx = cli.commands["train"].make_context("train", args, resilient_parsing=True)
    options = ctx.params
    assert (
        TrainConfig(**{f.name: options[f.name] for f in dataclasses.fields(TrainConfig)}) == train
    )
    got = ModelConfig(**{f.name: options[f.name] for f in dataclasses.fields(ModelConfig)})
    assert got == model and options["init_from"] == "vqcodec-base-v2"


def test_periods_follow_the_resumes_in_the_run_output(tmp_path):
    log = [{"step": s, "seconds": 2.0 * s} for s in range(100, 701, 100)]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    (tmp_path / "a.out").write_text("step 1\n")
    (tmp_path / "b.out").write_text("x\rresuming from step 400 (no optimizer state)\n")
    assert ship.run_periods(tmp_path) == [
        {"from_step": 0, "to_step": 400, "seconds": 800.0},
        {"from_step": 400, "to_step": 700, "seconds": 600.0},
    ]


def test_register_adds_or_replaces_the_digest_and_leaves_the_default(tmp_path):
    (tmp_path / "vqcodec").mkdir()
    registry = tmp_path / "vqcodec" / "registry.py"
    shipped = (ROOT / "vqcodec" / "registry.py").read_text()
    source = re.sub(rf'    "{ship.NAME}": "[0-9a-f]+",\n', "", shipped)  # as before shipping
    registry.write_text(source)
    ship.register(tmp_path, "ab" * 32)
    ship.register(tmp_path, "cd" * 32)
    text = registry.read_text()
    assert text.count(ship.NAME) == 1 and f'"{ship.NAME}": "{"cd" * 32}",' in text
    assert text.replace(f'    "{ship.NAME}": "{"cd" * 32}",\n', "") == source
