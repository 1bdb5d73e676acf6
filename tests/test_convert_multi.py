"""`gantrans convert --from munit|unit|stargan`: official-format files built here (fresh weights, the
official key layouts and quirks) give, through style-sample/translate/edit, the output of an
independent functional forward pass written from the published architectures."""

from __future__ import annotations

import json

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

import gantrans
from gantrans.cli.main import app
from gantrans.models import build_network, make_config

runner = CliRunner()


def randomized(net, seed):
    torch.manual_seed(seed)
    out = {}
    for k, v in net.state_dict().items():
        if k.endswith("running_var"):
            v = torch.rand_like(v) + 0.5
        elif k.endswith("gamma"):
            v = torch.rand_like(v) + 0.5
        elif v.is_floating_point():
            v = torch.randn_like(v) * (0.15 if v.ndim > 1 else 0.05)
        out[k] = v.clone()
    return out


# -- independent forward passes (NVlabs networks.py semantics) ---------------------------------------
def block(sd, p, x, stride, pad, norm=None, act="relu", adain=None):
    x = F.conv2d(F.pad(x, (pad,) * 4, mode="reflect") if pad else x, sd[p + ".conv.weight"], sd[p + ".conv.bias"], stride)
    if norm == "in":
        x = F.instance_norm(x, eps=1e-5)
    elif norm == "adain":
        mean, std = adain
        x = F.instance_norm(x, eps=1e-5) * std[:, :, None, None] + mean[:, :, None, None]
    elif norm == "ln":  # per sample over (C, H, W), unbiased std + eps
        flat = x.reshape(x.shape[0], -1)
        x = (x - flat.mean(1)[:, None, None, None]) / (flat.std(1)[:, None, None, None] + 1e-5)
        x = x * sd[p + ".norm.gamma"][None, :, None, None] + sd[p + ".norm.beta"][None, :, None, None]
    return {"relu": F.relu, "tanh": torch.tanh, "none": lambda t: t}[act](x)


def encoder(sd, p, x, n_res, norm="in"):
    x = block(sd, p + ".model.0", x, 1, 3, norm)
    x = block(sd, p + ".model.1", x, 2, 1, norm)
    x = block(sd, p + ".model.2", x, 2, 1, norm)
    for k in range(n_res):
        q = f"{p}.model.3.model.{k}.model"
        x = x + block(sd, q + ".1", block(sd, q + ".0", x, 1, 1, norm), 1, 1, norm, "none")
    return x


def decoder(sd, x, n_res, adain_params=None):
    for k in range(n_res):
        q = f"dec.model.0.model.{k}.model"
        if adain_params is None:
            h = block(sd, q + ".0", x, 1, 1, "in")
            x = x + block(sd, q + ".1", h, 1, 1, "in", "none")
        else:
            c = x.shape[1]
            p0, p1 = adain_params[:, 4 * c * k :], adain_params[:, 4 * c * k + 2 * c :]
            h = block(sd, q + ".0", x, 1, 1, "adain", adain=(p0[:, :c], p0[:, c : 2 * c]))
            x = x + block(sd, q + ".1", h, 1, 1, "adain", "none", adain=(p1[:, :c], p1[:, c : 2 * c]))
    for idx in (2, 4):
        x = block(sd, f"dec.model.{idx}", F.interpolate(x, scale_factor=2, mode="nearest"), 1, 2, "ln")
    return block(sd, "dec.model.5", x, 1, 3, None, "tanh")


def style_encoder(sd, x):
    x = block(sd, "enc_style.model.0", x, 1, 3)
    for i in (1, 2, 3, 4):
        x = block(sd, f"enc_style.model.{i}", x, 2, 1)
    return F.conv2d(x.mean((2, 3), keepdim=True), sd["enc_style.model.6.weight"], sd["enc_style.model.6.bias"])


def mlp(sd, s):
    h = F.relu(F.linear(s.flatten(1), sd["mlp.model.0.fc.weight"], sd["mlp.model.0.fc.bias"]))
    h = F.relu(F.linear(h, sd["mlp.model.1.fc.weight"], sd["mlp.model.1.fc.bias"]))
    return F.linear(h, sd["mlp.model.2.fc.weight"], sd["mlp.model.2.fc.bias"])


def u8(t):
    return ((t[0].permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.int16)


def image(seed, size=(48, 40), grey=False):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0]) if grey else (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(arr)


def tensor(img):
    a = np.asarray(img, dtype=np.float32) / 127.5 - 1
    return torch.from_numpy(a[..., None] if a.ndim == 2 else a).permute(2, 0, 1)[None]


def test_munit_edges2shoes_layout_with_pytorch03_quirk(tmp_path):
    cfg = make_config("munit", {"dim": 8, "mlp_dim": 16, "n_res": 2})
    net = build_network("munit", cfg)
    sa, sb = randomized(net.gen_a, 1), randomized(net.gen_b, 2)
    stale = {"enc_content.model.0.norm.running_mean": torch.zeros(8), "enc_content.model.3.model.0.model.1.norm.running_var": torch.ones(32)}
    torch.save({"a": {**sa, **stale}, "b": sb}, tmp_path / "gen_00100000.pt")
    out = tmp_path / "m.safetensors"
    r = runner.invoke(app, ["convert", str(tmp_path / "gen_00100000.pt"), "-o", str(out), "--from", "munit", "--domains", "edges,shoes"])
    assert r.exit_code == 0, r.output
    assert "dim 8, n_downsample 2, n_res 2, style_dim 8, mlp_dim 16" in r.stderr and "dropped 2 stale" in r.stderr
    src, ref = image(0), image(1)
    src.save(tmp_path / "in.png")
    ref.save(tmp_path / "ref.png")
    r = runner.invoke(app, ["style-sample", str(tmp_path / "in.png"), "-m", str(out), "-o", str(tmp_path / "o"), "--style-from", str(tmp_path / "ref.png"), "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    ours = np.asarray(Image.open(tmp_path / "o" / "in_ref-ref.png"), dtype=np.int16)
    with torch.no_grad():
        s = style_encoder(sb, tensor(ref))  # the reference's style, from domain b
        y = decoder(sb, encoder(sa, "enc_content", tensor(src), 2), 2, mlp(sb, s))
    assert np.abs(ours - u8(y)).max() <= 2
    m = gantrans.load(str(out), device="cpu")
    assert m.checkpoint.domains == ["edges", "shoes"] and json.loads(json.dumps(m.checkpoint.provenance))["sources"][0]["file"] == "gen_00100000.pt"


def test_unit_gta2city_layout_grey_to_rgb(tmp_path):
    cfg = make_config("unit", {"dim": 8, "n_res": 2, "input_nc": 1})
    net = build_network("unit", cfg)
    sa, sb = randomized(net.gen_a, 3), randomized(net.gen_b, 4)
    torch.save({"a": sa, "b": {"module." + k: v for k, v in sb.items()}}, tmp_path / "unit_gta2city.pt")
    out = tmp_path / "u.safetensors"
    r = runner.invoke(app, ["convert", str(tmp_path / "unit_gta2city.pt"), "-o", str(out), "--from", "unit"])
    assert r.exit_code == 0, r.output
    assert "channels a 1, b 3" in r.stderr
    src = image(5, grey=True)
    src.save(tmp_path / "in.png")
    r = runner.invoke(app, ["translate", str(tmp_path / "in.png"), "-m", str(out), "-o", str(tmp_path / "o"), "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    ours = np.asarray(Image.open(tmp_path / "o" / "in.png"), dtype=np.int16)
    with torch.no_grad():
        y = decoder(sb, encoder(sa, "enc", tensor(src), 2), 2)  # decode the latent mean (no noise at test)
    assert ours.shape == (40, 48, 3) and np.abs(ours - u8(y)).max() <= 2
    r = runner.invoke(app, ["convert", str(tmp_path / "unit_gta2city.pt"), "-o", str(tmp_path / "x.safetensors"), "--from", "munit"])
    assert r.exit_code == 1 and "holds UNIT (VAEGen) generators" in r.stderr


def ref_stargan(sd, x, c, repeat):
    def inorm(h, p):
        return F.instance_norm(h, weight=sd[p + ".weight"], bias=sd[p + ".bias"], eps=1e-5)  # per-instance statistics

    h = torch.cat([x, c[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
    h = F.relu(inorm(F.conv2d(h, sd["main.0.weight"], padding=3), "main.1"))
    h = F.relu(inorm(F.conv2d(h, sd["main.3.weight"], stride=2, padding=1), "main.4"))
    h = F.relu(inorm(F.conv2d(h, sd["main.6.weight"], stride=2, padding=1), "main.7"))
    for i in range(repeat):
        p = f"main.{9 + i}.main"
        r = F.relu(inorm(F.conv2d(h, sd[p + ".0.weight"], padding=1), p + ".1"))
        h = h + inorm(F.conv2d(r, sd[p + ".3.weight"], padding=1), p + ".4")
    j = 9 + repeat
    h = F.relu(inorm(F.conv_transpose2d(h, sd[f"main.{j}.weight"], stride=2, padding=1), f"main.{j + 1}"))
    h = F.relu(inorm(F.conv_transpose2d(h, sd[f"main.{j + 3}.weight"], stride=2, padding=1), f"main.{j + 4}"))
    return torch.tanh(F.conv2d(h, sd[f"main.{j + 6}.weight"], padding=3))


def test_stargan_celeba_layout_edit_matches_official(tmp_path):
    g = build_network("stargan", make_config("stargan", {"conv_dim": 8, "repeat_num": 2, "c_dim": 5}))
    d = build_network("stargan_dis", make_config("stargan_dis", {"conv_dim": 4, "repeat_num": 3, "c_dim": 5, "image_size": 32}))
    sg, sd_ = randomized(g, 6), randomized(d, 7)
    torch.save(sg, tmp_path / "200000-G.ckpt")
    torch.save(sd_, tmp_path / "200000-D.ckpt")
    out = tmp_path / "s.safetensors"
    r = runner.invoke(app, ["convert", str(tmp_path / "200000-G.ckpt"), str(tmp_path / "200000-D.ckpt"), "-o", str(out), "--from", "stargan", "--domains", "celeba"])
    assert r.exit_code == 0, r.output
    assert "c_dim 5" in r.stderr and "assumed the official CelebA default" in r.stderr and "discriminator for 32 px" in r.stderr
    src = image(8, (32, 32))
    src.save(tmp_path / "face.png")
    args = ["edit", str(tmp_path / "face.png"), "-m", str(out), "-o", str(tmp_path / "o"), "--device", "cpu", "-q",
            "--set", "hair=Blond_Hair", "--set", "Young=toggle", "--source", "hair=Black_Hair", "--source", "Male=1", "--source", "Young=0"]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    (f,) = list((tmp_path / "o").iterdir())
    assert f.name == "face_Blond_Hair-1_Young-1.png"
    ours = np.asarray(Image.open(f), dtype=np.int16)
    with torch.no_grad():
        y = ref_stargan(sg, tensor(src), torch.tensor([[0.0, 1, 0, 1, 1]]), 2)
    assert np.abs(ours - u8(y)).max() <= 2
    m = gantrans.load(str(out), device="cpu")
    assert m.checkpoint.labels["datasets"][0]["groups"] == {"hair": ["Black_Hair", "Blond_Hair", "Brown_Hair"]}
    assert m.checkpoint.preprocess["size"] == 32 and "D" in m.checkpoint.networks
    # without --source, the stored classifier supplies the current attributes
    r = runner.invoke(app, ["edit", str(tmp_path / "face.png"), "-m", str(out), "-o", str(tmp_path / "p"), "--set", "Male=1", "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    # a generator whose label count does not match the names
    r = runner.invoke(app, ["convert", str(tmp_path / "200000-G.ckpt"), "-o", str(tmp_path / "x.safetensors"), "--from", "stargan", "--attrs", "A,B,C"])
    assert r.exit_code == 2 and "names 3 labels but the generator takes 5" in r.stderr


def test_nested_and_stargan_files_never_execute_pickles(tmp_path):
    import pickle

    from helpers import FileCreator

    marker = tmp_path / "pwned"
    for name, obj, src in (("gen_1.pt", {"a": {"x": FileCreator(marker)}, "b": {}}, "munit"), ("1-G.ckpt", {"main.0.weight": FileCreator(marker)}, "stargan")):
        (tmp_path / name).write_bytes(pickle.dumps(obj, protocol=2))
        r = runner.invoke(app, ["convert", str(tmp_path / name), "-o", str(tmp_path / "m.safetensors"), "--from", src])
        assert r.exit_code == 1 and "never executes pickled code" in r.stderr
        assert not marker.exists() and not (tmp_path / "m.safetensors").exists()
