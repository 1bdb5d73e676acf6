"""Hole masks for inpainting training and evaluation, drawn from a seeded `torch.Generator`.

`strokes`: DeepFill v2's free-form brush strokes (official `brush_stroke_mask`): 1-3 strokes, each a zig-zag of
4-11 segments whose angles alternate around 2*pi/5 (+- up to 2*pi/15), segment lengths ~ N(r, r/2) clipped to
[0, 2r] with r = diagonal/8, widths 12-40 px (for 256 px; scaled with the image), round joints. `box`: the
official `bbox2mask`: a box of half the image's size at a random place, each side shrunk by up to 1/16 of
the image. `both` (the official training masks): their union. (The official code's random flips of the
stroke mask are no-ops -- their results are discarded -- and are not reproduced.)
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

MASK_KINDS = ("both", "strokes", "box")


def _u(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=gen, dtype=torch.float64))


def _i(gen: torch.Generator, lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi)."""
    return int(torch.randint(lo, max(lo + 1, hi), (1,), generator=gen))


def strokes(h: int, w: int, gen: torch.Generator) -> np.ndarray:
    scale = math.sqrt(h * w) / 256.0
    r = math.sqrt(h * h + w * w) / 8
    mean_angle, angle_range = 2 * math.pi / 5, 2 * math.pi / 15
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    for _ in range(_i(gen, 1, 4)):
        n = _i(gen, 4, 12)
        a_min, a_max = mean_angle - _u(gen, 0, angle_range), mean_angle + _u(gen, 0, angle_range)
        angles = [2 * math.pi - _u(gen, a_min, a_max) if i % 2 == 0 else _u(gen, a_min, a_max) for i in range(n)]
        pts = [(_i(gen, 0, w), _i(gen, 0, h))]
        for a in angles:
            length = min(max(r + r / 2 * float(torch.randn((), generator=gen)), 0.0), 2 * r)
            x = min(max(pts[-1][0] + length * math.cos(a), 0), w)
            y = min(max(pts[-1][1] + length * math.sin(a), 0), h)
            pts.append((int(x), int(y)))
        width = max(1, int(_u(gen, 12, 40) * scale))
        draw.line(pts, fill=255, width=width)
        for x, y in pts:
            draw.ellipse((x - width // 2, y - width // 2, x + width // 2, y + width // 2), fill=255)
    return np.asarray(mask) > 0


def box(h: int, w: int, gen: torch.Generator) -> np.ndarray:
    bh, bw = h // 2, w // 2
    t, left = _i(gen, 0, h - bh), _i(gen, 0, w - bw)
    dh, dw = _i(gen, 0, h // 16 + 1), _i(gen, 0, w // 16 + 1)  # official: delta 32 at 256, halved
    mask = np.zeros((h, w), bool)
    mask[t + dh : t + bh - dh, left + dw : left + bw - dw] = True
    return mask


def random_mask(h: int, w: int, gen: torch.Generator, kind: str = "both", max_ratio: float = 1.0) -> np.ndarray:
    """(H, W) bool hole mask; redrawn (up to 10 times) while its area exceeds `max_ratio` of the image."""
    for _ in range(10):
        if kind == "strokes":
            m = strokes(h, w, gen)
        elif kind == "box":
            m = box(h, w, gen)
        elif kind == "both":
            m = strokes(h, w, gen) | box(h, w, gen)
        else:
            raise ValueError(f"unknown mask kind {kind!r}; one of {', '.join(MASK_KINDS)}")
        if m.mean() <= max_ratio:
            break
    return m
