"""Marks in the background of noto2emojione outputs (the card's fringe measure).

    python scripts/emoji_background_marks.py data/emoji OUT [OUT ...]

OUT holds a2b outputs named as the held-out inputs (`gantrans translate DATA/testA -o OUT`). Counted are the pixels
that are white (> 245 in every channel) in both the Noto input and the true EmojiOne image and at least 4 px (a 7x7
square) away from anything either draws: nothing belongs there. Printed per folder: the mean departure from white of
the output over those pixels, and the share of outputs with a mark, a pixel more than 40 levels from white there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def rgb(path: Path) -> np.ndarray:  # (H, W, 3) float
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)


def empty_background(x: np.ndarray, t: np.ndarray, margin: int = 3) -> np.ndarray:  # (H, W) bool
    drawn = torch.from_numpy(((x < 245).any(-1) | (t < 245).any(-1)).astype(np.float32))[None, None]
    near = torch.nn.functional.max_pool2d(drawn, 2 * margin + 1, stride=1, padding=margin)[0, 0]
    return ~near.bool().numpy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("outs", type=Path, nargs="+")
    args = ap.parse_args()
    for out in args.outs:
        dep, marked, n = [], 0, 0
        for f in sorted((args.data / "testA").glob("*.png")):
            bg = empty_background(rgb(f), rgb(args.data / "testB" / f.name))
            if bg.sum() < 50:  # (almost) no empty background to judge
                continue
            d = (255 - rgb(out / f.name)).max(-1)[bg]
            dep.append(d.mean())
            marked, n = marked + bool((d > 40).any()), n + 1
        if n == 0:
            print(f"{out}: no output with empty background to judge")
            continue
        print(f"{out}: {n} outputs with empty background; mean departure from white {np.mean(dep):.2f} levels; with a mark > 40: {marked / n:.1%}")


if __name__ == "__main__":
    main()
