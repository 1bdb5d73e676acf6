"""Helpers shared by the tests (import them: `from helpers import tiny`); fixtures live in conftest.py."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import gantrans
from gantrans.train.config import resolve_config


def tiny(arch: str = "resnet_6blocks", **config):
    """A small but complete model (fresh, seeded weights) for fast tests."""
    defaults = {"ngf": 4}
    if arch.startswith("resnet"):
        defaults["n_blocks"] = 2
    defaults.update(config)
    return gantrans.build(arch, device="cpu", **defaults)


class FileCreator:
    """Unpickling this calls open(path, "w"): a test pickle that must never be executed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def skimage_photo(name: str) -> Path:
    """A photo shipped in scikit-image's wheel (test extra), located through its file list, not imported."""
    try:
        files = importlib.metadata.files("scikit-image") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("scikit-image (test extra) is not installed")
    for f in files:
        if str(f).endswith(f"skimage/data/{name}"):
            return Path(f.locate())
    pytest.skip(f"scikit-image has no data/{name}")


def draw_discs(root: Path, n: int, size: int = 32) -> Path:
    """n images of a coloured disc of random radius and colour on black (seeded): a few factors of variation."""
    import numpy as np
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.ogrid[:size, :size]
    for i in range(n):
        a = np.zeros((size, size, 3), np.uint8)
        r = rng.integers(4, 14)
        a[(y - size // 2) ** 2 + (x - size // 2) ** 2 < r * r] = rng.integers(60, 256, 3)
        Image.fromarray(a).save(root / f"{i:02d}.png")
    return root


def script_module(name: str):
    """scripts/NAME.py loaded as a module (the scripts are not a package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def inpaint_baselines():
    """scripts/evaluate_inpaint_model.py (the held-out evaluation and its baselines), loaded as a module."""
    return script_module("evaluate_inpaint_model")


def write_attr_dataset(root: Path, n: int = 24) -> Path:
    """Squares whose colour encodes an exclusive 'colour' group and whose size encodes 'Big'."""
    (root / "images").mkdir(parents=True)
    rows = []
    rng = np.random.default_rng(0)
    colours = {"Red": (220, 30, 30), "Green": (30, 200, 30), "Blue": (30, 30, 220)}
    for i in range(n):
        name, rgb = list(colours.items())[i % 3]
        big = bool((i // 3) % 2)
        img = np.full((32, 32, 3), 255, np.uint8)
        half = 12 if big else 6
        c = 16 + int(rng.integers(-2, 3))
        img[c - half : c + half, c - half : c + half] = rgb
        Image.fromarray(img).save(root / "images" / f"{i:03d}.png")
        rows.append(f"{i:03d}.png " + " ".join("1" if v else "-1" for v in (name == "Red", name == "Green", name == "Blue", big, i % 2 == 0)))
    (root / "list_attr.txt").write_text(f"{n}\nRed Green Blue Big Odd\n" + "\n".join(rows) + "\n")
    return root


STARGAN_TINY = {"ngf": 8, "ndf": 8, "repeat_num": 1, "d_repeat_num": 3, "crop_size": 32, "load_size": 32, "batch_size": 6,
        "workers": 0, "device": "cpu", "log_every": 1, "n_critic": 2, "attrs": ["Red", "Green", "Blue", "Big"],
        "groups": ["colour=Red,Green,Blue"], "lr": 5e-4}  # fmt: skip


def stargan_cfg(data: Path, out: Path, **over):  # type: ignore[no-untyped-def]
    """A tiny StarGAN run config on `data` (a write_attr_dataset folder)."""
    return resolve_config("stargan", None, {**STARGAN_TINY, "dataset": str(data), "output": str(out), **over})
