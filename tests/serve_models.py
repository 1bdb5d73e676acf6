"""Tiny random models of every kind `gantrans serve` has a tab for, and test images (shared by the serve tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from helpers import draw_discs
from PIL import Image

import gantrans

LABELS = {"datasets": [{"name": "d", "attrs": ["x", "y"], "groups": {}, "images": 100, "counts": {"x": 10, "y": 70}}], "mask": False}


def make_models(root: Path) -> dict[str, Path]:
    """{tab: checkpoint path} for translate, style-sample, edit (StarGAN), edit-latent/sample, stylize, upscale, inpaint."""
    from gantrans.engine.latent_edit import add_attribute
    from gantrans.io.checkpoint import Checkpoint, save_checkpoint
    from gantrans.models.registry import build_network, make_config
    from gantrans.train.config import resolve_config
    from gantrans.train.trainer import train
    from gantrans.train.wct import random_encoders

    root.mkdir(parents=True, exist_ok=True)
    out = {k: root / f"{k}.safetensors" for k in ("translate", "munit", "stargan", "stylize", "upscale", "inpaint")}
    gantrans.build("resnet_6blocks", device="cpu", ngf=4, n_blocks=2).save(out["translate"])
    m = gantrans.build("munit", device="cpu", seed=3, dim=8, mlp_dim=16, n_res=1)
    with torch.no_grad():  # random MLP outputs are tiny at init: scale them so styles visibly differ
        m.checkpoint.networks["G"].gen_b.mlp.model[2].fc.weight.mul_(30)
    m.save(out["munit"])
    gantrans.build("stargan", device="cpu", conv_dim=4, repeat_num=1, c_dim=2, labels=LABELS).save(out["stargan"])
    torch.manual_seed(0)
    cfg = make_config("photowct", {"base": 4})
    net = build_network("photowct", cfg)
    random_encoders(net)
    save_checkpoint(Checkpoint(arch="photowct", config=cfg, networks={"G": net}, domains=["content"],
                               preprocess={"size": 0, "mean": [0.0] * 3, "std": [1.0] * 3}), out["stylize"])  # fmt: skip
    gantrans.build("srvgg_compact", device="cpu", num_feat=8, num_conv=3, domains=("LR", "HR"), seed=1, init="kaiming").save(out["upscale"])
    gantrans.build("gated_inpaint", cnum=8, domains=("image", "completed"), device="cpu", seed=2).save(out["inpaint"])
    # a latent model: two steps of VAE-GAN on discs, with one attribute vector
    discs = draw_discs(root / "discs", 16)
    base = dict(dataset=str(discs), output=str(root / "vaegan"), steps=2, save_every=2, sample_every=2, crop_size=32, load_size=32, ngf=8,
                ndf=8, nz=8, batch_size=8, workers=0, log_every=1, device="cpu")  # fmt: skip
    ck_path = train(resolve_config("vaegan", None, base)).model
    from gantrans.io.checkpoint import load_checkpoint

    ck = load_checkpoint(ck_path)
    g = torch.Generator().manual_seed(1)
    save_checkpoint(add_attribute(ck, "big", torch.randn(8, generator=g), -1.0, 1.0), root / "latent.safetensors")
    out["latent"] = root / "latent.safetensors"
    return out


def make_images(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = {}
    for name, shape in (("photo", (40, 36, 3)), ("style", (32, 32, 3)), ("grey", (24, 24)), ("scene", (224, 256, 3))):
        paths[name] = root / f"{name}.png"
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(paths[name])
    mask = np.zeros((40, 36), np.uint8)
    mask[10:25, 8:20] = 255
    paths["mask"] = root / "mask.png"
    Image.fromarray(mask).save(paths["mask"])
    paths["bad"] = root / "bad.png"
    paths["bad"].write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return paths
