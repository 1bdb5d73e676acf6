"""Evaluate a glyph MUNIT (DejaVu -> typefaces) on the held-out fonts of data/glyphs/testB.

For each held-out font F and character c that F has: translate DejaVu c (a2b) with the style code of
another character of F (the reference, chosen by a seeded draw) and measure the mean absolute error
to F's true c, in grey levels (0-255). Baseline: the DejaVu input itself. Diversity: mean pairwise
L1 between K random-style outputs of the same input.

Font recognition (does the output take the reference's typeface?): a small CNN learns to tell the 74 training
fonts apart; its features describe a typeface. The held-out fonts' characters are split in two by
`sha1(file name) % 2`; each held-out font's prototype is the mean feature of its first-half ("fit") glyphs, and a
glyph is recognised as the font whose prototype is nearest. Scored on the other half ("score" characters): (a)
the real glyphs (what a perfect model would reach), (b) the DejaVu inputs of those characters (chance: 1 of 20),
(c) the guided outputs, each with the style of another *score* character of the font (its shape is in no
prototype, so a reference shape leaking into the output does not help). Prints a JSON summary.

    python scripts/evaluate_glyph_model.py MODEL [data/glyphs] [--styles 8] [--figure OUT.png]

--figure writes the card's figure: DejaVu 5, a, R with eight random styles (seeds 0-7), then the same
characters with the style of the `B` of four held-out fonts, each output beside that font's true glyph.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from itertools import combinations
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import gantrans


def load(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("L"), dtype=np.uint8).copy())[None, None]  # (1, 1, H, W)


def score_half(name: str) -> bool:
    return int(hashlib.sha1(name.encode()).hexdigest(), 16) % 2 == 1


def font_embedding(data: Path, steps: int = 4000, seed: int = 0) -> torch.nn.Module:
    """A CNN taught to tell the *training* fonts apart (trainB/FONT/char.png; random shifts of ±4 px and scales
    of ±10 %); its pooled features, L2-normalised, describe a typeface whatever the character."""
    files = sorted((data / "trainB").glob("*/*.png"), key=lambda f: f"{f.parent.name}__{f.name}")  # the order of the
    names = sorted({f.parent.name for f in files})  # earlier flat FONT__char.png layout: the same classifier
    x = 1 - torch.cat([load(f) for f in files]).float() / 255  # (N, 1, 64, 64), ink = 1
    y = torch.tensor([names.index(f.parent.name) for f in files])
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    cin = 1
    for cout in (32, 64, 128, 256):  # 64 -> 4
        layers += [torch.nn.Conv2d(cin, cout, 3, 2, 1), torch.nn.BatchNorm2d(cout), torch.nn.ReLU()]
        cin = cout
    body = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())  # (B, 256)
    head = torch.nn.Linear(cin, len(names))
    opt = torch.optim.Adam([*body.parameters(), *head.parameters()], 1e-3)
    for _ in range(steps):
        i = torch.randint(0, len(x), (64,), generator=g)
        scale = 1 + (torch.rand(64, generator=g) * 0.2 - 0.1)
        theta = torch.zeros(64, 2, 3)
        theta[:, 0, 0], theta[:, 1, 1] = scale, scale
        theta[:, :, 2] = (torch.rand(64, 2, generator=g) * 2 - 1) * 4 / 32
        xb = F.grid_sample(x[i], F.affine_grid(theta, [64, 1, 64, 64], align_corners=False), align_corners=False)
        loss = F.cross_entropy(head(F.dropout(body(xb), 0.3)), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return body.eval()


def recognition(m: "gantrans.Translator", data: Path, fonts: list[Path]) -> dict[str, float]:
    """Share of score-half glyphs whose held-out font is the nearest prototype (the mean embedding of the font's
    fit-half glyphs): real glyphs, DejaVu inputs, guided outputs."""
    body = font_embedding(data)

    def embed(imgs: torch.Tensor) -> torch.Tensor:  # (N, 1, 64, 64) in [0, 1], white paper -> (N, 256)
        with torch.no_grad():
            return F.normalize(body(1 - imgs), dim=1)

    protos = F.normalize(torch.stack([embed(torch.cat([load(f) for f in sorted(font.glob("*.png")) if not score_half(f.name)]).float() / 255).mean(0)
                                      for font in fonts]), dim=1)  # fmt: skip  # (F, 256)
    rng = random.Random(1)
    hits: dict[str, list[bool]] = {"real_glyphs": [], "dejavu_input": [], "guided_output": []}
    for k, font in enumerate(fonts):
        chars = [f.name for f in sorted(font.glob("*.png")) if score_half(f.name)]
        if len(chars) < 2:
            continue
        src = torch.cat([load(data / "testA" / c) for c in chars])  # (N, 1, 64, 64) uint8
        refs = [rng.choice([r for r in chars if r != c]) for c in chars]
        codes = torch.cat([m.encode_style(load(font / r), "a2b") for r in refs])
        with torch.no_grad():
            out = m.run(src, "a2b", codes).float()  # (N, 1, H, W) in [0, 1]
        for key, imgs in (("real_glyphs", torch.cat([load(font / c) for c in chars]).float() / 255), ("dejavu_input", src.float() / 255), ("guided_output", out)):
            hits[key] += ((embed(imgs) @ protos.T).argmax(1) == k).tolist()
    return {key: round(float(np.mean(v)), 3) for key, v in hits.items()} | {"glyphs": len(hits["real_glyphs"]), "fonts": len(fonts)}


FIGURE_CHARS = ("D_5.png", "L_a.png", "U_R.png")
FIGURE_FONTS = ("dkgIt", "texgyrecursor-regular", "FreeSerifBold", "LiberationSans-Italic")


def figure(m: "gantrans.Translator", data: Path, out: Path) -> None:
    """Rows 1-3: input, seeds 0-7. Row 4: the reference `B` of each font (above its outputs). Rows 5-7: input,
    then per font the guided output and the font's true glyph. 64 px cells, white gaps."""
    src = torch.cat([load(data / "testA" / c) for c in FIGURE_CHARS])  # (3, 1, 64, 64) uint8
    white = torch.full((1, 64, 64), 255, dtype=torch.uint8)
    rnd = (m.run_styles(src, m.random_styles(range(8)), "a2b", batch_size=64) * 255).round().to(torch.uint8)  # (3, 8, 1, 64, 64)
    rows = [[src[i]] + [rnd[i, k] for k in range(8)] for i in range(3)]
    fonts = [data / "testB" / f for f in FIGURE_FONTS]
    codes = torch.cat([m.encode_style(load(f / "U_B.png"), "a2b") for f in fonts])  # (4, 8, 1, 1)
    rows.append([white] + [cell for f in fonts for cell in (load(f / "U_B.png")[0], white)])
    for i, c in enumerate(FIGURE_CHARS):
        y = (m.run(src[i : i + 1].expand(len(fonts), -1, -1, -1), "a2b", codes) * 255).round().to(torch.uint8)  # (4, 1, 64, 64)
        truth = [load(f / c)[0] if (f / c).exists() else white for f in fonts]
        rows.append([src[i]] + [cell for k in range(len(fonts)) for cell in (y[k], truth[k])])
    gap = 4
    canvas = np.full((len(rows) * (64 + gap) + gap * 3, 9 * (64 + gap)), 255, np.uint8)
    for r, row in enumerate(rows):
        top = r * (64 + gap) + (gap * 3 if r >= 3 else 0)  # a wider gap between the two blocks
        for col, cell in enumerate(row):
            canvas[top : top + 64, col * (64 + gap) : col * (64 + gap) + 64] = cell[0].numpy()
    Image.fromarray(canvas).save(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("data", nargs="?", default="data/glyphs", type=Path)
    ap.add_argument("--styles", type=int, default=8)
    ap.add_argument("--figure", type=Path, help="write the card's figure here and stop")
    args = ap.parse_args()
    torch.set_num_threads(2)
    m = gantrans.load(args.model, device="cpu", precision="fp32")
    if args.figure:
        figure(m, args.data, args.figure)
        return
    rng = random.Random(0)
    fonts = sorted(p for p in (args.data / "testB").iterdir() if p.is_dir())
    err_model, err_base, per_font = [], [], {}
    for font in fonts:
        files = sorted(font.glob("*.png"))
        chars = [f.name for f in files]
        fm, fb = [], []
        src = torch.cat([load(args.data / "testA" / c) for c in chars])  # (N, 1, 64, 64)
        refs = [rng.choice([r for r in chars if r != c]) for c in chars]
        codes = torch.cat([m.encode_style(load(font / r), "a2b") for r in refs])  # (N, 8, 1, 1)
        y = m.run(src, "a2b", codes) * 255.0  # (N, 1, H, W)
        for i, c in enumerate(chars):
            truth = load(font / c).float()
            fm.append(float((y[i : i + 1] - truth).abs().mean()))
            fb.append(float((src[i : i + 1].float() - truth).abs().mean()))
        per_font[font.name] = {"model": round(float(np.mean(fm)), 2), "baseline": round(float(np.mean(fb)), 2), "chars": len(chars)}
        err_model += fm
        err_base += fb
    # diversity of random styles on the 62 DejaVu characters
    src = torch.cat([load(p) for p in sorted((args.data / "testA").glob("*.png"))])
    styles = m.random_styles(range(args.styles))
    outs = m.run_styles(src, styles, "a2b", batch_size=64) * 255.0  # (N, K, 1, H, W)
    pair = [float((outs[:, a] - outs[:, b]).abs().mean()) for a, b in combinations(range(args.styles), 2)]
    # the same measure on real glyphs: each character in the first `styles` held-out fonts that have it
    real = []
    for p in sorted((args.data / "testA").glob("*.png")):
        have = [load(f / p.name) for f in fonts if (f / p.name).exists()][: args.styles]
        real += [float((have[a].float() - have[b].float()).abs().mean()) for a, b in combinations(range(len(have)), 2)]
    summary = {
        "held_out_fonts": len(fonts),
        "glyphs": len(err_model),
        "example_guided_L1": round(float(np.mean(err_model)), 2),
        "baseline_L1_dejavu_input": round(float(np.mean(err_base)), 2),
        "fonts_where_model_beats_baseline": sum(v["model"] < v["baseline"] for v in per_font.values()),
        "diversity_mean_pairwise_L1": round(float(np.mean(pair)), 2),
        "diversity_styles": args.styles,
        "diversity_real_fonts_mean_pairwise_L1": round(float(np.mean(real)), 2),
        "font_recognition": recognition(m, args.data, fonts),
        "per_font": per_font,
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
