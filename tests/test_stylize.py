"""WCT / PhotoWCT: the transform's maths, label maps, smoothing against references, the official
layout through an independent functional pass, the engine and `gantrans stylize` on real photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import skimage_photo
from PIL import Image
from typer.testing import CliRunner

from gantrans.cli.main import app
from gantrans.engine.smooth import (
    MattingAffinity,
    guided_filter,
    guided_filter_tiled,
    matting_propagate,
)
from gantrans.engine.stylize import StylizeOptions, Stylizer
from gantrans.engine.wct import (
    StyleLevel,
    colouring,
    transfer,
    usable_labels,
    wct,
    whiten,
)
from gantrans.io.checkpoint import Checkpoint, save_checkpoint
from gantrans.models import build_network, make_config
from gantrans.train.wct import random_encoders

runner = CliRunner()


def tiny_stylizer(arch: str = "photowct", base: int = 4, seed: int = 0) -> Checkpoint:
    torch.manual_seed(seed)
    cfg = make_config(arch, {"base": base})
    net = build_network(arch, cfg)
    random_encoders(net)
    return Checkpoint(arch=arch, config=cfg, networks={"G": net}, domains=["content"], preprocess={"size": 0, "mean": [0.0] * 3, "std": [1.0] * 3})


def correlated(c: int, n: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(c, c, generator=g, dtype=torch.float64)
    return mix @ torch.randn(c, n, generator=g, dtype=torch.float64) + shift + torch.randn(c, 1, generator=g, dtype=torch.float64)


def cov(f: torch.Tensor) -> torch.Tensor:
    x = f - f.mean(1, keepdim=True)
    return x @ x.T / (f.shape[1] - 1)


# ---- the transform ---------------------------------------------------------------------------


def test_whitened_features_have_identity_covariance():
    f = correlated(16, 4000, 1)
    w = whiten(f, reg=0.0)
    assert torch.allclose(cov(w), torch.eye(16, dtype=torch.float64), atol=1e-8)
    assert w.mean(1).abs().max() < 1e-10
    # the official regulariser (+I on the content covariance) shrinks each direction to e/(e+1)
    e = torch.linalg.eigvalsh(cov(f))
    got = torch.linalg.eigvalsh(cov(whiten(f)))
    assert torch.allclose(got, (e / (e + 1)).sort().values, atol=1e-8)


def test_coloured_features_take_the_style_mean_and_covariance():
    content, style = correlated(12, 3000, 2), correlated(12, 2500, 3, shift=4.0)
    out = wct(content.float(), colouring(style.float()), reg=0.0)
    assert torch.allclose(out.mean(1), style.mean(1), atol=1e-4)
    assert torch.allclose(cov(out), cov(style), rtol=1e-3, atol=1e-3)


def test_eigenvalue_cutoff_keeps_rank_deficient_styles_finite():
    base = correlated(4, 500, 4)
    style = torch.cat([base, base, torch.zeros(2, 500, dtype=torch.float64)])  # rank 4 of 10
    col = colouring(style)
    assert torch.linalg.matrix_rank(col.root, tol=1e-6) == 4
    out = wct(correlated(10, 500, 5), col)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[8:], torch.zeros(2, 500, dtype=torch.float64), atol=1e-6)  # style has nothing there


def test_alpha_blends_with_the_content_features():
    feat = correlated(6, 64, 6).float().view(6, 8, 8)
    style = StyleLevel(correlated(6, 100, 7, shift=3.0).float().view(6, 10, 10), None)
    full = transfer(feat, style, 1.0)
    assert torch.allclose(transfer(feat, style, 0.0), feat)
    assert torch.allclose(transfer(feat, style, 0.3), 0.3 * full + 0.7 * feat, atol=1e-5)


def test_label_maps_transfer_region_to_region_and_keep_unusable_labels():
    h = w = 16
    c_seg = np.zeros((h, w), np.int64)
    c_seg[:, 8:] = 1
    c_seg[0, 0:3] = 7  # 3 px: below the official 10-pixel minimum -> untouched
    s_seg = np.zeros((h, w), np.int64)
    s_seg[8:, :] = 1
    content = correlated(5, h * w, 8).float().view(5, h, w)
    style = torch.empty(5, h, w)
    style[:, s_seg == 0] = correlated(5, int((s_seg == 0).sum()), 9, shift=10.0).float()
    style[:, s_seg == 1] = correlated(5, int((s_seg == 1).sum()), 10, shift=-10.0).float()
    labels = usable_labels(c_seg, s_seg)
    assert labels == [0, 1]
    level = StyleLevel(style, s_seg, [0, 1])
    out = transfer(content, level, 1.0, c_seg, labels, reg=0.0)
    for label in (0, 1):
        got = out[:, torch.from_numpy(c_seg == label)]
        want = style[:, torch.from_numpy(s_seg == label)]
        assert torch.allclose(got.mean(1), want.mean(1), atol=1e-3)
    tiny = torch.from_numpy(c_seg == 7)
    assert torch.equal(out[:, tiny], content[:, tiny])


def test_usable_labels_follow_the_official_size_rule():
    c = np.zeros((40, 40), np.int64)
    s = np.zeros((40, 40), np.int64)
    c[:20] = 1
    s[:1, :11] = 1  # 11 px vs 800 px: ratio 72.7 < 100 -> usable
    s[1, :5] = 2
    c[39, :] = 2  # 40 px vs 5 px: too small in the style
    assert usable_labels(c, s) == [0, 1]
    s[:1, :11] = 0
    s[:1, :7] = 1  # now 7 px: fewer than 10 -> not usable
    assert 1 not in usable_labels(c, s)


# ---- smoothing -------------------------------------------------------------------------------


def dense_affinity(image: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """The official __compute_laplacian affinity, window by window (float64, small images only)."""
    _, h, w = image.shape
    pix = image.double().reshape(3, -1).T
    ids = torch.arange(h * w).view(h, w)
    out = torch.zeros(h * w, h * w, dtype=torch.float64)
    for y in range(1, h - 1):
        for x in range(1, w - 1):
            win = ids[y - 1 : y + 2, x - 1 : x + 2].reshape(-1)
            p = pix[win]
            mu = p.mean(0)
            inv = torch.linalg.inv(p.T @ p / 9 - torch.outer(mu, mu) + eps / 9 * torch.eye(3, dtype=torch.float64))
            out[win[:, None], win[None, :]] += (1 + (p - mu) @ inv @ (p - mu).T) / 9
    return out


def test_matting_affinity_operator_equals_the_dense_matrix():
    img = torch.rand(1, 3, 9, 11, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = torch.randn(1, 2, 9, 11, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref = (dense_affinity(img[0]) @ x[0].reshape(2, -1).T).T.reshape(1, 2, 9, 11)
    assert torch.allclose(MattingAffinity(img)(x), ref, atol=1e-10)


def test_matting_propagation_matches_a_dense_solve():
    g = torch.Generator().manual_seed(2)
    img = torch.rand(1, 3, 10, 12, generator=g, dtype=torch.float64)
    y = torch.rand(1, 3, 10, 12, generator=g, dtype=torch.float64)
    beta = 0.9999
    W = dense_affinity(img[0])
    d = W.sum(0).rsqrt()
    A = torch.eye(120, dtype=torch.float64) - beta * d[:, None] * W * d[None, :]
    ref = ((1 - beta) * torch.linalg.solve(A, y[0].reshape(3, -1).T)).T.reshape(1, 3, 10, 12)
    out, info = matting_propagate(img, y, beta, tol=1e-10, max_iter=5000, border=0)
    assert info.residual <= 1e-10
    assert torch.allclose(out, ref.clamp(0, 1), atol=1e-8)


def test_default_solver_tolerance_is_invisible_in_8_bit_output():
    content = torch.from_numpy(np.array(Image.open(skimage_photo("chelsea.png")).convert("RGB").resize((96, 64)))).permute(2, 0, 1)[None].double() / 255
    noisy = (0.7 * content + 0.2 + 0.1 * torch.randn(content.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)).clamp(0, 1)
    tight, _ = matting_propagate(content, noisy, tol=1e-10, max_iter=10000)
    default, info = matting_propagate(content, noisy)
    assert info.residual <= 3e-4 and (default - tight).abs().max() * 255 < 0.25


def test_guided_filter_matches_per_window_least_squares():
    g = torch.Generator().manual_seed(3)
    guide = torch.rand(1, 3, 9, 10, generator=g, dtype=torch.float64)
    src = torch.rand(1, 2, 9, 10, generator=g, dtype=torch.float64)
    r, eps = 2, 1e-2
    out = guided_filter(guide, src, r, eps)
    # brute force: a linear model per window (ridge on the guide), averaged over the windows covering a pixel
    G = guide[0].permute(1, 2, 0).numpy()
    P = src[0].permute(1, 2, 0).numpy()
    h, w = 9, 10
    coef = np.zeros((h, w, 4, 2))
    for y in range(h):
        for x in range(w):
            ys, xs = slice(max(0, y - r), y + r + 1), slice(max(0, x - r), x + r + 1)
            gi, pi = G[ys, xs].reshape(-1, 3), P[ys, xs].reshape(-1, 2)
            mg, mp = gi.mean(0), pi.mean(0)
            a = np.linalg.solve(np.cov(gi.T, bias=True) + eps * np.eye(3), (gi - mg).T @ (pi - mp) / len(gi))
            coef[y, x, :3], coef[y, x, 3] = a, mp - mg @ a
    ref = np.zeros((h, w, 2))
    for y in range(h):
        for x in range(w):
            ys, xs = slice(max(0, y - r), y + r + 1), slice(max(0, x - r), x + r + 1)
            c = coef[ys, xs].reshape(-1, 4, 2).mean(0)
            ref[y, x] = G[y, x] @ c[:3] + c[3]
    assert np.allclose(out[0].permute(1, 2, 0).numpy(), np.clip(ref, 0, 1), atol=1e-10)


def test_tiled_guided_filter_equals_the_whole_image_filter():
    g = torch.Generator().manual_seed(8)
    guide = torch.rand(1, 3, 70, 90, generator=g, dtype=torch.float64)
    src = torch.rand(1, 3, 70, 90, generator=g, dtype=torch.float64)
    whole = guided_filter(guide, src, 5, 1e-3)
    assert torch.allclose(guided_filter_tiled(guide, src, 5, 1e-3, tile=32), whole, atol=1e-10)


def test_fast_mode_restores_full_size_edges_after_max_size():
    """Worked at 96 px, returned at 451 x 300: the full-size guided pass puts the photo's edges back."""
    s = Stylizer(tiny_stylizer(), device="cpu")
    s.transform = lambda x, *a, **k: x.float() * 0.8 + 0.1  # a colour change that keeps the (small) image
    content, style = Image.open(skimage_photo("chelsea.png")), Image.open(skimage_photo("coffee.png"))
    c = np.asarray(content.convert("L"), dtype=float)

    def edge_agreement(img) -> float:
        a = np.asarray(img.convert("L"), dtype=float)
        ga = np.hypot(*np.gradient(a))
        gc = np.hypot(*np.gradient(c))
        return float(np.corrcoef(ga.ravel(), gc.ravel())[0, 1])

    plain = s.stylize(content, style, StylizeOptions(max_size=96, smooth="none"))
    fast = s.stylize(content, style, StylizeOptions(max_size=96, smooth="fast"))
    assert plain.size == fast.size == content.size
    assert edge_agreement(fast) > edge_agreement(plain) + 0.2


def test_smoothing_keeps_edges_of_the_content():
    """A noisy stylisation of a two-region photo: both modes remove the noise, not the edge."""
    img = torch.zeros(1, 3, 32, 32, dtype=torch.float64)
    img[..., 16:] = 1.0
    noisy = (0.3 + 0.4 * img + 0.05 * torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(4), dtype=torch.float64)).clamp(0, 1)
    for out in (guided_filter(img, noisy, 4, 1e-4), matting_propagate(img, noisy)[0]):
        left, right = out[..., 2:-2, 2:14], out[..., 2:-2, 18:-2]
        assert left.std() < 0.01 and right.std() < 0.01  # the noise is gone
        assert right.mean() - left.mean() > 0.3  # the edge is still there


# ---- the official layout: an independent functional pass --------------------------------------


def official_encoder(sd: dict, prefix: str, x: torch.Tensor, level: int):
    """FastPhotoStyle's VGGEncoder.forward, written out from its layer list."""
    def conv(h, name):
        return F.relu(F.conv2d(F.pad(h, (1, 1, 1, 1), mode="reflect"), sd[f"{prefix}.conv{name}.weight"], sd[f"{prefix}.conv{name}.bias"]))

    h = F.conv2d(x, sd[f"{prefix}.conv0.weight"], sd[f"{prefix}.conv0.bias"])
    h = conv(h, "1_1")
    pools = []
    before_pool = {1: ["1_2"], 2: ["2_2"], 3: ["3_2", "3_3", "3_4"]}
    for block in range(1, level):
        for name in before_pool[block]:
            h = conv(h, name)
        size = h.shape
        h, idx = F.max_pool2d(h, 2, 2, return_indices=True)
        pools.append((idx, size))
        h = conv(h, f"{block + 1}_1")
    return h, pools


def official_decoder(sd: dict, prefix: str, h: torch.Tensor, pools, level: int):
    def conv(h, name, relu=True):
        h = F.conv2d(F.pad(h, (1, 1, 1, 1), mode="reflect"), sd[f"{prefix}.conv{name}.weight"], sd[f"{prefix}.conv{name}.bias"])
        return F.relu(h) if relu else h

    if level > 3:
        h = conv(h, "4_1")
        idx, size = pools[2]
        h = F.max_unpool2d(h, idx, 2, 2, output_size=size[-2:])
        h = conv(conv(conv(h, "3_4"), "3_3"), "3_2")
    if level > 2:
        h = conv(h, "3_1")
        idx, size = pools[1]
        h = conv(F.max_unpool2d(h, idx, 2, 2, output_size=size[-2:]), "2_2")
    if level > 1:
        h = conv(h, "2_1")
        idx, size = pools[0]
        h = conv(F.max_unpool2d(h, idx, 2, 2, output_size=size[-2:]), "1_2")
    return conv(h, "1_1", relu=False)


def test_networks_follow_the_official_layer_order():
    ck = tiny_stylizer(base=4)
    net = ck.networks["G"].eval()
    sd = net.state_dict()
    x = torch.rand(2, 3, 37, 45, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        for level in range(1, 5):
            h, pools = net.encoder(level)(x)
            ref_h, ref_pools = official_encoder(sd, f"e{level}", x, level)
            assert torch.allclose(h, ref_h, atol=1e-6)
            dec = net.decoder(level)(h, pools)
            assert torch.allclose(dec, official_decoder(sd, f"d{level}", ref_h, ref_pools, level), atol=1e-6)
        taps = net.encoder(4).features(x)
        assert [t.shape[1] for t in taps] == [4, 8, 16, 32]
        assert torch.allclose(taps[2], official_encoder(sd, "e4", x, 3)[0], atol=1e-6)


# ---- engine and CLI ----------------------------------------------------------------------------


def test_batched_stylisation_equals_one_at_a_time():
    s = Stylizer(tiny_stylizer(), device="cpu")
    g = torch.Generator().manual_seed(6)
    pixels = [(torch.rand(40, 48, 3, generator=g) * 255).to(torch.uint8).numpy() for _ in range(3)]
    style = s.prepare_style(Image.fromarray((torch.rand(50, 30, 3, generator=g) * 255).to(torch.uint8).numpy()))
    opts = StylizeOptions(smooth="fast")
    together = s.stylize_arrays(pixels, style, opts)
    alone = [s.stylize_arrays([p], style, opts)[0] for p in pixels]
    for a, b in zip(together, alone):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_max_size_works_small_and_returns_the_original_size():
    s = Stylizer(tiny_stylizer(), device="cpu")
    content = Image.open(skimage_photo("chelsea.png"))  # 451 x 300
    style = Image.open(skimage_photo("coffee.png"))
    out = s.stylize(content, style, StylizeOptions(max_size=128, smooth="none"))
    assert out.size == content.size and out.mode == "RGB"


@pytest.fixture(scope="module")
def wct_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("wct") / "pw.safetensors"
    save_checkpoint(tiny_stylizer(), path)
    return path


def test_stylize_cli_on_real_photos(wct_model, tmp_path):
    content = [str(skimage_photo("chelsea.png")), str(skimage_photo("astronaut.png"))]
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "out"
    r = runner.invoke(app, ["stylize", *content, str(bad), "-s", str(skimage_photo("coffee.png")), "-s", str(skimage_photo("rocket.jpg")),
                            "-m", str(wct_model), "-o", str(out), "--json", "--max-size", "160"])  # fmt: skip
    assert r.exit_code == 1, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    ok = sorted(Path(row["output"]).name for row in rows if row["status"] == "ok")
    assert ok == ["astronaut_coffee.png", "astronaut_rocket.png", "chelsea_coffee.png", "chelsea_rocket.png"]
    assert [row["input"] for row in rows if row["status"] == "failed"] == [str(bad)]
    assert Image.open(out / "chelsea_coffee.png").size == (451, 300)
    assert "failed 1" in r.stderr
    # existing outputs are kept without --overwrite
    r = runner.invoke(app, ["stylize", content[0], "-s", str(skimage_photo("coffee.png")), "-m", str(wct_model), "-o", str(out), "--max-size", "160"])
    assert r.exit_code == 0 and "skipped 1" in r.stderr


def test_stylize_cli_label_maps_and_usage_errors(wct_model, tmp_path):
    photo = skimage_photo("astronaut.png")
    seg = np.zeros((512, 512), np.uint8)
    seg[:, 256:] = 1
    Image.fromarray(seg).save(tmp_path / "seg.png")
    args = ["stylize", str(photo), "-s", str(skimage_photo("coffee.png")), "-m", str(wct_model), "-o", str(tmp_path / "o"), "--max-size", "96"]
    r = runner.invoke(app, args + ["--style-seg", str(tmp_path / "seg.png")])
    assert r.exit_code == 2 and "error: --style-seg needs --content-seg (the content's label map)" in r.stderr
    r = runner.invoke(app, args + ["--style-seg", str(tmp_path / "seg.png"), "--content-seg", str(tmp_path / "seg.png"), "--smooth", "exact"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o" / "astronaut_coffee.png").is_file()
    r = runner.invoke(app, args + ["--alpha", "1.5"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["translate", str(photo), "-m", str(wct_model), "-o", str(tmp_path / "t")])
    # the wrong kind of model is a usage error (2) in every command, with a command that takes it
    assert r.exit_code == 2 and "translate needs a " in r.stderr and "is photowct (use it with gantrans stylize)" in r.stderr
