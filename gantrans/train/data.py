"""Training datasets, detected from the folder layout, with the official preprocessing.

Every random choice for a sample (crop, flip, the unpaired B image) comes from a generator seeded by
(seed, position in the sample stream), so the data a step sees is a pure function of the step: resume
needs no loader state, worker count does not change results, and ranks draw disjoint streams.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image, ImageOps

from gantrans.errors import DataError, UsageError
from gantrans.io.images import list_images

log = logging.getLogger("gantrans.train")

LAYOUTS = """expected one of these layouts:
  unpaired:  DATASET/trainA/*, DATASET/trainB/*   (optional testA/, testB/)
  aligned:   DATASET/train/*.jpg                   (each file holds A|B side by side)
  paired:    DATASET/A/*, DATASET/B/*              (matched by file name)
  images:    DATASET/**/*                          (wct-decoder: any folder of images)"""


class DatasetError(UsageError):
    pass


def _readable(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    good, bad = [], []
    for p in paths:
        try:
            with Image.open(p) as im:
                im.verify()
            good.append(p)
        except Exception as e:  # noqa: BLE001 - any unreadable file is skipped, never fatal
            log.warning("skipping unreadable image %s (%s)", p, e)
            bad.append(p)
    return good, bad


@dataclass
class Layout:
    kind: str  # unpaired | aligned | paired
    a: list[Path]
    b: list[Path]  # aligned: empty (B is the right half of each A file)
    skipped: list[Path]
    test_a: list[Path]
    test_b: list[Path]


def detect(root: str | Path, phase: str = "train", images: bool = False) -> Layout:
    """The dataset's layout; `images`: any folder of images, read recursively (one domain)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset {root} is not a folder; {LAYOUTS}")
    if images:
        a, bad = _readable(list_images(root))
        if not a:
            raise DatasetError(f"{root}: no readable images")
        return Layout("images", a, [], bad, [], [])
    ta, tb = root / f"{phase}A", root / f"{phase}B"
    if ta.is_dir() and tb.is_dir():
        a, bad_a = _readable(list_images(ta))
        b, bad_b = _readable(list_images(tb))
        if not a or not b:
            raise DatasetError(f"{root}: {phase}A/ and {phase}B/ must both hold readable images")
        test_a = list_images(root / "testA") if (root / "testA").is_dir() else []
        test_b = list_images(root / "testB") if (root / "testB").is_dir() else []
        return Layout("unpaired", a, b, bad_a + bad_b, test_a, test_b)
    if (root / phase).is_dir() and list_images(root / phase):
        a, bad = _readable(list_images(root / phase))
        if not a:
            raise DatasetError(f"{root}/{phase}: no readable images")
        test = list_images(root / "test") if (root / "test").is_dir() else []
        return Layout("aligned", a, [], bad, test, [])
    if (root / "A").is_dir() and (root / "B").is_dir():
        by_stem_b = {p.relative_to(root / "B").with_suffix("").as_posix(): p for p in list_images(root / "B")}
        pairs = []
        for p in list_images(root / "A"):
            q = by_stem_b.get(p.relative_to(root / "A").with_suffix("").as_posix())
            if q is not None:
                pairs.append((p, q))
        if not pairs:
            raise DatasetError(f"{root}: A/ and B/ share no file names")
        good_a, bad_a = _readable([p for p, _ in pairs])
        good_b, bad_b = _readable([q for _, q in pairs])
        ok = set(good_a), set(good_b)
        pairs = [(p, q) for p, q in pairs if p in ok[0] and q in ok[1]]
        return Layout("paired", [p for p, _ in pairs], [q for _, q in pairs], bad_a + bad_b, [], [])
    raise DatasetError(f"{root}: no known dataset layout found; {LAYOUTS}")


class UnreadableImage(DataError):
    """A training image that passed the open-time check but failed to decode (named, and counted)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: cannot decode ({reason})")
        self.path, self.reason = path, reason


def load_rgb(path: Path, channels: int) -> Image.Image:
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "P"):
                im = im.convert("RGBA")
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, im)
            return im.convert("L" if channels == 1 else "RGB")
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise UnreadableImage(path, str(e) or type(e).__name__) from None


def note_unreadable(failure_log: Path | None, e: Exception, fallback: str) -> None:
    """Warn naming the file, and append it to the run's failure log (config.json counts it at each save)."""
    path = getattr(e, "path", None)
    log.warning("skipping unreadable image %s (%s)", path or fallback, getattr(e, "reason", e))
    if failure_log is not None and path is not None:
        with open(failure_log, "a") as f:  # one short O_APPEND write: lines of several workers never mix
            f.write(json.dumps({"path": str(path), "error": str(getattr(e, "reason", e))}) + "\n")


def load_pair(layout: Layout, path_a: Path, path_b: Path | None, in_nc: int, out_nc: int, swap: bool) -> tuple[Image.Image, Image.Image]:
    """An (input, target) pair: halves of one aligned A|B file, or two paired files; `swap` for b2a."""
    if layout.kind == "aligned":
        ab = load_rgb(path_a, 3)
        w, h = ab.size
        a, b = ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, w, h))
    else:
        assert path_b is not None
        a, b = load_rgb(path_a, 3), load_rgb(path_b, 3)
    if swap:
        a, b = b, a
    return (a.convert("L") if in_nc == 1 else a), (b.convert("L") if out_nc == 1 else b)


@dataclass
class Transform:
    """The official get_transform: resize/crop/flip, then [-1, 1]. Params drawn from `gen`."""

    preprocess: str
    load_size: int
    crop_size: int
    flip: bool

    def params(self, size: tuple[int, int], gen: torch.Generator) -> dict:
        w, h = size
        if self.preprocess == "resize_and_crop":
            w = h = self.load_size
        elif "scale_width" in self.preprocess:
            w, h = self.load_size, max(self.crop_size, int(self.load_size * h / w))
        x = int(torch.randint(0, max(0, w - self.crop_size) + 1, (1,), generator=gen))
        y = int(torch.randint(0, max(0, h - self.crop_size) + 1, (1,), generator=gen))
        flip = bool(torch.rand((), generator=gen) < 0.5)
        return {"resized": (w, h), "crop": (x, y), "flip": flip and self.flip}

    def __call__(self, img: Image.Image, p: dict) -> torch.Tensor:
        if img.size != p["resized"] and self.preprocess != "crop" and self.preprocess != "none":
            img = img.resize(p["resized"], Image.Resampling.BICUBIC)
        if "crop" in self.preprocess:
            x, y = p["crop"]
            img = img.crop((x, y, x + self.crop_size, y + self.crop_size))
        elif self.preprocess == "none":  # the official code rounds to a multiple of 4
            w, h = img.size
            nw, nh = max(4, round(w / 4) * 4), max(4, round(h / 4) * 4)
            if (nw, nh) != (w, h):
                img = img.resize((nw, nh), Image.Resampling.BICUBIC)
        if p["flip"]:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        t = torch.from_numpy(np.array(img, dtype=np.float32)) / 127.5 - 1.0
        return t[None] if t.ndim == 2 else t.permute(2, 0, 1)  # (C, H, W) in [-1, 1]


def random_crop(img: Image.Image, size: int, gen: torch.Generator, flip: bool, rot: bool) -> torch.Tensor:
    """A random size x size crop (images smaller than that are first enlarged), flips/rotation -> (C, S, S) in [0, 1]."""
    w, h = img.size
    if min(w, h) < size:
        f = size / min(w, h)
        img = img.resize((max(size, round(w * f)), max(size, round(h * f))), Image.Resampling.BICUBIC)
        w, h = img.size
    x = int(torch.randint(0, w - size + 1, (1,), generator=gen))
    y = int(torch.randint(0, h - size + 1, (1,), generator=gen))
    arr = np.asarray(img.crop((x, y, x + size, y + size)), dtype=np.float32) / 255.0
    t = torch.from_numpy(arr.copy())
    t = t[None] if t.ndim == 2 else t.permute(2, 0, 1)
    hflip, vflip, transpose = (bool(torch.rand((), generator=gen) < 0.5) for _ in range(3))
    if flip and hflip:
        t = t.flip(-1)
    if rot and vflip:
        t = t.flip(-2)
    if rot and transpose:
        t = t.transpose(-1, -2)
    return t.contiguous()


def sample_generator(seed: int, k: int) -> torch.Generator:
    # A distinct, reproducible stream per (seed, sample position).
    return torch.Generator().manual_seed((seed * 1_000_003 + k * 7919 + 12345) % (2**63 - 1))


class StreamDataset(torch.utils.data.Dataset):
    """Item k of an endless stream of samples: epoch k // n, seeded permutation per epoch."""

    def __init__(self, layout: Layout, transform: Transform, seed: int, in_nc: int, out_nc: int, swap: bool) -> None:
        self.layout, self.t, self.seed = layout, transform, seed
        self.in_nc, self.out_nc, self.swap = in_nc, out_nc, swap
        self.n = max(len(layout.a), len(layout.b))
        self._perms: dict[int, torch.Tensor] = {}
        self.failure_log: Path | None = None  # set by the trainer: the run's unreadable.jsonl

    def __len__(self) -> int:  # the stream is endless; DataLoader only needs indices from the sampler
        return 2**62

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            self._perms = {epoch: torch.randperm(self.n, generator=sample_generator(self.seed, -1 - epoch))}
        return self._perms[epoch]

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        for attempt in range(8):  # a file that fails to decode is replaced by the next sample
            try:
                return self._item(k + attempt)
            except Exception as e:  # noqa: BLE001 - never crash a run on one file
                note_unreadable(self.failure_log, e, f"sample {k + attempt}")
        raise DatasetError(f"8 consecutive samples from position {k} failed to load")

    def _item(self, k: int) -> dict[str, torch.Tensor]:
        epoch, pos = divmod(k, self.n)
        i = int(self._perm(epoch)[pos])
        gen = sample_generator(self.seed, k)
        L = self.layout
        if L.kind == "images":
            a = load_rgb(L.a[i], self.in_nc)
            return {"A": self.t(a, self.t.params(a.size, gen))}
        if L.kind == "unpaired":
            a_path = L.a[i % len(L.a)]
            b_path = L.b[int(torch.randint(0, len(L.b), (1,), generator=gen))]
            a, b = load_rgb(a_path, self.in_nc), load_rgb(b_path, self.out_nc)
            return {"A": self.t(a, self.t.params(a.size, gen)), "B": self.t(b, self.t.params(b.size, gen))}
        a, b = load_pair(L, L.a[i], L.b[i] if L.b else None, self.in_nc, self.out_nc, self.swap)
        p = self.t.params(a.size, gen)  # one set of params: A and B stay aligned
        return {"A": self.t(a, p), "B": self.t(b, p)}


class StreamSampler(torch.utils.data.Sampler):
    """Indices of this rank's share of the stream from `start_step` on (no state: a function of step)."""

    def __init__(self, start_step: int, steps: int, batch: int, rank: int, world: int) -> None:
        self.start, self.steps, self.batch, self.rank, self.world = start_step, steps, batch, rank, world

    def __iter__(self):
        for s in range(self.start, self.steps):
            base = (s * self.world + self.rank) * self.batch
            yield from range(base, base + self.batch)

    def __len__(self) -> int:
        return max(0, self.steps - self.start) * self.batch


def make_loader(
    ds: StreamDataset, start_step: int, steps: int, batch: int, rank: int, world: int, workers: int, pin: bool
) -> torch.utils.data.DataLoader:
    sampler = StreamSampler(start_step, steps, batch, rank, world)
    return torch.utils.data.DataLoader(
        ds, batch_size=batch, sampler=sampler, num_workers=workers, pin_memory=pin,
        persistent_workers=False, generator=torch.Generator(),  # never touches the global RNG
        worker_init_fn=_quiet_worker,
    )  # fmt: skip


def _quiet_worker(_: int) -> None:
    torch.set_num_threads(1)


def _first_loadable(paths: list[Any], load: Callable[[Any], Any], n: int) -> list[Any]:
    """load(p) for the first n paths that decode (a broken file is skipped with a warning, not fatal)."""
    out: list[Any] = []
    for p in paths:
        if len(out) == n:
            break
        try:
            out.append(load(p))
        except UnreadableImage as e:
            note_unreadable(None, e, str(p))
    return out


def fixed_samples(layout: Layout, transform_size: int, in_nc: int, out_nc: int, swap: bool, n: int = 4) -> dict[str, torch.Tensor]:
    """A few fixed images for sample grids (test split if present), centre-resized, no randomness."""
    t = Transform("resize_and_crop", transform_size, transform_size, False)
    p = {"resized": (transform_size, transform_size), "crop": (0, 0), "flip": False}
    out: dict[str, list[torch.Tensor]] = {"A": [], "B": []}
    if layout.kind == "images":
        return {"A": torch.stack(_first_loadable(layout.a, lambda q: t(load_rgb(q, in_nc), p), n))}
    if layout.kind == "unpaired":
        srcs = {"A": layout.test_a or layout.a, "B": layout.test_b or layout.b}
        for key, nc in (("A", in_nc), ("B", out_nc)):
            out[key] = _first_loadable(srcs[key], lambda q, nc=nc: t(load_rgb(q, nc), p), n)
    else:
        paths_a = layout.test_a or layout.a
        paths_b = layout.b if layout.kind == "paired" else [None] * len(paths_a)
        pairs = _first_loadable(list(zip(paths_a, paths_b)), lambda ab: load_pair(layout, ab[0], ab[1], in_nc, out_nc, swap), n)
        for a, b in pairs:
            out["A"].append(t(a, p))
            out["B"].append(t(b, p))
    k = min(len(out["A"]), len(out["B"]))
    return {key: torch.stack(v[:k]) for key, v in out.items()}
