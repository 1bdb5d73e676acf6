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
    if a.strip:  # per held-out example: input, reconstruction, then edits to a few values
        edits = [e for e in ("tone_1_2", "tone_5", "gender_woman", "gender_man", "hair_red", "hair_white") if e in names]
        rows = []
        for name in held[:: max(1, len(held) // 6)][:6]:
            zi = z[held.index(name) : held.index(name) + 1]
            cells = [x[held.index(name)].astype(np.uint8), m.decode(zi)[0]] + [m.decode(ed.move(zi, [(names.index(e), "1")]))[0] for e in edits]
            rows.append(np.concatenate(cells, 1))
        Image.fromarray(np.concatenate(rows, 0)).save(a.strip)


def glyph_properties(img: np.ndarray) -> dict[str, float]:
    ink = img.astype(np.float64).mean(-1) < 128
    ys, xs = np.nonzero(ink)
    if len(xs) < 3:
        return {"ink": 0.0, "slant": 0.0, "width": 0.0, "height": 0.0}
    slope = float(np.polyfit(ys, xs, 1)[0]) if np.ptp(ys) > 0 else 0.0
    return {"ink": float(ink.mean()), "slant": -slope, "width": float(np.ptp(xs)), "height": float(np.ptp(ys))}


def _digit_set(root: Path, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every `*D_<d>.png` under root (trainB's `FONT__D_3.png`, testB's `FONT/D_3.png`) -> (N, 1, size, size) in [-1, 1], labels."""
    files = sorted(p for p in root.rglob("*.png") if p.stem[-3:-1] == "D_")
    x = np.stack([np.asarray(Image.open(p).convert("L").resize((size, size), Image.Resampling.BICUBIC)) for p in files])
    return torch.from_numpy(x).float()[:, None] / 127.5 - 1, torch.tensor([int(p.stem[-1]) for p in files])


def digit_purity(m, train_dir: Path, test_dir: Path | None, rows: list) -> dict:
    """A small CNN digit classifier trained on the training fonts' digits (accuracy on held-out fonts' digits
    reported), then: for each category of each categorical code (64 seeds), the share of samples it reads as
    that category's majority digit, and how many different digits the categories map to."""
    from torch import nn

    torch.manual_seed(0)
    x, y = _digit_set(train_dir, 32)
    net = nn.Sequential(nn.Conv2d(1, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(), nn.Conv2d(64, 64, 3, 2, 1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(64 * 16, 10))  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(600):
        i = torch.randint(0, len(x), (64,))
        shift = torch.randint(-2, 3, (2,))
        loss = nn.functional.cross_entropy(net(torch.roll(x[i], tuple(shift.tolist()), (2, 3))), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    res: dict = {}
    if test_dir is not None:
        xt, yt = _digit_set(test_dir, 32)
        with torch.no_grad():
            res["classifier_accuracy_held_out_fonts"] = round(float((net(xt).argmax(1) == yt).float().mean()), 3)
    for code in m.codes:
        if code.kind != "cat":
            continue
        per = []
        for k in range(code.size):
            imgs = np.stack([m.decode(m.vary(m.draw(s), code, [k]))[0] for s in range(64)])
            xi = torch.from_numpy(imgs[..., :1]).permute(0, 3, 1, 2).float() / 127.5 - 1
            with torch.no_grad():
                pred = net(nn.functional.interpolate(xi, size=32, mode="bilinear", antialias=True)).argmax(1)
            counts = torch.bincount(pred, minlength=10)
            per.append((int(counts.argmax()), float(counts.max()) / 64))
        grid_row = np.concatenate(list(m.decode(m.vary(m.draw(0), code, list(range(code.size))))), 1)
        rows.insert(0, grid_row)
        res[code.name] = {"majority_digit_per_category": [d for d, _ in per], "purity_per_category": [round(p, 3) for _, p in per],
                          "mean_purity": round(float(np.mean([p for _, p in per])), 3), "distinct_digits": len({d for d, _ in per})}  # fmt: skip
    return res


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
    out: dict = {"pearson_r_code_vs_property": result}
    if a.digits:
        out["categorical_codes_vs_digits"] = digit_purity(m, a.digits, a.digits_test, rows)
    print(json.dumps(out, indent=1))
    if a.grid and rows:
        w = max(r.shape[1] for r in rows)  # the categorical walk (one image per category) may be the longest
        grid = np.concatenate([np.pad(r, ((0, 0), (0, w - r.shape[1]), (0, 0)), constant_values=255) for r in rows], 0)
        Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid).save(a.grid)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("person-emoji")
    p.add_argument("model")
    p.add_argument("data", type=Path)
    p.add_argument("--store", type=Path, default=None)
    p.add_argument("--judge", default="person_emoji_stargan")
    p.add_argument("--strip", type=Path, default=None, help="write held-out examples: input, reconstruction, edits")
    q = sub.add_parser("glyphs")
    q.add_argument("model")
    q.add_argument("--grid", type=Path, default=None)
    q.add_argument("--digits", type=Path, default=None, help="digit glyphs of the training fonts: measure what the categorical codes pick")
    q.add_argument("--digits-test", type=Path, default=None, help="digit glyphs of held-out fonts: the classifier's accuracy")
    a = ap.parse_args()
    torch.set_num_threads(2)
    person_emoji(a) if a.what == "person-emoji" else glyphs(a)


if __name__ == "__main__":
    main()
