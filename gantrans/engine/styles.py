"""MUNIT style sampling: style codes from seeds (CPU generator) or reference images, interpolation,
and the producer that decodes every input with every style."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from gantrans.engine.multi import Producer
from gantrans.engine.translator import Translator, to_uint8
from gantrans.errors import UsageError
from gantrans.io.images import Decoded, open_image


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


def style_producer(t: Translator, direction: str, styles_for: Callable[[int], list[Style]], batch_size: int) -> Producer:
    """Producer for run_multi: each decoded input x its styles (styles_for(index) -> list[Style])."""
    counter = {"n": 0}

    def produce(decoded: Sequence[Decoded]) -> list[list[tuple[str, np.ndarray]]]:
        per = []
        first = counter["n"]
        counter["n"] += len(decoded)
        x = torch.from_numpy(np.stack([d.pixels for d in decoded])).permute(0, 3, 1, 2)  # (N, C, H, W)
        style_lists = [styles_for(first + i) for i in range(len(decoded))]
        if all(sl is style_lists[0] or [s.tag for s in sl] == [s.tag for s in style_lists[0]] for sl in style_lists):
            codes = torch.stack([s.code for s in style_lists[0]])  # (K, style_dim, 1, 1) shared
            y = t.run_styles(x, codes, direction, batch_size)  # (N, K, C, H, W)
            for i in range(len(decoded)):
                per.append([(s.tag, to_uint8(y[i, k : k + 1])[0]) for k, s in enumerate(style_lists[i])])
            return per
        for i, sl in enumerate(style_lists):  # each input its own styles
            y = t.run_styles(x[i : i + 1], torch.stack([s.code for s in sl]), direction, batch_size)
            per.append([(s.tag, to_uint8(y[0, k : k + 1])[0]) for k, s in enumerate(sl)])
        return per

    return produce
