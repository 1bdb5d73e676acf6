"""Super-resolution: RRDBNet / SRVGGNetCompact with BasicSR's names and parameter counts, BasicSR files
converted without --from and matched against an independent functional forward, and `gantrans upscale`
(size x scale, --outscale, alpha, tiles, stdout, the wrong kind of model)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

import gantrans
from gantrans.cli.main import app

runner = CliRunner()


def tiny(arch: str, **over):
    cfg = {"rrdbnet": dict(num_feat=8, num_block=2, num_grow_ch=4), "srvgg_compact": dict(num_feat=8, num_conv=3)}[arch]
    return gantrans.build(arch, device="cpu", init="kaiming", domains=("LR", "HR"), seed=1, **{**cfg, **over})


def test_rrdbnet_matches_basicsr_names_and_sizes():
    net = gantrans.build("rrdbnet", device="cpu", domains=("LR", "HR")).checkpoint.networks["G"]
    assert sum(p.numel() for p in net.parameters()) == 16_697_987  # RealESRGAN_x4plus
    keys = set(net.state_dict())
    for k in ("conv_first.weight", "body.22.rdb3.conv5.bias", "conv_body.weight", "conv_up1.weight", "conv_up2.weight",
              "conv_hr.weight", "conv_last.weight"):  # fmt: skip
        assert k in keys
    x2 = gantrans.build("rrdbnet", scale=2, num_block=1, device="cpu").checkpoint.networks["G"]
    assert x2.conv_first.weight.shape[1] == 12  # x2plus: the input pixel-unshuffled


@pytest.mark.parametrize("arch,over", [("rrdbnet", {}), ("rrdbnet", {"scale": 2}), ("rrdbnet", {"scale": 1}), ("srvgg_compact", {})])
def test_build_save_load_same_output_and_scale(arch, over, tmp_path):
    m = tiny(arch, **over)
    m.save(tmp_path / "m.safetensors")
    back = gantrans.load(str(tmp_path / "m.safetensors"), device="cpu")
    x = torch.rand(2, 3, 13, 10)
    y = m.run(x)
    s = {"rrdbnet": over.get("scale", 4), "srvgg_compact": 4}[arch]
    assert y.shape == (2, 3, 13 * s, 10 * s) and back.scale == s
    assert torch.equal(y, back.run(x))


def rrdb_reference(sd: dict[str, torch.Tensor], x: torch.Tensor, scale: int) -> torch.Tensor:
    """RRDBNet from the BasicSR state dict with functional ops only (an independent forward)."""

    def conv(name, t):
        return F.conv2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)

    def lrelu(t):
        return F.leaky_relu(t, 0.2)

    if scale < 4:
        x = F.pixel_unshuffle(x, 4 // scale)
    feat = conv("conv_first", x)
    body = feat
    for b in sorted({int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.", k))}):
        block_in = body
        for r in (1, 2, 3):
            p, outs = f"body.{b}.rdb{r}", [body]
            for c in range(1, 5):
                outs.append(lrelu(conv(f"{p}.conv{c}", torch.cat(outs, 1))))
            body = conv(f"{p}.conv5", torch.cat(outs, 1)) * 0.2 + body
        body = body * 0.2 + block_in
    feat = feat + conv("conv_body", body)
    feat = lrelu(conv("conv_up1", F.interpolate(feat, scale_factor=2.0, mode="nearest")))
    feat = lrelu(conv("conv_up2", F.interpolate(feat, scale_factor=2.0, mode="nearest")))
    return conv("conv_last", lrelu(conv("conv_hr", feat)))


def srvgg_reference(sd: dict[str, torch.Tensor], x: torch.Tensor, scale: int) -> torch.Tensor:
    convs = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"body\.(\d+)\.weight", k)) and sd[k].dim() == 4)
    t = x
    for i in convs:
        t = F.conv2d(t, sd[f"body.{i}.weight"], sd[f"body.{i}.bias"], padding=1)
        if f"body.{i + 1}.weight" in sd and sd[f"body.{i + 1}.weight"].dim() == 1:
            t = F.prelu(t, sd[f"body.{i + 1}.weight"])
    return F.pixel_shuffle(t, scale) + F.interpolate(x, scale_factor=float(scale), mode="nearest")


@pytest.mark.parametrize("arch,over,ref,name", [
    ("rrdbnet", {}, rrdb_reference, "RealESRGAN_x4plus.pth"),
    ("rrdbnet", {"scale": 2}, rrdb_reference, "RealESRGAN_x2plus.pth"),
    ("srvgg_compact", {}, srvgg_reference, "realesr-general-x4v3.pth"),
])  # fmt: skip
def test_basicsr_files_convert_without_from_and_match_an_independent_forward(arch, over, ref, name, tmp_path):
    sd = {k: v.clone() for k, v in tiny(arch, **over).checkpoint.networks["G"].state_dict().items()}
    noise = {k: v + 0.01 for k, v in sd.items()}  # "params" differs: the EMA weights must win
    torch.save({"params_ema": sd, "params": noise}, tmp_path / name)
    out = tmp_path / "c.safetensors"
    r = runner.invoke(app, ["convert", str(tmp_path / name), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "recognised as --from" in r.output
    m = gantrans.load(str(out), device="cpu")
    scale = m.scale
    x = torch.rand(1, 3, 12, 16)
    with torch.no_grad():
        want = ref(sd, x, scale).clamp(0, 1)
    got = m.run(x)
    assert got.shape == want.shape
    assert ((got * 255).round() - (want * 255).round()).abs().max() <= 2  # uint8 levels


def test_upscale_cli(tmp_path):
    model = tmp_path / "sr.safetensors"
    tiny("srvgg_compact").save(model)
    rng = np.random.default_rng(0)
    d = tmp_path / "in"
    d.mkdir()
    Image.fromarray(rng.integers(0, 256, (37, 50, 3), dtype=np.uint8)).save(d / "a.png")
    Image.fromarray(rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)).save(d / "b.png")
    (d / "bad.png").write_bytes(b"junk")
    r = runner.invoke(app, ["upscale", str(d), "-m", str(model), "-o", str(tmp_path / "o"), "--device", "cpu", "--json"])
    assert r.exit_code == 1  # the bad file fails alone
    rows = {Path(x["input"]).name: x for x in map(json.loads, r.stdout.splitlines())}
    assert rows["a.png"]["size"] == [200, 148] and rows["bad.png"]["status"] == "failed"
    b = Image.open(tmp_path / "o" / "b.png")
    assert b.mode == "RGBA" and b.size == (120, 80)  # alpha upscaled with the image
    # --alpha-upsampler model (default): the alpha plane runs through the model as a grey image
    src_alpha = np.asarray(Image.open(d / "b.png"))[..., 3]
    grey = np.asarray(gantrans.load(str(model), device="cpu").translate(Image.fromarray(src_alpha).convert("RGB")), dtype=np.float32)
    want = np.round(grey @ np.array([0.299, 0.587, 0.114], np.float32)).astype(int)
    assert np.abs(np.asarray(b)[..., 3].astype(int) - want).max() <= 1
    r = runner.invoke(app, ["upscale", str(d / "b.png"), "-m", str(model), "-o", str(tmp_path / "bc"), "--alpha-upsampler", "bicubic", "--device", "cpu"])
    bicubic = np.asarray(Image.open(tmp_path / "bc" / "b.png"))[..., 3].astype(int)
    assert r.exit_code == 0 and np.abs(bicubic - np.asarray(Image.fromarray(src_alpha).resize((120, 80), Image.Resampling.BICUBIC), dtype=int)).max() == 0
    r = runner.invoke(app, ["upscale", str(d / "a.png"), "-m", str(model), "-o", str(tmp_path / "s"), "-s", "1.5", "--device", "cpu"])
    assert r.exit_code == 0 and Image.open(tmp_path / "s" / "a.png").size == (75, 56)
    # tiles (pad and crop): with a pad beyond the receptive radius, the untiled result
    r = runner.invoke(app, ["upscale", str(d / "a.png"), "-m", str(model), "-o", str(tmp_path / "t"), "-t", "16", "--tile-pad", "8", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    whole = np.asarray(Image.open(tmp_path / "o" / "a.png"), dtype=int)
    tiled = np.asarray(Image.open(tmp_path / "t" / "a.png"), dtype=int)
    assert tiled.shape == whole.shape and np.abs(tiled - whole).max() <= 1
    r = runner.invoke(app, ["upscale", str(d / "a.png"), "-m", str(model), "-o", "-", "--device", "cpu"])
    assert r.exit_code == 0 and Image.open(io.BytesIO(r.stdout_bytes)).size == (200, 148)
    r = runner.invoke(app, ["translate", str(d / "a.png"), "-m", str(model), "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and "(use it with gantrans export, gantrans upscale)" in r.stderr
    r = runner.invoke(app, ["upscale", str(d / "a.png"), "-o", str(tmp_path / "y"), "--device", "cpu"])  # no -m: the bundled default
    assert r.exit_code == 0 and "sr_photo_x4.safetensors (srvgg_compact, x4)" in r.stderr
    assert Image.open(tmp_path / "y" / "a.png").size == (200, 148)


def test_original_esrgan_layout_converts_to_the_same_network(tmp_path):
    """Community models in the original ESRGAN repository's layout (model.0, model.1.sub.N.RDBk.convj.0,
    model.3/6/8/10) convert without --from to the same network."""
    sd = {k: v.clone() for k, v in tiny("rrdbnet").checkpoint.networks["G"].state_dict().items()}
    old = _old_esrgan(sd, 2)
    torch.save(old, tmp_path / "4x_community.pth")
    r = runner.invoke(app, ["convert", str(tmp_path / "4x_community.pth"), "-o", str(tmp_path / "c.safetensors")])
    assert r.exit_code == 0, r.output
    assert "original ESRGAN layout" in r.output and "recognised as --from esrgan" in r.output
    x = torch.rand(1, 3, 9, 11)
    with torch.no_grad():
        want = rrdb_reference(sd, x, 4).clamp(0, 1)
    got = gantrans.load(str(tmp_path / "c.safetensors"), device="cpu").run(x)
    assert ((got * 255).round() - (want * 255).round()).abs().max() <= 2


def srgan_reference(sd: dict[str, torch.Tensor], x: torch.Tensor, n: int) -> torch.Tensor:
    """SRGAN's generator (leftthomas/SRGAN layout, BN in eval mode) with functional ops only."""

    def bn(t, p):
        return F.batch_norm(t, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"], sd[f"{p}.bias"], False, 0.0, 1e-5)

    def conv(t, p, pad):
        return F.conv2d(t, sd[f"{p}.weight"], sd[f"{p}.bias"], padding=pad)

    first = F.prelu(conv(x, "block1.0", 4), sd["block1.1.weight"])
    y = first
    for i in range(2, n + 2):
        r = F.prelu(bn(conv(y, f"block{i}.conv1", 1), f"block{i}.bn1"), sd[f"block{i}.prelu.weight"])
        y = y + bn(conv(r, f"block{i}.conv2", 1), f"block{i}.bn2")
    y = first + bn(conv(y, f"block{n + 2}.0", 1), f"block{n + 2}.1")
    k = 0
    while f"block{n + 3}.{k}.conv.weight" in sd:
        y = F.prelu(F.pixel_shuffle(conv(y, f"block{n + 3}.{k}.conv", 1), 2), sd[f"block{n + 3}.{k}.prelu.weight"])
        k += 1
    return (torch.tanh(conv(y, f"block{n + 3}.{k}", 4)) + 1) / 2


def test_srgan_generator_checkpoint_converts_and_matches(tmp_path):
    m = tiny_srresnet = gantrans.build("srresnet", num_feat=8, num_block=2, scale=4, device="cpu", domains=("LR", "HR"), seed=3)
    net = tiny_srresnet.checkpoint.networks["G"]
    # the paper's 16 blocks x 64 features, x4: 15,617 (9x9 head + PReLU) + 16 x 74,113 (residual blocks)
    # + 37,056 (conv + BN) + 2 x 147,713 (sub-pixel stages) + 15,555 (9x9 tail)
    assert sum(p.numel() for p in gantrans.build("srresnet", device="cpu").checkpoint.networks["G"].parameters()) == 1_549_462
    with torch.no_grad():  # trained-looking BN statistics, so eval-mode BN matters
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
    sd = {k: v.clone() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}  # an old file
    torch.save(sd, tmp_path / "netG_epoch_4_100.pth")
    r = runner.invoke(app, ["convert", str(tmp_path / "netG_epoch_4_100.pth"), "-o", str(tmp_path / "g.safetensors")])
    assert r.exit_code == 0, r.output
    assert "recognised as --from srgan" in r.output and "num_block=2" in r.output
    x = torch.rand(1, 3, 10, 7)
    with torch.no_grad():
        want = srgan_reference(sd, x, 2)
    got = gantrans.load(str(tmp_path / "g.safetensors"), device="cpu").run(x)
    assert got.shape == (1, 3, 40, 28) and ((got * 255).round() - (want * 255).round()).abs().max() <= 2
    del m


def msrresnet_reference(sd: dict[str, torch.Tensor], x: torch.Tensor, scale: int) -> torch.Tensor:
    def conv(t, p):
        return F.conv2d(t, sd[f"{p}.weight"], sd[f"{p}.bias"], padding=1)

    out = F.leaky_relu(conv(x, "conv_first"), 0.1)
    for b in sorted({int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.", k))}):
        out = out + conv(F.relu(conv(out, f"body.{b}.conv1")), f"body.{b}.conv2")
    for up in ("upconv1", "upconv2"):
        if f"{up}.weight" in sd:
            out = F.leaky_relu(F.pixel_shuffle(conv(out, up), 2 if scale == 4 else scale), 0.1)
    out = conv(F.leaky_relu(conv(out, "conv_hr"), 0.1), "conv_last")
    return out + F.interpolate(x, scale_factor=float(scale), mode="bilinear", align_corners=False)


@pytest.mark.parametrize("scale", [3, 4])
def test_basicsr_msrresnet_converts_and_matches(scale, tmp_path):
    m = gantrans.build("msrresnet", num_feat=8, num_block=2, upscale=scale, device="cpu", domains=("LR", "HR"), seed=4, init="kaiming")
    sd = {k: v.clone() for k, v in m.checkpoint.networks["G"].state_dict().items()}
    torch.save({"params": sd}, tmp_path / "MSRResNet.pth")
    r = runner.invoke(app, ["convert", str(tmp_path / "MSRResNet.pth"), "-o", str(tmp_path / "c.safetensors")])
    assert r.exit_code == 0 and "recognised as --from msrresnet" in r.output, r.output
    x = torch.rand(1, 3, 9, 7)
    with torch.no_grad():
        want = msrresnet_reference(sd, x, scale).clamp(0, 1)
    got = gantrans.load(str(tmp_path / "c.safetensors"), device="cpu").run(x)
    assert got.shape == (1, 3, 9 * scale, 7 * scale) and ((got * 255).round() - (want * 255).round()).abs().max() <= 2


def test_out_of_memory_retries_one_image_at_a_time_then_smaller_tiles(tmp_path, monkeypatch):
    """A device OOM (CUDA's error, raised here by a stand-in forward) costs no image: the batch is split, then
    the image is tiled at half the size until it fits; the result equals a run with that tile, and says so."""
    from gantrans.engine.batch import BatchOptions
    from gantrans.engine.pipeline import run_pipeline
    from gantrans.engine.translator import Translator
    from gantrans.engine.upscale import UpscaleTask
    from gantrans.io.images import collect_inputs

    model = tmp_path / "sr.safetensors"
    tiny("srvgg_compact").save(model)
    rng = np.random.default_rng(3)
    for name in ("a", "b"):
        (tmp_path / "in").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)).save(tmp_path / "in" / f"{name}.png")
    t = gantrans.load(str(model), device="cpu")
    items = list(collect_inputs([str(tmp_path / "in")]))
    ref = run_pipeline(UpscaleTask(t, BatchOptions(tile=40, tile_overlap=2)), items, tmp_path / "ref", BatchOptions().output())
    assert ref.ok == 2
    real_run, seen = Translator.run, []

    def run(self, x, *a, **k):
        seen.append(tuple(x.shape))
        if x.shape[-1] * x.shape[-2] > 50 * 50:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (stand-in)")
        return real_run(self, x, *a, **k)

    monkeypatch.setattr(Translator, "run", run)
    results = []
    s = run_pipeline(UpscaleTask(t, BatchOptions(batch_size=2, tile_overlap=2)), items, tmp_path / "oom", BatchOptions().output(), on_result=results.append)
    assert s.ok == 2 and s.failed == 0
    assert seen[:2] == [(2, 3, 80, 80), (1, 3, 80, 80)] and seen[2] == (1, 3, 42, 42)  # batch, one image, tiles
    for name in ("a", "b"):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "oom" / f"{name}.png")), np.asarray(Image.open(tmp_path / "ref" / f"{name}.png")))
    assert all("out of cpu memory: retried with --tile 40" in r.notes for r in results)


def _old_esrgan(sd: dict[str, torch.Tensor], nb: int) -> dict[str, torch.Tensor]:
    tail = {"conv_first": "model.0", "conv_up1": "model.3", "conv_up2": "model.6", "conv_hr": "model.8", "conv_last": "model.10"}
    old = {}
    for k, v in sd.items():
        if m := re.fullmatch(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(weight|bias)", k):
            old[f"model.1.sub.{m.group(1)}.RDB{m.group(2)}.conv{m.group(3)}.0.{m.group(4)}"] = v
        elif k.startswith("conv_body."):
            old[f"model.1.sub.{nb}.{k.split('.')[1]}"] = v
        else:
            name, kind = k.split(".")
            old[f"{tail[name]}.{kind}"] = v
    return old


@pytest.mark.parametrize("arch,over,layout", [
    # spandrel reads the growth width as 32 (every released RRDBNet's)
    ("rrdbnet", {"num_grow_ch": 32}, "basicsr"), ("rrdbnet", {"scale": 2, "num_grow_ch": 32}, "basicsr"),
    ("rrdbnet", {"num_grow_ch": 32}, "old"),
    ("srvgg_compact", {}, "basicsr"), ("srvgg_compact", {"upscale": 2}, "basicsr"),
])  # fmt: skip
def test_converted_models_match_spandrel(arch, over, layout, tmp_path):
    """spandrel (the loader of ComfyUI and chaiNNer) as a second, independent implementation: it detects the
    same files and its forward pass agrees with ours within 1 level (uint8)."""
    spandrel = pytest.importorskip("spandrel")
    sd = {k: v.clone() for k, v in tiny(arch, **over).checkpoint.networks["G"].state_dict().items()}
    if layout == "old":
        sd = _old_esrgan(sd, 2)
    torch.save({"params_ema": sd} if layout == "basicsr" else sd, tmp_path / "m.pth")
    r = runner.invoke(app, ["convert", str(tmp_path / "m.pth"), "-o", str(tmp_path / "m.safetensors")])
    assert r.exit_code == 0, r.output
    ours = gantrans.load(str(tmp_path / "m.safetensors"), device="cpu")
    ref = spandrel.ModelLoader().load_from_file(str(tmp_path / "m.pth"))
    assert ref.scale == ours.scale
    ref.model.eval()
    x = torch.rand(1, 3, 12, 16)
    with torch.no_grad():
        want = ref.model(x).clamp(0, 1)
    got = ours.run(x)
    assert got.shape == want.shape
    assert ((got * 255).round() - (want * 255).round()).abs().max() <= 1
