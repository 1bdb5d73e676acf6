"""`gantrans convert` for official CycleGAN/pix2pix files: inference, quirks, same outputs, safety.

Official-format files are built here (fresh weights, the official key layout and its quirks), and the
converted model's `translate` output is compared with an independent functional forward pass written
from the published architecture.
"""

from __future__ import annotations

import json
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import FileCreator
from PIL import Image
from safetensors import safe_open
from typer.testing import CliRunner

import gantrans
from gantrans.cli.main import app
from gantrans.models import build_network, make_config

runner = CliRunner()


def official_state(arch, seed=0, **cfg):
    torch.manual_seed(seed)
    net = build_network(arch, make_config(arch, cfg))
    sd = OrderedDict()
    for k, v in net.state_dict().items():
        if k.endswith("running_var"):
            v = torch.rand_like(v) + 0.5
        elif v.is_floating_point():
            v = torch.randn_like(v) * 0.05
        sd[k] = v
    return sd


# -- an independent forward pass, written from the published architecture --------------------------
def _norm(sd, x, prefix, norm):
    if norm == "instance":
        return F.instance_norm(x, eps=1e-5)
    if norm == "batch":
        return F.batch_norm(x, sd[prefix + ".running_mean"], sd[prefix + ".running_var"], sd[prefix + ".weight"], sd[prefix + ".bias"], False, 0.1, 1e-5)
    return x


def ref_resnet(sd, x, n_blocks, norm):
    conv = lambda x, p, s=1, pad=0: F.conv2d(x, sd[p + ".weight"], sd.get(p + ".bias"), s, pad)  # noqa: E731
    x = F.relu(_norm(sd, conv(F.pad(x, (3,) * 4, mode="reflect"), "model.1"), "model.2", norm))
    x = F.relu(_norm(sd, conv(x, "model.4", 2, 1), "model.5", norm))
    x = F.relu(_norm(sd, conv(x, "model.7", 2, 1), "model.8", norm))
    for i in range(n_blocks):
        p = f"model.{10 + i}.conv_block"
        h = F.relu(_norm(sd, conv(F.pad(x, (1,) * 4, mode="reflect"), p + ".1"), p + ".2", norm))
        x = x + _norm(sd, conv(F.pad(h, (1,) * 4, mode="reflect"), p + ".5"), p + ".6", norm)
    j = 10 + n_blocks
    for k in (j, j + 3):
        x = F.conv_transpose2d(x, sd[f"model.{k}.weight"], sd.get(f"model.{k}.bias"), 2, 1, output_padding=1)
        x = F.relu(_norm(sd, x, f"model.{k + 1}", norm))
    return torch.tanh(conv(F.pad(x, (3,) * 4, mode="reflect"), f"model.{j + 7}"))


def ref_unet(sd, x, num_downs, norm):
    conv = lambda x, p: F.conv2d(x, sd[p + ".weight"], sd.get(p + ".bias"), 2, 1)  # noqa: E731
    convT = lambda x, p: F.conv_transpose2d(x, sd[p + ".weight"], sd.get(p + ".bias"), 2, 1)  # noqa: E731

    def block(x, p, level):
        if level == 0:
            h = conv(x, p + ".0")
            return torch.tanh(convT(F.relu(block(h, p + ".1.model", 1)), p + ".3"))
        a = F.leaky_relu(x, 0.2)  # the official in-place LeakyReLU: the skip carries it too
        if level == num_downs - 1:
            h = _norm(sd, convT(F.relu(conv(a, p + ".1")), p + ".3"), p + ".4", norm)
        else:
            h = _norm(sd, conv(a, p + ".1"), p + ".2", norm)
            h = _norm(sd, convT(F.relu(block(h, p + ".3.model", level + 1)), p + ".5"), p + ".6", norm)
        return torch.cat([a, h], 1)

    return block(x, "model.model", 0)


def to_u8(y):
    return ((y[0].permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.int16)


CASES = [
    # (file arch, config, reference, official quirks to add)
    ("resnet_9blocks", {"ngf": 8}, lambda sd, x: ref_resnet(sd, x, 9, "instance"), "stale_in"),
    ("resnet_6blocks", {"ngf": 8, "norm": "batch"}, lambda sd, x: ref_resnet(sd, x, 6, "batch"), "module"),
    ("resnet_6blocks", {"ngf": 8, "norm": "none"}, lambda sd, x: ref_resnet(sd, x, 6, "none"), ""),
    ("unet_256", {"ngf": 4}, lambda sd, x: ref_unet(sd, x, 8, "batch"), "module"),
    ("unet_128", {"ngf": 4, "norm": "instance"}, lambda sd, x: ref_unet(sd, x, 7, "instance"), "stale_in"),
]


@pytest.mark.parametrize("arch,cfg,ref,quirk", CASES, ids=[f"{c[0]}-{c[1].get('norm', 'default')}" for c in CASES])
def test_converted_model_matches_official_forward(tmp_path, arch, cfg, ref, quirk):
    sd = official_state(arch, **cfg)
    saved = OrderedDict(sd)
    if quirk == "stale_in":  # pre-0.4 checkpoints carry instance-norm running stats
        saved["model.2.running_mean" if arch.startswith("resnet") else "model.model.1.model.2.running_mean"] = torch.zeros(cfg["ngf"] * (1 if arch.startswith("resnet") else 2))
        saved["model.2.num_batches_tracked" if arch.startswith("resnet") else "model.model.1.model.2.num_batches_tracked"] = torch.tensor(0)
    if quirk == "module":
        saved = OrderedDict(("module." + k, v) for k, v in saved.items())
    src = tmp_path / "latest_net_G.pth"
    torch.save(saved, src)
    out = tmp_path / "m.safetensors"
    source = "pix2pix" if arch.startswith("unet") else "cyclegan"
    r = runner.invoke(app, ["convert", str(src), "-o", str(out), "--from", source, "--license", "BSD-2-Clause"])
    assert r.exit_code == 0, r.output
    assert f"-> {arch}" in r.stderr and f"ngf {cfg['ngf']}" in r.stderr
    assert f"norm {cfg.get('norm', 'batch' if arch.startswith('unet') else 'instance')}" in r.stderr
    with safe_open(str(out), framework="pt") as f:
        meta = f.metadata()
    prov = json.loads(meta["provenance"])
    assert prov["sources"][0]["file"] == "latest_net_G.pth" and len(prov["sources"][0]["sha256"]) == 64
    assert meta["license"] == "BSD-2-Clause" and meta["arch"] == arch

    side = 256 if arch == "unet_256" else 128
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))
    model = gantrans.load(str(out), device="cpu")
    ours = np.asarray(model.translate(img), dtype=np.int16)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    with torch.no_grad():
        theirs = to_u8(ref(sd, x))
    assert np.abs(ours - theirs).max() <= 2


def test_cyclegan_pair_and_inference_errors(tmp_path):
    for role, seed in (("A", 0), ("B", 1)):
        torch.save(official_state("resnet_6blocks", seed, ngf=4), tmp_path / f"latest_net_G_{role}.pth")
    out = tmp_path / "pair.safetensors"
    r = runner.invoke(app, ["convert", str(tmp_path / "latest_net_G_A.pth"), str(tmp_path / "latest_net_G_B.pth"), "-o", str(out), "--domains", "horse,zebra"])
    assert r.exit_code == 0, r.output
    m = gantrans.load(str(out), device="cpu")
    assert m.directions == ["a2b", "b2a"] and m.checkpoint.domains == ["horse", "zebra"]
    # a flag that contradicts the weights: a strict-load error naming the keys
    r = runner.invoke(app, ["convert", str(tmp_path / "latest_net_G_A.pth"), "-o", str(tmp_path / "x.safetensors"), "--norm", "batch"])
    assert r.exit_code == 1 and "missing keys" in r.stderr
    assert runner.invoke(app, ["convert", str(tmp_path / "latest_net_G_A.pth"), "-o", str(out)]).exit_code == 2  # exists


def test_pickled_code_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "latest_net_G.pth"
    evil.write_bytes(pickle.dumps({"model.1.weight": FileCreator(marker)}, protocol=2))
    r = runner.invoke(app, ["convert", str(evil), "-o", str(tmp_path / "m.safetensors")])
    assert r.exit_code == 1 and "never executes pickled code" in r.stderr
    assert not marker.exists() and not (tmp_path / "m.safetensors").exists()
    zipped = tmp_path / "zipped.pth"  # torch.save's zip format, same refusal
    torch.save({"model.1.weight": FileCreator(marker)}, zipped)
    marker.unlink(missing_ok=True)
    r = runner.invoke(app, ["convert", str(zipped), "-o", str(tmp_path / "m.safetensors")])
    assert r.exit_code == 1 and "never executes pickled code" in r.stderr and not marker.exists()
