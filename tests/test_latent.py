"""Latent-code models: VAE-GAN / BiGAN / InfoGAN recipes on CPU (losses fall, bit-identical resume), encoding
reconstructs better than an untrained model, InfoGAN's Q reads its codes back, `gantrans sample` is seeded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import draw_discs
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from gantrans.cli.main import app
from gantrans.engine.latent import load_latent
from gantrans.train.config import resolve_config
from gantrans.train.trainer import Interrupted, train

runner = CliRunner()


@pytest.fixture(scope="module")
def discs(tmp_path_factory) -> Path:
    """Coloured discs of random radius and colour on black: a few factors of variation."""
    return draw_discs(tmp_path_factory.mktemp("discs"), 64)


def cfg(data, out, model, **over):
    base = dict(dataset=str(data), output=str(out), steps=6, save_every=3, sample_every=3, crop_size=32, load_size=32, ngf=8, ndf=8,
                nz=8, batch_size=8, workers=0, log_every=1, device="cpu")  # fmt: skip
    base.update(over)
    return resolve_config(model, None, base)


@pytest.mark.parametrize("model", ["vaegan", "bigan", "infogan"])
def test_latent_recipes_resume_bit_identically(discs, tmp_path, model):
    full = train(cfg(discs, tmp_path / "full", model))
    with pytest.raises(Interrupted):
        train(cfg(discs, tmp_path / "cut", model), should_stop=lambda s: s == 4)
    resumed = train(cfg(discs, tmp_path / "cut", model), resume=True)
    a, b = load_file(str(full.model)), load_file(str(resumed.model))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(k.startswith("D.") for k in a) and any(k.startswith("E.") for k in a) == (model != "infogan")


def _recon_l1(model_path: Path, discs: Path) -> float:
    m = load_latent(str(model_path), device="cpu")
    imgs = np.stack([np.asarray(Image.open(p)) for p in sorted(discs.iterdir())[:16]])
    rec = m.decode(m.encode(imgs))
    return float(np.abs(rec.astype(float) - imgs).mean())


@pytest.fixture(scope="module")
def vaegan(discs, tmp_path_factory) -> Path:
    torch.set_num_threads(2)
    run = tmp_path_factory.mktemp("vaegan") / "r1"
    return train(cfg(discs, run, "vaegan", steps=300, save_every=300, sample_every=300, log_every=50, lr=5e-4)).model


def test_vaegan_learns_to_reconstruct(discs, vaegan, tmp_path):
    start = train(cfg(discs, tmp_path / "r0", "vaegan", steps=1, save_every=1))
    before, after = _recon_l1(start.model, discs), _recon_l1(vaegan, discs)
    assert after < 0.8 * before, (before, after)  # measured 115 -> 74 levels
    rows = [json.loads(x) for x in (vaegan.parent / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["llike"] < rows[0]["llike"]


def test_attribute_vector_from_two_folders_moves_the_property(vaegan, tmp_path):
    """`attributes --add big` from large vs small discs, then `edit --set big=1|0`: the edited discs' area (the
    measured property) is larger with big=1 than with big=0, for held-out small discs."""
    rng = np.random.default_rng(7)
    y, x = np.ogrid[:32, :32]
    for name, (lo, hi) in (("big", (11, 14)), ("small", (4, 6)), ("test", (6, 9))):
        (tmp_path / name).mkdir()
        for i in range(12):
            a = np.zeros((32, 32, 3), np.uint8)
            r = rng.integers(lo, hi)
            a[(y - 16) ** 2 + (x - 16) ** 2 < r * r] = rng.integers(60, 256, 3)
            Image.fromarray(a).save(tmp_path / name / f"{i}.png")
    new = tmp_path / "with_big.safetensors"
    r = runner.invoke(app, ["attributes", "-m", str(vaegan), "--add", "big", "--with", str(tmp_path / "big"), "--without", str(tmp_path / "small"),
                            "-o", str(new), "--device", "cpu"])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["edit", "--list-attrs", "-m", str(new)])
    assert "1 attribute vector(s): big" in r.stdout
    area = {}
    for v in ("0", "1"):
        r = runner.invoke(app, ["edit", str(tmp_path / "test"), "-m", str(new), "-o", str(tmp_path / f"e{v}"), "--set", f"big={v}", "--device", "cpu"])
        assert r.exit_code == 0, r.output
        area[v] = np.mean([(np.asarray(Image.open(p)).max(axis=2) > 60).mean() for p in (tmp_path / f"e{v}").glob("*_big-*.png")])
    assert area["1"] > area["0"] + 0.02, area
    r = runner.invoke(app, ["edit", str(tmp_path / "test"), "-m", str(new), "-o", str(tmp_path / "x"), "--set", "small=1"])
    assert r.exit_code == 2 and "NAME one of big" in r.stderr
    r = runner.invoke(app, ["edit", str(tmp_path / "test" / "0.png"), "-m", str(new), "-o", str(tmp_path / "g"), "--set", "size=big", "--device", "cpu"])
    assert r.exit_code == 0 and (tmp_path / "g" / "0_big-1.png").is_file()  # GROUP=NAME means NAME=1


def test_infogan_q_reads_its_categorical_code(discs, tmp_path):
    torch.set_num_threads(2)
    res = train(cfg(discs, tmp_path / "r", "infogan", codes="cat:4,cont:1", steps=150, save_every=150, sample_every=150, log_every=50, lr=5e-4))
    rows = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["info"] < 0.5 * rows[0]["info"]  # the MI bound tightens: Q recovers the codes
    m = load_latent(str(res.model), device="cpu")
    code = m.code("c1")
    z = torch.cat([m.vary(m.draw(s), code, [0, 1, 2, 3]) for s in range(8)])
    images = torch.from_numpy(m.decode(z)).permute(0, 3, 1, 2).float() / 127.5 - 1
    D = m.checkpoint.networks["D"]
    with torch.no_grad():
        pred = D.q(D.body(images))[:, :4].argmax(1)
    assert (pred == torch.arange(4).repeat(8)).float().mean() > 0.5  # chance is 0.25


def test_sample_is_seeded_and_walks_codes(discs, tmp_path):
    res = train(cfg(discs, tmp_path / "r", "infogan", codes="cat:3,cont:2", steps=2, save_every=2))
    r1 = runner.invoke(app, ["sample", "-m", str(res.model), "-o", str(tmp_path / "a"), "-n", "3", "--seed", "5", "--device", "cpu"])
    r2 = runner.invoke(app, ["sample", "-m", str(res.model), "-o", str(tmp_path / "b"), "-n", "3", "--seed", "5", "--device", "cpu"])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output
    digest = lambda d: [hashlib.sha1((d / f"seed{s}.png").read_bytes()).hexdigest() for s in (5, 6, 7)]  # noqa: E731
    assert digest(tmp_path / "a") == digest(tmp_path / "b") and len(set(digest(tmp_path / "a"))) == 3
    r = runner.invoke(app, ["sample", "-m", str(res.model), "-o", str(tmp_path / "v"), "-n", "1", "--vary", "c2", "--steps", "5", "--grid", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == [f"seed0_c2_{k:02d}.png" for k in range(5)] + ["seed0_c2_grid.png"]
    r = runner.invoke(app, ["sample", "-m", str(res.model), "-o", str(tmp_path / "c"), "-n", "1", "--vary", "c1", "--device", "cpu"])
    assert r.exit_code == 0 and "categorical: one image per category" in r.stderr and len(list((tmp_path / "c").iterdir())) == 3
    r = runner.invoke(app, ["sample", "-m", str(res.model), "-o", str(tmp_path / "c"), "--vary", "c9"])
    assert r.exit_code == 2 and "no code 'c9'" in r.stderr
    r = runner.invoke(app, ["sample", "-m", str(res.model), "-o", str(tmp_path / "a"), "-n", "1", "--seed", "5"])
    assert r.exit_code == 1 and "exists (use --overwrite)" in r.stderr


def test_interpolate_between_two_encoded_images(vaegan, discs, tmp_path):
    a, b = sorted(discs.iterdir())[:2]
    r = runner.invoke(app, ["sample", "-m", str(vaegan), "-o", str(tmp_path / "i"), "--interpolate", f"{a},{b}", "--steps", "5", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    m = load_latent(str(vaegan), device="cpu")
    ends = m.decode(m.encode(np.stack([np.asarray(Image.open(p)) for p in (a, b)])))
    walk = [np.asarray(Image.open(tmp_path / "i" / f"interp_{a.stem}_{b.stem}_{k:02d}.png")) for k in range(5)]
    assert np.array_equal(walk[0], ends[0]) and np.array_equal(walk[-1], ends[1])  # the walk starts and ends at the reconstructions
    assert not np.array_equal(walk[2], walk[0])


def test_bigan_discriminator_with_a_large_code_loads_back(tmp_path):
    """A BiGAN's joint head takes the code size (128 in the person-emoji comparison run): its checkpoint must load."""
    from gantrans.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from gantrans.models.registry import build_network, make_config

    cfg = make_config("dcgan_d", {"ndf": 8, "size": 32, "joint_nz": 128})
    d = build_network("dcgan_d", cfg)
    g_cfg = make_config("dcgan_g", {"ngf": 8, "size": 32, "nz": 128})
    ck = Checkpoint(arch="dcgan_g", config=g_cfg, networks={"G": build_network("dcgan_g", g_cfg), "D": d}, aux={"D": ("dcgan_d", cfg)},
                    domains=["code", "image"], provenance={"latent": {"prior": "uniform", "noise_dim": 128}})  # fmt: skip
    save_checkpoint(ck, tmp_path / "b.safetensors")
    assert load_checkpoint(tmp_path / "b.safetensors").networks["D"].config.joint_nz == 128
