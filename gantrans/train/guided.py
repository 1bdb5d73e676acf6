"""Example-guided triplets for MUNIT's `guided_w` option (a gantrans extension; off in the official recipe).

Some unpaired datasets know more than they say: glyphs of many fonts, grouped by font, whose domain A holds
the same characters in one plain font. Laid out as

    trainA/<name>.png              (the content: one image per name)
    trainB/<group>/<name>.png      (a style group, e.g. one typeface; names shared with trainA)

each B image t = trainB/G/n that has a counterpart trainA/n and at least one other member r of G gives a
triplet (trainA/n, r, t): the content of trainA/n decoded with the style encoded from r should be t. That
is exactly what `style-sample --style-from r` is asked to do, so the recipe can supervise it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from gantrans.train.data import DatasetError, Layout, StreamDataset, Transform, load_rgb, sample_generator


@dataclass
class Triplets:
    """Eligible targets, their content images, and the style group (other members) of each."""

    targets: list[Path]
    sources: list[Path]  # trainA/<name> of each target
    refs: list[list[Path]]  # the other members of each target's group

    def __len__(self) -> int:
        return len(self.targets)


def find_triplets(layout: Layout, root_b: Path) -> Triplets:
    """The triplets of an unpaired layout whose B side is grouped in sub-folders (see the module doc)."""
    if layout.kind != "unpaired":
        raise DatasetError(f"guided_w needs an unpaired dataset (trainA/, trainB/<group>/); got a {layout.kind} layout")
    by_name = {p.stem: p for p in layout.a}
    groups: dict[Path, list[Path]] = {}
    for p in layout.b:
        if p.parent != root_b:
            groups.setdefault(p.parent, []).append(p)
    out = Triplets([], [], [])
    for members in groups.values():
        for t in members:
            others = [r for r in members if r is not t]
            if t.stem in by_name and others:
                out.targets.append(t)
                out.sources.append(by_name[t.stem])
                out.refs.append(others)
    if not out.targets:
        raise DatasetError(
            f"guided_w: no triplets in {root_b.parent}: it needs trainB/<group>/<name> images (groups of at least "
            "two) whose <name> also exists in trainA/ (e.g. trainB/<font>/U_A.png and trainA/U_A.png)"
        )
    return out


class GuidedStream(StreamDataset):
    """The unpaired stream plus one triplet per sample: GA (content, trainA), GR (style reference), GB (target).

    The triplet is drawn from its own seeded stream, so A and B are the same as without the option;
    GA and GB share one crop/flip (they are aligned); GR has its own crop but their flip (a mirrored
    reference of an unmirrored target would teach the style code to ignore slant)."""

    def __init__(self, layout: Layout, transform: Transform, seed: int, in_nc: int, out_nc: int, triplets: Triplets) -> None:
        super().__init__(layout, transform, seed, in_nc, out_nc, swap=False)
        self.triplets = triplets

    def _item(self, k: int) -> dict[str, torch.Tensor]:
        item = super()._item(k)
        T = self.triplets
        gen = sample_generator(self.seed * 31 + 17, k)  # a stream apart from the unpaired draw's
        i = int(torch.randint(0, len(T), (1,), generator=gen))
        refs = T.refs[i]
        ref_path = refs[int(torch.randint(0, len(refs), (1,), generator=gen))]
        src, tgt, ref = load_rgb(T.sources[i], self.in_nc), load_rgb(T.targets[i], self.out_nc), load_rgb(ref_path, self.out_nc)
        p = self.t.params(tgt.size, gen)
        p_ref = {**self.t.params(ref.size, gen), "flip": p["flip"]}  # one mirror world: an italic stays italic
        item.update(GA=self.t(src, p), GB=self.t(tgt, p), GR=self.t(ref, p_ref))
        return item
