"""Ship a finished training campaign as a new model, in one reviewed command.

A campaign is one entry in :data:`CAMPAIGNS`: the model it ships, the name its run writes,
and the shipped model it warm-starts from (its ``run.sh`` is ``benchmarks/campaigns/<key>/``).
From a finished run directory (``ckpt.safetensors`` at the last step, and the model file
``<run model>.safetensors`` that the run's last call wrote from it), into the checkout
``--repo`` (default: this one):

1. recount the entropy tables on all 49 training photos with ``vqcodec.train.count_tables``
   (the function every training run ends with; the run itself counted on photos 1-40);
2. write ``vqcodec/models/<name>.safetensors`` (model-file format 2), its card recording
   the warm-start chain (the starting model's chain, then this campaign) and the periods
   the run took;
3. add its weights digest to ``registry.SHIPPED_DIGESTS`` (``DEFAULT_MODEL`` is left
   alone: making a model the default is a separate commit, once the targets are met);
4. measure it: ``vqcodec bench`` on Kodak, ``benchmarks/heldout_rd.py`` on photos 41-49
   (against v2 and the starting model), codebook usage per stage at full quality on Kodak,
   FLOPs per pixel, and decode MP/s against v2 and the starting model side by side (6
   Kodak images at 0.75 bpp, one thread);
5. write the model card ``vqcodec/models/<name>.md`` (benchmarks/model_card.py);
6. write the test vectors (formats/vectors/make_vectors.py: the main and spec sets) and
   check that every vector, old and new, decodes (tests/test_vectors.py);
7. print issue 13's targets, met or not, and write them to ``ship-targets.json``.

    python benchmarks/campaigns/ship.py v4 /work/runs/train/v4 \
        --bench-out benchmarks/results/vqcodec-base-v4

(vqcodec-base-v3 was shipped by this script's first version, then
``benchmarks/campaigns/v3/ship.py RUN_DIR``: the same steps as ``ship.py v3 RUN_DIR``.)

``--unfinished`` ships a run that has not reached its last step (dry runs only), and
``--limit N`` benches only the first N Kodak images (dry runs only: the card then says so).
Every step runs with the package of ``--repo`` on ``PYTHONPATH``, so a dry run into a
scratch copy of the checkout touches nothing here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PHOTOS = Path("/work/shared/data/train")
KODAK = Path("/work/shared/data/kodak")
TRAIN_PHOTOS, VAL_PHOTOS = "photos 001-040", "photos 041-049"
CODES_USED = 0.9  # issue 13: every stage uses more than 90 % of its codes
V2 = "vqcodec-base-v2"  # what issue 13 measures every new model against


@dataclass(frozen=True)
class Campaign:
    """One training campaign: the model it ships, the name its run writes, where it starts."""

    key: str  # benchmarks/campaigns/<key>/ holds its run.sh and README.md
    name: str  # the shipped model
    run_model: str  # the model name (and file stem) its run writes
    init: str  # the shipped model it warm-starts from (--init-from)

    @property
    def against(self) -> list[str]:
        """The shipped models it is measured beside: v2, and the one it started from."""
        return list(dict.fromkeys([V2, self.init]))


CAMPAIGNS = {
    c.key: c
    for c in (
        Campaign("v3", "vqcodec-base-v3", "vqcodec-v3-campaign", V2),
        Campaign("v4", "vqcodec-base-v4", "vqcodec-v4-campaign", "vqcodec-base-v3"),
    )
}


def run_periods(run: Path) -> list[dict]:
    """The calls the run took (a fresh start, then one per "resuming from step N" in the
    run's ``*.out`` files, oldest first), each with its steps and training seconds (the
    log's cumulative ``seconds``)."""
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line]
    starts = [0]
    outs = sorted(run.glob("*.out"), key=lambda p: p.stat().st_mtime)
    for out in outs:
        text = out.read_bytes().decode("utf-8", "replace")
        starts += [int(s) for s in re.findall(r"resuming from step (\d+)", text)]
    starts = sorted(set(starts))

    def seconds_at(step: int) -> float:  # the last log line at or before ``step``
        return max((r["seconds"] for r in log if r["step"] <= step), default=0.0)

    ends = [*starts[1:], log[-1]["step"]]
    return [
        {"from_step": a, "to_step": b, "seconds": round(seconds_at(b) - seconds_at(a), 1)}
        for a, b in zip(starts, ends, strict=True)
    ]


def campaign_command(c: Campaign, train: dict, cfg: dict, threads: int) -> str:
    """The ``vqcodec train`` command of the campaign's run.sh, from the settings a run
    records (every setting that is not the default, and the folders)."""
    from vqcodec.cli import main as cli
    from vqcodec.config import ModelConfig, TrainConfig

    options = {p.name: p for p in cli.commands["train"].params}
    parts = [
        f"vqcodec train --data train40 --val val9 --init-from {c.init}",
        f"--out {c.run_model}.safetensors --name {c.run_model}",
        "--checkpoint ckpt.safetensors --log log.jsonl",
    ]
    defaults = {**TrainConfig().__dict__, **ModelConfig().__dict__}
    for key, value in {**cfg, **train}.items():
        default = defaults.get(key)
        if isinstance(default, tuple):
            default = list(default)
        if key in defaults and value != default and key != "holdout":
            flag = f"--{key.replace('_', '-')}"
            if isinstance(value, bool):  # the switch's own spelling (--untiled-encoder)
                switch = options[key]
                parts.append(switch.opts[0] if value else switch.secondary_opts[0])
            elif isinstance(value, list):
                parts.append(f"{flag} {','.join(map(str, value))}")
            else:
                parts.append(f"{flag} {value}")
    parts.append(f"--threads {threads} --time-limit MINUTES")
    return " ".join(parts)


def init_chain(name: str) -> list[dict]:
    """How the shipped model ``name`` was made: the warm-start chain its card records, or
    for a model trained from scratch (v1, v2) the one training command its card gives."""
    from vqcodec.registry import MODELS_DIR
    from vqcodec.weights import load_model

    chain = load_model(MODELS_DIR / f"{name}.safetensors").card.get("chain")
    if chain:
        return list(chain)
    card = (MODELS_DIR / f"{name}.md").read_text()
    found = re.search(r"```sh\n\s*(vqcodec train [^\n]+)\n", card)
    if found is None:
        raise SystemExit(f"{name}.md has no vqcodec train command")
    return [{"model": name, "command": found.group(1).strip()}]


def recount(c: Campaign, run: Path, photos: Path, out: Path, unfinished: bool) -> str:
    """Steps 1-2: the model file with tables on all photos; returns its weights digest."""
    import torch

    from vqcodec.model import TILE
    from vqcodec.train import checkpoint_info, count_tables, load_images
    from vqcodec.weights import load_model, save_model

    info = checkpoint_info(run / "ckpt.safetensors")
    campaign = load_model(run / f"{c.run_model}.safetensors")
    card = dict(campaign.card)
    if info is None or card.get("steps_done") != info["step"]:
        raise SystemExit(
            f"{run}: the model file is of step {card.get('steps_done')}, the checkpoint of "
            f"{None if info is None else info['step']}; rerun run.sh to write the model"
        )
    if info["step"] < info["train"]["steps"] and not unfinished:
        raise SystemExit(f"{run} stopped at step {info['step']} of {info['train']['steps']}")
    images = load_images(photos, TILE)
    t0 = time.monotonic()
    counts, context, left = count_tables(campaign.net, images)
    cfg = json.loads(campaign.net.cfg.to_json())
    card.update(
        train_images=f"{TRAIN_PHOTOS} of {photos} (weights), {VAL_PHOTOS} for validation",
        tables_counted_on=f"recounted on all {len(images)} photos of {photos} by ship.py "
        f"({time.monotonic() - t0:.0f} s)",
        periods=run_periods(run),
        chain=[
            *init_chain(c.init),
            {
                "model": c.run_model,
                "command": campaign_command(c, card["train"], cfg, card.get("threads", 1)),
                "script": f"benchmarks/campaigns/{c.key}/run.sh RUN_DIR MINUTES (rerun per period)",
                "steps": info["step"],
            },
            {"model": c.name, "command": f"python benchmarks/campaigns/ship.py {c.key} RUN_DIR"},
        ],
        torch=torch.__version__,
    )
    save_model(out, c.name, campaign.net, counts, card, context, left)
    return load_model(out).digest.hex()


def register(repo: Path, name: str, digest: str) -> None:
    """Step 3: the digest in ``SHIPPED_DIGESTS`` (replacing an earlier dry run's)."""
    path = repo / "vqcodec" / "registry.py"
    text = re.sub(rf'\n    "{name}": "[0-9a-f]+",', "", path.read_text())
    entry = f'    "{name}": "{digest}",\n'
    head, sep, tail = text.partition("SHIPPED_DIGESTS = {\n")
    if not sep:
        raise SystemExit(f"{path}: no SHIPPED_DIGESTS table")
    body, close, rest = tail.partition("}\n")
    path.write_text(head + sep + body + entry + close + rest)


def usage_on(name: str, folder: Path, limit: int | None) -> dict:
    """Codes used and perplexity per stage over the indices of top-quality files."""
    import numpy as np

    import vqcodec
    from vqcodec import codec, container
    from vqcodec.images import to_pixels
    from vqcodec.metrics import codebook_usage
    from vqcodec.train import IMAGE_SUFFIXES

    model = vqcodec.get_model(name)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    size = model.net.cfg.codebook_size
    hist = np.zeros((model.stages, size), dtype=np.int64)
    for path in files:
        pixels, _ = to_pixels(path)
        data = vqcodec.compress(pixels, model.stages, model=model)
        idx = codec.decode_streams(container.parse(data), model)
        hist += np.stack([np.bincount(i.ravel(), minlength=size) for i in idx])
    out = {"images": len(files), "folder": str(folder), "codes_used": [], "perplexity": []}
    for h in hist:
        perplexity, used = codebook_usage(h)
        out["codes_used"].append(used)
        out["perplexity"].append(round(perplexity, 1))
    return out


def decode_speed(names: list[str], folder: Path, limit: int, repeats: int = 3) -> dict:
    """Decode MP/s of the models ``names`` side by side in one process, one thread:
    each of the first ``limit`` images at 0.75 bpp by each model, best of ``repeats``
    decodes, the models alternating; medians over images."""
    import statistics

    import numpy as np
    import torch

    import vqcodec
    from vqcodec.images import to_pixels
    from vqcodec.train import IMAGE_SUFFIXES

    torch.set_num_threads(1)
    models = {n: vqcodec.get_model(n) for n in names}
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    rates: dict[str, list[float]] = {n: [] for n in models}
    for path in files:
        pixels, _ = to_pixels(path)
        data = {n: vqcodec.compress(pixels, target_bpp=0.75, model=m) for n, m in models.items()}
        best = dict.fromkeys(models, float("inf"))
        for _ in range(repeats):
            for n, m in models.items():
                t0 = time.perf_counter()
                np.asarray(vqcodec.decompress(data[n], model=m))
                best[n] = min(best[n], time.perf_counter() - t0)
        for n in models:
            rates[n].append(pixels.shape[0] * pixels.shape[1] / best[n] / 1e6)
    out = {n: round(statistics.median(r), 3) for n, r in rates.items()}
    return out | {"images": len(files), "bpp": 0.75, "threads": 1, "repeats": repeats}


def targets(bench: dict, usage: dict, flops: dict, size: int) -> list[dict]:
    """Issue 13's measurable targets, each with its value and whether it is met."""
    import numpy as np

    from vqcodec.bench import rdmetrics, summary

    rd = bench["rd"]
    curve = lambda name: summary.rd_curve(rd[name]["points"])  # noqa: E731
    vq = curve("vqcodec")
    row = next(r for r in bench["summary"]["rows"] if r["codec"] == "vqcodec")
    webp = rdmetrics.bd_rate(curve("webp"), vq) if "webp" in rd else None
    jpeg = row["bd_rate_vs_jpeg"]["percent"] if row.get("bd_rate_vs_jpeg") else None
    psnrs = [p["psnr"] for p in sorted(rd["vqcodec"]["points"], key=lambda p: p["setting"])]
    upper = list(np.diff(psnrs[(len(psnrs) - 1) // 2 :]))  # steps from the middle quality up
    at_025 = rdmetrics.quality_at_rate(*vq, 0.25)
    fewest = min(usage["codes_used"])
    found = [
        ("BD-rate against WebP < 0 % (aim <= -5 %)", webp and webp[0], lambda v: v < 0),
        ("BD-rate against JPEG <= -45 %", jpeg, lambda v: v <= -45),
        ("top quality >= 35.0 dB", max(psnrs), lambda v: v >= 35.0),
        (
            "each quality step above the middle adds >= 0.25 dB",
            min(upper) if upper else None,
            lambda v: v >= 0.25,
        ),
        ("PSNR at 0.25 bpp >= 28.6 dB", at_025, lambda v: v >= 28.6),
        ("decoder <= 1.5x v2's 89 kFLOP/pixel", flops["decoder"] / 1e3, lambda v: v <= 133.5),
        ("every stage uses > 90 % of its codes", fewest / size, lambda v: v > CODES_USED),
    ]
    return [{"target": t, "value": v, "met": v is not None and bool(ok(v))} for t, v, ok in found]


def sh(cmd: list[str], repo: Path, out: Path | None = None) -> str:
    """Run one step with the package of ``repo``; its output, echoed and returned."""
    print("+", " ".join(map(str, cmd)), flush=True)
    env = os.environ | {"PYTHONPATH": str(repo)}
    done = subprocess.run(
        [str(c) for c in cmd], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    sys.stderr.write(done.stderr[-3000:])
    if done.returncode:
        raise SystemExit(f"step failed ({done.returncode}): {' '.join(map(str, cmd))}")
    print(done.stdout, end="", flush=True)
    if out is not None:
        out.write_text(done.stdout)
    return done.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("campaign", choices=sorted(CAMPAIGNS), help="which campaign (CAMPAIGNS)")
    ap.add_argument("run", type=Path, help="the finished run directory")
    ap.add_argument("--repo", type=Path, default=HERE.parents[1], help="checkout to write")
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--kodak", type=Path, default=KODAK)
    ap.add_argument("--bench-out", type=Path, required=True, help="folder for bench results")
    ap.add_argument("--limit", type=int, default=None, help="first N Kodak images only")
    ap.add_argument("--codecs", default=None, help="vqcodec bench's --codecs [its default]")
    ap.add_argument("--unfinished", action="store_true", help="dry run on a stopped run")
    args = ap.parse_args()
    c = CAMPAIGNS[args.campaign]
    repo, run, out = args.repo.resolve(), args.run.resolve(), args.bench_out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    model_file = repo / "vqcodec" / "models" / f"{c.name}.safetensors"
    here = [py, repo / "benchmarks" / "campaigns" / "ship.py"]
    recounted = sh(
        [*here, "--step-recount", c.key, run, model_file, args.photos, str(args.unfinished)], repo
    )
    digest = recounted.split()[-1]
    register(repo, c.name, digest)
    print(f"{c.name}: {model_file.stat().st_size} bytes, weights digest {digest}")
    limit = [] if args.limit is None else ["--limit", str(args.limit)]
    codecs = [] if args.codecs is None else ["--codecs", args.codecs]
    threads = os.environ.get("OMP_NUM_THREADS", "1")
    sh(
        [py, "-m", "vqcodec", "bench", args.kodak, "--model", c.name, *codecs,
         "--out", out / "kodak", "--force", "--no-progress", "--threads", threads, *limit],
        repo,
    )  # fmt: skip
    against = [f"vqcodec/models/{n}.safetensors" for n in c.against]
    sh(
        [py, "benchmarks/heldout_rd.py", args.photos, *against, model_file],
        repo,
        out / "heldout.txt",
    )  # fmt: skip
    sh([*here, "--step-usage", c.key, args.kodak, out / "usage.json", str(args.limit or 0)], repo)
    speed_images = str(min(args.limit or 24, 6))
    sh([*here, "--step-speed", c.key, args.kodak, out / "decode-speed.json", speed_images], repo)
    sh([py, "benchmarks/flops.py", *c.against, c.name], repo, out / "flops.txt")
    note = (
        f"**Dry run**: the Kodak figures are of the first {args.limit} images only. "
        if args.limit
        else ""
    )
    card = sh(
        [py, "benchmarks/model_card.py", c.name, "--bench", out / "kodak" / "results.json",
         "--usage", out / "usage.json", "--heldout", out / "heldout.txt",
         "--flops", out / "flops.txt", "--speed", out / "decode-speed.json", "--note", note],
        repo,
    )  # fmt: skip
    model_file.with_suffix(".md").write_text(card)
    for which in ([], ["--spec"]):
        sh([py, "formats/vectors/make_vectors.py", c.name, *which], repo)
    sh([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_vectors.py"], repo)
    sh([*here, "--step-targets", c.key, out], repo)


def _flops(name: str, text: str) -> dict:
    """The encoder and decoder FLOPs per pixel of ``name`` from benchmarks/flops.py's output."""
    line = next(ln for ln in text.splitlines() if ln.startswith(name))
    enc, dec = re.findall(r"([\d.]+) kFLOP", line)[:2]
    return {"encoder": float(enc) * 1e3, "decoder": float(dec) * 1e3}


def step(argv: list[str]) -> None:
    """The steps that run inside ``--repo``'s package (called by :func:`main`)."""
    kind, c, rest = argv[0], CAMPAIGNS[argv[1]], argv[2:]
    if kind == "--step-recount":
        run, model_file, photos, unfinished = rest
        print(
            "weights digest",
            recount(c, Path(run), Path(photos), Path(model_file), unfinished == "True"),
        )
    elif kind == "--step-usage":
        folder, out, limit = rest
        usage = usage_on(c.name, Path(folder), int(limit) or None)
        Path(out).write_text(json.dumps(usage))
        print("codes used per stage:", usage["codes_used"])
    elif kind == "--step-speed":
        folder, out, limit = rest
        speed = decode_speed([*c.against, c.name], Path(folder), int(limit))
        Path(out).write_text(json.dumps(speed))
        print(f"decode MP/s at 0.75 bpp, one thread, {speed['images']} images: {speed}")
    elif kind == "--step-targets":
        out = Path(rest[0])
        bench = json.loads((out / "kodak" / "results.json").read_text())
        usage = json.loads((out / "usage.json").read_text())
        found = targets(bench, usage, _flops(c.name, (out / "flops.txt").read_text()), 256)
        (out / "ship-targets.json").write_text(json.dumps(found, indent=1))
        print(f"issue 13 targets for {c.name} (Kodak: {len(bench['meta']['images'])} images):")
        for t in found:
            value = "n/a" if t["value"] is None else f"{t['value']:.3f}"
            print(f"  [{'met' if t['met'] else 'NOT met'}] {t['target']}: {value}")
        print("all met" if all(t["met"] for t in found) else "not all met: do not make it default")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("--step-"):
        step(sys.argv[1:])
    else:
        main()
