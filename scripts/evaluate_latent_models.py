"""Held-out evaluation (and attribute vectors) for the latent bundled models of issue 19.

    python scripts/evaluate_latent_models.py person-emoji MODEL data/person_emoji [--store OUT] [--judge person_emoji_stargan]
    python scripts/evaluate_latent_models.py glyphs MODEL [--grid OUT.png]

person-emoji: attribute vectors for every tone / gender / hair value are computed from the *training* split
(images with the value vs images of the same group with another value; `--store OUT` writes the model with
them, what the bundled person_emoji_vaegan holds). On the held-out bases (data/person_emoji test split):
reconstruction L1 / PSNR (encode -> decode), and, as the StarGAN card, for every edit of a group to another value
whose true emoji exists: L1 to it against the unedited input, and how often a judge classifier (the StarGAN's
stored attribute classifier) sees the requested value.

glyphs: each InfoGAN code is walked over 9 values for 64 seeds; per continuous code, the Pearson correlation of
its value with measurable glyph properties -- ink (fraction of dark pixels: stroke weight / size), slant (the
regression slope of the ink's x on its y), width and height of the ink's bounding box -- says what it controls.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import gantrans
from gantrans.engine.edit import Editor
from gantrans.engine.latent import load_latent
from gantrans.engine.latent_edit import LatentEditor, add_attribute, attr_names, attribute_vector
from gantrans.io.checkpoint import save_checkpoint

GROUPS = ("tone", "gender", "hair")


def person_emoji(a: argparse.Namespace) -> None:
    m = load_latent(a.model, device="cpu", precision="fp32")
    manifest = json.loads((a.data / "manifest.json").read_text())

    def image(name: str) -> np.ndarray:
        return np.asarray(Image.open(a.data / manifest[name]["split"] / "images" / name).convert("RGB").resize((m.size, m.size), Image.Resampling.BICUBIC))

    train = {k: v for k, v in manifest.items() if v["split"] == "train"}
    for g in GROUPS:
        for value in sorted({v[g] for v in train.values()}):
            yes = np.stack([image(k) for k, v in train.items() if v[g] == value])
            no = np.stack([image(k) for k, v in train.items() if v[g] != value])
            vec, low, high = attribute_vector(m, yes, no)
            add_attribute(m.checkpoint, value, vec, low, high)
    if a.store:
        save_checkpoint(m.checkpoint, a.store)
    names = attr_names(m.checkpoint)
    ed = LatentEditor(m, "encoder")
    judge = Editor(gantrans.load(a.judge, device="cpu", precision="fp32"))
    index = {(v["base"], v["tone"], v["gender"], v["hair"]): k for k, v in manifest.items()}
    held = sorted(k for k, v in manifest.items() if v["split"] == "test")
    x = np.stack([image(k) for k in held])
    z = m.encode(x)
    rec = m.decode(z).astype(np.float64)
    mse = ((rec - x) ** 2).mean(axis=(1, 2, 3))
    out: dict = {"held_out_images": len(held), "reconstruction": {"l1": round(float(np.abs(rec - x).mean()), 2),
                                                                 "psnr": round(float(np.mean(10 * np.log10(255**2 / mse))), 2)}}  # fmt: skip
    l1: dict[str, dict[str, list[float]]] = {g: {"model": [], "baseline": []} for g in GROUPS}
    agree: dict[str, list[bool]] = {g: [] for g in GROUPS}
    sch = judge.schema
    for i, name in enumerate(held):
        v = manifest[name]
        for pos, g in enumerate(GROUPS):
            for value in sch.groups[g]:
                if value == v[g] or value not in names:
                    continue
                y = m.decode(ed.move(z[i : i + 1], [(names.index(value), "1")]))[0]
                p = judge.predict(torch.from_numpy(y).permute(2, 0, 1)[None])[0]
                ms = sch.groups[g]
                agree[g].append(ms[int(p[[sch.attrs[k].index for k in ms]].argmax())] == value)
                key = [v["base"], v["tone"], v["gender"], v["hair"]]
                key[1 + pos] = value
                true = index.get(tuple(key))
                if true is not None:
                    t = image(true).astype(np.float64)
                    l1[g]["model"].append(float(np.abs(y - t).mean()))
                    l1[g]["baseline"].append(float(np.abs(x[i] - t).mean()))
    out["l1_to_true_target"] = {g: {"edits": len(d["model"]), "model": round(float(np.mean(d["model"])), 2),
                                    "baseline_unedited": round(float(np.mean(d["baseline"])), 2)} for g, d in l1.items() if d["model"]}  # fmt: skip
    out["judge_sees_requested_value"] = {g: round(float(np.mean(v)), 3) for g, v in agree.items() if v}
    print(json.dumps(out, indent=1))


def glyph_properties(img: np.ndarray) -> dict[str, float]:
    ink = img.astype(np.float64).mean(-1) < 128
    ys, xs = np.nonzero(ink)
    if len(xs) < 3:
        return {"ink": 0.0, "slant": 0.0, "width": 0.0, "height": 0.0}
    slope = float(np.polyfit(ys, xs, 1)[0]) if np.ptp(ys) > 0 else 0.0
    return {"ink": float(ink.mean()), "slant": -slope, "width": float(np.ptp(xs)), "height": float(np.ptp(ys))}


def glyphs(a: argparse.Namespace) -> None:
    m = load_latent(a.model, device="cpu", precision="fp32")
    values = np.linspace(-2, 2, 9)
    result, rows = {}, []
    for code in m.codes:
        if code.kind != "cont":
            continue
        props: dict[str, list[float]] = {"ink": [], "slant": [], "width": [], "height": []}
        xs: list[float] = []
        for seed in range(64):
            imgs = m.decode(m.vary(m.draw(seed), code, list(values)))
            if seed < 4:
                rows.append(np.concatenate(list(imgs), 1))
            for val, img in zip(values, imgs):
                for k, p in glyph_properties(img).items():
                    props[k].append(p)
                xs.append(float(val))
        result[code.name] = {k: round(float(np.corrcoef(xs, v)[0, 1]), 3) for k, v in props.items()}
    print(json.dumps({"pearson_r_code_vs_property": result}, indent=1))
    if a.grid and rows:
        grid = np.concatenate(rows, 0)
        Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid).save(a.grid)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("person-emoji")
    p.add_argument("model")
    p.add_argument("data", type=Path)
    p.add_argument("--store", type=Path, default=None)
    p.add_argument("--judge", default="person_emoji_stargan")
    q = sub.add_parser("glyphs")
    q.add_argument("model")
    q.add_argument("--grid", type=Path, default=None)
    a = ap.parse_args()
    torch.set_num_threads(2)
    person_emoji(a) if a.what == "person-emoji" else glyphs(a)


if __name__ == "__main__":
    main()
