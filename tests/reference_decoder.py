"""A second .vqc decoder, written from formats/VQC.md alone.

Plain numpy and constriction, the model file read with ``safetensors.numpy``; nothing
of vqcodec is imported, so this decoder shows what the spec text lets another
implementation reproduce: the entropy-decoded indices and the pixels. Validation is
left to vqcodec's parser (the vectors' refusals are checked there); this decoder reads
only files that are valid.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import constriction
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from safetensors import safe_open

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def parse(data: bytes) -> dict:
    """The fields of a .vqc file (the Layout table), streams as uint32 word arrays."""
    version, n = data[4], data[5]
    kind = version - 3 if version > 3 else version  # 4-6: 1-3 with a metadata section
    name = data[6 : 6 + n].decode("ascii")
    fp = data[6 + n : 22 + n]
    width, height, mode, _tile, _down, coder, stages = struct.unpack_from("<IIBBBBB", data, 22 + n)
    pos = 35 + n
    table = [struct.unpack_from("<II", data, pos + 8 * s) for s in range(stages)]
    pos += 8 * stages
    (alpha_len,) = struct.unpack_from("<I", data, pos)
    pos += 4
    depth_len = meta_len = 0
    if kind > 1:
        (depth_len,) = struct.unpack_from("<I", data, pos)
        pos += 4
    if version > 3:
        (meta_len,) = struct.unpack_from("<I", data, pos)
        pos += 4
    streams = []
    for _, words in table:
        streams.append(np.frombuffer(data, "<u4", words, pos).astype(np.uint32))
        pos += 4 * words
    depth = data[pos : pos + depth_len]
    alpha = data[pos + depth_len : pos + depth_len + alpha_len]
    section = data[pos + depth_len + alpha_len : pos + depth_len + alpha_len + meta_len]
    rows, cols = 4 * -(-height // 32), 4 * -(-width // 32)
    f = dict(
        version=version,
        depth_kind=kind,
        metadata=_metadata(section),
        model=name,
        fingerprint=fp,
        width=width,
        height=height,
        mode=MODES[mode],
        coder=coder,
        stages=stages,
        symbols=[s for s, _ in table],
        streams=streams,
        alpha=alpha,
        rows=rows,
        cols=cols,
    )
    f["depths"] = _depths(f, depth)
    return f


def _metadata(section: bytes) -> dict:
    """The metadata entries by kind (1 ICC, 2 EXIF, 3 XMP); none in versions 1-3."""
    out, pos = {}, 1
    for _ in range(section[0] if section else 0):
        kind, length = struct.unpack_from("<BI", section, pos)
        out[kind] = section[pos + 5 : pos + 5 + length]
        pos += 5 + length
    return out


def _wavefronts(rows: int, cols: int):
    """Positions by anti-diagonal ``r + c``, within one by increasing ``r``."""
    for d in range(rows + cols - 1):
        r = np.arange(max(0, d - cols + 1), min(rows, d + 1))
        yield r, d - r


def _depths(f: dict, section: bytes) -> np.ndarray:
    """The depth of every latent position ``[rows, cols]``."""
    rows, cols, stages = f["rows"], f["cols"], f["stages"]
    if f["depth_kind"] == 1:
        return np.full((rows, cols), stages, np.int64)
    if f["depth_kind"] == 2:
        tiles = np.frombuffer(zlib.decompress(section), np.uint8).reshape(rows // 4, cols // 4)
        return np.repeat(np.repeat(tiles.astype(np.int64), 4, 0), 4, 1)
    dec = constriction.stream.queue.RangeDecoder(np.frombuffer(section, "<u4").astype(np.uint32))
    fam = constriction.stream.model.Categorical(perfect=False)
    w = np.ones((16, 16, stages), np.int64)
    depth = np.zeros((rows, cols), np.int64)
    for r, c in _wavefronts(rows, cols):
        a = np.where(r > 0, depth[np.maximum(r - 1, 0), c], 0).clip(max=15)
        lf = np.where(c > 0, depth[r, np.maximum(c - 1, 0)], 0).clip(max=15)
        d = np.asarray(dec.decode(fam, w[a, lf].astype(np.float64))) + 1
        depth[r, c] = d
        np.add.at(w, (a, lf, d - 1), 4)
    return depth


def load_model(path: Path) -> dict:
    """The model file's config and tensors, every tensor as stored (float16 network), the
    entropy tables of format 2 inflated from their byte planes."""
    with safe_open(str(path), "numpy") as f:
        meta = f.metadata()
        config = json.loads(meta["config"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if meta["format"] == "vqcodec-model/2":
        k, stages = config["codebook_size"], config["stages"]
        shapes = {
            "entropy.counts": (stages, k),
            "entropy.context_counts": (stages, k, k),
            "entropy.left_counts": (min(stages, 2), k, k),
        }
        for key in shapes.keys() & tensors.keys():
            planes = np.frombuffer(zlib.decompress(tensors[key].tobytes()), np.uint8)
            tensors[key] = planes.reshape(4, -1).T.copy().view("<i4").reshape(shapes[key])
    return {"config": config, "tensors": tensors}


def indices(f: dict, model: dict) -> np.ndarray:
    """int32 ``[S, rows, cols]``: every stage's entropy-decoded indices, 0 where absent."""
    t = model["tensors"]
    counts = t["entropy.counts"].astype(np.int64)
    ctx = t.get("entropy.context_counts")
    left = t.get("entropy.left_counts")
    rows, cols = f["rows"], f["cols"]
    idx = np.zeros((f["stages"], rows, cols), np.int64)
    fam = constriction.stream.model.Categorical(perfect=False)
    for s, words in enumerate(f["streams"]):
        present = f["depths"] > s
        dec = constriction.stream.queue.RangeDecoder(words)
        if f["coder"] == 1:
            m = constriction.stream.model.Categorical(counts[s].astype(np.float64), perfect=False)
            idx[s][present] = dec.decode(m, int(present.sum()))
            continue
        c_s = ctx[s].astype(np.int64)
        if s >= 2:
            for r in range(rows):
                cs = np.flatnonzero(present[r])
                if len(cs):
                    w = c_s[idx[s - 1, r, cs]]
                    idx[s, r, cs] = dec.decode(fam, w.astype(np.float64))
            continue
        l_s = left[s].astype(np.int64)
        for r, c in _wavefronts(rows, cols):
            keep = present[r, c]
            r, c = r[keep], c[keep]
            if not len(r):
                continue
            w = np.empty((len(r), counts.shape[1]), np.int64)
            for j, (y, x) in enumerate(zip(r, c, strict=True)):
                has_a = y > 0 and present[y - 1, x]
                has_l = x > 0 and present[y, x - 1]
                if has_a and has_l:
                    ca, ll = c_s[idx[s, y - 1, x]], l_s[idx[s, y, x - 1]]
                    if f["coder"] == 2:
                        w[j] = ca * ll.sum() + ll * ca.sum()
                    else:
                        w[j] = (ca * ll * 256) // counts[s] + 1
                elif has_a:
                    w[j] = c_s[idx[s, y - 1, x]]
                elif has_l:
                    w[j] = l_s[idx[s, y, x - 1]]
                else:
                    w[j] = counts[s]
            idx[s, r, c] = dec.decode(fam, w.astype(np.float64))
    return idx.astype(np.int32)


def _conv3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Conv2d 3x3, stride 1, zero padding 1 (cross-correlation, w ``[out, in, 3, 3]``)."""
    win = sliding_window_view(np.pad(x, ((0, 0), (1, 1), (1, 1))), (3, 3), axis=(1, 2))
    return np.einsum("chwij,ocij->ohw", win, w, optimize=True) + b[:, None, None]


def _up(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ConvTranspose2d 4x4, stride 2, padding 1 (w ``[in, out, 4, 4]``): each input sample
    adds ``x[c, y, x] * w[c, o, i, j]`` at ``(2y + i - 1, 2x + j - 1)``."""
    _, h, wd = x.shape
    full = np.zeros((w.shape[1], 2 * h + 2, 2 * wd + 2), np.float32)
    for i in range(4):
        for j in range(4):
            full[:, i : i + 2 * h : 2, j : j + 2 * wd : 2] += np.einsum(
                "chw,co->ohw", x, w[:, :, i, j]
            )
    return full[:, 1 : 2 * h + 1, 1 : 2 * wd + 1] + b[:, None, None]


def _igdn(x: np.ndarray, beta: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    norm = np.einsum("oc,chw->ohw", np.abs(gamma[:, :, 0, 0]), np.abs(x))
    return x * (norm + (np.abs(beta) + np.float32(1e-6))[:, None, None])


def pixels(f: dict, idx: np.ndarray, model: dict) -> np.ndarray:
    """uint8 ``[height, width, channels]``: the decoder network over the latent grid."""
    t = {k: v.astype(np.float32) for k, v in model["tensors"].items()}
    cb = t["quantizer.codebooks"]
    z = np.zeros((f["rows"], f["cols"], cb.shape[2]), np.float32)
    for s in range(f["stages"]):
        z += np.where((f["depths"] > s)[:, :, None], cb[s][idx[s]], np.float32(0))
    x = _conv3(z.transpose(2, 0, 1), t["decoder.0.weight"], t["decoder.0.bias"])
    i = 1
    while f"decoder.{i}.conv1.weight" in t:
        p = f"decoder.{i}."
        h = np.maximum(_conv3(x, t[p + "conv1.weight"], t[p + "conv1.bias"]), 0)
        x = x + _conv3(h, t[p + "conv2.weight"], t[p + "conv2.bias"])
        i += 1
    for _ in range(2):
        x = _up(x, t[f"decoder.{i}.weight"], t[f"decoder.{i}.bias"])
        x = _igdn(x, t[f"decoder.{i + 1}.beta"], t[f"decoder.{i + 1}.gamma"])
        i += 2
    y = _up(x, t[f"decoder.{i}.weight"], t[f"decoder.{i}.bias"]) + np.float32(0.5)
    rgb = np.round(np.clip(y, 0, 1) * np.float32(255)).astype(np.uint8).transpose(1, 2, 0)
    rgb = rgb[: f["height"], : f["width"]]
    if f["mode"] in ("L", "LA"):
        rgb = ((rgb.astype(np.int64).sum(2, keepdims=True) + 1) // 3).astype(np.uint8)
    if f["alpha"]:
        plane = np.frombuffer(zlib.decompress(f["alpha"]), np.uint8)
        rgb = np.concatenate([rgb, plane.reshape(f["height"], f["width"], 1)], 2)
    return rgb
