"""Super-resolution training: degradations (seeded, shapes, kernels), the VGG-19 feature loss, the five recipes
on CPU (tiny configs), learning beyond bicubic, bit-identical resume with EMA + SN discriminator, --init-from."""

from __future__ import annotations

import json
import math
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
from gantrans.errors import UsageError
from gantrans.train import degrade as D
from gantrans.train.config import resolve_config
from gantrans.train.trainer import Interrupted, train

runner = CliRunner()
RECIPES = ("srresnet", "srgan", "esrgan", "realesrnet", "realesrgan")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Detailed 64x64 images (16x16 random colours, bicubic-enlarged) plus an unreadable file."""
    root = tmp_path_factory.mktemp("hr")
    rng = np.random.default_rng(0)
    for i in range(24):
        small = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(small).resize((64, 64), Image.Resampling.BICUBIC).save(root / f"{i:02d}.png")
    (root / "zz_broken.png").write_bytes(b"not an image")
    return root


def cfg(data, out, model, **over):
    base = dict(dataset=str(data), output=str(out), steps=4, crop_size=32, load_size=32, ngf=4, ndf=4, num_block=1,
                num_grow_ch=4, scale=2, batch_size=2, workers=0, log_every=1, save_every=2, sample_every=2, device="cpu")  # fmt: skip
    base.update(over)
    return resolve_config(model, None, base)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


# -- degradations ----------------------------------------------------------------------------------------
def test_degradations_are_seeded_quantised_and_sized():
    hr = torch.rand(3, 64, 64)
    for kind in D.DEGRADATIONS:
        a = D.degrade(hr, 4, kind, torch.Generator().manual_seed(5))
        b = D.degrade(hr, 4, kind, torch.Generator().manual_seed(5))
        assert a.shape == (3, 16, 16) and torch.equal(a, b)
        assert torch.equal((a * 255).round() / 255, a) and a.min() >= 0 and a.max() <= 1  # 8-bit levels, in range
    outs = {D.degrade(hr, 4, "realesrgan", torch.Generator().manual_seed(s)).sum().item() for s in range(6)}
    assert len(outs) == 6  # each seed draws its own degradation
    ref = F.interpolate(hr[None], size=(16, 16), mode="bicubic", antialias=True, align_corners=False)[0].clamp(0, 1)
    assert (D.bicubic_down(hr, 4) - ref).abs().max() <= 0.5 / 255 + 1e-6


def test_kernels_are_normalised_and_shaped():
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        k = D.mixed_kernel(gen, 13, (1 / 6,) * 6, (0.2, 3.0), (0.5, 4.0), (1.0, 2.0))
        assert k.shape == (13, 13) and abs(float(k.sum()) - 1) < 1e-5 and k.min() >= 0
        assert int(k.argmax()) == 13 * 6 + 6  # centred
    s = D.sinc_kernel(math.pi / 2, 21)
    assert abs(float(s.sum()) - 1) < 1e-5 and torch.allclose(s, s.T) and torch.allclose(s, s.flip(0))
    iso = D.mixed_kernel(torch.Generator().manual_seed(1), 21, (1, 0, 0, 0, 0, 0), (2.0, 2.0), (1, 1), (1, 1))
    ax = torch.arange(-10, 11, dtype=torch.float64)
    g = torch.exp(-(ax[:, None] ** 2 + ax[None] ** 2) / 8)
    assert torch.allclose(iso.double(), g / g.sum(), atol=1e-6)  # an isotropic Gaussian of sigma 2
    flat = torch.full((3, 20, 20), 0.4)
    assert torch.allclose(D.filter2d(flat, s), flat, atol=1e-5)  # a normalised kernel keeps flat areas


def test_usm_sharpens_edges_and_leaves_flat_areas():
    img = torch.zeros(3, 64, 64)
    img[:, :, 32:] = 0.8
    out = D.usm_sharpen(img)
    assert out[:, :, 31].max() < 0.0 + 1e-6 and out[:, :, 33].min() > 0.8 - 1e-6  # clamped at 0 on the dark side
    assert out[:, :, 34].mean() > 0.8  # overshoot on the bright side of the edge
    flat = torch.full((3, 64, 64), 0.5)
    assert torch.equal(D.usm_sharpen(flat), flat)


def test_jpeg_roundtrip_changes_pixels_by_quality():
    x = torch.rand(3, 32, 32)
    e30, e95 = ((D.jpeg(x, q) - x).abs().mean().item() for q in (30, 95))
    assert e95 < e30


# -- the perceptual loss -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory) -> Path:
    from torchvision.models import vgg19

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg19-random.pth"
    torch.save({f"features.{k}": v for k, v in vgg19(weights=None).features.state_dict().items()}, path)
    return path


def test_vgg_feature_loss_uses_pre_and_post_activation_maps(vgg19_file):
    from torchvision.models import vgg19

    from gantrans.train.perceptual import VGGFeatureLoss, parse_layers

    ref = vgg19(weights=None).features
    ref.load_state_dict({k.removeprefix("features."): v for k, v in torch.load(vgg19_file, weights_only=True).items()})
    ref.eval()
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def fmap(t, upto):  # an independent forward: torchvision's module, non-inplace
        t = (t - mean) / std
        for m in list(ref)[: upto + 1]:
            t = F.relu(t) if isinstance(m, torch.nn.ReLU) else m(t)
        return t

    loss = VGGFeatureLoss(vgg19_file, parse_layers(["conv5_4=1", "relu2_2=0.5"]), "l1")
    want = F.l1_loss(fmap(x, 34), fmap(y, 34)) + 0.5 * F.l1_loss(fmap(x, 8), fmap(y, 8))
    assert torch.allclose(loss(x, y), want, rtol=1e-4)
    with pytest.raises(UsageError, match="not a VGG-19 layer"):
        parse_layers(["conv6_1=1"])


# -- recipes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", RECIPES)
def test_every_recipe_trains_on_cpu_and_upscales(photos, tmp_path, model, vgg19_file):
    over = {"vgg_weights": str(vgg19_file)} if model in ("esrgan", "realesrgan") else {}
    res = train(cfg(photos, tmp_path / "run", model, **over))
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    keys = set(rows[-1])
    gan = model in ("srgan", "esrgan", "realesrgan")
    assert ("G_gan" in keys and "D" in keys) == gan
    assert ("perceptual" in keys) == bool(over)
    assert all(math.isfinite(v) for r in rows for k, v in r.items() if isinstance(v, float))
    m = gantrans.load(str(res.model), device="cpu")
    out = m.translate(Image.open(photos / "00.png").crop((0, 0, 20, 12)))
    assert out.size == (40, 24)
    assert (tmp_path / "run" / "samples" / "step_0000002.png").exists()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["skipped"] and config["skipped"][0].endswith("zz_broken.png")


@pytest.mark.slow  # 14-73 s on a 2-core AMD EPYC without AVX-512: keeps the default suite under 10 minutes
def test_psnr_training_beats_bicubic_on_held_out_images(photos, tmp_path):
    torch.set_num_threads(2)
    res = train(cfg(photos, tmp_path / "run", "srresnet", netG="msrresnet", ngf=16, num_block=4, batch_size=8, steps=300, lr=1e-3,
                    log_every=100, save_every=300, sample_every=300))  # fmt: skip
    m = gantrans.load(str(res.model), device="cpu")
    got, base = [], []
    for i in range(16, 24):  # the stream draws from all images; the check is on the other crops' statistics
        hr = np.asarray(Image.open(photos / f"{i:02d}.png"))
        lr_t = D.bicubic_down(torch.from_numpy(hr.astype(np.float32) / 255).permute(2, 0, 1), 2)
        lr = Image.fromarray((lr_t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        got.append(psnr(np.asarray(m.translate(lr)), hr))
        base.append(psnr(np.asarray(lr.resize((64, 64), Image.Resampling.BICUBIC)), hr))
    assert np.mean(got) > np.mean(base) + 2.0, (np.mean(got), np.mean(base))


@pytest.mark.parametrize("model,over", [("realesrgan", {}), ("srgan", {"netG": "srresnet"})])
def test_sr_resume_is_bit_identical(photos, tmp_path, model, over):
    full = train(cfg(photos, tmp_path / "full", model, steps=6, save_every=3, **over))
    with pytest.raises(Interrupted):
        train(cfg(photos, tmp_path / "cut", model, steps=6, save_every=3, **over), should_stop=lambda s: s == 4)
    resumed = train(cfg(photos, tmp_path / "cut", model, steps=6, save_every=3, **over), resume=True)
    a, b = load_file(str(full.model)), load_file(str(resumed.model))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    sa = torch.load(tmp_path / "full" / "train_state.pt", weights_only=True)
    sb = torch.load(tmp_path / "cut" / "train_state.pt", weights_only=True)
    assert set(sa["nets"]) == ({"G", "G_ema", "D"} if model == "realesrgan" else {"G", "D"})
    for net in sa["nets"]:
        assert all(torch.equal(sa["nets"][net][k], sb["nets"][net][k]) for k in sa["nets"][net]), net


def test_gan_stage_starts_from_the_psnr_model_and_saves_ema(photos, tmp_path):
    psnr_run = train(cfg(photos, tmp_path / "psnr", "realesrnet", steps=2, save_every=2))
    # lr 0: the GAN stage changes nothing, so its saved (EMA) weights are the PSNR model's
    gan = train(cfg(photos, tmp_path / "gan", "realesrgan", steps=2, save_every=2, lr=0.0, init_from=str(psnr_run.model)))
    a, b = load_file(str(psnr_run.model)), load_file(str(gan.model))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    fresh = train(cfg(photos, tmp_path / "fresh", "realesrgan", steps=2, save_every=2, lr=0.0))
    c = load_file(str(fresh.model))
    assert any(not torch.allclose(a[k], c[k]) for k in a)  # without --init-from the weights differ


def test_missing_vgg_weights_is_said_and_srgan_falls_back_to_pixel_content(photos, tmp_path):
    r = runner.invoke(app, ["train", str(photos), "--arch", "srgan", "-o", str(tmp_path / "r"), "--steps", "2", "--size", "32",
                            "--ngf", "4", "--ndf", "4", "--set", "num_block=1", "--set", "scale=2", "--workers", "0",
                            "--batch-size", "2"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "no vgg_weights" in r.stderr and "pixel loss as the content loss" in r.stderr
    row = json.loads((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()[-1])
    assert "pixel" in row and "perceptual" not in row


def test_sr_settings_are_checked(photos, tmp_path):
    with pytest.raises(UsageError, match="multiple of the scale"):
        cfg(photos, tmp_path / "r", "srresnet", crop_size=30, scale=4)
    with pytest.raises(UsageError, match="netG must be one of"):
        cfg(photos, tmp_path / "r", "srresnet", netG="resnet_9blocks")
    with pytest.raises(UsageError, match="degradation must be one of"):
        cfg(photos, tmp_path / "r", "srresnet", degradation="jpeg")
    r = runner.invoke(app, ["train", str(photos), "--arch", "esrgan", "-o", str(tmp_path / "e"), "--size", "48"])
    assert r.exit_code == 2 and "power-of-two crop size" in r.stderr
