"""Training: datasets, config, learning, bit-exact resume, interruption, torchrun (gloo)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

import gantrans
from gantrans.cli.main import app
from gantrans.train.config import resolve_config
from gantrans.train.data import DatasetError, detect
from gantrans.train.trainer import Interrupted, lr_factor, train

runner = CliRunner()
TINY = {"ngf": 4, "ndf": 4, "n_layers_D": 2, "crop_size": 32, "load_size": 36, "workers": 0, "log_every": 1, "device": "cpu"}


def blobs(rng, n=40):
    """Smooth random images: a learnable signal, unlike white noise."""
    small = rng.integers(0, 256, (n, 4, 4, 3), dtype=np.uint8)
    return [np.asarray(Image.fromarray(s).resize((40, 40), Image.Resampling.BICUBIC)) for s in small]


@pytest.fixture(scope="module")
def paired(tmp_path_factory) -> Path:
    """A/ -> B/ where B is A with channels permuted and inverted: trivially learnable."""
    root = tmp_path_factory.mktemp("paired")
    (root / "A").mkdir()
    (root / "B").mkdir()
    for i, a in enumerate(blobs(np.random.default_rng(0))):
        Image.fromarray(a).save(root / "A" / f"{i:03d}.png")
        Image.fromarray(255 - a[..., ::-1]).save(root / "B" / f"{i:03d}.png")
    (root / "A" / "zz_broken.png").write_bytes(b"garbage")
    (root / "B" / "zz_broken.png").write_bytes(b"garbage")
    return root


@pytest.fixture(scope="module")
def unpaired(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("unpaired")
    rng = np.random.default_rng(1)
    for side in ("trainA", "trainB", "testA"):
        (root / side).mkdir()
        for i, a in enumerate(blobs(rng, 6)):
            Image.fromarray(a if side != "trainB" else a // 2).save(root / side / f"{i}.png")
    return root


def cfg(dataset, out, model="pix2pix", **over):
    base = dict(TINY, dataset=str(dataset), output=str(out), netG="resnet_6blocks", steps=6, save_every=3, sample_every=3)
    base.update(over)
    return resolve_config(model, None, base)


def test_detect_layouts(paired, unpaired, tmp_path):
    lay = detect(paired)
    assert lay.kind == "paired" and len(lay.a) == 40 and [p.name for p in lay.skipped] == ["zz_broken.png", "zz_broken.png"]
    assert detect(unpaired).kind == "unpaired" and len(detect(unpaired).test_a) == 6
    (tmp_path / "train").mkdir()
    Image.new("RGB", (64, 32)).save(tmp_path / "train" / "1.jpg")
    assert detect(tmp_path).kind == "aligned"
    with pytest.raises(DatasetError, match=r"unpaired:  DATASET/trainA/\*"):
        detect(tmp_path / "train")


def test_defaults_file_and_flag_override(tmp_path):
    c = resolve_config("cyclegan", None, {"dataset": "d", "output": "o"})
    assert (c.netG, c.norm, c.gan_mode, c.pool_size, c.lambda_A, c.lambda_identity, c.lr, c.beta1) == (
        "resnet_9blocks", "instance", "lsgan", 50, 10.0, 0.5, 2e-4, 0.5)  # fmt: skip
    p = resolve_config("pix2pix", None, {})
    assert (p.netG, p.norm, p.gan_mode, p.lambda_L1, p.pool_size, p.dropout) == ("unet_256", "batch", "vanilla", 100.0, 0, True)
    toml = tmp_path / "run.toml"
    toml.write_text('gan_mode = "hinge"\nlr = 0.001\nngf = 32\n')
    c = resolve_config("cyclegan", toml, {"lr": 0.005, "ngf": None})
    assert (c.gan_mode, c.lr, c.ngf) == ("hinge", 0.005, 32)
    yaml = tmp_path / "run.yaml"
    yaml.write_text("pool_size: 7\nbogus: 1\n")
    with pytest.raises(ValueError, match="unknown setting 'bogus'"):
        resolve_config("cyclegan", yaml, {})
    with pytest.raises(ValueError, match="must be int"):
        resolve_config("cyclegan", None, {"ngf": "big"})
    r = runner.invoke(app, ["train", "x", "--arch", "cyclegan", "-o", str(tmp_path / "r"), "-c", str(toml), "--set", "lambda_identity=0", "--dry-run"])
    assert r.exit_code == 0, r.output
    shown = json.loads(r.stdout)
    assert shown["gan_mode"] == "hinge" and shown["lambda_identity"] == 0 and shown["model"] == "cyclegan"
    r = runner.invoke(app, ["train", "x", "--arch", "cyclegan", "-o", str(tmp_path / "r"), "--compile", "--compile-mode", "reduce-overhead", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert {k: json.loads(r.stdout)[k] for k in ("compile", "compile_mode")} == {"compile": True, "compile_mode": "reduce-overhead"}


def test_linear_schedule_matches_reference():
    c = resolve_config("cyclegan", None, {"steps": 200})
    assert lr_factor(c, 0) == 1.0 and lr_factor(c, 100) == 1.0
    assert lr_factor(c, 150) == pytest.approx(1 - 50 / 101) and lr_factor(c, 199) == pytest.approx(1 - 99 / 101)


def test_resize_upsampling_is_a_training_option(unpaired, tmp_path):
    res = train(cfg(unpaired, tmp_path / "r", model="cyclegan", steps=2, save_every=2, upsample="resize"))
    m = gantrans.load(str(res.model), device="cpu")
    assert m.checkpoint.config.upsample == "resize"
    assert m.translate(Image.new("RGB", (36, 28), (200, 30, 30))).size == (36, 28)
    from gantrans.errors import UsageError

    with pytest.raises(UsageError, match="upsample=resize is an option of the ResNet and U-Net generators, not of stargan"):
        cfg(unpaired, tmp_path / "u", model="cyclegan", netG="stargan", upsample="resize")


def test_unet_depth_is_a_training_option(unpaired, tmp_path):
    """num_downs=5: a U-Net for 32² crops (unet_128's own depth needs 128), saved with its depth (and its
    upsampling and padding), and translate pads inputs to its multiple (32) and crops back."""
    from gantrans.errors import UsageError

    with pytest.raises(UsageError, match="unet_128 needs a crop size that is a multiple of 128"):
        cfg(unpaired, tmp_path / "d", model="cyclegan", netG="unet_128")
    run = cfg(unpaired, tmp_path / "r", model="cyclegan", steps=2, save_every=2, netG="unet_128", num_downs=5, upsample="resize", padding_type="reflect")
    m = gantrans.load(str(train(run).model), device="cpu")
    c = m.checkpoint.config
    assert (m.checkpoint.arch, c.num_downs, c.upsample, c.padding_type) == ("unet_128", 5, "resize", "reflect")
    assert m.translate(Image.new("RGB", (36, 28), (200, 30, 30))).size == (36, 28)
    with pytest.raises(UsageError, match="num_downs is an option of the U-Net generators, not of resnet_6blocks"):
        cfg(unpaired, tmp_path / "x", model="cyclegan", num_downs=5)
    with pytest.raises(UsageError, match="num_downs must be an integer >= 5, got 3"):
        cfg(unpaired, tmp_path / "y", model="cyclegan", netG="unet_128", num_downs=3)
    with pytest.raises(UsageError, match="padding_type is not an option of stargan"):
        cfg(unpaired, tmp_path / "z", model="cyclegan", netG="stargan", padding_type="reflect")


def test_residual_unet_is_a_training_option(unpaired, tmp_path):
    """residual=True trains a U-Net that starts as the identity: after two steps at lr 2e-4 its gates have barely
    opened, so translate returns the input within one level; other generators refuse the option."""
    from gantrans.errors import UsageError

    run = cfg(unpaired, tmp_path / "r", model="cyclegan", steps=2, save_every=2, netG="unet_128", num_downs=5, upsample="resize", residual=True)
    m = gantrans.load(str(train(run).model), device="cpu")
    assert m.checkpoint.config.residual is True
    src = Image.open(sorted((unpaired / "trainA").iterdir())[0]).convert("RGB")
    out = m.translate(src)
    diff = np.abs(np.asarray(out, dtype=np.int16) - np.asarray(src, dtype=np.int16))
    assert out.size == src.size and diff.max() <= 1
    with pytest.raises(UsageError, match="residual is an option of the U-Net generators, not of resnet_6blocks"):
        cfg(unpaired, tmp_path / "x", model="cyclegan", residual=True)


def test_cyclegan_and_pix2pix_discriminators_see_diffaugmented_images(unpaired, paired, tmp_path, monkeypatch):
    """diffaugment=translation,cutout (off by default, as the official code): every D input, real and fake, in the D
    and the G step, is shifted with mid-grey (0) borders and gets a zeroed box; a resumed run stays bit-exact."""
    import gantrans.models.patchgan as P
    from gantrans.errors import UsageError

    with pytest.raises(UsageError, match="unknown diffaugment policy hue"):
        cfg(unpaired, tmp_path / "bad", model="cyclegan", diffaugment="hue")
    seen: list[torch.Tensor] = []
    forward = P.NLayerDiscriminator.forward

    def spy(self, x):  # type: ignore[no-untyped-def]
        seen.append(x.detach().clone())
        return forward(self, x)

    monkeypatch.setattr(P.NLayerDiscriminator, "forward", spy)
    for model, data in (("cyclegan", unpaired), ("pix2pix", paired)):
        train(cfg(data, tmp_path / f"{model}_plain", model=model, steps=1, batch_size=2))
        plain = [(t == 0).float().mean().item() for t in seen]
        seen.clear()
        train(cfg(data, tmp_path / f"{model}_aug", model=model, steps=1, batch_size=2, diffaugment="translation,cutout"))
        aug = [(t == 0).float().mean().item() for t in seen]
        seen.clear()
        assert len(plain) == len(aug) >= 3  # G step and D step (real and fake)
        assert max(plain) < 0.01 and min(aug) > 0.1, (model, plain, aug)
    monkeypatch.undo()
    a = train(cfg(unpaired, tmp_path / "a", model="cyclegan", steps=4, save_every=2, diffaugment="translation"))
    train(cfg(unpaired, tmp_path / "b", model="cyclegan", steps=2, save_every=2, diffaugment="translation"))
    b = train(cfg(unpaired, tmp_path / "b", model="cyclegan", steps=4, save_every=2, diffaugment="translation"), resume=True)
    sa, sb = load_file(str(a.model)), load_file(str(b.model))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def heldout_l1(model_path, root):
    m = gantrans.load(str(model_path), device="cpu")
    errs = []
    for i in range(32, 40):  # the translation must generalise: compare on the last 8 pairs
        a = Image.open(root / "A" / f"{i:03d}.png")
        b = np.asarray(Image.open(root / "B" / f"{i:03d}.png"), dtype=np.float32)
        errs.append(np.abs(np.asarray(m.translate(a), dtype=np.float32) - b).mean())
    return float(np.mean(errs))


@pytest.mark.slow  # 14-73 s on a 2-core AMD EPYC without AVX-512: keeps the default suite under 10 minutes
def test_pix2pix_learns_a_paired_mapping(paired, tmp_path):
    torch.set_num_threads(2)
    start = train(cfg(paired, tmp_path / "r0", steps=1, save_every=1, lr_policy="constant"))
    before = heldout_l1(start.model, paired)
    done = train(cfg(paired, tmp_path / "r1", steps=600, save_every=600, sample_every=300, lr=1e-3, lambda_L1=100.0, log_every=100, batch_size=4, lr_policy="constant"))
    after = heldout_l1(done.model, paired)
    assert after < 0.4 * before, (before, after)
    rows = [json.loads(x) for x in (tmp_path / "r1" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(100, 601, 100))
    assert (tmp_path / "r1" / "samples" / "step_0000600.png").exists()


@pytest.mark.slow  # 14-73 s on a 2-core AMD EPYC without AVX-512: keeps the default suite under 10 minutes
def test_cyclegan_lambda_paired_learns_the_pairs(paired, tmp_path):
    """lambda_paired adds w * (L1(G_A(A), B) + L1(G_B(B), A)) on paired data: the same CycleGAN run with it ends far
    closer to the true targets than without it (the cycle and GAN terms alone don't pin the pairing down) and logs
    the term."""
    torch.set_num_threads(2)
    common = dict(model="cyclegan", steps=60, save_every=60, sample_every=60, lr=1e-3, log_every=30, batch_size=4, lr_policy="constant")
    plain = heldout_l1(train(cfg(paired, tmp_path / "c0", **common)).model, paired)
    used = heldout_l1(train(cfg(paired, tmp_path / "c1", lambda_paired=10.0, **common)).model, paired)
    assert used < 0.85 * plain, (plain, used)  # 0.74 measured
    rows = [json.loads(x) for x in (tmp_path / "c1" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [30, 60] and all(r["paired"] > 0 for r in rows)
    assert "paired" not in json.loads((tmp_path / "c0" / "metrics.jsonl").read_text().splitlines()[0])


def test_cyclegan_lambda_paired_is_refused_on_unpaired_data(unpaired, tmp_path):
    from gantrans.errors import UsageError

    with pytest.raises(UsageError, match="lambda_paired needs paired data"):
        train(cfg(unpaired, tmp_path / "u", model="cyclegan", lambda_paired=1.0))


@pytest.mark.parametrize("model,over", [("pix2pix", {"dropout": True, "norm": "batch"}), ("cyclegan", {"pool_size": 3}), ("cyclegan", {"ema": 0.9})])
def test_resume_is_bit_identical(paired, unpaired, tmp_path, model, over):
    data = paired if model == "pix2pix" else unpaired
    full = train(cfg(data, tmp_path / "full", model, **over))
    with pytest.raises(Interrupted) as e:
        train(cfg(data, tmp_path / "cut", model, **over), should_stop=lambda step: step == 4)
    assert e.value.step == 4
    resumed = train(cfg(data, tmp_path / "cut", model, **over), resume=True)
    assert resumed.step == 6
    a, b = load_file(str(full.model)), load_file(str(resumed.model))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    sa = torch.load(tmp_path / "full" / "train_state.pt", weights_only=True)
    sb = torch.load(tmp_path / "cut" / "train_state.pt", weights_only=True)
    for net in sa["nets"]:
        assert all(torch.equal(sa["nets"][net][k], sb["nets"][net][k]) for k in sa["nets"][net])
    steps = [json.loads(x)["step"] for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("model", ["cyclegan", "pix2pix"])
def test_ema_generators_are_the_model(paired, unpaired, tmp_path, model):
    """With ema the model file holds each generator's moving average (ema_t = d * ema_{t-1} + (1 - d) * G_t,
    starting from G's --init-from weights), not its last weights."""
    import gantrans.train.trainer as T
    from gantrans.train.recipes import live

    data = paired if model == "pix2pix" else unpaired
    src = train(cfg(data, tmp_path / "src", model, steps=2)).model
    d = 0.75
    snaps = []  # G's weights after each step, read through the sample hook (sample_every=1)
    orig = T.Trainer.sample_grid

    def spy(self, samples):  # type: ignore[no-untyped-def]
        snaps.append({k: {n: t.detach().clone() for n, t in self.ctx.G[k].state_dict().items()} for k in live(self.ctx.G)})
        return orig(self, samples)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(T.Trainer, "sample_grid", spy)
        run = train(cfg(data, tmp_path / "ema", model, steps=3, ema=d, init_from=str(src), sample_every=1))
    start = load_file(str(src))
    model_file = load_file(str(run.model))
    state = torch.load(tmp_path / "ema" / "train_state.pt", weights_only=True)
    assert len(snaps) == 3 and set(snaps[0]) == ({"G_A", "G_B"} if model == "cyclegan" else {"G_A"})
    for k in snaps[0]:
        for n, w0 in ((n, start[f"{k}.{n}"]) for n in snaps[0][k] if snaps[0][k][n].is_floating_point() and "running" not in n):
            want = w0.float()
            for snap in snaps:
                want = d * want + (1 - d) * snap[k][n]
            assert torch.allclose(model_file[f"{k}.{n}"].float(), want, atol=1e-6), (k, n)
            assert torch.equal(state["nets"][k + "_ema"][n], model_file[f"{k}.{n}"])
        assert not all(torch.equal(state["nets"][k][n], model_file[f"{k}.{n}"]) for n in snaps[0][k] if "running" not in n)


def test_ctrl_c_saves_and_exits_130(unpaired, tmp_path):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "gantrans", "train", str(unpaired), "--arch", "cyclegan", "-o", str(run), "--steps", "100000",
            "--size", "32", "--ngf", "4", "--ndf", "4", "--workers", "0", "--log-every", "1", "--save-every", "100000", "--device", "cpu"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not ((run / "metrics.jsonl").exists() and (run / "metrics.jsonl").read_text().count("\n") >= 2):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, errtext = proc.communicate(timeout=120)
    assert proc.returncode == 130, errtext
    assert "state saved. Continue with: gantrans train --resume" in errtext
    state = torch.load(run / "train_state.pt", weights_only=True)
    assert state["step"] >= 2 and (run / "model.safetensors").exists()
    r = runner.invoke(app, ["train", "--resume", str(run), "--steps", str(state["step"] + 2)])
    assert r.exit_code == 0, r.output
    assert torch.load(run / "train_state.pt", weights_only=True)["step"] == state["step"] + 2
    r = runner.invoke(app, ["train", "--resume", str(run), "--ngf", "8"])
    assert r.exit_code == 2 and "cannot change ngf" in r.stderr
    # a run of an earlier version saved every family's settings (e.g. MUNIT's style_dim for a CycleGAN)
    conf = json.loads((run / "config.json").read_text())
    conf["config"].update(style_dim=8, recon_kl_w=0.01)
    (run / "config.json").write_text(json.dumps(conf))
    r = runner.invoke(app, ["train", "--resume", str(run), "--steps", str(state["step"] + 3)])
    assert r.exit_code == 0, r.output
    assert "ignoring 2 saved setting(s) cyclegan does not use (recon_kl_w, style_dim)" in r.stderr
    assert torch.load(run / "train_state.pt", weights_only=True)["step"] == state["step"] + 3


def test_torchrun_two_processes_gloo(paired, tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--standalone", "-m", "gantrans", "train", str(paired),
         "--arch", "pix2pix", "-o", str(run), "--steps", "4", "--size", "32", "--netG", "resnet_6blocks", "--ngf", "4",
         "--ndf", "4", "--workers", "0", "--device", "cpu", "--log-every", "2", "-b", "2"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    detail = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "rror" in ln or "xception" in ln]
    assert proc.returncode == 0, "\n".join(detail[:40]) or proc.stderr[-3000:]
    ranks = json.loads((run / "ranks.json").read_text())
    assert ranks["in_sync"] and len(ranks["digests"]) == 2
    assert json.loads((run / "config.json").read_text())["world_size"] == 2
    m = gantrans.load(str(run / "model.safetensors"), device="cpu")
    assert m.translate(Image.new("RGB", (20, 20))).size == (20, 20)


def test_bf16_autocast_training_on_cpu(paired, tmp_path):
    res = train(cfg(paired, tmp_path / "bf", precision="bf16", steps=3, save_every=3))
    rows = [json.loads(x) for x in (tmp_path / "bf" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(np.isfinite(v) for r in rows for k, v in r.items() if k in ("G_GAN", "G_L1", "D"))
    assert gantrans.load(str(res.model), device="cpu").translate(Image.new("RGB", (16, 16))).size == (16, 16)


def test_crash_during_save_keeps_the_last_good_checkpoint(paired, tmp_path, monkeypatch):
    run = tmp_path / "crash"
    train(cfg(paired, run, steps=3, save_every=3))
    good_state = (run / "train_state.pt").read_bytes()
    good_model = (run / "model.safetensors").read_bytes()

    def exploding_save(obj, path):  # write half a file, then die, as a full disk or a kill would
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", exploding_save)
    with pytest.raises(OSError) as e:
        train(cfg(paired, run, steps=6, save_every=3), resume=True)
    assert e.value.filename == str(run / "train_state.pt") and e.value.strerror == "No space left on device"  # names the file
    assert (run / "train_state.pt").read_bytes() == good_state
    # the model is saved before the state: it is complete, at the failed save's step (never older than the state)
    assert (run / "model.safetensors").read_bytes() != good_model
    assert gantrans.load(str(run / "model.safetensors"), device="cpu").checkpoint.provenance["steps"] == 6
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()  # the disk has room again: resumes from step 3
    res = train(cfg(paired, run, steps=6, save_every=3), resume=True)
    assert res.step == 6


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_nan_policy(paired, tmp_path, monkeypatch, policy):
    run = tmp_path / policy
    train(cfg(paired, run, steps=2, save_every=2))
    good = (run / "train_state.pt").read_bytes()
    import gantrans.train.cyclegan as R
    import gantrans.train.trainer as T

    real = R.F.l1_loss
    monkeypatch.setattr(R.F, "l1_loss", lambda a, b: real(a, b) * float("nan"))  # the L1 term goes NaN
    c = cfg(paired, run, steps=4, save_every=2, nan_policy=policy)
    if policy == "stop":
        with pytest.raises(T.NonFiniteLoss, match=r"NaN or Inf at step 3; .*last good checkpoint \(step 2\) is kept"):
            train(c, resume=True)
        assert (run / "train_state.pt").read_bytes() == good
    else:
        res = train(c, resume=True)
        assert res.step == 4
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        assert rows[-1]["skipped_updates"] == 2  # the generator updates of steps 3 and 4
        state = torch.load(run / "train_state.pt", weights_only=True)
        assert all(torch.isfinite(v).all() for net in state["nets"].values() for v in net.values() if v.is_floating_point())


@pytest.mark.slow  # 14-73 s on a 2-core AMD EPYC without AVX-512: keeps the default suite under 10 minutes
def test_sigkill_at_random_moments_always_resumes(unpaired, tmp_path):
    """Kill -9 a training run at random steps (saves every 2 steps, so often mid-save), resume each time.

    The kill is timed by the run's own progress (a metrics row of a random later step), not by sleeping,
    so a slow or loaded machine changes nothing."""
    import random

    rng = random.Random(0)
    run = tmp_path / "run"
    base = [sys.executable, "-m", "gantrans", "train", "--device", "cpu", "--workers", "0"]
    first = [str(unpaired), "--arch", "cyclegan", "-o", str(run), "--steps", "400", "--size", "32", "--ngf", "4",
             "--ndf", "4", "--save-every", "2", "--log-every", "1", "--sample-every", "3"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    last_step = 0

    def logged_step() -> int:
        try:
            lines = (run / "metrics.jsonl").read_text().splitlines()
            return json.loads(lines[-1])["step"] if lines else 0
        except (OSError, ValueError, KeyError):  # not there yet, or a row being written
            return -1

    for trial in range(10):
        args = base + (["--resume", str(run)] if (run / "train_state.pt").exists() else first)
        target = last_step + rng.randint(1, 4)
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        deadline = time.time() + 300
        while logged_step() < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)  # polling the run's progress: the kill lands right after a step, often mid-save
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        proc.kill()
        proc.wait()
        if (run / "train_state.pt").exists():
            state = torch.load(run / "train_state.pt", weights_only=True)  # always complete and loadable
            assert state["step"] >= last_step
            last_step = state["step"]
            # the model is written before the state: a run with a state always has a loadable model
            m = gantrans.load(str(run / "model.safetensors"), device="cpu")
            assert m.checkpoint.provenance["steps"] >= state["step"]
    assert last_step > 0
    done = subprocess.run(base + ["--resume", str(run), "--steps", str(last_step + 4)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert torch.load(run / "train_state.pt", weights_only=True)["step"] == last_step + 4
    assert not list(run.rglob("*.tmp"))  # temp files of killed saves are cleaned up on resume
