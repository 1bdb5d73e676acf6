"""Labelled datasets for StarGAN: attribute files, folder-per-domain, and several at once (mask vector).

Label schema (stored in the checkpoint's `labels` metadata, so `edit` needs nothing else):

    {"datasets": [{"name": "celeba", "attrs": ["Black_Hair", ...], "groups": {"hair": ["Black_Hair", ...]},
                   "images": 202599, "counts": {"Black_Hair": 48472, ...}}, ...],
     "mask": true|false}

(`images`/`counts`: training images in all and with each attribute on; absent in converted models.)

The generator's label is the concatenation of every dataset's attributes, followed, when there are
several datasets, by a one-hot mask saying which dataset's part is meaningful (StarGAN §3.2).
Attributes in a group are exclusive (one-hot); the others are independent binary attributes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gantrans.errors import UsageError
from gantrans.io.images import list_images
from gantrans.train.data import DatasetError, load_rgb, note_unreadable, sample_generator

log = logging.getLogger("gantrans.train")
ATTR_FILES = ("list_attr_celeba.txt", "list_attr.txt", "attributes.txt")


@dataclass
class LabelSet:
    name: str
    attrs: list[str]
    groups: dict[str, list[str]] = field(default_factory=dict)
    items: list[tuple[Path, np.ndarray]] = field(default_factory=list)  # (image, 0/1 label per attr)

    def schema(self) -> dict:
        # how many training images carry each attribute: `edit` warns about values seen on few of them
        on = np.stack([lab for _, lab in self.items]).sum(0) if self.items else np.zeros(len(self.attrs))
        counts = {a: int(n) for a, n in zip(self.attrs, on)}
        return {"name": self.name, "attrs": self.attrs, "groups": self.groups, "images": len(self.items), "counts": counts}


def parse_groups(specs: list[str]) -> dict[str, list[str]]:
    """["hair=Black_Hair,Blond_Hair"] -> {"hair": ["Black_Hair", "Blond_Hair"]}."""
    out = {}
    for spec in specs:
        name, eq, members = spec.partition("=")
        names = [m.strip() for m in members.split(",") if m.strip()]
        if not eq or not name.strip() or len(names) < 2:
            raise UsageError(f"group {spec!r}: expected NAME=ATTR,ATTR[,...] (two or more attributes)")
        out[name.strip()] = names
    return out


def read_attr_file(path: Path, select: list[str], groups: dict[str, list[str]]) -> LabelSet:
    """A CelebA-style attribute file: a count line, a line of attribute names, then `file v1 v2 ...`
    with 1/-1 (or 1/0) values. Images are looked up next to the file, or in its images/ folder."""
    if path.is_dir():
        found = [path / n for n in ATTR_FILES if (path / n).is_file()]
        if not found:
            raise DatasetError(f"{path}: no attribute file ({', '.join(ATTR_FILES)})")
        path = found[0]
    lines = path.read_text().splitlines()
    if len(lines) < 3:
        raise DatasetError(f"{path}: an attribute file needs a count line, a names line and rows")
    names = lines[1].split()
    select = select or [a for g in groups.values() for a in g] or names
    missing = [a for a in select if a not in names]
    if missing:
        raise DatasetError(f"{path}: unknown attribute(s) {', '.join(missing)}; the file has: {' '.join(names)}")
    for g, members in groups.items():
        bad = [m for m in members if m not in select]
        if bad:
            raise DatasetError(f"group {g}: {', '.join(bad)} not among the selected attributes")
    cols = [names.index(a) for a in select]
    root = path.parent / "images" if (path.parent / "images").is_dir() else path.parent
    ls = LabelSet(path.parent.name or "attrs", select, groups)
    for n, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise DatasetError(f"{path}:{n}: expected a file name and {len(names)} values, got {len(parts) - 1}")
        vals = np.array([float(parts[1 + c]) > 0 for c in cols], dtype=np.float32)
        img = root / parts[0]
        if img.is_file():
            ls.items.append((img, vals))
        else:
            log.warning("%s:%d: no image %s; skipped", path, n, img)
    for g, members in groups.items():
        idx = [select.index(m) for m in members]
        bad = sum(1 for _, v in ls.items if v[idx].sum() != 1)
        if bad:
            log.warning("group %s: %d row(s) do not have exactly one of %s set", g, bad, ",".join(members))
    if not ls.items:
        raise DatasetError(f"{path}: no listed image exists under {root}")
    return ls


def read_folders(root: Path, phase: str = "train") -> LabelSet:
    """Folder per domain: ROOT/train/<domain>/* (or ROOT/<domain>/*) -> one exclusive group "domain"."""
    base = root / phase if (root / phase).is_dir() else root
    domains = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(domains) < 2:
        raise DatasetError(f"{base}: folder-per-domain data needs two or more sub-folders (one per domain)")
    ls = LabelSet(root.name, domains, {"domain": list(domains)})
    for i, d in enumerate(domains):
        onehot = np.zeros(len(domains), np.float32)
        onehot[i] = 1
        ls.items += [(p, onehot) for p in list_images(base / d)]
    return ls


def load_label_sets(cfg) -> list[LabelSet]:  # cfg: TrainConfig
    """cfg.datasets ("attrs:PATH", "folders:PATH") or the one cfg.dataset (attribute file or folders)."""
    specs = cfg.datasets or [cfg.dataset]
    groups = parse_groups(cfg.groups)
    sets = []
    for spec in specs:
        kind, sep, path = spec.partition(":")
        if not sep or kind not in ("attrs", "folders"):
            kind, path = ("attrs" if _has_attr_file(Path(spec)) else "folders"), spec
        p = Path(path)
        if not p.exists():
            raise DatasetError(f"dataset {p} does not exist")
        if kind == "attrs":
            own = {g: m for g, m in groups.items()} if len(specs) == 1 else _groups_for(p, groups)
            sets.append(read_attr_file(p, list(cfg.attrs) if len(specs) == 1 else [], own))
        else:
            sets.append(read_folders(p, cfg.phase))
    names = [s.name for s in sets]
    for i, s in enumerate(sets):  # unique dataset names
        if names.count(s.name) > 1:
            s.name = f"{s.name}{i}"
    return sets


def _has_attr_file(p: Path) -> bool:
    return p.is_file() or any((p / n).is_file() for n in ATTR_FILES)


def _groups_for(path: Path, groups: dict[str, list[str]]) -> dict[str, list[str]]:
    if path.is_dir():
        path = next((path / n for n in ATTR_FILES if (path / n).is_file()), path)
    names = set(path.read_text().splitlines()[1].split()) if path.is_file() else set()
    return {g: m for g, m in groups.items() if set(m) <= names}


def schema(sets: list[LabelSet]) -> dict:
    return {"datasets": [s.schema() for s in sets], "mask": len(sets) > 1}


def label_dim(sets: list[LabelSet]) -> int:
    """Generator label channels: every attribute, plus the mask when there are several datasets."""
    return sum(len(s.attrs) for s in sets) + (len(sets) if len(sets) > 1 else 0)


def full_label(sets: list[LabelSet], ds: int, own: np.ndarray) -> np.ndarray:
    """Dataset `ds`'s label `own` placed in the joint vector (zeros elsewhere) + mask."""
    out = np.zeros(label_dim(sets), np.float32)
    off = sum(len(s.attrs) for s in sets[:ds])
    out[off : off + len(own)] = own
    if len(sets) > 1:
        out[sum(len(s.attrs) for s in sets) + ds] = 1
    return out


class LabelStream(torch.utils.data.Dataset):
    """Sample k of an endless, seeded stream; all samples of one batch come from one dataset
    (dataset = batch number mod number of datasets), as the official multi-dataset training alternates."""

    def __init__(self, sets: list[LabelSet], size: int, center_crop: int, flip: bool, nc: int, seed: int, batch: int) -> None:
        self.sets, self.size, self.crop, self.flip, self.nc = sets, size, center_crop, flip, nc
        self.seed, self.batch = seed, batch
        self._perms: dict[tuple[int, int], torch.Tensor] = {}
        self.failure_log: Path | None = None  # set by the trainer: the run's unreadable.jsonl

    def __len__(self) -> int:
        return 2**62

    def image(self, path: Path, flip: bool) -> torch.Tensor:
        img = load_rgb(path, self.nc)
        if self.crop:
            w, h = img.size
            c = min(self.crop, w, h)
            img = img.crop(((w - c) // 2, (h - c) // 2, (w - c) // 2 + c, (h - c) // 2 + c))
        if img.size != (self.size, self.size):
            img = img.resize((self.size, self.size), Image.Resampling.BICUBIC)
        if flip:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        t = torch.from_numpy(np.array(img, dtype=np.float32)) / 127.5 - 1.0
        return t[None] if t.ndim == 2 else t.permute(2, 0, 1)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        ds = (k // self.batch) % len(self.sets)
        s = self.sets[ds]
        j = k // (self.batch * len(self.sets)) * self.batch + k % self.batch  # position in this dataset's stream
        epoch, pos = divmod(j, len(s.items))
        key = (ds, epoch)
        if key not in self._perms:
            self._perms = {key: torch.randperm(len(s.items), generator=sample_generator(self.seed + 7 * ds, -1 - epoch))}
        gen = sample_generator(self.seed + 7 * ds, j)
        for attempt in range(8):
            path, own = s.items[int(self._perms[key][(pos + attempt) % len(s.items)])]
            try:
                img = self.image(path, self.flip and bool(torch.rand((), generator=gen) < 0.5))
                break
            except Exception as e:  # noqa: BLE001 - one bad file never stops a run
                note_unreadable(self.failure_log, e, str(path))
        else:
            raise DatasetError(f"8 consecutive images of {s.name} failed to load")
        return {"image": img, "label": torch.from_numpy(full_label(self.sets, ds, own)), "ds": torch.tensor(ds)}
