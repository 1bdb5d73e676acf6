"""Digests of what gantrans produces, to prove a refactor changed nothing a user can see.

Runs every bundled model and a tiny seeded model of every registered family through the CLI
(translate, style-sample, edit, stylize) and the Python API, trains every recipe for a few steps, and
prints one JSON object {name: sha256}. Run it on two checkouts and diff the outputs:

    python scripts/output_digests.py > before.json   # on the old checkout
    python scripts/output_digests.py > after.json    # on the new one
    diff before.json after.json
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import gantrans

ROOT = Path.cwd()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def tensor_sha(t: torch.Tensor) -> str:
    return sha(t.detach().cpu().contiguous().numpy().tobytes())


def tree_sha(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()[:16]


def cli(*args: str) -> None:
    r = subprocess.run([sys.executable, "-m", "gantrans", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"gantrans {' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")


def images(folder: Path, channels: int = 3, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for i, (h, w) in enumerate([(37, 45), (64, 64), (50, 29)][:n]):
        arr = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
        img = Image.fromarray(arr).resize((w, h), Image.Resampling.BICUBIC)
        (img.convert("L") if channels == 1 else img).save(folder / f"im{i}.png")
    return folder


def tiny_models(tmp: Path) -> dict[str, Path]:
    out = {}
    specs = {
        "resnet_6blocks": {"ngf": 4, "n_blocks": 2}, "resnet_9blocks": {"ngf": 4}, "unet_128": {"ngf": 4},
        "unet_256": {"ngf": 4, "norm": "instance"}, "munit": {"dim": 8, "n_res": 1, "mlp_dim": 16},
        "unit": {"dim": 8, "n_res": 1}, "stargan": {"conv_dim": 8, "repeat_num": 1, "c_dim": 3},
    }  # fmt: skip
    for arch, cfg in specs.items():
        labels = {"datasets": [{"name": "d", "attrs": ["r", "g", "b"], "groups": {"col": ["r", "g"]}}], "mask": False}
        m = gantrans.build(arch, seed=3, labels=labels if arch == "stargan" else None, **cfg)
        out[arch] = m.save(tmp / f"{arch}.safetensors")
    return out


def main() -> None:
    torch.set_num_threads(2)
    digests: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rgb, grey = images(tmp / "rgb"), images(tmp / "grey", 1)
        models = tiny_models(tmp)
        # -- API: every family, both directions, conditions
        x = torch.rand(2, 3, 36, 44, generator=torch.Generator().manual_seed(0))
        for arch, path in models.items():
            t = gantrans.load(str(path), device="cpu")
            for direction in t.directions:
                if arch == "munit":
                    y = t.run(x, direction, t.random_styles([1, 2]))
                    digests[f"api/{arch}/{direction}/styles"] = tensor_sha(t.run_styles(x, t.random_styles([3, 4, 5]), direction))
                    digests[f"api/{arch}/{direction}/encode"] = tensor_sha(t.encode_style(x, direction))
                elif arch == "stargan":
                    y = t.run(x, direction, torch.tensor([[1.0, 0, 1], [0, 1, 0]]))
                else:
                    y = t.run(x, direction)
                    digests[f"api/{arch}/{direction}/tiled"] = tensor_sha(t.run_tiled(x[:1], direction, 16, 4))
                digests[f"api/{arch}/{direction}"] = tensor_sha(y)
        # -- CLI: translate / style-sample / edit with tiny and bundled models
        for arch in ("resnet_6blocks", "unet_256", "unit", "munit"):
            o = tmp / f"tr_{arch}"
            cli("translate", str(rgb), "-m", str(models[arch]), "-o", str(o), "-q", "--seed", "5")
            digests[f"cli/translate/{arch}"] = tree_sha(o)
        o = tmp / "tr_tiles"
        cli("translate", str(rgb), "-m", str(models["resnet_9blocks"]), "-o", str(o), "-q", "--tile", "32", "--tile-overlap", "8", "-b", "2")
        digests["cli/translate/tiles"] = tree_sha(o)
        examples = ROOT / "examples"
        for name, inp in (("noto2emojione", examples / "emoji"), ("glyphs_munit", examples / "glyphs")):
            o = tmp / f"b_{name}"
            cli("translate", str(inp), "-m", name, "-o", str(o), "-q", "-b", "3")
            digests[f"cli/translate/{name}"] = tree_sha(o)
        o = tmp / "ss"
        cli("style-sample", str(examples / "glyphs"), "-m", "glyphs_munit", "-o", str(o), "-n", "3", "-q")
        digests["cli/style-sample/glyphs_munit"] = tree_sha(o)
        o = tmp / "ss_ref"
        ref = sorted((examples / "glyphs").iterdir())[0]
        cli("style-sample", str(grey), "-m", str(models["munit"]), "-o", str(o), "--style-from", str(ref), "--grid", "-q")
        digests["cli/style-sample/ref"] = tree_sha(o)
        o = tmp / "ed"
        cli("edit", str(examples / "person_emoji"), "-m", "person_emoji_stargan", "-o", str(o), "--all", "-q")
        digests["cli/edit/person_emoji_stargan"] = tree_sha(o)
        o = tmp / "ed2"
        cli("edit", str(rgb), "-m", str(models["stargan"]), "-o", str(o), "--set", "col=g", "--source", "b=1", "-q", "--size", "0")
        digests["cli/edit/tiny"] = tree_sha(o)
        # -- training: a few steps of every recipe
        train_digests(tmp, rgb, digests)
    json.dump(digests, sys.stdout, indent=1, sort_keys=True)
    print()


def train_digests(tmp: Path, rgb: Path, digests: dict[str, str]) -> None:
    data = tmp / "unpaired"
    for side in ("trainA", "trainB"):
        images(data / side, n=3)
    paired = tmp / "paired"
    images(paired / "A", n=3)
    images(paired / "B", n=3)
    attrs = tmp / "attrs"
    images(attrs / "images", n=3)
    (attrs / "list_attr.txt").write_text("3\nRed Big\nim0.png 1 -1\nim1.png -1 1\nim2.png 1 1\n")
    common = ["--steps", "3", "--save-every", "3", "--sample-every", "3", "--workers", "0", "--device", "cpu", "--size", "32"]
    runs = {
        "cyclegan": [str(data), "--arch", "cyclegan", "--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--set", "n_layers_D=2"],
        "pix2pix": [str(paired), "--arch", "pix2pix", "--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4"],
        "munit": [str(data), "--arch", "munit", "--ngf", "8", "--ndf", "4", "--set", "n_layers_D=2", "--set", "num_scales=2",
                  "--set", "n_res=1", "--set", "mlp_dim=16", "--set", "recon_x_cyc_w=1"],
        "unit": [str(data), "--arch", "unit", "--ngf", "8", "--ndf", "4", "--set", "n_layers_D=2", "--set", "num_scales=2",
                 "--set", "n_res=1", "--set", "share=1"],
        "stargan": [str(attrs), "--arch", "stargan", "--ngf", "8", "--ndf", "8", "--set", "repeat_num=1", "--set", "d_repeat_num=3",
                    "--set", "n_critic=2", "--attrs", "Red,Big", "--batch-size", "2"],
        "wct-decoder": [str(rgb), "--arch", "wct-decoder", "--ngf", "8", "--set", "encoder=random", "--set", "wct_levels=2"],
    }  # fmt: skip
    for name, args in runs.items():
        run = tmp / f"run_{name}"
        cli("train", *args, *common, "-o", str(run), "-q")
        from safetensors.torch import load_file

        state = load_file(str(run / "model.safetensors"))
        digests[f"train/{name}"] = sha(b"".join(k.encode() + state[k].contiguous().numpy().tobytes() for k in sorted(state)))
        digests[f"train/{name}/samples"] = tree_sha(run / "samples")
    o = tmp / "stylized"  # the trained (random-encoder) PhotoWCT model, every smoothing mode
    for smooth in ("none", "fast"):
        cli("stylize", str(rgb / "im1.png"), "-s", str(rgb / "im0.png"), "-m", str(tmp / "run_wct-decoder"), "-o", str(o / smooth), "--smooth", smooth, "-q")
    digests["cli/stylize"] = tree_sha(o)


if __name__ == "__main__":
    main()
