"""PhotoWCT weights: converting photo_wct.pth, VGG-19 encoders from a torchvision file, and training
decoders (`train --arch wct-decoder`) that beat an untrained decoder and drive `stylize`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import skimage_photo
from PIL import Image
from typer.testing import CliRunner

from gantrans.cli.main import app
from gantrans.engine.convert_wct import IMAGENET_MEAN, IMAGENET_STD, VGG19_INDEX
from gantrans.engine.stylize import StylizeOptions, Stylizer
from gantrans.io.checkpoint import load_checkpoint
from gantrans.models import build_network, make_config

runner = CliRunner()


def test_convert_photowct_round_trip(tmp_path):
    torch.manual_seed(0)
    official = build_network("photowct", make_config("photowct", {"base": 8})).state_dict()  # the 80-key layout
    src = tmp_path / "photo_wct.pth"
    torch.save(official, src)
    out = tmp_path / "pw.safetensors"
    r = runner.invoke(app, ["convert", str(src), "--from", "photowct", "-o", str(out), "--license", "CC-BY-NC-SA-4.0"])
    assert r.exit_code == 0, r.output
    assert "4 encoder/decoder levels, VGG width 8, max-unpooling decoders (80 tensors)" in r.stderr
    ck = load_checkpoint(out)
    assert ck.arch == "photowct" and ck.config.base == 8 and ck.license == "CC-BY-NC-SA-4.0"
    got = ck.networks["G"].state_dict()
    assert set(got) == set(official) and all(torch.equal(got[k], official[k]) for k in official)
    # a pickle that needs code, and a file of another model, are refused
    torch.save({"e1.conv0.weight": torch.zeros(1), "x": object()}, tmp_path / "evil.pth")
    r = runner.invoke(app, ["convert", str(tmp_path / "evil.pth"), "--from", "photowct", "-o", str(tmp_path / "e.safetensors")])
    assert r.exit_code == 1 and "never executes pickled code" in r.stderr
    torch.save({"model.1.weight": torch.zeros(1)}, tmp_path / "other.pth")
    r = runner.invoke(app, ["convert", str(tmp_path / "other.pth"), "--from", "photowct", "-o", str(tmp_path / "o.safetensors")])
    assert r.exit_code == 1 and "not a PhotoWCT state dict" in r.stderr


def fake_vgg19(path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """torchvision vgg19().features layout (the convolutions the encoders use), random values."""
    g = torch.Generator().manual_seed(seed)
    chans = {"1_1": (3, 64), "1_2": (64, 64), "2_1": (64, 128), "2_2": (128, 128), "3_1": (128, 256),
             "3_2": (256, 256), "3_3": (256, 256), "3_4": (256, 256), "4_1": (256, 512)}  # fmt: skip
    state = {}
    for name, i in VGG19_INDEX.items():
        cin, cout = chans[name]
        state[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2.0 / (9 * cin)) ** 0.5
        state[f"features.{i}.bias"] = torch.zeros(cout)
    torch.save(state, path)
    return state


def test_vgg19_file_gives_the_encoders_with_its_normalisation(tmp_path):
    from gantrans.train.wct import load_encoders

    state = fake_vgg19(tmp_path / "vgg19.pth")
    net = build_network("photowct")
    assert "torchvision VGG-19" in load_encoders(net, str(tmp_path / "vgg19.pth"))
    x = torch.rand(1, 3, 8, 8)
    want = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    for level in range(1, 5):
        enc = net.encoder(level)
        assert torch.allclose(enc.conv0(x), want, atol=1e-6)
        assert torch.equal(enc.conv1_1.weight, state["features.0.weight"])
    assert torch.equal(net.e4.conv4_1.weight, state["features.19.weight"])
    with pytest.raises(Exception, match="VGG width 8"):
        load_encoders(build_network("photowct", make_config("photowct", {"base": 8})), str(tmp_path / "vgg19.pth"))


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    for name in ("astronaut.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "brick.png", "grass.png"):
        Image.open(skimage_photo(name)).convert("RGB").save(root / (Path(name).stem + ".png"))
    return root


@pytest.mark.slow  # 14-73 s on a 2-core AMD EPYC without AVX-512: keeps the default suite under 10 minutes
def test_train_wct_decoder_beats_an_untrained_decoder_and_stylizes(photo_folder, tmp_path):
    run = tmp_path / "run"
    args = ["train", str(photo_folder), "--arch", "wct-decoder", "--encoder", "random", "--ngf", "8", "-o", str(run),
            "--steps", "120", "--size", "64", "-b", "4", "--workers", "0", "--log-every", "20", "--save-every", "120",
            "--sample-every", "120", "--set", "wct_levels=2", "--set", "lr=1e-3"]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["pix2"] < 0.5 * rows[0]["pix2"] and rows[-1]["pix1"] < 0.5 * rows[0]["pix1"]
    ck = load_checkpoint(run / "model.safetensors")
    assert ck.arch == "photowct" and ck.config.levels == 2 and ck.provenance["encoder"] == "random (seeded)"
    # held-out photo (chelsea was not in the folder): trained decoders reconstruct it far better than fresh ones
    x = torch.from_numpy(np.array(Image.open(skimage_photo("chelsea.png")).convert("RGB").resize((96, 64)))).permute(2, 0, 1)[None].float() / 255
    fresh = build_network("photowct", ck.config)
    fresh.load_state_dict({k: v for k, v in ck.networks["G"].state_dict().items() if k.startswith("e")}, strict=False)
    with torch.no_grad():
        errs = [((n.d2(*n.e2(x)) - x) ** 2).mean().item() for n in (ck.networks["G"], fresh)]
    assert errs[0] < 0.25 * errs[1]
    # and they drive stylize: the full transform (alpha 1) moves the photo's colours towards the style's,
    # further than the content itself and than the decoders' own rendering of it (alpha 0)
    s = Stylizer(ck)
    content, style = Image.open(skimage_photo("chelsea.png")), Image.open(skimage_photo("coffee.png"))
    mean_rgb = {}
    for name, alpha in (("same", 0.0), ("styled", 1.0)):
        mean_rgb[name] = np.asarray(s.stylize(content, style, StylizeOptions(alpha=alpha, smooth="none", max_size=128))).astype(float).mean((0, 1))
    target = np.asarray(style.convert("RGB")).astype(float).mean((0, 1))
    gap = {k: np.abs(v - target).sum() for k, v in {**mean_rgb, "content": np.asarray(content.convert("RGB")).astype(float).mean((0, 1))}.items()}
    assert gap["styled"] < gap["content"] and gap["styled"] < gap["same"], gap
    # resume continues exactly
    r = runner.invoke(app, ["train", "--resume", str(run), "--steps", "140", "--save-every", "140"])
    assert r.exit_code == 0, r.output
