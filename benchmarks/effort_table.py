"""Effort levels on a folder of photos (Kodak), and vqcodec's speed beside WebP, AVIF, JPEG XL.

1. The effort table: for each effort, every image at ``--qualities``: bpp, PSNR and the
   encode time (wall and CPU, in this process, on ``--threads`` threads); per effort the
   median encode MP/s at the default quality and the BD-rate in PSNR against the highest
   effort (mean curves over the images). The highest effort writes the files of earlier
   releases, so ``--highest-from`` can take its points from an earlier
   ``evaluate_model.py`` run of them (checked by re-encoding ``--check`` images, whose
   sizes must match), which saves most of the run.
2. The speed table, in the same run: encode and decode MP/s of vqcodec (at quality
   ``--speed-quality`` and the efforts in ``--speed-efforts``, ``--threads`` threads) and
   of WebP, AVIF and JPEG XL (single-threaded, at the settings nearest 0.75 bpp on
   Kodak), each in its own child process (vqcodec.bench.speed.run_worker). ``--rd-from``
   and ``--speed-from`` take either table from an earlier ``--out``, so the two can be
   measured apart (the RD points on one thread in the background, the speed on a quiet
   machine).

    python benchmarks/effort_table.py ../shared/data/kodak --out benchmarks/results/effort.json \\
        --highest-from benchmarks/results/vqcodec-base-v2-kodak.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

import vqcodec
from vqcodec import effort as efforts
from vqcodec.bench.images import image_paths
from vqcodec.bench.rdmetrics import bd_rate
from vqcodec.bench.speed import run_worker, summarize
from vqcodec.images import to_pixels
from vqcodec.metrics import psnr

CLASSICAL = {"webp": 65, "avif": 60, "jxl": 2.8}  # nearest 0.75 bpp on Kodak (results.json)


def encode_points(model, rgb: np.ndarray, level: int, qualities, threads: int) -> list[dict]:
    """bpp, PSNR and encode wall/CPU seconds of ``rgb`` at each quality and effort ``level``."""
    out = []
    for q in qualities:
        wall, cpu = time.perf_counter(), time.process_time()
        data = vqcodec.compress(rgb, q, model=model, effort=level, threads=threads)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        back = np.asarray(vqcodec.decompress(data, model=model, threads=threads))
        n = rgb.shape[0] * rgb.shape[1]
        out.append(
            {
                "quality": q,
                "bytes": len(data),
                "bpp": 8 * len(data) / n,
                "psnr": psnr(rgb, back),
                "encode_wall_s": wall,
                "encode_cpu_s": cpu,
            }
        )
    return out


def stored_points(path: Path, names: list[str], qualities) -> dict[str, list[dict]]:
    """Per image, the highest effort's points from an evaluate_model.py result."""
    levels = {lv["quality"]: lv for lv in json.loads(path.read_text())["levels"]}
    out = {}
    for name in names:
        out[name] = []
        for q in qualities:
            row = next(r for r in levels[q]["images"] if r["image"] == name)
            out[name].append(
                {"quality": q, "bytes": row["bytes"], "bpp": row["bpp"], "psnr": row["psnr"]}
            )
    return out


def mean_curve(points: dict[str, list[dict]]) -> tuple[list[float], list[float]]:
    rows = list(points.values())
    bpp = [float(np.mean([r[i]["bpp"] for r in rows])) for i in range(len(rows[0]))]
    quality = [float(np.mean([r[i]["psnr"] for r in rows])) for i in range(len(rows[0]))]
    return bpp, quality


def speed_jobs(paths: list[Path], args) -> dict[str, dict]:
    """One timing job per classical codec and per vqcodec effort, run in child processes."""
    images = [str(p) for p in paths[: args.speed_images]]
    out = {}
    for name, setting in CLASSICAL.items():
        job = {"codec": name, "setting": setting, "threads": 1, "device": "cpu"}
        out[name] = run_worker({**job, "images": images, "repeats": args.repeats}, 1)
    settings = dict(CLASSICAL)
    for level in args.speed_efforts:
        for precision in ("auto", "f32") if level == efforts.DEFAULT else ("auto",):
            job = {"codec": "vqcodec", "setting": args.speed_quality, "threads": args.threads}
            job.update(device="cpu", model=None, effort=level, images=images)
            job.update(repeats=args.repeats, precision=precision)
            name = f"vqcodec-e{level}" + ("" if precision == "auto" else "-f32-decode")
            out[name] = run_worker(job, args.threads)
            settings[name] = args.speed_quality
    result = {}
    for name, raw in out.items():
        result[name] = summarize(raw)
        if "error" not in raw:
            rows = raw["images"]
            bpp = np.mean([8 * r["bytes"] / r["pixels"] for r in rows])
            result[name].update(setting=settings[name], bpp=float(bpp))
    return result


def rd_points(args, model, pixels: dict[str, np.ndarray], qualities) -> dict:
    """Per effort and image, the points of :func:`encode_points`."""
    rd: dict[int, dict[str, list[dict]]] = {}
    for level in [int(e) for e in args.efforts.split(",")]:
        rd[level] = {}
        for name, rgb in pixels.items():
            rd[level][name] = encode_points(model, rgb, level, qualities, args.threads)
            print(
                f"effort {level} {name}: {[round(p['bpp'], 3) for p in rd[level][name]]}",
                flush=True,
            )
    top = efforts.HIGHEST
    if args.highest_from:
        rd[top] = stored_points(args.highest_from, list(pixels), qualities)
        for name in list(pixels)[: args.check]:
            fresh = encode_points(model, pixels[name], top, qualities, args.threads)
            if [p["bytes"] for p in fresh] != [p["bytes"] for p in rd[top][name]]:
                raise SystemExit(f"{name}: the highest effort no longer writes the stored files")
            for stored, new in zip(rd[top][name], fresh, strict=True):
                stored.update(encode_wall_s=new["encode_wall_s"], encode_cpu_s=new["encode_cpu_s"])
    elif top not in rd:
        rd[top] = {
            n: encode_points(model, rgb, top, qualities, args.threads) for n, rgb in pixels.items()
        }
    return rd


def effort_rows(rd: dict, pixels: dict[str, np.ndarray], qualities) -> list[dict]:
    """Per effort: BD-rate against the highest, median encode MP/s and CPU s where timed."""
    reference = mean_curve(rd[efforts.HIGHEST])
    default_q = qualities.index(6) if 6 in qualities else len(qualities) // 2
    table = []
    for level in sorted(rd):
        timed = [(n, pts[default_q]) for n, pts in rd[level].items()]
        timed = [(n, p) for n, p in timed if "encode_wall_s" in p]
        rate = [
            pixels[n].shape[0] * pixels[n].shape[1] / 1e6 / p["encode_wall_s"] for n, p in timed
        ]
        entry = {
            "effort": level,
            "bd_rate_vs_highest": bd_rate(reference, mean_curve(rd[level]))[0],
            "images_timed": len(timed),
            "encode_wall_mp_per_s": float(np.median(rate)) if rate else None,
            "encode_cpu_s": float(np.median([p["encode_cpu_s"] for _, p in timed]))
            if timed
            else None,
        }
        table.append(entry)
        print(entry, flush=True)
    return table


def bf16_decode_cost(model, pixels: dict[str, np.ndarray], quality: int, threads: int) -> dict:
    """Mean PSNR of the default effort's files at ``quality`` decoded in float32 and in
    bf16 (``decompress(precision="bf16")``), over ``pixels``."""
    rows = []
    for rgb in pixels.values():
        data = vqcodec.compress(rgb, quality, model=model, threads=threads)
        exact, fast = (
            np.asarray(vqcodec.decompress(data, model=model, threads=threads, precision=p))
            for p in ("f32", "bf16")
        )
        rows.append((psnr(rgb, exact), psnr(rgb, fast), psnr(exact, fast)))
    f32, bf16, between = (float(np.mean(c)) for c in zip(*rows, strict=True))
    return {
        "quality": quality,
        "images": len(rows),
        "psnr_f32": f32,
        "psnr_bf16": bf16,
        "psnr_bf16_vs_f32": between,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--images", type=int, default=None, help="first N images only")
    ap.add_argument("--qualities", default="2,4,6,8,10")
    ap.add_argument("--efforts", default="1,2,3,4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--highest-from", type=Path, default=None)
    ap.add_argument("--check", type=int, default=2, help="images re-encoded at the highest effort")
    ap.add_argument(
        "--rd-from", type=Path, default=None, help="take the RD points from an earlier --out"
    )
    ap.add_argument(
        "--speed-from", type=Path, default=None, help="take the speed table from an earlier --out"
    )
    ap.add_argument("--speed-images", type=int, default=6, help="0: no speed table")
    ap.add_argument("--speed-quality", type=int, default=10)
    ap.add_argument("--speed-efforts", default="1,3,5")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    args.speed_efforts = [int(e) for e in args.speed_efforts.split(",")]
    torch.set_num_threads(args.threads)
    model = vqcodec.get_model()
    paths = image_paths(args.folder, args.images)
    pixels = {p.name: to_pixels(p)[0][:, :, :3] for p in paths}
    if args.rd_from:
        earlier = json.loads(args.rd_from.read_text())
        qualities, rd = earlier["qualities"], {int(k): v for k, v in earlier["rd"].items()}
        rd_threads, rd_load = earlier["rd_threads"], earlier["rd_load_average"]
        pixels = {n: pixels[n] for n in rd[efforts.HIGHEST]}
    else:
        qualities = [int(q) for q in args.qualities.split(",")]
        rd = rd_points(args, model, pixels, qualities)
        rd_threads, rd_load = args.threads, os.getloadavg()
    table = effort_rows(rd, pixels, qualities)
    speed = speed_jobs(paths, args) if args.speed_images and not args.speed_from else {}
    decode_cost = None
    if args.speed_from:  # its speed figures, settings and load as they were measured
        earlier = json.loads(args.speed_from.read_text())
        speed, decode_cost = earlier["speed"], earlier["bf16_decode"]
        for key in ("threads", "speed_images", "speed_quality", "repeats"):
            setattr(args, key, earlier[key])
        load = earlier["load_average"]
    elif args.speed_images:
        first = {n: pixels[n] for n in list(pixels)[: args.speed_images]}
        decode_cost = bf16_decode_cost(model, first, args.speed_quality, args.threads)
        print(decode_cost, flush=True)
    for name, s in speed.items():
        if "error" in s:
            print(name, s["error"])
            continue
        enc, dec = s["encode_wall_mp_per_s"], s["decode_wall_mp_per_s"]
        print(f"{name}: encode {enc:.2f} MP/s, decode {dec:.2f} MP/s")
    result = {
        "folder": str(args.folder),
        "images": len(pixels),
        "qualities": qualities,
        "rd_threads": rd_threads,
        "rd_load_average": rd_load,
        "threads": args.threads,
        "load_average": load if args.speed_from else os.getloadavg(),
        "speed_images": args.speed_images,
        "speed_quality": args.speed_quality,
        "repeats": args.repeats,
        "effort_table": table,
        "bf16_decode": decode_cost,
        "speed": {k: {x: y for x, y in v.items() if x != "per_image"} for k, v in speed.items()},
        "rd": {str(k): v for k, v in rd.items()},
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))


def markdown(result: dict) -> str:
    """The two tables of ``result`` as markdown."""
    load = ", ".join(f"{x:.1f}" for x in result["rd_load_average"])
    lines = [
        f"Effort levels on {result['images']} images of {result['folder']}, qualities "
        f"{result['qualities']}, encoded on {result['rd_threads']} thread(s), load average "
        f"{load}; BD-rate in PSNR against the highest effort.",
        "",
        "| effort | BD-rate vs highest | encode MP/s (wall, quality 6) | encode CPU s |",
        "|---:|---:|---:|---:|",
    ]
    for e in result["effort_table"]:
        rate = "" if e["encode_wall_mp_per_s"] is None else f"{e['encode_wall_mp_per_s']:.3f}"
        cpu = "" if e["encode_cpu_s"] is None else f"{e['encode_cpu_s']:.2f}"
        lines.append(f"| {e['effort']} | {e['bd_rate_vs_highest']:+.2f} % | {rate} | {cpu} |")
    if result["speed"]:
        load = ", ".join(f"{x:.1f}" for x in result["load_average"])
        lines += [
            "",
            f"Speed, median over {result['speed_images']} images, vqcodec on "
            f"{result['threads']} threads at quality {result['speed_quality']}, the others "
            f"single-threaded, each in its own process, best of {result.get('repeats', 1)} "
            f"runs (load average {load}):",
            "",
            "| codec | setting | bpp | encode MP/s | decode MP/s |",
            "|---|---:|---:|---:|---:|",
        ]
    for name, s in result["speed"].items():
        if "error" in s:
            lines.append(f"| {name} | error: {s['error']} | | | |")
            continue
        lines.append(
            f"| {name} | {s.get('setting', '')} | {s.get('bpp', float('nan')):.3f} "
            f"| {s['encode_wall_mp_per_s']:.3f} "
            f"| {s['decode_wall_mp_per_s']:.3f} |"
        )
    cost = result.get("bf16_decode")
    if cost:
        lines += [
            "",
            f"Decoding in bf16 (`--precision bf16`) on {cost['images']} images at quality "
            f"{cost['quality']}, default effort: mean PSNR {cost['psnr_bf16']:.3f} dB against "
            f"{cost['psnr_f32']:.3f} dB in float32 "
            f"({cost['psnr_bf16'] - cost['psnr_f32']:+.3f} dB; "
            f"{cost['psnr_bf16_vs_f32']:.1f} dB between the two).",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
