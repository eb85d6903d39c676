"""benchmarks/campaigns/ship.py: the campaign table, recorded commands, periods, registry."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import shlex
import sys
from pathlib import Path

import pytest

from vqcodec.cli import main as cli
from vqcodec.config import ModelConfig, TrainConfig

ROOT = Path(__file__).parent.parent
SPEC = importlib.util.spec_from_file_location("ship", ROOT / "benchmarks/campaigns/ship.py")
ship = importlib.util.module_from_spec(SPEC)
sys.modules["ship"] = ship  # its dataclass looks its module up
SPEC.loader.exec_module(ship)


@pytest.mark.parametrize("key", sorted(ship.CAMPAIGNS))
def test_the_recorded_command_parses_to_the_run_settings(key):
    c = ship.CAMPAIGNS[key]
    train = TrainConfig(steps=24000, batch_size=8, crop=128, lr=1e-4, bf16=True, log_every=100)
    model = ModelConfig(latent_dim=64, stages=20, tiled_encoder=key == "v3")
    command = ship.campaign_command(
        c, dataclasses.asdict(train), json.loads(model.to_json()), threads=1
    )
    args = shlex.split(command.replace("MINUTES", "5"))[2:]
    ctx = cli.commands["train"].make_context("train", args, resilient_parsing=True)
    options = ctx.params
    assert (
        TrainConfig(**{f.name: options[f.name] for f in dataclasses.fields(TrainConfig)}) == train
    )
    got = ModelConfig(**{f.name: options[f.name] for f in dataclasses.fields(ModelConfig)})
    assert got == model and options["init_from"] == c.init
    assert options["name"] == c.run_model


def test_every_campaign_starts_from_a_shipped_model_and_ships_a_new_name():
    from vqcodec.registry import SHIPPED_DIGESTS

    for key, c in ship.CAMPAIGNS.items():
        assert c.init in SHIPPED_DIGESTS and (ROOT / f"benchmarks/campaigns/{key}/run.sh").exists()
        assert f"\ninit={c.init}\n" in (ROOT / f"benchmarks/campaigns/{key}/run.sh").read_text()
    names = [c.name for c in ship.CAMPAIGNS.values()]
    assert len(set(names)) == len(names)


def test_the_chain_of_a_warm_started_model_extends_its_starting_model_chain():
    v3 = ship.init_chain("vqcodec-base-v3")
    assert [step["model"] for step in v3] == [
        "vqcodec-base-v2", "vqcodec-v3-campaign", "vqcodec-base-v3"
    ]  # fmt: skip
    assert ship.init_chain("vqcodec-base-v2")[0]["command"].startswith("vqcodec train ")


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
    name = ship.CAMPAIGNS["v3"].name
    source = re.sub(rf'    "{name}": "[0-9a-f]+",\n', "", shipped)  # as before shipping
    registry.write_text(source)
    ship.register(tmp_path, name, "ab" * 32)
    ship.register(tmp_path, name, "cd" * 32)
    text = registry.read_text()
    assert text.count(name) == 1 and f'"{name}": "{"cd" * 32}",' in text
    assert text.replace(f'    "{name}": "{"cd" * 32}",\n', "") == source
