"""StarGAN: label construction (groups, toggles, masks), `gantrans edit`, --all strips, missing
attributes, training (losses fall, resume), multi-dataset mask batches, the bundled emoji model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import STARGAN_TINY as TINY
from helpers import stargan_cfg as cfg
from helpers import write_attr_dataset
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

import gantrans
from gantrans.cli.main import app
from gantrans.engine.edit import Editor
from gantrans.engine.labels import LabelError, LabelSchema
from gantrans.train.config import resolve_config
from gantrans.train.labels import LabelStream, load_label_sets
from gantrans.train.trainer import train

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "person_emoji"
SCHEMA = {"datasets": [{"name": "faces", "attrs": ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"],
                        "groups": {"hair": ["Black_Hair", "Blond_Hair", "Brown_Hair"]}}], "mask": False}  # fmt: skip
MULTI = {"datasets": [SCHEMA["datasets"][0], {"name": "rafd", "attrs": ["angry", "happy"], "groups": {"domain": ["angry", "happy"]}}], "mask": True}


def test_labels_groups_toggles_and_names():
    s = LabelSchema(SCHEMA)
    cur = torch.tensor([1.0, 0, 0, 1, 0])  # black hair, male, not young
    ops = s.parse(["hair=Blond_Hair", "Male=toggle", "Young=1"])
    t = s.target(cur, ops)
    assert t.tolist() == [0, 1, 0, 0, 1]
    assert s.name_changes(cur, t) == "Blond_Hair-1_Male-0_Young-1"
    assert s.target(cur, s.parse(["Blond_Hair=1"])).tolist() == [0, 1, 0, 1, 0]  # a member switches its group
    for bad, msg in (("hair=Red", "not in group hair"), ("Blond_Hair=0", "exclusive group hair"), ("Bald=1", "no attribute or group"), ("Male=2", "1, 0 or toggle"), ("Male", "expected NAME")):
        with pytest.raises(LabelError, match=msg):
            s.parse([bad])
    strip = s.single_changes(cur)
    assert strip == [[("Blond_Hair", "1")], [("Brown_Hair", "1")], [("Male", "toggle")], [("Young", "toggle")]]


def test_multi_dataset_mask_vector():
    s = LabelSchema(MULTI)
    assert s.dim == 5 + 2 + 2
    cur = torch.tensor([0.0, 1, 0, 0, 1, 1, 0])
    t = s.target(cur, s.parse(["domain=happy"]))
    assert t.tolist() == [0, 0, 0, 0, 0, 0, 1, 0, 1]  # other dataset zeroed, mask says dataset 1
    t = s.target(cur, s.parse(["Male=1"]))
    assert t.tolist() == [0, 1, 0, 1, 1, 0, 0, 1, 0]
    with pytest.raises(LabelError, match="one dataset"):
        s.target(cur, s.parse(["Male=1", "domain=happy"]))


@pytest.fixture(scope="module")
def attr_data(tmp_path_factory) -> Path:
    return write_attr_dataset(tmp_path_factory.mktemp("attrs"))


@pytest.fixture(scope="module")
def folder_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("folders")
    for d, v in (("dark", 40), ("light", 220)):
        (root / "train" / d).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((32, 32, 3), v + i, np.uint8)).save(root / "train" / d / f"{i}.png")
    return root


def test_official_defaults():
    c = resolve_config("stargan", None, {"dataset": "d", "output": "o"})
    assert (c.gan_mode, c.lambda_gp, c.lambda_cls, c.lambda_rec, c.n_critic, c.lr, c.beta1, c.beta2, c.batch_size, c.crop_size) == (
        "wgangp", 10, 1, 10, 5, 1e-4, 0.5, 0.999, 16, 128)  # fmt: skip
    assert (c.lr_policy, c.lr_decay_start, c.repeat_num, c.d_repeat_num, c.ngf, c.ndf) == ("linear", 0.5, 6, 6, 64, 64)


def test_multi_dataset_batches_alternate_with_masks(attr_data, folder_data, tmp_path):
    c = resolve_config("stargan", None, {**TINY, "output": str(tmp_path), "attrs": [], "datasets": [f"attrs:{attr_data}", f"folders:{folder_data}"]})
    sets = load_label_sets(c)
    assert [s.attrs for s in sets] == [["Red", "Green", "Blue"], ["dark", "light"]] and sets[0].groups == {"colour": ["Red", "Green", "Blue"]}
    ds = LabelStream(sets, 32, 0, False, 3, 0, batch=2)
    items = [ds[k] for k in range(8)]
    assert [int(it["ds"]) for it in items] == [0, 0, 1, 1, 0, 0, 1, 1]
    for it in items:
        lab, d = it["label"], int(it["ds"])
        assert lab.shape == (3 + 2 + 2,) and lab[5 + d] == 1 and lab[5 + 1 - d] == 0  # mask
        own = lab[:3] if d == 0 else lab[3:5]
        other = lab[3:5] if d == 0 else lab[:3]
        assert own.sum() == 1 and other.sum() == 0
    res = train(resolve_config("stargan", None, {**TINY, "output": str(tmp_path / "run"), "attrs": [], "steps": 4, "datasets": [f"attrs:{attr_data}", f"folders:{folder_data}"]}))
    m = gantrans.load(str(res.model), device="cpu")
    assert m.checkpoint.config.c_dim == 7 and m.checkpoint.labels["mask"] is True


def test_training_lowers_classification_and_reconstruction_losses(attr_data, tmp_path):
    res = train(cfg(attr_data, tmp_path / "r", steps=120, log_every=20, save_every=120, sample_every=120))
    rows = [json.loads(line) for line in (res.run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["D_cls"] < 0.5 * rows[0]["D_cls"], (rows[0]["D_cls"], rows[-1]["D_cls"])
    assert rows[-1]["G_rec"] < 0.7 * rows[0]["G_rec"], (rows[0]["G_rec"], rows[-1]["G_rec"])
    assert "G_cls" in rows[0]  # averaged over the generator steps only
    assert (res.run / "samples" / "step_0000120.png").exists()


def test_resume_is_bit_identical(attr_data, tmp_path):
    a = train(cfg(attr_data, tmp_path / "a", steps=4, save_every=2))
    train(cfg(attr_data, tmp_path / "b", steps=2, save_every=2))
    b = train(cfg(attr_data, tmp_path / "b", steps=4, save_every=2), resume=True)
    sa, sb = load_file(str(a.model)), load_file(str(b.model))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def sg_model(attr_data, tmp_path_factory) -> Path:
    return train(cfg(attr_data, tmp_path_factory.mktemp("sg") / "run", steps=2)).model


def test_edit_all_strip_and_names(sg_model, attr_data, tmp_path):
    img = attr_data / "images" / "000.png"
    r = runner.invoke(app, ["edit", str(img), "-m", str(sg_model), "-o", str(tmp_path), "--all", "--source", "colour=Red", "--source", "Big=0", "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["000_Big-1.png", "000_Blue-1.png", "000_Green-1.png", "000_grid.png"]
    grid = Image.open(tmp_path / "000_grid.png")
    assert grid.size == (4 * 32 + 3 * 2, 32)
    r = runner.invoke(app, ["edit", str(img), "-m", str(sg_model), "-o", str(tmp_path / "s"), "--set", "colour=Blue", "--set", "Big=toggle", "--source", "Big=0", "--device", "cpu", "--json"])
    row = json.loads(r.stdout.strip().splitlines()[-1])
    assert row["output"].endswith("000_Blue-1_Big-1.png"), row  # a group switch names the member switched on


def test_missing_attribute_is_a_clear_error(attr_data, tmp_path):
    m = gantrans.build("stargan", device="cpu", conv_dim=4, repeat_num=1, c_dim=5, labels=SCHEMA)  # no classifier stored
    m.save(tmp_path / "m.safetensors")
    img = attr_data / "images" / "000.png"
    r = runner.invoke(app, ["edit", str(img), "-m", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "o"), "--set", "Male=toggle", "--device", "cpu"])
    assert r.exit_code == 1
    assert "current value is needed for: hair (group), Male, Young; give it with --source" in r.output
    r = runner.invoke(app, ["edit", str(img), "-m", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "o"), "--set", "hair=Blond_Hair", "--source", "Male=1", "--source", "Young=0", "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["000_Blond_Hair-1.png"]
    r = runner.invoke(app, ["edit", "--list-attrs", "-m", str(tmp_path / "m.safetensors")])
    assert "group hair: Black_Hair | Blond_Hair | Brown_Hair" in r.output and "attribute Male: 0 | 1" in r.output
    r = runner.invoke(app, ["edit", str(img), "-m", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "o"), "--set", "Bald=1"])
    assert r.exit_code == 2 and "no attribute or group named 'Bald'" in r.output


def test_bundled_emoji_model_edits_held_out_tone():
    """A held-out emoji edited to tone 5 gets closer to the true tone-5 emoji than the unedited input."""
    ed = Editor(gantrans.load("person_emoji_stargan", device="cpu"))
    load = lambda n: torch.from_numpy(np.asarray(Image.open(EXAMPLES / n).convert("RGB")).copy()).permute(2, 0, 1)[None]  # noqa: E731
    errs, base = [], []
    for src, truth in (("1F473.png", "1F473-1F3FE.png"), ("1F9D1-1F3FB-200D-1F3A8.png", "1F9D1-1F3FE-200D-1F3A8.png")):
        x = load(src)
        cur = ed.current(x, {}, [], 0)
        trg = ed.schema.target(cur[0], ed.schema.parse(["tone=tone_5"]))
        y = ed.t.run(x, "a2b", trg[None]) * 255
        errs.append(float((y - load(truth).float()).abs().mean()))
        base.append(float((x.float() - load(truth).float()).abs().mean()))
        pred = ed.predict(y.round().to(torch.uint8))[0]
        assert pred[ed.schema.attrs["tone_5"].index] == 1  # the stored classifier sees the new tone
    assert np.mean(errs) < np.mean(base), (errs, base)


def test_attention_generator_composes_input_and_colour():
    """attention=True (GANimation): output = A * input + (1 - A) * colour, A in (0, 1); the colour head is
    the official generator's, so the official keys are unchanged and one more (attn.weight) is added."""
    from gantrans.models import build_network, make_config

    torch.manual_seed(0)
    plain = build_network("stargan", make_config("stargan", {"conv_dim": 4, "repeat_num": 1, "c_dim": 3}))
    g = build_network("stargan", make_config("stargan", {"conv_dim": 4, "repeat_num": 1, "c_dim": 3, "attention": True})).eval()
    assert set(g.state_dict()) - set(plain.state_dict()) == {"attn.weight"} and set(plain.state_dict()) <= set(g.state_dict())
    x, c = torch.rand(2, 3, 16, 16) * 2 - 1, torch.tensor([[1.0, 0, 1], [0, 1, 0]])
    with torch.no_grad():
        y, a = g.parts(x, c)
        assert a is not None and a.shape == (2, 1, 16, 16) and 0 < float(a.min()) and float(a.max()) < 1
        colour = g.main(torch.cat([x, c[:, :, None, None].expand(-1, -1, 16, 16)], 1))
        assert torch.allclose(y, a * x + (1 - a) * colour, atol=1e-6) and torch.equal(g(x, c), y)
        g.attn.weight.fill_(0.0)
        g.attn.weight[0, :, 3, 3] = 1e3  # A -> 1 wherever features are positive: the input shows through
        y, a = g.parts(x, c)
    keep = (a > 0.999).expand_as(x)
    assert keep.any() and torch.allclose(y[keep], x[keep], atol=2e-3)


def test_attention_recipe_init_from_and_mask_penalty(attr_data, tmp_path):
    """A plain StarGAN fine-tunes into the attention variant (--init-from names the new head); the saved
    model keeps the option; the mask penalty pushes the attention down; the reverse init is refused."""
    plain = train(cfg(attr_data, tmp_path / "plain", steps=2))
    notes: list[str] = []
    att = train(cfg(attr_data, tmp_path / "att", steps=2, lr=0.0, attention=True, init_from=str(plain.model)), on_info=notes.append)
    assert any("G's attn.weight are not in" in n for n in notes), notes
    a, b = load_file(str(plain.model)), load_file(str(att.model))
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("G.main.") and "running" not in k)  # lr 0: the colour head is the source's
    m = gantrans.load(str(att.model), device="cpu")
    assert m.checkpoint.config.attention is True and "G_mask" in (att.run / "metrics.jsonl").read_text()

    def final_mask(weight: float) -> float:
        r = train(cfg(attr_data, tmp_path / f"m{weight}", steps=40, n_critic=1, log_every=40, attention=True, lambda_mask=weight))
        return json.loads((r.run / "metrics.jsonl").read_text().splitlines()[-1])["G_mask"]

    assert final_mask(20.0) < final_mask(0.0) - 0.1
    with pytest.raises(gantrans.errors.UsageError, match="attn.weight have no place"):
        train(cfg(attr_data, tmp_path / "back", steps=1, init_from=str(att.model)))
    # a resumed fine-tune takes its weights from its own state: the source may be gone (and is not re-read)
    src = tmp_path / "src.safetensors"
    src.write_bytes(plain.model.read_bytes())
    full = train(cfg(attr_data, tmp_path / "full", steps=4, save_every=2, attention=True, init_from=str(src)))
    train(cfg(attr_data, tmp_path / "half", steps=2, save_every=2, attention=True, init_from=str(src)))
    src.unlink()
    notes.clear()
    half = train(cfg(attr_data, tmp_path / "half", steps=4, save_every=2, attention=True, init_from=str(src)), resume=True, on_info=notes.append)
    a, b = load_file(str(full.model)), load_file(str(half.model))
    assert all(torch.equal(a[k], b[k]) for k in a) and not any("init_from" in n for n in notes)


@pytest.mark.slow  # 14-73 s on a 2-core AMD EPYC without AVX-512: keeps the default suite under 10 minutes
def test_identity_term_keeps_unrequested_changes_small(attr_data, tmp_path):
    """lambda_id trains G(x, c_org) towards x: with it, asking for the labels an image has changes it less
    than the same run without it; its loss is logged; a negative weight is refused."""
    with pytest.raises(gantrans.errors.UsageError, match="lambda_id must be >= 0"):
        train(cfg(attr_data, tmp_path / "neg", steps=1, lambda_id=-1.0))
    rows = [r.split() for r in (attr_data / "list_attr.txt").read_text().splitlines()[2:]]
    xs = torch.stack([torch.from_numpy(np.asarray(Image.open(attr_data / "images" / r[0]).convert("RGB")).copy()).permute(2, 0, 1) for r in rows])
    labels = torch.tensor([[float(v == "1") for v in r[1:5]] for r in rows])  # Red Green Blue Big: the model's attributes

    def no_op_error(weight: float) -> float:
        r = train(cfg(attr_data, tmp_path / f"id{weight}", steps=80, n_critic=1, log_every=80, lambda_id=weight))
        assert ("G_id" in (r.run / "metrics.jsonl").read_text()) == (weight > 0)
        ed = Editor(gantrans.load(str(r.model), device="cpu", precision="fp32"))
        y = ed.t.run(xs, "a2b", labels) * 255.0  # (N, 3, 32, 32): every image asked for its own labels
        return float((y - xs.float()).abs().mean())

    assert no_op_error(50.0) < 0.8 * no_op_error(0.0)  # 39.6 vs 58.1 levels here (80 steps of a tiny G)


def test_seldom_values_warn_from_the_stored_training_counts(sg_model, attr_data, tmp_path):
    """Training stores how many images carry each attribute; `edit` warns when a requested value was on
    fewer than 50 of them (seen on few subjects), --list-attrs shows the counts; converted models (no
    counts) never warn."""
    s = LabelSchema({"datasets": [{**SCHEMA["datasets"][0], "images": 1000, "counts": {"Black_Hair": 600, "Blond_Hair": 30, "Brown_Hair": 370, "Male": 980, "Young": 500}}]})
    warned = s.seldom([("Blond_Hair", "1"), ("Brown_Hair", "1"), ("Male", "0"), ("Male", "1"), ("Young", "toggle")])
    assert warned == [
        "Blond_Hair was on only 30 of the model's 1000 training images: on subjects unlike those, the edit is outside what the model saw and may come out broken",
        "Male=0 was on only 20 of the model's 1000 training images: on subjects unlike those, the edit is outside what the model saw and may come out broken",
    ]
    assert s.seldom([("Male", "toggle")]) == warned[1:] and LabelSchema(SCHEMA).seldom([("Blond_Hair", "1")]) == []
    meta = gantrans.load(str(sg_model), device="cpu").checkpoint.labels["datasets"][0]
    assert (meta["images"], meta["counts"]) == (24, {"Red": 8, "Green": 8, "Blue": 8, "Big": 12})  # write_attr_dataset's 24 squares
    r = runner.invoke(app, ["edit", "--list-attrs", "-m", str(sg_model)])
    assert f"dataset {attr_data.name} (24 training images):" in r.output  # the folder's name, whatever pytest numbered it and "group colour: Red (8) | Green (8) | Blue (8)" in r.output
    assert "attribute Big: 0 (12) | 1 (12)" in r.output
    img = attr_data / "images" / "000.png"
    r = runner.invoke(app, ["edit", str(img), "-m", str(sg_model), "-o", str(tmp_path), "--set", "colour=Blue", "--device", "cpu", "-q"])
    assert r.exit_code == 0 and r.stderr.strip().splitlines() == [
        "gantrans: warning: Blue was on only 8 of the model's 24 training images: on subjects unlike those, the edit is outside what the model saw and may come out broken"
    ]  # fmt: skip


def test_bundled_model_warns_about_hair_only(tmp_path):
    """Unicode has hair variants for the plain person only (18 training images per value): `edit` says a red-hair
    edit of a turban emoji is outside what the model saw; tone edits (204+ images each) pass silently."""
    src = str(EXAMPLES / "1F473.png")
    r = runner.invoke(app, ["edit", src, "-m", "person_emoji_stargan", "-o", str(tmp_path / "h"), "--set", "hair=hair_red", "--device", "cpu", "-q"])
    assert r.exit_code == 0 and "warning: hair_red was on only 18 of the model's 1233 training images" in r.stderr, r.stderr
    r = runner.invoke(app, ["edit", src, "-m", "person_emoji_stargan", "-o", str(tmp_path / "t"), "--set", "tone=tone_5", "--device", "cpu", "-q"])
    assert r.exit_code == 0 and r.stderr == ""
