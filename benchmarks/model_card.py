"""Render a shipped model's card (Markdown) from its file and a measured evaluation JSON.

    python benchmarks/model_card.py vqcodec-base-v1 benchmarks/results/vqcodec-base-v1-kodak.json \
        --command "vqcodec train ..." > vqcodec/models/vqcodec-base-v1.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import vqcodec
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
    """What the model's entropy tables are."""
    plain = (
        "add-one smoothed histograms of each stage's indices over the whole training images, "
        "stored as int32 (`entropy.counts`)"
    )
    if model.context_counts is None:
        return plain + "; coder 1."
    return (
        plain + ", and context tables (`entropy.context_counts`, int32 [stages, 256, 256], "
        "and `entropy.left_counts`, int32 [2, 256, 256]): counts of (index above, index) and "
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


def render(name: str, result: dict, command: str, note: str = "") -> str:
    model = vqcodec.get_model(name)
    card, cfg = model.card, model.net.cfg
    train = card["train"]
    usage = result["usage_at_full_quality"]
    val = card["final_val"]
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
  (codebooks float32).
- **Quality levels**: 1..{cfg.stages}. Quality 1 sends one residual stage per tile and
  {cfg.stages} all of them; in between, the encoder gives each 32x32 tile, or each 8x8
  block where that pays for its map, the number of stages that minimises its pixel
  error + mu * bits, and picks each depth's codes by beam search
  (vqcodec/ratecontrol.py); mu falls with quality along a ladder calibrated on training
  photos so that each quality step adds about a third more bits. The
  model's weights and tables do not depend on it.
- **Training data**: the {card["images"]} photographs of `../shared/data/train`
  (attribution in that folder's SOURCES.md). Kodak was not used for training or tuning.
- **Command** (seeded; a checkpoint every 500 steps, rerun to resume):

  ```sh
  {command}
  ```

- **Recipe**: {train["steps"]} steps, batch {train["batch_size"]} random {train["crop"]}x{
        train["crop"]
    } crops (mirrored), Adam, peak lr {train["lr"]} ({train["warmup"]} warm-up steps, cosine
  decay to a tenth), gradient norm clipped at {train.get("clip", "n/a")}, loss
  `mse + {train["beta"]} * commitment`, EMA codebooks (decay 0.99, k-means init, dead codes
  below an EMA count of 1 replaced), quantizer dropout p = {train["dropout_p"]} drawn per
  {train.get("dropout_unit", "example")}.
- **Wall time**: {card["wall_seconds"] / 60:.1f} min on {where(card)}, without the final
  table pass.{" " + card["note"].capitalize() + "." if card.get("note") else ""}
- **Entropy tables**: {tables(model)}
- **Validation (16 fixed training crops) at the end**, PSNR per number of stages:
  {val["psnr"]}

## Kodak (all 24 images; mean bpp of whole files, mean RGB PSNR)

Measured with `python benchmarks/evaluate_model.py ../shared/data/kodak --model {name}
--out {result.get("_path", "...")}` on {result["threads"]} CPU thread(s).

{rd_table(result)}

Codebook usage on Kodak at quality {cfg.stages} (codes used of {cfg.codebook_size},
perplexity):

| stage | {" | ".join(str(s + 1) for s in range(cfg.stages))} |
|---|{"---:|" * cfg.stages}
| codes used | {" | ".join(str(u) for u in usage["codes_used"])} |
| perplexity | {" | ".join(str(p) for p in usage["perplexity"])} |

{note}## Comparisons

How it compares with JPEG, WebP, JPEG 2000, AVIF and JPEG XL is measured by `vqcodec bench`
(see benchmarks/README.md) and summarised in the README.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("result", type=Path)
    ap.add_argument("--command", required=True)
    ap.add_argument("--note", default="", help="A paragraph added before the comparisons.")
    args = ap.parse_args()
    result = json.loads(args.result.read_text())
    result["_path"] = str(args.result)
    note = args.note + "\n\n" if args.note else ""
    print(render(args.name, result, args.command, note))


if __name__ == "__main__":
    main()
