"""MUNIT style sampling: style codes from seeds (CPU generator) or reference images, interpolation,
and the task that decodes every input with every style."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from gantrans.engine.pipeline import Output, Task, Work
from gantrans.engine.translator import Translator, to_uint8
from gantrans.errors import UsageError
from gantrans.io.images import Decoded, InputItem, open_image


def parse_seeds(spec: str) -> list[int]:
    """"0-7,42" -> [0, 1, ..., 7, 42] (order kept, duplicates dropped)."""
    seeds: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise UsageError(f"--seeds {spec!r}: expected numbers and ranges like 0-7,42")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise UsageError(f"--seeds: range {part} runs backwards")
        if hi - lo > 10000:
            raise UsageError(f"--seeds: range {part} is too long (at most 10001 seeds)")
        seeds += [s for s in range(lo, hi + 1) if s not in seeds]
    return seeds


@dataclass
class Style:
    tag: str  # output name part: s0042, ref-name, interp-s0001-s0002-03
    code: torch.Tensor  # (style_dim, 1, 1)


def seed_styles(t: Translator, seeds: Sequence[int]) -> list[Style]:
    codes = t.random_styles(seeds)
    return [Style(f"s{s:04d}", c) for s, c in zip(seeds, codes)]


def reference_styles(t: Translator, refs: Sequence[str | Path], direction: str) -> list[Style]:
    """Style codes of reference images (of the target domain), one at a time at their own size."""
    out = []
    other = "b2a" if direction == "a2b" else "a2b"  # the target domain is the other direction's input
    for ref in refs:
        img, _ = open_image(Path(ref))
        d = t.prepare(img, None, other)
        x = torch.from_numpy(d.pixels).permute(2, 0, 1)[None]
        out.append(Style(f"ref-{Path(ref).stem}", t.encode_style(x, direction)[0]))
    return out


def interpolate(a: Style, b: Style, steps: int) -> list[Style]:
    """`steps` codes from a to b inclusive (linear)."""
    if steps < 2:
        raise UsageError("--steps must be >= 2")
    name = f"interp-{a.tag}-{b.tag}"
    return [Style(f"{name}-{i:02d}", torch.lerp(a.code, b.code, i / (steps - 1))) for i in range(steps)]


def calibrate_style_prior(
    t: Translator, references: dict[str, torch.Tensor], spread: float = 1.0, ridge: float = 1e-3, batch_size: int = 128
) -> dict[str, dict[str, object]]:
    """MUNIT: make random N(0, I) style codes follow the styles a trained model encodes from real images.

    MUNIT samples random styles from N(0, I), but nothing in its losses makes the style encoder map real images
    there; after training, their codes may sit in a much smaller region, and random codes then decode to styles
    the decoder never fitted. `references` maps a direction ("a2b") to images of its *target* domain, (N, C, H, W)
    in [0, 1]. Their codes' mean m and covariance LL^T (plus `ridge` x their mean variance on the diagonal) are
    folded into the network (`recode_styles`), so that codes become (spread L)^-1 (s - m): reference styles and
    every guided result stay as they were, and a seed's code z now decodes as m + spread L z, where real styles
    lie. `spread` > 1 widens the draw (a decoder that renders less variety than its data has can use it).
    Works in place; returns per direction the reference count and the codes' norm and mean/std before.
    """
    if spread <= 0:
        raise UsageError(f"spread must be > 0; got {spread}")
    if t.cond != "style":
        raise UsageError(f"{t.arch} has no style codes (only MUNIT models do)")
    report: dict[str, dict[str, object]] = {}
    for direction, x in references.items():
        net = t.generator(direction)
        recode = getattr(net, "recode_styles", None)
        if recode is None:
            raise UsageError(f"{t.arch} cannot re-express its style codes")
        d = t.style_dim
        if x.shape[0] <= d:
            raise UsageError(f"{direction}: calibrating a {d}-dimensional style needs more than {d} reference images, got {x.shape[0]}")
        codes = torch.cat([t.encode_style(x[i : i + batch_size], direction) for i in range(0, len(x), batch_size)])
        codes = codes.reshape(len(x), d).double()  # (N, d)
        mean, cov = codes.mean(0), torch.cov(codes.T)  # (d,), (d, d)
        cov = cov + ridge * cov.diagonal().mean() * torch.eye(d, dtype=cov.dtype)
        scale = spread * torch.linalg.cholesky(cov)  # (d, d) lower triangular
        recode("b" if direction == "a2b" else "a", mean, scale)
        report[direction] = {
            "references": len(x),
            "spread": spread,
            "norm_before": round(float(codes.norm(dim=1).mean()), 4),
            "mean_before": [round(float(v), 4) for v in mean],
            "std_before": [round(float(v), 4) for v in codes.std(0)],
        }
    return report


@dataclass
class StylePlan:
    """Which styles each input gets: `shared` for every input, or seeds first + i*k ... for input i."""

    shared: list[Style] | None
    per_input: int  # styles per input
    first_seed: int = 0

    def styles_for(self, t: Translator, index: int) -> list[Style]:
        if self.shared is not None:
            return self.shared
        first = self.first_seed + index * self.per_input
        return seed_styles(t, range(first, first + self.per_input))


def plan_styles(
    t: Translator,
    direction: str = "a2b",
    num_styles: int = 8,
    seeds: Sequence[int] | None = None,
    seed: int = 0,
    style_from: Sequence[str | Path] | None = None,
    synchronized: bool = False,
    walk: bool = False,
    steps: int = 8,
) -> StylePlan:
    """The styles of `gantrans style-sample`: reference images, explicit seeds, K shared seeds
    (synchronized), each input its own K seeds, or a walk between two styles."""
    if style_from and seeds:
        raise UsageError("give --seeds or --style-from, not both")
    shared: list[Style] | None
    if style_from:
        shared = reference_styles(t, style_from, direction)
    elif seeds is not None:
        shared = seed_styles(t, seeds)
    elif synchronized or walk:
        shared = seed_styles(t, range(seed, seed + (2 if walk else num_styles)))
    else:
        shared = None  # input i: seeds seed + i*K ... seed + i*K + K-1
    if walk:
        if shared is None or len(shared) != 2:
            raise UsageError("--interpolate walks between exactly two styles: --seeds A,B or two --style-from images")
        shared = interpolate(shared[0], shared[1], steps)
    return StylePlan(shared, len(shared) if shared is not None else num_styles, seed)


class StyleTask(Task):
    """Each input decoded with each of its styles: outputs tagged s0042, ref-NAME, interp-...."""

    def __init__(self, t: Translator, plan: StylePlan, direction: str = "a2b", size: int | None = None, batch_size: int = 1) -> None:
        self.t, self.plan, self.direction, self.size, self.batch_size = t, plan, direction, size, batch_size
        self.group = max(1, batch_size // plan.per_input)  # inputs x styles per forward pass ~ batch_size

    def check(self) -> None:
        self.t.generator(self.direction)

    def prepare(self, image: Image.Image, item: InputItem) -> Decoded:
        return self.t.prepare(image, self.size, self.direction, self.max_pixels)

    def produce(self, works: Sequence[Work]) -> list[list[Output]]:
        x = torch.from_numpy(np.stack([w.decoded.pixels for w in works])).permute(0, 3, 1, 2)  # type: ignore[union-attr]  # (N, C, H, W)
        if self.plan.shared is not None:
            codes = torch.stack([s.code for s in self.plan.shared])  # (K, style_dim, 1, 1)
            y = self.t.run_styles(x, codes, self.direction, self.batch_size)  # (N, K, C, H, W)
            return [[(s.tag, to_uint8(y[i, k : k + 1])[0]) for k, s in enumerate(self.plan.shared)] for i in range(len(works))]
        per = []
        for i, w in enumerate(works):  # each input its own styles
            sl = self.plan.styles_for(self.t, w.index)
            y = self.t.run_styles(x[i : i + 1], torch.stack([s.code for s in sl]), self.direction, self.batch_size)
            per.append([(s.tag, to_uint8(y[0, k : k + 1])[0]) for k, s in enumerate(sl)])
        return per
