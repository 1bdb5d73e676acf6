"""MUNIT/UNIT training: official defaults, losses fall, bit-identical resume, inference checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import gantrans
from gantrans.errors import UsageError
from gantrans.train.config import resolve_config
from gantrans.train.trainer import lr_factor, train

TINY = {
    "ngf": 8, "ndf": 4, "n_layers_D": 2, "num_scales": 2, "n_res": 1, "crop_size": 32, "load_size": 32,
    "workers": 0, "log_every": 1, "device": "cpu", "steps": 4, "save_every": 2, "sample_every": 2, "lr": 1e-3,
}  # fmt: skip


@pytest.fixture(scope="module")
def glyphs(tmp_path_factory) -> Path:
    """Unpaired 1-channel A (thin strokes) and 3-channel B (thick, coloured strokes)."""
    root = tmp_path_factory.mktemp("glyphs")
    rng = np.random.default_rng(0)
    for side in ("trainA", "trainB"):
        (root / side).mkdir()
        for i in range(8):
            img = np.full((32, 32, 3), 255, np.uint8)
            y, x = rng.integers(4, 24, 2)
            w = 2 if side == "trainA" else 6
            img[y : y + 8, x : x + w] = 0 if side == "trainA" else rng.integers(0, 200, 3)
            Image.fromarray(img).convert("L" if side == "trainA" else "RGB").save(root / side / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def grouped(tmp_path_factory) -> Path:
    """trainA/n{i}.png and trainB/g{j}/n{i}.png: grey images whose left half names (group, name): A n{i} is
    20 + 10 i, B g{j}/n{i} is 100 j + 20 + 10 i (the right half is white, so a flip shows); plus a flat trainB
    file and a lone group (no triplets)."""

    def img(v: int) -> Image.Image:
        a = np.full((32, 32), 255, np.uint8)
        a[:, :16] = v
        return Image.fromarray(a)

    root = tmp_path_factory.mktemp("grouped")
    for i in range(4):
        (root / "trainA").mkdir(exist_ok=True)
        img(20 + 10 * i).save(root / "trainA" / f"n{i}.png")
        for j in range(2):
            (root / "trainB" / f"g{j}").mkdir(parents=True, exist_ok=True)
            img(100 * j + 20 + 10 * i).save(root / "trainB" / f"g{j}" / f"n{i}.png")
    Image.new("L", (32, 32), 250).save(root / "trainB" / "n0.png")
    (root / "trainB" / "lone").mkdir()
    Image.new("L", (32, 32), 240).save(root / "trainB" / "lone" / "n1.png")
    return root


def cfg(dataset, out, model, **over):
    base = dict(TINY, dataset=str(dataset), output=str(out))
    if model == "munit":
        base["mlp_dim"] = 16  # MUNIT's own key: UNIT refuses it
    base.update(over)
    return resolve_config(model, None, base)


def test_munit_and_unit_refuse_each_others_settings():
    with pytest.raises(UsageError, match="unknown setting 'mlp_dim' for unit"):
        resolve_config("unit", None, {"dataset": "d", "output": "o", "mlp_dim": 16})
    with pytest.raises(UsageError, match="unknown setting 'recon_kl_w' for munit"):
        resolve_config("munit", None, {"dataset": "d", "output": "o", "recon_kl_w": 0.1})


def test_official_defaults():
    m = resolve_config("munit", None, {"dataset": "d", "output": "o"})
    assert (m.gan_mode, m.lr, m.beta1, m.beta2, m.weight_decay, m.lr_policy, m.lr_decay_every, m.lr_gamma) == (
        "lsgan", 1e-4, 0.5, 0.999, 1e-4, "step", 100000, 0.5)  # fmt: skip
    assert (m.gan_w, m.recon_x_w, m.recon_s_w, m.recon_c_w, m.recon_x_cyc_w, m.vgg_w, m.style_dim, m.mlp_dim, m.n_res) == (
        1, 10, 1, 1, 0, 0, 8, 256, 4)  # fmt: skip
    assert (m.ngf, m.ndf, m.n_layers_D, m.num_scales, m.init_type, m.batch_size) == (64, 64, 4, 3, "kaiming", 1)
    assert not hasattr(m, "pool_size")  # no image pool: the NVlabs recipes have no such setting
    u = resolve_config("unit", None, {"dataset": "d", "output": "o"})
    assert (u.gan_w, u.recon_x_w, u.recon_kl_w, u.recon_x_cyc_w, u.recon_kl_cyc_w, u.weight_decay) == (1, 10, 0.01, 10, 0.01, 1e-4)
    assert lr_factor(m, 99999) == 1.0 and lr_factor(m, 100000) == 0.5 and lr_factor(m, 200000) == 0.25


@pytest.mark.parametrize("model", ["munit", "unit"])
def test_resume_is_bit_identical(glyphs, tmp_path, model):
    extra = {"input_nc": 1, "share": 1} if model == "unit" else {"input_nc": 1, "recon_x_cyc_w": 1.0}
    if model == "unit":
        extra.pop("input_nc")
    straight = train(cfg(glyphs, tmp_path / "a", model, **extra))
    train(cfg(glyphs, tmp_path / "b", model, **dict(extra, steps=2)))
    resumed = train(cfg(glyphs, tmp_path / "b", model, **extra), resume=True)
    assert straight.step == resumed.step == 4
    a, b = load_file(str(straight.model)), load_file(str(resumed.model))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert "recon_x_a" in rows[-1] and ("recon_s_a" in rows[-1] if model == "munit" else "kl_a" in rows[-1])
    m = gantrans.load(str(straight.model), device="cpu")
    assert m.arch == model and m.directions == ["a2b", "b2a"] and (tmp_path / "a" / "samples" / "step_0000002.png").exists()


def test_munit_training_lowers_reconstruction_losses(glyphs, tmp_path):
    res = train(cfg(glyphs, tmp_path / "r", "munit", steps=60, log_every=10, save_every=60, sample_every=60))
    rows = [json.loads(line) for line in (res.run / "metrics.jsonl").read_text().splitlines()]
    first, last = rows[0], rows[-1]
    for k in ("recon_x_a", "recon_x_b", "recon_c_a", "recon_c_b"):
        assert last[k] < 0.8 * first[k], (k, first[k], last[k])


def test_vgg_loss_needs_and_uses_a_weights_file(glyphs, tmp_path):
    with pytest.raises(ValueError, match="vgg_weights"):
        cfg(glyphs, tmp_path / "v", "munit", vgg_w=1.0)
    from safetensors.torch import save_file
    from torchvision.models import vgg16

    torch.manual_seed(0)
    save_file({f"features.{k}": v.contiguous() for k, v in vgg16(weights=None).features.state_dict().items()}, tmp_path / "vgg.safetensors")
    res = train(cfg(glyphs, tmp_path / "v", "munit", vgg_w=1.0, vgg_weights=str(tmp_path / "vgg.safetensors"), steps=1, crop_size=32))
    row = json.loads((res.run / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["vgg_a"] > 0 and row["vgg_b"] > 0


def _grey(t: torch.Tensor) -> tuple[int, bool]:
    """(the value of the dark half, mirrored?) of a `grouped` image in [-1, 1]."""
    left, right = t[..., :16].mean(), t[..., 16:].mean()
    return round(float((min(left, right) + 1) * 127.5)), bool(left > right)


def test_guided_triplets_pair_content_target_and_a_reference_of_the_same_group(grouped):
    from gantrans.train.data import StreamDataset, Transform, detect
    from gantrans.train.guided import GuidedStream, find_triplets

    layout = detect(grouped)
    T = find_triplets(layout, grouped / "trainB")
    assert sorted(p.relative_to(grouped).as_posix() for p in T.targets) == [f"trainB/g{j}/n{i}.png" for j in range(2) for i in range(4)]
    t = Transform("resize_and_crop", 32, 32, True)
    guided, plain = GuidedStream(layout, t, 5, 1, 1, T), StreamDataset(layout, t, 5, 1, 1, False)
    seen = set()
    for k in range(40):
        item = guided[k]
        (a, fa), (b, fb), (r, fr) = _grey(item["GA"]), _grey(item["GB"]), _grey(item["GR"])
        assert b % 100 == a and r // 100 == b // 100 and r != b, (a, b, r)  # same name / same group, another member
        assert fa == fb == fr  # content, target and reference share one flip
        seen.add((b, r, fb))
        base = plain[k]
        assert torch.equal(item["A"], base["A"]) and torch.equal(item["B"], base["B"])  # the unpaired draw is untouched
        assert all(torch.equal(item[key], guided[k][key]) for key in item)  # a pure function of (seed, k)
    assert len(seen) > 10 and {f for *_, f in seen} == {True, False}


def test_guided_w_refuses_a_dataset_without_triplets(glyphs, tmp_path):
    from gantrans.errors import UsageError

    with pytest.raises(UsageError, match="guided_w must be >= 0"):
        cfg(glyphs, tmp_path / "n", "munit", guided_w=-1.0)
    with pytest.raises(UsageError, match=r"guided_w: no triplets in .*trainB/<group>/<name>"):
        train(cfg(glyphs, tmp_path / "g", "munit", input_nc=1, guided_w=10.0))


@pytest.mark.slow  # 14-73 s on a 2-core AMD EPYC without AVX-512: keeps the default suite under 10 minutes
def test_guided_w_teaches_style_from_a_reference(grouped, tmp_path):
    """Trained with guided_w, the content of A n{i} decoded with the style of another glyph of group j comes
    out as group j's n{i}; the same run without it does not learn that."""
    from gantrans.train.data import detect
    from gantrans.train.guided import find_triplets

    def guided_l1(run_dir: Path) -> float:
        m = gantrans.load(str(run_dir / "model.safetensors"), device="cpu")
        T = find_triplets(detect(grouped), grouped / "trainB")
        err = []
        for tgt, src, refs in zip(T.targets, T.sources, T.refs):
            x, ref, want = (torch.from_numpy(np.array(Image.open(p), np.float32))[None, None] / 255 for p in (src, refs[0], tgt))
            err.append(float((m.run(x, "a2b", m.encode_style(ref)) - want).abs().mean()))  # --style-from ref
        return float(np.mean(err))

    over = dict(input_nc=1, output_nc=1, steps=80, log_every=40, save_every=80, sample_every=80, batch_size=4)
    with_g = train(cfg(grouped, tmp_path / "on", "munit", guided_w=10.0, **over))
    without = train(cfg(grouped, tmp_path / "off", "munit", **over))
    on, off = guided_l1(with_g.run), guided_l1(without.run)
    assert "guided" in json.loads((with_g.run / "metrics.jsonl").read_text().splitlines()[-1])
    assert on < 0.5 * off, (on, off)
