"""Image completion: the DeepFill v2 generator (official layer plan, TF SAME padding), contextual attention
against a naive loop implementation, `gantrans inpaint` (masks, exact compositing, strategies, failures),
free-form masks, the training recipe (CPU, bit-identical resume) and hole-only metrics."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

import gantrans
from gantrans.cli.main import app
from gantrans.models.contextual_attention import contextual_attention
from gantrans.models.gated_inpaint import same_pad
from gantrans.train.config import resolve_config
from gantrans.train.masks import random_mask
from gantrans.train.trainer import Interrupted, train

runner = CliRunner()


def test_generator_follows_the_official_layer_plan():
    net = gantrans.build("gated_inpaint", domains=("image", "completed"), device="cpu").checkpoint.networks["G"]
    n = sum(p.numel() for p in net.parameters())
    assert 4_000_000 < n < 4_100_000  # the paper: "4.1M parameters"
    sd = net.state_dict()
    assert sd["conv1.conv.weight"].shape == (48, 5, 5, 5)  # incomplete RGB + ones + mask; 48 outputs -> 24 gated
    assert sd["xconv1.conv.weight"].shape == (48, 3, 5, 5) and sd["pmconv6.conv.weight"].shape == (192, 96, 3, 3)
    assert sd["allconv11.conv.weight"].shape == (192, 192, 3, 3)  # hallucination (96) + attention (96) branches
    assert sd["conv17.conv.weight"].shape == (3, 12, 3, 3) and sd["allconv17.conv.weight"].shape == (3, 12, 3, 3)
    assert net.conv10_atrous.rate == 16 and net.xconv7_atrous.rate == 2


def test_same_padding_is_tensorflows():
    x = torch.zeros(1, 1, 8, 8)
    assert same_pad(x, 3, 2).shape[-1] == 9  # stride 2: one extra pixel, after
    assert same_pad(x, 5, 2).shape[-1] == 11  # total 3: 1 before, 2 after
    y = same_pad(torch.ones(1, 1, 8, 8), 5, 2)
    assert y[0, 0, 0].sum() == 0 and y[0, 0, 1].sum() == 8 and y[0, 0, -2].sum() == 0
    assert same_pad(x, 3, 1, 4).shape[-1] == 16  # dilation 4: 4 each side


def naive_attention(x, mask, rate=2, scale=10.0):
    """Contextual attention by loops over positions (fg p, bg q): cosine scores of 3x3 patches at 1/rate,
    fused along row-major then column-major diagonals, masked softmax, 4x4 full-resolution patches pasted."""
    _, C, H, W = x.shape
    f = x[0, :, ::rate, ::rate]
    m = mask[0, 0, ::rate, ::rate]
    h, w = f.shape[-2:]
    fp = F.pad(f, (1, 1, 1, 1))
    mp = F.pad(m, (1, 1, 1, 1))
    patch = lambda t, i, j: t[..., i : i + 3, j : j + 3]  # noqa: E731  (padded coordinates)
    L = h * w
    S = torch.zeros(L, L, dtype=torch.float64)
    valid = torch.zeros(L, dtype=torch.float64)
    for q in range(L):
        qi, qj = divmod(q, w)
        bq = patch(fp, qi, qj).double()
        bq = bq / max(float(bq.norm()), 1e-4)
        valid[q] = float(patch(mp, qi, qj).mean() == 0)
        for p in range(L):
            pi, pj = divmod(p, w)
            S[p, q] = float((patch(fp, pi, pj).double() * bq).sum())

    def fuse(S, order):
        idx = [divmod(k, w) if order == "row" else divmod(k, h)[::-1] for k in range(L)]  # k in this order -> (i, j)
        rm = [i * w + j for i, j in idx]  # -> S's row-major index
        out = torch.zeros_like(S)
        for a in range(L):
            for b in range(L):
                for d in (-1, 0, 1):
                    if 0 <= a + d < L and 0 <= b + d < L:
                        out[rm[a], rm[b]] += S[rm[a + d], rm[b + d]]
        return out

    S = fuse(fuse(S, "row"), "col")
    A = torch.softmax(S * valid * scale, dim=1) * valid
    xp = F.pad(x[0].double(), (1, 1, 1, 1))
    out = torch.zeros(C, H + 2, W + 2, dtype=torch.float64)
    for p in range(L):
        pi, pj = divmod(p, w)
        for q in range(L):
            qi, qj = divmod(q, w)
            out[:, pi * 2 : pi * 2 + 4, pj * 2 : pj * 2 + 4] += A[p, q] * xp[:, qi * 2 : qi * 2 + 4, qj * 2 : qj * 2 + 4]
    return (out[:, 1 : H + 1, 1 : W + 1] / 4)[None]


def test_contextual_attention_matches_a_naive_loop():
    torch.manual_seed(0)
    x = torch.randn(1, 4, 8, 10)
    mask = torch.zeros(1, 1, 8, 10)
    mask[..., 2:6, 3:8] = 1
    got = contextual_attention(x.double(), mask.double(), 3, rate=2)
    want = naive_attention(x, mask)
    assert torch.allclose(got, want, atol=1e-8)


def test_free_form_masks_are_seeded_and_bounded():
    a = random_mask(128, 128, torch.Generator().manual_seed(3))
    b = random_mask(128, 128, torch.Generator().manual_seed(3))
    assert np.array_equal(a, b) and 0.05 < a.mean() < 0.9
    ratios = [random_mask(128, 128, torch.Generator().manual_seed(s), "strokes", max_ratio=0.2).mean() for s in range(10)]
    assert sum(r <= 0.2 for r in ratios) >= 9  # redrawn (up to 10 times) while above the cap
    box = random_mask(64, 64, torch.Generator().manual_seed(0), "box")
    ys, xs = np.nonzero(box)
    assert 24 <= np.ptp(ys) + 1 <= 32 and 24 <= np.ptp(xs) + 1 <= 32


# -- the command ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("m") / "inpaint.safetensors"
    gantrans.build("gated_inpaint", cnum=8, domains=("image", "completed"), device="cpu", seed=2).save(path)
    return path


def photo(rng, h, w, alpha=False):
    return Image.fromarray(rng.integers(0, 256, (h, w, 4 if alpha else 3), dtype=np.uint8))


def hole(h, w, box):
    m = np.zeros((h, w), np.uint8)
    y0, y1, x0, x1 = box
    m[y0:y1, x0:x1] = 255
    return Image.fromarray(m)


def test_known_pixels_are_kept_exactly_and_the_hole_is_filled(model, tmp_path):
    rng = np.random.default_rng(0)
    photo(rng, 45, 61).save(tmp_path / "a.png")
    hole(45, 61, (10, 30, 20, 45)).save(tmp_path / "m.png")
    r = runner.invoke(app, ["inpaint", str(tmp_path / "a.png"), "--mask", str(tmp_path / "m.png"), "-m", str(model), "-o", str(tmp_path / "o"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    a, b = np.array(Image.open(tmp_path / "a.png")), np.array(Image.open(tmp_path / "o" / "a.png"))
    m = np.asarray(Image.open(tmp_path / "m.png")) > 0
    assert a.shape == b.shape and np.array_equal(a[~m], b[~m]) and (a[m] != b[m]).mean() > 0.9
    want = np.asarray(gantrans.load(str(model), device="cpu").run(torch.from_numpy(a).permute(2, 0, 1)[None], "a2b", torch.from_numpy(m)[None, None].float())[0].permute(1, 2, 0) * 255 + 0.5).astype(np.uint8)
    assert np.abs(b[m].astype(int) - want[m].astype(int)).max() <= 1  # the hole is the model's output
    # dilate grows the hole; stdout gives PNG bytes
    r = runner.invoke(app, ["inpaint", str(tmp_path / "a.png"), "--mask", str(tmp_path / "m.png"), "-m", str(model), "-o", "-", "--dilate", "3", "--device", "cpu"])
    c = np.asarray(Image.open(io.BytesIO(r.stdout_bytes)))
    grown = np.zeros_like(m)
    grown[7:33, 17:48] = True
    assert np.array_equal(a[~grown], c[~grown]) and (a[grown & ~m] != c[grown & ~m]).mean() > 0.9


def test_self_ensemble_turns_the_mask_with_the_image(model):
    """--tta for inpainting: the mask is mirrored with the image (each pass fills the same hole)."""
    t = gantrans.load(str(model), device="cpu")
    x = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    m = torch.zeros(1, 1, 32, 48)
    m[..., 8:20, 5:30] = 1  # off-centre: a mirrored image with an unmirrored mask would fill another region
    want = (t.run(x, "a2b", m) + t.run(x.flip(-1), "a2b", m.flip(-1)).flip(-1)) / 2
    assert torch.allclose(t.self_ensemble("hflip").run(x, "a2b", m), want, atol=1e-5)


def test_mask_folders_sizes_alpha_and_failures(model, tmp_path):
    rng = np.random.default_rng(1)
    src, masks = tmp_path / "in", tmp_path / "masks"
    (src / "sub").mkdir(parents=True)
    (masks / "sub").mkdir(parents=True)
    photo(rng, 32, 40).save(src / "x.jpg")
    photo(rng, 32, 40).save(src / "sub" / "y.png")
    photo(rng, 32, 40).save(src / "nomask.png")
    hole(32, 40, (4, 12, 4, 12)).save(masks / "x.png")  # same stem, other suffix
    hole(16, 20, (2, 6, 2, 6)).save(masks / "sub" / "y_mask.png")  # _mask, half the size: resized, said
    r = runner.invoke(app, ["inpaint", str(src), "--mask", str(masks), "-m", str(model), "-o", str(tmp_path / "o"), "--json", "--device", "cpu"])
    assert r.exit_code == 1  # the image without a mask fails alone
    rows = {Path(x["input"]).name: x for x in map(json.loads, r.stdout.splitlines())}
    assert rows["x.jpg"]["status"] == "ok" and rows["y.png"]["status"] == "ok"
    assert rows["nomask.png"]["status"] == "failed" and "no mask in" in rows["nomask.png"]["message"]
    assert "mask 20x16 resized to 40x32 (nearest)" in r.stderr
    y_in, y_out = np.asarray(Image.open(src / "sub" / "y.png")), np.asarray(Image.open(tmp_path / "o" / "sub" / "y.png"))
    m = np.zeros((32, 40), bool)
    m[4:12, 4:12] = True
    assert np.array_equal(y_in[~m], y_out[~m]) and not np.array_equal(y_in[m], y_out[m])
    # --mask-from-alpha: transparent pixels are the hole, the output is opaque
    rgba = np.asarray(photo(rng, 24, 24, alpha=True)).copy()
    rgba[..., 3] = 255
    rgba[5:15, 5:15, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "cut.png")
    r = runner.invoke(app, ["inpaint", str(tmp_path / "cut.png"), "--mask-from-alpha", "-m", str(model), "-o", str(tmp_path / "a"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    out = Image.open(tmp_path / "a" / "cut.png")
    assert out.mode == "RGB"
    o = np.asarray(out)
    keep = rgba[..., 3] == 255
    assert np.array_equal(o[keep], rgba[..., :3][keep])
    r = runner.invoke(app, ["inpaint", str(src / "x.jpg"), "--mask-from-alpha", "-m", str(model), "-o", str(tmp_path / "b"), "--device", "cpu"])
    assert r.exit_code == 1 and "has no alpha channel" in r.stderr
    r = runner.invoke(app, ["inpaint", str(src / "x.jpg"), "-m", str(model), "-o", str(tmp_path / "c")])
    assert r.exit_code == 2 and "--mask" in r.stderr


def test_large_images_crop_around_the_hole_or_resize(model, tmp_path):
    rng = np.random.default_rng(2)
    photo(rng, 120, 200).save(tmp_path / "big.png")
    hole(120, 200, (50, 60, 150, 170)).save(tmp_path / "m.png")
    base = ["inpaint", str(tmp_path / "big.png"), "--mask", str(tmp_path / "m.png"), "-m", str(model), "--device", "cpu", "--crop-trigger", "64"]
    r = runner.invoke(app, [*base, "-o", str(tmp_path / "crop"), "--crop-margin", "16"])
    assert r.exit_code == 0 and "inpainted the 52x42 box around the hole (--crop-margin 16)" in r.stderr
    a = np.array(Image.open(tmp_path / "big.png"))
    m = np.asarray(Image.open(tmp_path / "m.png")) > 0
    crop = np.asarray(Image.open(tmp_path / "crop" / "big.png"))
    assert np.array_equal(a[~m], crop[~m]) and (a[m] != crop[m]).mean() > 0.9
    # the same as running the model on that box
    box = np.ascontiguousarray(a[34:76, 134:186])
    t = gantrans.load(str(model), device="cpu")
    y = t.run(torch.from_numpy(box).permute(2, 0, 1)[None], "a2b", torch.from_numpy(m[34:76, 134:186])[None, None].float())
    want = (y[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert np.abs(crop[34:76, 134:186][m[34:76, 134:186]].astype(int) - want[m[34:76, 134:186]].astype(int)).max() <= 1
    r = runner.invoke(app, [*base, "-o", str(tmp_path / "rs"), "--hd-strategy", "resize", "--resize-limit", "100"])
    assert r.exit_code == 0 and "inpainted at 100 px on the longer side" in r.stderr
    rs = np.asarray(Image.open(tmp_path / "rs" / "big.png"))
    assert np.array_equal(a[~m], rs[~m])
    r = runner.invoke(app, [*base, "-o", str(tmp_path / "x"), "--hd-strategy", "tiles"])
    assert r.exit_code == 2 and "--hd-strategy must be one of" in r.stderr


# -- training ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(8):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((80, 72), Image.Resampling.BICUBIC).save(root / f"{i}.png")
    return root


def cfg(data, out, **over):
    base = dict(dataset=str(data), output=str(out), steps=6, save_every=3, sample_every=3, crop_size=64, load_size=64, ndf=4, cnum=8,
                batch_size=2, workers=0, log_every=1, device="cpu")  # fmt: skip
    base.update(over)
    return resolve_config("inpaint", None, base)


def test_inpaint_training_resumes_bit_identically(photos, tmp_path):
    full = train(cfg(photos, tmp_path / "full"))
    with pytest.raises(Interrupted):
        train(cfg(photos, tmp_path / "cut"), should_stop=lambda s: s == 4)
    resumed = train(cfg(photos, tmp_path / "cut"), resume=True)
    a, b = load_file(str(full.model)), load_file(str(resumed.model))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert {"ae", "G_gan", "D"} <= set(rows[-1])
    m = gantrans.load(str(full.model), device="cpu")
    assert m.arch == "gated_inpaint" and m.checkpoint.provenance["mask_kind"] == "both"


def test_user_masks_are_sampled(photos, tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    hole(32, 32, (0, 16, 0, 32)).save(masks / "top.png")  # the top half, resized to the crop
    c = cfg(photos, tmp_path / "r", masks=str(masks))
    from gantrans.train.inpaint import InpaintRecipe

    rec = InpaintRecipe(c)
    rec.open_data(lambda _m: None)
    item = rec.stream()[0]
    assert item["M"].shape == (1, 64, 64) and float(item["M"].mean()) == 0.5
    r = runner.invoke(app, ["train", str(photos), "--arch", "inpaint", "-o", str(tmp_path / "x"), "--masks", str(tmp_path / "none"), "--dry-run"])
    assert r.exit_code == 2 and "not a folder" in r.stderr


def test_eval_mask_measures_inside_the_hole_only(tmp_path):
    rng = np.random.default_rng(5)
    for d in ("real", "fake", "masks"):
        (tmp_path / d).mkdir()
    a = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    b = a.copy()
    b[:, :20] = 0  # damaged outside the hole
    b[30:, 30:] = np.clip(b[30:, 30:].astype(int) + 10, 0, 255)  # 10 levels off inside the hole
    Image.fromarray(a).save(tmp_path / "real" / "p.png")
    Image.fromarray(b).save(tmp_path / "fake" / "p.png")
    m = np.zeros((40, 40), np.uint8)
    m[30:, 30:] = 255
    Image.fromarray(m).save(tmp_path / "masks" / "p.png")
    r = runner.invoke(app, ["eval", str(tmp_path / "real"), str(tmp_path / "fake"), "--metrics", "l1,psnr", "--mask", str(tmp_path / "masks"), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    diff = np.abs(b[30:, 30:].astype(float) - a[30:, 30:])
    assert res["l1"] == pytest.approx(diff.mean(), abs=1e-3)
    assert res["psnr"] == pytest.approx(10 * np.log10(255**2 / (diff**2).mean()), abs=1e-3)
    r = runner.invoke(app, ["eval", str(tmp_path / "real"), str(tmp_path / "fake"), "--metrics", "fid", "--mask", str(tmp_path / "masks")])
    assert r.exit_code == 2 and "--mask applies to the paired metrics" in r.stderr


# -- third-party weights -------------------------------------------------------------------------
def port_reference(sd, image, mask, symmetric):
    """DeepFill v2 from a networks_tf.py-layout state dict with functional ops only (the official graph:
    TF SAME or symmetric padding, gated ELU/ReLU, nearest upsampling, contextual attention, tanh)."""

    def pad(t, k, s, r):
        if symmetric:
            p = r * (k - 1) // 2
            return F.pad(t, (p, p, p, p))
        return same_pad(t, k, s, r)

    def g(name, t, k=3, s=1, r=1, act=F.elu, up=False):
        key = f"{name}.conv.conv" if up else f"{name}.conv"
        if up:
            t = F.interpolate(t, scale_factor=2, mode="nearest")
        y = F.conv2d(pad(t, k, s, r), sd[f"{key}.weight"], sd[f"{key}.bias"], stride=s, dilation=r)
        if name.endswith("17"):
            return y
        a, b = y.chunk(2, 1)
        return act(a) * torch.sigmoid(b)

    xin = image * (1 - mask)
    x = torch.cat([xin, torch.ones_like(mask), mask], 1)
    x = g("conv1", x, 5)
    x = g("conv2_downsample", x, s=2)
    x = g("conv4_downsample", g("conv3", x), s=2)
    x = g("conv6", g("conv5", x))
    for i, r in zip((7, 8, 9, 10), (2, 4, 8, 16)):
        x = g(f"conv{i}_atrous", x, r=r)
    x = g("conv14", g("conv13_upsample", g("conv12", g("conv11", x)), up=True))
    x = g("conv17", g("conv16", g("conv15_upsample", x, up=True)))
    coarse = torch.tanh(x)
    xnow = coarse * mask + xin * (1 - mask)
    h = g("xconv2_downsample", g("xconv1", xnow, 5), s=2)
    h = g("xconv6", g("xconv5", g("xconv4_downsample", g("xconv3", h), s=2)))
    for i, r in zip((7, 8, 9, 10), (2, 4, 8, 16)):
        h = g(f"xconv{i}_atrous", h, r=r)
    p = g("pmconv2_downsample", g("pmconv1", xnow, 5), s=2)
    p = g("pmconv6", g("pmconv5", g("pmconv4_downsample", g("pmconv3", p), s=2)), act=F.relu)
    p = contextual_attention(p, F.interpolate(mask, size=p.shape[-2:], mode="nearest"), 3, rate=2)
    p = g("pmconv10", g("pmconv9", p))
    x = g("allconv12", g("allconv11", torch.cat([h, p], 1)))
    x = g("allconv14", g("allconv13_upsample", x, up=True))
    x = g("allconv17", g("allconv16", g("allconv15_upsample", x, up=True)))
    return torch.tanh(x)


@pytest.mark.parametrize("layout", ["networks_tf", "networks"])
def test_deepfill_port_checkpoints_convert_and_match_an_independent_forward(layout, tmp_path):
    from gantrans.families.inpaint import _PORT_STAGE1, _PORT_STAGE2

    torch.manual_seed(0)
    ours = gantrans.build("gated_inpaint", cnum=8, device="cpu", seed=4).checkpoint.networks["G"].state_dict()
    tf_sd = {k.replace("_upsample.conv.", "_upsample.conv.conv."): v.clone() for k, v in ours.items()}
    if layout == "networks_tf":
        g = tf_sd
    else:  # the nested names of networks.py
        inv = {**{v: f"stage1.{k}" for k, v in _PORT_STAGE1.items()}, **{v: f"stage2.{k}" for k, v in _PORT_STAGE2.items()}}
        g = {f"{inv[k.split('.')[0]]}.conv.{k.rsplit('.', 1)[1]}": v.clone() for k, v in ours.items()}
    torch.save({"G": g, "D": {"conv1.conv_sn.weight": torch.zeros(1)}}, tmp_path / "states_places2.pth")
    r = runner.invoke(app, ["convert", str(tmp_path / "states_places2.pth"), "-o", str(tmp_path / "c.safetensors")])
    assert r.exit_code == 0, r.output
    assert "recognised as --from deepfill" in r.output and ("TF padding" in r.output) == (layout == "networks_tf")
    m = gantrans.load(str(tmp_path / "c.safetensors"), device="cpu")
    img = torch.rand(1, 3, 40, 48)
    mask = torch.zeros(1, 1, 40, 48)
    mask[..., 8:24, 10:30] = 1
    got = m.run(img, "a2b", mask)
    with torch.no_grad():
        want = (port_reference(tf_sd, img * 2 - 1, mask, layout == "networks") + 1) / 2
    assert ((got * 255).round() - (want.clamp(0, 1) * 255).round()).abs().max() <= 1


def test_official_init_is_glorot_uniform_with_zero_biases():
    """The TensorFlow code's tf.layers.conv2d default, for the generator and the SN-PatchGAN's kernels."""
    from gantrans import registry
    from gantrans.models.registry import build_network, make_config

    fam = registry.recipe_family("inpaint")
    torch.manual_seed(0)
    G = fam.init(build_network("gated_inpaint", make_config("gated_inpaint", {"cnum": 16})), "official")
    D = fam.init(build_network("snpatchgan", make_config("snpatchgan", {"num_in_ch": 4, "cnum": 16})), "official")
    convs = [m for net in (G, D) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) > 40
    for m in convs:
        w = (m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight).detach()
        fan_in, fan_out = w.shape[1] * w[0, 0].numel(), w.shape[0] * w[0, 0].numel()
        bound = (6 / (fan_in + fan_out)) ** 0.5
        assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.9 * bound  # U(-bound, bound), filled
        assert not m.bias.any()


def test_l1_only_training_leaves_the_discriminator_alone(photos, tmp_path):
    """gan_alpha=0 (L1-only pre-training): no discriminator update, no GAN terms logged."""
    run = tmp_path / "l1"
    train(cfg(photos, run, steps=2, save_every=2, gan_alpha=0.0))
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert set(rows[-1]) >= {"ae"} and not {"D", "G_gan"} & set(rows[-1])
    from gantrans import registry

    torch.manual_seed(0)  # the trainer's seed: the networks as built before the first step
    fresh = registry.recipe_class("inpaint")(cfg(photos, run, steps=2, gan_alpha=0.0)).build()[1]["D"]
    state = torch.load(run / "train_state.pt", weights_only=True)["nets"]["D"]
    weights = [k for k in fresh.state_dict() if k.endswith(("original", "bias"))]
    assert weights and all(torch.equal(fresh.state_dict()[k], state[k]) for k in weights)


def test_gan_start_warms_the_discriminator_up_before_the_generator_sees_it(photos, tmp_path):
    """gan_start=2: the first two generator updates are the L1-only ones (same batches, bit-identical weights)
    while the discriminator already learns; the adversarial term is logged and applied from the third step."""
    warm, l1 = tmp_path / "warm", tmp_path / "l1"
    train(cfg(photos, warm, steps=2, save_every=2, gan_alpha=0.5, gan_start=2))
    train(cfg(photos, l1, steps=2, save_every=2, gan_alpha=0.0))
    sw, sl = (torch.load(r / "train_state.pt", weights_only=True)["nets"] for r in (warm, l1))
    assert sw["G"].keys() == sl["G"].keys() and all(torch.equal(sw["G"][k], sl["G"][k]) for k in sw["G"])
    assert any(not torch.equal(sw["D"][k], sl["D"][k]) for k in sw["D"] if k.endswith("original"))  # D learnt
    rows = [json.loads(x) for x in (warm / "metrics.jsonl").read_text().splitlines()]
    assert all("D" in r and "G_gan" not in r for r in rows)
    on = tmp_path / "on"
    train(cfg(photos, on, steps=3, save_every=3, gan_alpha=0.5, gan_start=2))
    last = [json.loads(x) for x in (on / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["step"] == 3 and "G_gan" in last
    with pytest.raises(Exception, match="gan_start"):
        cfg(photos, on, gan_start=-1)


def test_batches_of_sizes_that_pad_alike(model, tmp_path):
    """45x61 and 46x62 pad to the same 48x64: batched together they once failed ("all input arrays must have the same
    shape"); each must come out as it does alone."""
    rng = np.random.default_rng(3)
    (tmp_path / "in").mkdir()
    (tmp_path / "masks").mkdir()
    for n, (h, w) in enumerate([(45, 61), (46, 62), (45, 61)]):
        photo(rng, h, w).save(tmp_path / "in" / f"a{n}.png")
        hole(h, w, (10, 30, 20, 45)).save(tmp_path / "masks" / f"a{n}.png")
    for batch in ("4", "1"):
        r = runner.invoke(app, ["inpaint", str(tmp_path / "in"), "--mask", str(tmp_path / "masks"), "-m", str(model), "-o", str(tmp_path / f"o{batch}"),
                                "--device", "cpu", "--batch-size", batch])  # fmt: skip
        assert r.exit_code == 0, r.output
    for n in range(3):
        a = np.asarray(Image.open(tmp_path / "o4" / f"a{n}.png"), dtype=int)
        b = np.asarray(Image.open(tmp_path / "o1" / f"a{n}.png"), dtype=int)
        assert a.shape == b.shape and np.abs(a - b).max() <= 1
