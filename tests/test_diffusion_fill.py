"""The diffusion (harmonic) fill against an exact solve of Laplace's equation, and the inpainting generator's
`prefill=diffusion` option: residual stages that start as that fill, saved and loaded by the checkpoint header."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import inpaint_baselines
from PIL import Image
from typer.testing import CliRunner

import gantrans
from gantrans.cli.main import app
from gantrans.errors import UsageError
from gantrans.models.diffusion_fill import diffusion_fill, poisson_blend
from gantrans.models.registry import build_network, make_config

runner = CliRunner()


def exact_harmonic(img: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """(C, H, W), (H, W) bool -> the evaluation script's exact sparse solve (unrounded), as a tensor."""
    solved = inpaint_baselines().harmonic_solve(img.permute(1, 2, 0).double().numpy(), hole.numpy())
    return torch.from_numpy(solved).permute(2, 0, 1).float()


def smooth_photo(seed: int, size: int = 48) -> torch.Tensor:
    """(3, S, S) in [-1, 1]: low-frequency colour fields, so that a fill has something to recover."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 4, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0].clamp(-1, 1)


# an inner hole; one along the whole top edge (Neumann there: slowest to converge); a corner
@pytest.mark.parametrize("box, worst, mean", [((10, 30, 5, 40), 0.02, 0.003), ((0, 20, 0, 48), 0.1, 0.035), ((30, 48, 30, 48), 0.04, 0.01)])
def test_fill_matches_an_exact_solve_and_keeps_known_pixels(box, worst, mean):
    img = smooth_photo(sum(box))
    hole = torch.zeros(48, 48, dtype=torch.bool)
    y0, y1, x0, x1 = box
    hole[y0:y1, x0:x1] = True
    hole[5, 45] = True  # and a lone pixel
    want = exact_harmonic(img, hole)
    got = diffusion_fill((img * ~hole)[None], hole[None, None].float())[0]
    assert torch.equal(got[:, ~hole], img[:, ~hole])
    err = (got - want)[:, hole].abs()
    assert float(err.max()) < worst and float(err.mean()) < mean  # [-1, 1] units (0.0078 = one grey level)
    # far closer than the known pixels' mean colour
    flat = img[:, ~hole].mean(1, keepdim=True)
    assert float((flat - want[:, hole]).abs().mean()) > 5 * float(err.mean())


def test_fill_without_known_pixels_and_in_half_precision():
    img = torch.rand(2, 3, 16, 16) * 2 - 1
    all_hole = torch.ones(2, 1, 16, 16)
    assert torch.equal(diffusion_fill(img * 0, all_hole), torch.zeros_like(img))
    hole = torch.zeros(2, 1, 16, 16)
    hole[..., 4:12, 4:12] = 1
    half = diffusion_fill(img.bfloat16() * (1 - hole.bfloat16()), hole.bfloat16())
    assert half.dtype == torch.bfloat16 and float((half.float() - diffusion_fill(img * (1 - hole), hole)).abs().max()) < 0.02


def test_prefill_config_is_checked():
    with pytest.raises(UsageError, match="prefill must be one of zero, diffusion"):
        make_config("gated_inpaint", {"prefill": "mean"})


def test_poisson_blend_removes_the_seam_and_keeps_the_fills_gradients():
    """A raw fill that is the truth plus a smooth offset (a tilt a generator gets wrong near the border) comes
    back as the truth: the harmonic correction cancels any harmonic offset; known pixels are the image's."""
    img = smooth_photo(3)[None]  # (1, 3, 48, 48)
    hole = torch.zeros(1, 1, 48, 48)
    hole[..., 12:36, 10:30] = 1
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 48), torch.linspace(-1, 1, 48), indexing="ij")
    for offset in (torch.full_like(yy, 0.3), 0.2 * xx - 0.1 * yy, 0.4 * (xx**2 - yy**2)):  # harmonic functions
        raw = img + offset
        out = poisson_blend(img, raw, hole)
        assert torch.allclose(out[..., hole[0, 0] == 0], img[..., hole[0, 0] == 0], atol=1e-6)
        assert float((out - img).abs().max()) < 0.01  # [-1, 1] units: about one grey level
        # as composited without the blend, the offset stays as a seam
        assert float(((raw * hole + img * (1 - hole)) - img).abs().max()) > 0.05
    # the exact solve's answer for a raw fill with detail: raw + harmonic(image - raw)
    g = torch.Generator().manual_seed(1)
    raw = img + 0.2 * torch.rand(1, 3, 48, 48, generator=g)
    want = raw[0] + exact_harmonic((img - raw)[0] * (1 - hole[0]), hole[0, 0] > 0)
    err = (poisson_blend(img, raw, hole)[0] - want)[:, hole[0, 0] > 0].abs()
    assert float(err.max()) < 0.02 and float(err.mean()) < 0.003


def test_blend_config_reaches_the_refined_output():
    with pytest.raises(UsageError, match="blend must be one of none, poisson"):
        make_config("gated_inpaint", {"blend": "alpha"})
    torch.manual_seed(0)
    plain = build_network("gated_inpaint", make_config("gated_inpaint", {"cnum": 8}))
    blended = build_network("gated_inpaint", make_config("gated_inpaint", {"cnum": 8, "blend": "poisson"}))
    blended.load_state_dict(plain.state_dict())  # same weights, the option adds none
    x = torch.stack([smooth_photo(s, 32) for s in range(2)])
    m = torch.zeros(2, 1, 32, 32)
    m[..., 8:24, 4:20] = 1
    with torch.no_grad():
        (c0, r0), (c1, r1) = plain.stages(x, m), blended.stages(x, m)
    assert torch.equal(c0, c1)
    assert torch.allclose(r1, poisson_blend(x, r0, m)) and torch.allclose(r1 * (1 - m), x * (1 - m), atol=1e-6)


def test_untrained_diffusion_generator_is_the_fill_and_learns_residuals():
    from gantrans import registry

    fam = registry.recipe_family("inpaint")
    G = fam.init(build_network("gated_inpaint", make_config("gated_inpaint", {"cnum": 8, "prefill": "diffusion"})), "kaiming")
    x = torch.stack([smooth_photo(s, 32) for s in range(2)])
    m = torch.zeros(2, 1, 32, 32)
    m[..., 8:24, 4:20] = 1
    coarse, refined = G.stages(x, m)
    fill = diffusion_fill(x * (1 - m), m)
    assert torch.equal(coarse, fill) and torch.equal(refined, fill)
    # a step of L1 moves both stages away from the plain fill (gradients reach the zeroed output layers)
    opt = torch.optim.Adam(G.parameters(), 1e-3)
    ((coarse - x).abs().mean() + (refined - x).abs().mean()).backward()
    opt.step()
    with torch.no_grad():
        c2, r2 = G.stages(x, m)
    assert not torch.equal(c2, fill) and not torch.equal(r2, fill)
    # the zero prefill keeps the official generator: the hole's content does not reach it
    Z = fam.init(build_network("gated_inpaint", make_config("gated_inpaint", {"cnum": 8})), "kaiming")
    with torch.no_grad():
        assert torch.equal(Z(x, m), Z(x * (1 - m) + m * 0.7, m))
        assert not torch.equal(G(x, m), Z(x, m))


def test_diffusion_prefill_trains_saves_and_inpaints(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(((smooth_photo(i, 72).permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()).save(photos / f"{i}.png")
    run = tmp_path / "run"
    r = runner.invoke(app, ["train", str(photos), "--arch", "inpaint", "-o", str(run), "--steps", "2", "--size", "64", "--load-size", "64",
                            "--ndf", "4", "--device", "cpu", "--set", "cnum=8", "--set", "batch_size=2", "--set", "prefill=diffusion",
                            "--set", "init_type=kaiming", "--set", "gan_alpha=0", "--set", "blend=poisson", "--workers", "0"])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    m = gantrans.load(str(run / "model.safetensors"), device="cpu")
    assert m.checkpoint.config.prefill == "diffusion" and m.checkpoint.config.blend == "poisson"  # trained through the blend
    # the header carries it: a strict reload gives the same output
    img, hole = smooth_photo(7, 64)[None], torch.zeros(1, 1, 64, 64)
    hole[..., 16:40, 20:50] = 1
    net = m.checkpoint.networks["G"]
    again = gantrans.load(str(run / "model.safetensors"), device="cpu").checkpoint.networks["G"]
    with torch.no_grad():
        assert torch.equal(net(img, hole), again(img, hole))
    Image.fromarray(((img[0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()).save(tmp_path / "in.png")
    Image.fromarray((hole[0, 0] * 255).byte().numpy()).save(tmp_path / "mask.png")
    r = runner.invoke(app, ["inpaint", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"), "-m", str(run / "model.safetensors"),
                            "-o", str(tmp_path / "out"), "--device", "cpu", "--json"])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    out = np.asarray(Image.open(json.loads(r.stdout.splitlines()[0])["output"]).convert("RGB")).astype(float)
    src = np.asarray(Image.open(tmp_path / "in.png")).astype(float)
    h = np.asarray(Image.open(tmp_path / "mask.png")) > 0
    assert np.array_equal(out[~h], src[~h])
    # two steps from the fill: the hole is still close to it (a zero-prefill model this young is not)
    fill = ((diffusion_fill(img * (1 - hole), hole)[0].permute(1, 2, 0) + 1) * 127.5).clamp(0, 255).numpy()
    assert np.abs(out[h] - fill[h]).mean() < 5


def test_hole_l1_ignores_the_known_pixels():
    from gantrans.train.inpaint import recon_l1

    g = torch.Generator().manual_seed(0)
    x, out = torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    m = torch.zeros(2, 1, 8, 8)
    m[..., 2:6, 2:6] = 1
    assert torch.equal(recon_l1(x, out, m, "image"), (x - out).abs().mean())
    hole = recon_l1(x, out, m, "hole")
    assert torch.allclose(hole, (x - out).abs()[m.expand_as(x).bool()].sum() / x.numel())
    changed = out + (1 - m) * 5  # other known pixels: the same hole loss
    assert torch.equal(recon_l1(x, changed, m, "hole"), hole) and not torch.equal(recon_l1(x, changed, m, "image"), recon_l1(x, out, m, "image"))


def test_padding_does_not_leak_the_holes_content(tmp_path):
    """A size that is not a multiple of 8 is padded by reflection; the mask is padded the same way, so pixels
    mirrored from the hole are hole too (as known pixels they would paint the removed object back in)."""
    img = np.full((61, 59, 3), 128, np.uint8)
    img[40:, 38:] = (255, 0, 0)  # the object to remove, touching the bottom-right corner
    hole = np.zeros((61, 59), np.uint8)
    hole[38:, 36:] = 255
    Image.fromarray(img).save(tmp_path / "in.png")
    Image.fromarray(hole).save(tmp_path / "mask.png")
    model = tmp_path / "m.safetensors"
    gantrans.build("gated_inpaint", cnum=8, prefill="diffusion", domains=("image", "completed"), device="cpu", seed=0).save(model)
    r = runner.invoke(app, ["inpaint", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"), "-m", str(model), "-o", str(tmp_path / "out"), "--device", "cpu"])
    assert r.exit_code == 0, r.stderr
    out = np.asarray(Image.open(tmp_path / "out" / "in.png").convert("RGB")).astype(int)
    assert np.abs(out[hole > 0] - 128).max() <= 2  # grey all through: the untrained model is the fill of the known grey


def test_load_overrides_an_option_that_changes_no_weight(tmp_path):
    from gantrans.io.checkpoint import CheckpointError

    path = tmp_path / "m.safetensors"
    gantrans.build("gated_inpaint", cnum=8, domains=("image", "completed"), device="cpu", seed=0).save(path)
    plain, blended = gantrans.load(str(path), device="cpu"), gantrans.load(str(path), device="cpu", config={"blend": "poisson"})
    assert plain.checkpoint.config.blend == "none" and blended.checkpoint.config.blend == "poisson"
    x = torch.stack([smooth_photo(s, 32) for s in range(2)])
    m = torch.zeros(2, 1, 32, 32)
    m[..., 8:24, 4:20] = 1
    with torch.no_grad():
        want = poisson_blend(x, plain.checkpoint.networks["G"](x, m), m)
        assert torch.allclose(blended.checkpoint.networks["G"](x, m), want)
    with pytest.raises(CheckpointError):  # other weights would be needed: strict loading refuses
        gantrans.load(str(path), device="cpu", config={"cnum": 12})
    with pytest.raises(UsageError, match="unknown config field 'blur'"):
        gantrans.load(str(path), device="cpu", config={"blur": 1})
