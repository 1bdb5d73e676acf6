"""Held-out evaluation of an inpainting model against two baselines, with the CLI for the model and metrics.

    python scripts/evaluate_inpaint_model.py MODEL DATA [--out DIR] [--size 256] [--inception FILE] [--figure PNG]

DATA is what scripts/prepare_sr_photos.py wrote: its held-out photos (test/HR) are cut into non-overlapping
SIZE x SIZE crops; each crop gets two fixed seeded masks (free-form strokes, and a box), kept when the hole
covers 10-40% of the crop (redrawn with the next seed otherwise). Methods:
  - model:    `gantrans inpaint crops/ --mask masks/ -m MODEL`
  - mean:     the hole filled with the mean colour of the known pixels
  - harmonic: the hole filled by solving Laplace's equation with the known pixels as boundary values
              (a classical diffusion fill; sparse direct solve per channel)
Metrics: `gantrans eval` L1 / PSNR inside the holes (--mask) and FID / KID of the completed crops vs the
originals. Prints a Markdown table and writes results.json in --out. --figure writes a few held-out crops as
rows: the input (hole in white), mean fill, harmonic fill, the model, the original.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gantrans.train.masks import random_mask  # noqa: E402


def gantrans(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "gantrans", *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"gantrans {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


def harmonic_fill(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each channel inside the hole solves the discrete Laplace equation (4-neighbour), known pixels fixed; uint8."""
    return np.clip(np.round(harmonic_solve(img, mask)), 0, 255).astype(np.uint8)


def harmonic_solve(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W, C) any numbers, (H, W) bool hole -> float64 (H, W, C): the exact solve (sparse, per channel)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    index = -np.ones((h, w), np.int64)
    index[ys, xs] = np.arange(len(ys))
    rows, cols, vals = [], [], []
    rhs = np.zeros((len(ys), img.shape[2]))
    for k, (y, x) in enumerate(zip(ys, xs)):
        n = 0
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            yy, xx = y + dy, x + dx
            if not (0 <= yy < h and 0 <= xx < w):
                continue
            n += 1
            if mask[yy, xx]:
                rows.append(k)
                cols.append(index[yy, xx])
                vals.append(-1.0)
            else:
                rhs[k] += img[yy, xx]
        rows.append(k)
        cols.append(k)
        vals.append(float(n))
    A = sp.csr_matrix((vals, (rows, cols)), shape=(len(ys), len(ys)))
    out = img.astype(np.float64).copy()
    for c in range(img.shape[2]):
        out[ys, xs, c] = spsolve(A, rhs[:, c])
    return out


def mean_fill(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = img.copy()
    out[mask] = np.round(img[~mask].mean(axis=0)).astype(np.uint8)
    return out


def build(data: Path, out: Path, size: int) -> None:
    for d in ("crops", "masks", "mean", "harmonic"):
        (out / d).mkdir(parents=True, exist_ok=True)
    for p in sorted((data / "test" / "HR").glob("*.png")):
        img = np.asarray(Image.open(p).convert("RGB"))
        h, w = img.shape[:2]
        for y in range(0, h - size + 1, size):
            for x in range(0, w - size + 1, size):
                crop = np.ascontiguousarray(img[y : y + size, x : x + size])
                for kind in ("strokes", "box"):
                    seed = int(hashlib.sha1(f"{p.stem}_{y}_{x}_{kind}".encode()).hexdigest(), 16) % (2**31)  # fixed per crop
                    for attempt in range(50):
                        m = random_mask(size, size, torch.Generator().manual_seed(seed + attempt), kind)
                        if 0.10 <= m.mean() <= 0.40:
                            break
                    name = f"{p.stem}_{y:04d}_{x:04d}_{kind}"
                    Image.fromarray(crop).save(out / "crops" / f"{name}.png")
                    Image.fromarray(m.astype(np.uint8) * 255).save(out / "masks" / f"{name}.png")
                    Image.fromarray(mean_fill(crop, m)).save(out / "mean" / f"{name}.png")
                    Image.fromarray(harmonic_fill(crop, m)).save(out / "harmonic" / f"{name}.png")


def figure(out: Path, dst: Path, per_photo: int = 2) -> None:
    """From each held-out photo, `per_photo` crops spread over it (strokes and boxes alternate), one row each."""
    by_photo: dict[str, list[str]] = {}
    for p in sorted((out / "crops").iterdir()):
        by_photo.setdefault(p.stem.rsplit("_", 3)[0], []).append(p.name)
    picks = [names[min(i * len(names) // per_photo + i % 2, len(names) - 1)] for names in by_photo.values() for i in range(per_photo)]
    strips = []
    for name in picks:
        crop = np.asarray(Image.open(out / "crops" / name).convert("RGB"))
        hole = np.asarray(Image.open(out / "masks" / name).convert("L")) > 0
        shown = crop.copy()
        shown[hole] = 255
        cells = [shown] + [np.asarray(Image.open(out / d / name).convert("RGB")) for d in ("mean", "harmonic", "model")] + [crop]
        strips.append(np.concatenate([np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255) for c in cells], 1))
    Image.fromarray(np.concatenate(strips, 0)).save(dst)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("data", type=Path)
    ap.add_argument("--out", type=Path, default=Path("inpaint_eval"))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--inception", default=None)
    ap.add_argument("--figure", type=Path, default=None)
    a = ap.parse_args()
    build(a.data, a.out, a.size)
    n = len(list((a.out / "crops").iterdir()))
    gantrans("inpaint", str(a.out / "crops"), "--mask", str(a.out / "masks"), "-m", a.model, "-o", str(a.out / "model"),
             "--overwrite", "--device", "cpu", "--precision", "fp32", "--quiet")  # fmt: skip
    inception = ["--inception", a.inception] if a.inception else []
    rows = {}
    for method in ("mean", "harmonic", "model"):
        paired = json.loads(gantrans("eval", str(a.out / "crops"), str(a.out / method), "--metrics", "l1,psnr", "--mask", str(a.out / "masks"), "--json"))
        dist = json.loads(gantrans("eval", str(a.out / "crops"), str(a.out / method), "--metrics", "fid,kid", "--kid-subset-size", str(min(1000, n)),
                                   "--json", *inception))  # fmt: skip
        rows[method] = {"l1_hole": paired["l1"], "psnr_hole": paired["psnr"], "fid": dist["fid"], "kid": dist["kid"], "n": n}
    print(f"{n} held-out crops ({a.size}x{a.size}), holes 10-40% (strokes and boxes)\n")
    print("| method | L1 in hole (levels) ↓ | PSNR in hole (dB) ↑ | FID ↓ | KID ×1000 ↓ |")
    print("|---|---|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {r['l1_hole']:.2f} | {r['psnr_hole']:.2f} | {r['fid']:.2f} | {r['kid'] * 1000:.2f} |")
    (a.out / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    if a.figure:
        figure(a.out, a.figure)


if __name__ == "__main__":
    main()
