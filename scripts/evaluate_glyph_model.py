"""Evaluate a glyph MUNIT (DejaVu -> typefaces) on the held-out fonts of data/glyphs/testB.

For each held-out font F and character c that F has: translate DejaVu c (a2b) with the style code of
another character of F (the reference, chosen by a seeded draw) and measure the mean absolute error
to F's true c, in grey levels (0-255). Baseline: the DejaVu input itself. Diversity: mean pairwise
L1 between K random-style outputs of the same input. Prints a JSON summary.

    python scripts/evaluate_glyph_model.py MODEL [data/glyphs] [--styles 8]
"""

from __future__ import annotations

import argparse
import json
import random
from itertools import combinations
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import gantrans


def load(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("L"), dtype=np.uint8).copy())[None, None]  # (1, 1, H, W)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("data", nargs="?", default="data/glyphs", type=Path)
    ap.add_argument("--styles", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(2)
    m = gantrans.load(args.model, device="cpu", precision="fp32")
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
    summary = {
        "held_out_fonts": len(fonts),
        "glyphs": len(err_model),
        "example_guided_L1": round(float(np.mean(err_model)), 2),
        "baseline_L1_dejavu_input": round(float(np.mean(err_base)), 2),
        "fonts_where_model_beats_baseline": sum(v["model"] < v["baseline"] for v in per_font.values()),
        "diversity_mean_pairwise_L1": round(float(np.mean(pair)), 2),
        "diversity_styles": args.styles,
        "per_font": per_font,
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
