"""Render a shipped model's card (Markdown) from its file and measured results.

From an evaluate_model.py JSON (how the v1 and v2 cards were made):

    python benchmarks/model_card.py vqcodec-base-v1 benchmarks/results/vqcodec-base-v1-kodak.json \
        --command "vqcodec train ..." > vqcodec/models/vqcodec-base-v1.md

or from `vqcodec bench` results, a codebook usage JSON, heldout_rd.py's and flops.py's
output (benchmarks/campaigns/ship.py does this); the warm-start chain and the periods
of a campaign come from the model's own card:

    python benchmarks/model_card.py vqcodec-base-v3 --bench bench/results.json \
        --usage usage.json --heldout heldout.txt --flops flops.txt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import vqcodec
from vqcodec.bench import rdmetrics, summary
from vqcodec.weights import Model


def rd_table(result: dict) -> str:
    """The per-quality Markdown table of an evaluate_model.py result."""
    lines = [
        "| quality | mean bpp | mean PSNR (dB) | coded / ideal bits | ideal bits per index "
        "| encode s/image | decode s/image |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for lv in result["levels"]:
        lines.append(
            f"| {lv['quality']} | {lv['mean_bpp']:.4f} | {lv['mean_psnr']:.2f} "
            f"| {lv['payload_over_ideal']:.4f} | {lv['ideal_bits_per_index']:.2f} "
            f"| {lv['mean_encode_s']:.2f} | {lv['mean_decode_s']:.2f} |"
        )
    return "\n".join(lines)


def tables(model: Model) -> str:
    """What the model's entropy tables are, and how its file stores them."""
    stored = (
        "stored as int32"
        if model.file_format == "vqcodec-model/1"
        else "stored as deflate streams of their int32 byte planes (model-file format 2, "
        "formats/VQC.md)"
    )
    source = model.card.get("tables_counted_on", "over the whole training images")
    plain = f"add-one smoothed histograms of each stage's indices {source}, {stored}"
    if model.context_counts is None:
        return plain + " (`entropy.counts`); coder 1."
    neighbours = model.left_counts.shape[0]
    return (
        plain + ": `entropy.counts`, and context tables (`entropy.context_counts` [stages, "
        f"{model.net.cfg.codebook_size}, {model.net.cfg.codebook_size}], and "
        f"`entropy.left_counts` [{neighbours}, ...]): counts of (index above, index) and "
        "(index to the left, index) for stages 1-2, combined per index, and (previous "
        "stage's index, index) for later stages, each plus 256 pseudo-counts spread like the "
        "plain table. New files use coder 3 (above and left multiplied); files of coder 2 "
        "(above and left averaged), written before it, still decode (formats/VQC.md)."
    )


def where(card: dict) -> str:
    """Where training ran, as recorded in the model's card."""
    device = card.get("device", "cpu")
    if device == "cpu":
        return f"{card['threads']} CPU threads (this 2-core machine)"
    return f"one {device} GPU"


def training_data(card: dict) -> str:
    if "train_images" in card:
        return f"{card['train_images']}; entropy tables {card['tables_counted_on']}"
    return f"the {card['images']} photographs of `../shared/data/train`"


def recipe(train: dict) -> str:
    spike = f" and at {train['spike']}x its running mean" if train.get("spike") else ""
    bf16 = ", bf16 autocast for the convolutions" if train.get("bf16") else ""
    scale = train.get("grown_lr", 1.0)
    grown = f" ({scale}x for the residual blocks the warm start added)" if scale != 1.0 else ""
    # runs that record --spike also had the batch-relative dead-code threshold (same commit)
    dead = "1/64 of an even share of the stage's rows" if "spike" in train else "1"
    return (
        f"{train['steps']} steps, batch {train['batch_size']} random {train['crop']}x"
        f"{train['crop']} crops (mirrored){bf16}, Adam, peak lr {train['lr']}{grown} "
        f"({train['warmup']} warm-up steps, cosine decay to a tenth), gradient norm clipped "
        f"at {train.get('clip', 'n/a')}{spike}, loss `mse + {train['beta']} * commitment`, EMA "
        f"codebooks (decay 0.99, k-means init, dead codes below an EMA count of {dead} "
        f"replaced), quantizer dropout p = {train['dropout_p']} drawn per "
        f"{train.get('dropout_unit', 'example')}"
    )


def chain(card: dict) -> str:
    """The warm-start chain and the working periods of a campaign, from its card."""
    if "chain" not in card:
        return ""
    steps = "\n".join(
        f"{i}. **{c['model']}**: `{c['command']}`"
        + (f" ({c['steps']} steps; {c['script']})" if "steps" in c else "")
        for i, c in enumerate(card["chain"], 1)
    )
    periods = "\n".join(
        f"| {i} | {p['from_step']} | {p['to_step']} | {p['seconds'] / 60:.1f} "
        f"| {3600 * (p['to_step'] - p['from_step']) / max(p['seconds'], 1e-9):.0f} |"
        for i, p in enumerate(card.get("periods", []), 1)
    )
    return f"""
## Warm-start chain

{steps}

Training calls (one per working period; each resumes the checkpoint exactly), on
{where(card)}, torch {card.get("torch", "?")}:

| call | from step | to step | training minutes | steps per hour |
|---:|---:|---:|---:|---:|
{periods}
"""


def bench_rd(bench: dict) -> str:
    """vqcodec's per-quality table, its comparison figures and speed from `vqcodec bench`."""
    points = sorted(bench["rd"]["vqcodec"]["points"], key=lambda p: p["setting"])
    coding = {e["quality"]: e for e in bench.get("entropy_coding", [])}
    lines = [
        "| quality | mean bpp | mean PSNR (dB) | coded / ideal bits |",
        "|---:|---:|---:|---:|",
    ]
    for p in points:
        over = coding.get(p["setting"], {}).get("overhead_percent")
        ratio = "" if over is None else f"{1 + over / 100:.4f}"
        lines.append(f"| {p['setting']} | {p['bpp']:.4f} | {p['psnr']:.2f} | {ratio} |")
    row = next(r for r in bench["summary"]["rows"] if r["codec"] == "vqcodec")
    curve = lambda name: summary.rd_curve(bench["rd"][name]["points"])  # noqa: E731
    figures = []
    if row.get("bd_rate_vs_jpeg"):
        figures.append(f"BD-rate against JPEG 4:2:0 {row['bd_rate_vs_jpeg']['percent']:+.1f} %")
    if "webp" in bench["rd"]:
        webp = rdmetrics.bd_rate(curve("webp"), curve("vqcodec"))
        if webp is not None:
            figures.append(
                f"against WebP {webp[0]:+.1f} % (over {webp[1][0]:.1f}-{webp[1][1]:.1f} dB)"
            )
    figures += [
        f"PSNR at {r} bpp {v:.2f} dB" for r, v in row["psnr_at_bpp"].items() if v is not None
    ]
    figures.append(f"top quality {points[-1]['psnr']:.2f} dB at {points[-1]['bpp']:.3f} bpp")
    speed = bench.get("speed", {}).get("vqcodec")
    if speed:
        figures.append(
            f"decode {speed['decode_cpu_mp_per_s']:.2f} MP/s, encode "
            f"{speed['encode_cpu_mp_per_s']:.2f} MP/s (CPU time) at quality {speed['setting']} on "
            f"{speed['threads']} thread(s)"
        )
    return "\n".join(lines) + "\n\n" + "; ".join(figures) + "."


def usage_table(usage: dict, stages: int, size: int) -> str:
    return f"""| stage | {" | ".join(str(s + 1) for s in range(stages))} |
|---|{"---:|" * stages}
| codes used | {" | ".join(str(u) for u in usage["codes_used"])} |
| perplexity | {" | ".join(str(p) for p in usage["perplexity"])} |"""


def render(
    name: str,
    result: dict | None = None,
    command: str = "",
    note: str = "",
    bench: dict | None = None,
    usage: dict | None = None,
    heldout: str = "",
    flops: str = "",
    speed: dict | None = None,
) -> str:
    """The card: from an evaluate_model.py ``result``, or from ``bench`` (vqcodec bench's
    results.json) with ``usage`` (codes used per stage at full quality)."""
    model = vqcodec.get_model(name)
    card, cfg = model.card, model.net.cfg
    train = card["train"]
    val = card["final_val"]
    if result is not None:
        usage = result["usage_at_full_quality"]
        evaluate = "python benchmarks/evaluate_model.py ../shared/data/kodak"
        kodak = f"""Measured with `{evaluate} --model {name}
--out {result.get("_path", "...")}` on {result["threads"]} CPU thread(s).

{rd_table(result)}"""
        usage_on = f"Kodak at quality {cfg.stages}"
    else:
        images = len(bench["meta"]["images"])
        kodak = f"""Measured with `vqcodec bench ../shared/data/kodak --model {name}` on {images}
image(s), {bench["meta"]["options"]["threads"]} CPU thread(s), {bench["meta"]["date"]}.

{bench_rd(bench)}"""
        usage_on = f"{usage['images']} Kodak image(s) at quality {cfg.stages}"
    command_line = (
        f"""- **Command** (seeded; a checkpoint every {train.get("checkpoint_every", 500)} steps,
  rerun to resume):

  ```sh
  {command}
  ```
"""
        if command
        else "- **Commands**: the warm-start chain below.\n"
    )
    held = (
        f"""
## Photos 041-049 (held out from the weights; `benchmarks/heldout_rd.py`)

Ideal rate under the plain tables, uniform stages, mean bpp/PSNR at 1, 2, 3, 4, 6, 8, 12
and all stages (768x512 crops; vqcodec-base-v2 trained on these photos; the weights
shipped here did not, but their tables were counted on them too):

```
{heldout.strip()}
```
"""
        if heldout
        else ""
    )
    counted = "; ".join(flops.strip().splitlines())
    cost = f"\n- **FLOPs per pixel** (`benchmarks/flops.py`): {counted}" if flops else ""
    if speed:
        side = ", ".join(f"{n} {v} MP/s" for n, v in speed.items() if n.startswith("vqcodec"))
        cost += (
            f"\n- **Decoding speed**, side by side in one process on {speed['threads']} "
            f"thread(s) (median over {speed['images']} Kodak images at {speed['bpp']} bpp, "
            f"best of {speed['repeats']}): {side}"
        )
    return f"""# Model card: {name}

- **Codebook fingerprint** (in every .vqc header): `{model.fingerprint.hex()}`
- **Architecture**: encoder {
        "per 32x32 tile" if cfg.tiled_encoder else "over the whole image"
    } (5x5/2 conv, GDN, 4x4/2 conv, GDN, 4x4/2 conv,
  {cfg.enc_blocks} residual block(s), 3x3 conv) with channels {list(cfg.channels)}; latent
  grid at 1/8 with {cfg.latent_dim} values per position; residual VQ of {cfg.stages} stages x
  {cfg.codebook_size} codes; decoder mirrored (3x3 conv, {cfg.dec_blocks} residual block(s),
  three 4x4/2 transposed convs with inverse GDN) over the whole latent grid.
  {sum(p.numel() for p in model.net.parameters()) / 1e6:.2f} M parameters, stored as float16
  (codebooks float32).{cost}
- **Quality levels**: 1..{cfg.stages}. Quality 1 sends one residual stage per tile and
  {cfg.stages} all of them; in between, the encoder gives each 32x32 tile, or each 8x8
  block where that pays for its map, the number of stages that minimises its pixel
  error + mu * bits, and picks each depth's codes by beam search
  (vqcodec/ratecontrol.py); mu falls with quality along a ladder calibrated on training
  photos so that each quality step adds about a third more bits. The
  model's weights and tables do not depend on it.
- **Training data**: {training_data(card)}
  (attribution in that folder's SOURCES.md). Kodak was not used for training or tuning.
{command_line}- **Recipe**: {recipe(train)}.
- **Wall time**: {card["wall_seconds"] / 60:.1f} min of training on {where(card)}, without the
  final table pass.{" " + card["note"].capitalize() + "." if card.get("note") else ""}
- **Entropy tables**: {tables(model)}
- **Validation (16 fixed crops) at the end**, PSNR per number of stages:
  {val["psnr"]}
{chain(card)}
## Kodak (mean bpp of whole files, mean RGB PSNR)

{kodak}
{held}
Codebook usage on {usage_on} (codes used of {cfg.codebook_size}, perplexity):

{usage_table(usage, cfg.stages, cfg.codebook_size)}

{note}## Comparisons

How it compares with JPEG, WebP, JPEG 2000, AVIF and JPEG XL is measured by `vqcodec bench`
(see benchmarks/README.md) and summarised in the README.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("result", type=Path, nargs="?", help="an evaluate_model.py JSON")
    ap.add_argument("--command", default="")
    ap.add_argument("--bench", type=Path, help="vqcodec bench's results.json")
    ap.add_argument("--usage", type=Path, help="codes used per stage (JSON), with --bench")
    ap.add_argument("--heldout", type=Path, help="heldout_rd.py's output")
    ap.add_argument("--flops", type=Path, help="flops.py's output")
    ap.add_argument("--speed", type=Path, help="decode MP/s against v2 (JSON)")
    ap.add_argument("--note", default="", help="A paragraph added before the comparisons.")
    args = ap.parse_args()
    if (args.result is None) == (args.bench is None) or (args.bench and not args.usage):
        ap.error("give RESULT, or --bench with --usage")
    result = bench = usage = None
    if args.result:
        result = json.loads(args.result.read_text())
        result["_path"] = str(args.result)
    else:
        bench, usage = (json.loads(p.read_text()) for p in (args.bench, args.usage))
    note = args.note + "\n\n" if args.note else ""
    text = {k: v.read_text() if v else "" for k, v in (("h", args.heldout), ("f", args.flops))}
    speed = json.loads(args.speed.read_text()) if args.speed else None
    print(render(args.name, result, args.command, note, bench, usage, text["h"], text["f"], speed))


if __name__ == "__main__":
    main()
