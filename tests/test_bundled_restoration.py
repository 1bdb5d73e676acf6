"""The bundled photo-restoration models work with no download and do better than the classical baselines on a
photo they never saw (scikit-image's chelsea: held out by the sha1 rule of scripts/prepare_sr_photos.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import inpaint_baselines, skimage_photo
from PIL import Image
from typer.testing import CliRunner

from gantrans.cli.main import app
from gantrans.engine.metrics import paired
from gantrans.io.hub import bundled_models
from gantrans.train.degrade import bicubic_down

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_the_test_photo_was_held_out():
    assert int(hashlib.sha1(b"chelsea.png").hexdigest(), 16) % 5 == 0


@pytest.mark.parametrize("name", ["sr_photo_x4", "sr_photo_x4_gan"])
def test_bundled_upscalers_beat_bicubic_on_a_held_out_photo(name, tmp_path):
    assert name in bundled_models() and (ROOT / "weights" / f"{name}.md").is_file()
    hr = np.asarray(Image.open(skimage_photo("chelsea.png")).convert("RGB"))[:300, :448]
    lr = bicubic_down(torch.from_numpy(hr.astype(np.float32) / 255).permute(2, 0, 1), 4)
    Image.fromarray((lr.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(tmp_path / "lr.png")
    args = ["upscale", str(tmp_path / "lr.png"), "-o", str(tmp_path / "o"), "--device", "cpu", "--precision", "fp32", "--json"]
    r = runner.invoke(app, args if name == "sr_photo_x4" else [*args, "-m", name])  # sr_photo_x4 is upscale's default
    assert r.exit_code == 0, r.output
    out = np.asarray(Image.open(json.loads(r.stdout)["output"]))
    bicubic = np.asarray(Image.open(tmp_path / "lr.png").resize((448, 300), Image.Resampling.BICUBIC))
    got, base = paired(hr, out, y_only=True, crop_border=4), paired(hr, bicubic, y_only=True, crop_border=4)
    if name == "sr_photo_x4":  # the PSNR model: more faithful
        assert got["psnr"] > base["psnr"] + 0.3 and got["ssim"] > base["ssim"], (got, base)
    else:  # the GAN model: sharper than bicubic (more high-frequency energy, closer to the photo's)
        def detail(a):
            g = a.astype(float).mean(2)
            return np.abs(np.diff(g, axis=1)).mean()
        assert detail(bicubic) < detail(out) and abs(detail(out) - detail(hr)) < abs(detail(bicubic) - detail(hr))


def test_bundled_inpainter_beats_mean_and_harmonic_fills_on_a_held_out_photo(tmp_path):
    """`gantrans inpaint` with no -m (inpaint_photo): 128 px crops of the held-out chelsea with seeded stroke and box
    holes; inside the holes it is closer to the photo than the mean-colour and harmonic fills, outside it is exact."""
    from gantrans.train.masks import random_mask

    assert "inpaint_photo" in bundled_models() and (ROOT / "weights" / "inpaint_photo.md").is_file()
    baselines = inpaint_baselines()
    harmonic_fill, mean_fill = baselines.harmonic_fill, baselines.mean_fill
    photo = np.asarray(Image.open(skimage_photo("chelsea.png")).convert("RGB"))
    (tmp_path / "in").mkdir()
    (tmp_path / "masks").mkdir()
    crops, masks = {}, {}
    for i, (y, x) in enumerate([(0, 0), (0, 128), (128, 128), (128, 256)]):
        for kind in ("strokes", "box"):
            name = f"c{i}_{kind}"
            m = random_mask(128, 128, torch.Generator().manual_seed(100 + i), kind)
            crops[name], masks[name] = np.ascontiguousarray(photo[y : y + 128, x : x + 128]), m.astype(bool)
            Image.fromarray(crops[name]).save(tmp_path / "in" / f"{name}.png")
            Image.fromarray(m.astype(np.uint8) * 255).save(tmp_path / "masks" / f"{name}.png")
    r = runner.invoke(app, ["inpaint", str(tmp_path / "in"), "--mask", str(tmp_path / "masks"), "-o", str(tmp_path / "out"), "--device", "cpu", "--precision", "fp32"])
    assert r.exit_code == 0, r.output
    errs: dict[str, list[float]] = {"model": [], "mean": [], "harmonic": []}
    for name, crop in crops.items():
        hole = masks[name]
        out = np.asarray(Image.open(tmp_path / "out" / f"{name}.png").convert("RGB"))
        assert np.array_equal(out[~hole], crop[~hole])  # known pixels exactly kept
        for k, filled in (("model", out), ("mean", mean_fill(crop, hole)), ("harmonic", harmonic_fill(crop, hole))):
            errs[k].append(float(np.abs(filled.astype(float) - crop.astype(float))[hole].mean()))
    got = {k: float(np.mean(v)) for k, v in errs.items()}
    assert got["model"] < got["mean"] and got["model"] < got["harmonic"], got
    # its default blend is poisson: against `--blend none` (the same weights composited as generated), the fill's
    # border is not offset from the known pixels next to it (a seam); the known pixels stay exact either way
    r = runner.invoke(app, ["inpaint", str(tmp_path / "in"), "--mask", str(tmp_path / "masks"), "-o", str(tmp_path / "raw"), "--device", "cpu",
                            "--precision", "fp32", "--blend", "none"])  # fmt: skip
    assert r.exit_code == 0, r.output
    seams: dict[str, list[float]] = {"blend": [], "none": [], "photo": []}
    for name, crop in crops.items():
        hole = masks[name]
        raw = np.asarray(Image.open(tmp_path / "raw" / f"{name}.png").convert("RGB"))
        assert np.array_equal(raw[~hole], crop[~hole])
        for k, img in (("blend", np.asarray(Image.open(tmp_path / "out" / f"{name}.png").convert("RGB"))), ("none", raw), ("photo", crop)):
            seams[k].append(seam(img, hole))
    got = {k: float(np.mean(v)) for k, v in seams.items()}
    assert got["blend"] < 0.5 * got["none"] and got["blend"] < got["photo"] + 1.0, got
    r = runner.invoke(app, ["inpaint", str(tmp_path / "in"), "--mask", str(tmp_path / "masks"), "-o", str(tmp_path / "x"), "--blend", "soft"])
    assert r.exit_code == 2 and "--blend must be model, poisson or none" in r.stderr
    r = runner.invoke(app, ["inpaint", str(tmp_path / "in"), "--mask", str(tmp_path / "masks"), "-o", str(tmp_path / "x"), "-m", "noto2emojione", "--blend", "none"])
    assert r.exit_code == 2 and "--blend: noto2emojione.safetensors (resnet_9blocks) has no blend option" in r.stderr


def seam(img: np.ndarray, hole: np.ndarray) -> float:
    """How far the hole's border is offset from the known pixels beside it: |mean of (inside - outside)| over the
    4-neighbour pairs that cross the border, mean over RGB, grey levels (texture averages out, an offset does not)."""
    a = img.astype(float)
    pairs = [a[:, 1:] - a[:, :-1], a[1:] - a[:-1]]  # (.., 3): right minus left, below minus above
    cross = [hole[:, 1:] & ~hole[:, :-1], hole[1:] & ~hole[:-1]], [~hole[:, 1:] & hole[:, :-1], ~hole[1:] & hole[:-1]]
    inside_minus_out = np.concatenate([d[c] for d, c in zip(pairs, cross[0])] + [-d[c] for d, c in zip(pairs, cross[1])])  # (N, 3)
    return float(np.abs(inside_minus_out.mean(0)).mean())
