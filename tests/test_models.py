"""Every registered architecture: official layout (keys, parameter counts) and a strict round trip."""

from __future__ import annotations

import pytest
import torch

import gantrans
from gantrans.errors import UsageError
from gantrans.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from gantrans.models import build_network, get_spec, list_archs, make_config
from gantrans.models.layers import init_weights

TINY = {
    "resnet_9blocks": {"ngf": 4},
    "resnet_6blocks": {"ngf": 4, "norm": "batch", "dropout": True},
    "unet_128": {"ngf": 4, "norm": "instance"},
    "unet_256": {"ngf": 4, "dropout": True},
    "patchgan": {"ndf": 4},
    "munit": {"dim": 4, "mlp_dim": 8, "n_res": 1, "output_nc": 1},
    "unit": {"dim": 4, "n_res": 2, "share": 1},
    "ms_image_dis": {"dim": 4, "num_scales": 2},
    "stargan": {"conv_dim": 4, "repeat_num": 1, "c_dim": 3},
    "stargan_dis": {"conv_dim": 4, "repeat_num": 3, "image_size": 48, "c_dim": 3},
    "photowct": {"base": 4},
    "wct": {"base": 4, "levels": 3},
    "rrdbnet": {"num_feat": 4, "num_block": 1, "num_grow_ch": 4, "scale": 2},
    "srvgg_compact": {"num_feat": 4, "num_conv": 2, "upscale": 3},
    "srresnet": {"num_feat": 4, "num_block": 1, "scale": 2},
    "msrresnet": {"num_feat": 4, "num_block": 1, "upscale": 3},
    "srgan_d": {"num_feat": 4, "input_size": 64, "dense": 8},
    "vgg_style_d": {"num_feat": 4, "input_size": 64},
    "unet_sn": {"num_feat": 4},
    "gated_inpaint": {"cnum": 8},
    "snpatchgan": {"cnum": 4},
    "dcgan_g": {"nz": 8, "ngf": 4, "size": 32},
    "dcgan_enc": {"nz": 8, "ndf": 4, "size": 32},
    "dcgan_d": {"ndf": 4, "size": 32, "joint_nz": 8, "codes": "cat:3,cont:1"},
    "attr_vectors": {"nz": 8, "names": ["smile", "glasses"]},
}


def _forward(arch, net, cfg, x):
    """One deterministic forward pass for any registered architecture."""
    if arch == "munit":
        return net.translate(x, torch.randn(x.shape[0], cfg.style_dim, 1, 1, generator=torch.Generator().manual_seed(1)))
    if arch == "stargan":
        return net(x, torch.tensor([[1.0, 0.0, 1.0]]).expand(x.shape[0], -1))
    if arch == "attr_vectors":
        return net(torch.randn(x.shape[0], cfg.nz, generator=torch.Generator().manual_seed(1)))
    if arch == "dcgan_g":
        return net(torch.randn(x.shape[0], cfg.nz, generator=torch.Generator().manual_seed(1)))
    if arch == "dcgan_d":
        z = torch.randn(x.shape[0], cfg.joint_nz, generator=torch.Generator().manual_seed(1))
        return torch.cat([net(x, z)[:, None], net.q(net.body(x))], 1)
    if arch == "gated_inpaint":
        mask = torch.zeros(x.shape[0], 1, *x.shape[-2:])
        mask[..., 8:20, 4:24] = 1
        return net(x, mask)
    out = net(x)
    return torch.cat([o.flatten(1) for o in out], 1) if isinstance(out, (list, tuple)) else out


def test_every_architecture_has_a_tiny_config():
    assert sorted(TINY) == list_archs()


@pytest.mark.parametrize("arch", sorted(TINY))
def test_build_save_load_same_output(arch, tmp_path):
    torch.manual_seed(0)
    cfg = make_config(arch, TINY[arch])
    net = init_weights(build_network(arch, cfg)).eval()
    if get_spec(arch).role == "discriminator":
        side = getattr(cfg, "image_size", getattr(cfg, "size", 64))
        x = torch.rand(2, getattr(cfg, "input_nc", getattr(cfg, "image_nc", getattr(cfg, "num_in_ch", getattr(cfg, "img_ch", 3)))), side, side)
    else:
        m = get_spec(arch).pad_multiple(cfg)
        side = max(m, 32 // m * m)
        x = torch.rand(2, getattr(cfg, "input_nc", 3), side, side)
    if any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()):
        with torch.no_grad():  # non-trivial running stats, so loading them is checked too
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
    if arch == "attr_vectors":
        with torch.no_grad():  # stored vectors, not zeros, so loading them is checked
            net.vectors.normal_()
    path = save_checkpoint(Checkpoint(arch=arch, config=cfg, networks={"N": net}), tmp_path / "m.safetensors")
    loaded = load_checkpoint(path)
    assert loaded.arch == arch and loaded.config == cfg
    again = loaded.networks["N"].eval()
    with torch.no_grad():
        assert torch.equal(_forward(arch, net, cfg, x), _forward(arch, again, cfg, x))


# Reference numbers: the official networks as instantiated by their own code (anchors.md §1.3).
@pytest.mark.parametrize(
    "arch,config,n_keys,n_params",
    [
        ("resnet_9blocks", {}, 48, 11_378_179),
        ("unet_256", {}, 82, 54_413_955),
        ("patchgan", {}, 10, 2_764_737),
        ("munit.gen_a", {}, 82, 15_026_187),  # one AdaINGen
        ("unit.gen_a", {}, 48, 11_140_483),  # one VAEGen
        ("ms_image_dis", {}, 30, 8_271_171),
        ("stargan", {}, 103, 8_430_528),
        ("stargan_dis", {}, 14, 44_762_048),
        ("photowct", {}, 80, 8_349_948),  # FastPhotoStyle photo_wct.pth
    ],
)
def test_official_default_sizes(arch, config, n_keys, n_params):
    arch, _, part = arch.partition(".")
    net = build_network(arch, make_config(arch, config))
    net = getattr(net, part) if part else net
    assert len(net.state_dict()) == n_keys
    assert sum(p.numel() for p in net.parameters()) == n_params


def test_resnet_official_key_layout():
    sd = build_network("resnet_9blocks").state_dict()
    assert sd["model.1.weight"].shape == (64, 3, 7, 7)
    assert sd["model.10.conv_block.5.weight"].shape == (256, 256, 3, 3)
    assert sd["model.19.weight"].shape == (256, 128, 3, 3)  # ConvTranspose2d: (in, out, k, k)
    assert sd["model.26.weight"].shape == (3, 64, 7, 7) and "model.26.bias" in sd
    # dropout shifts the second conv of each block, norm=batch drops conv biases (official quirks)
    sd = build_network("resnet_6blocks", make_config("resnet_6blocks", {"dropout": True, "norm": "batch"})).state_dict()
    assert "model.10.conv_block.6.weight" in sd and "model.1.bias" not in sd
    assert "model.2.running_mean" in sd


def test_resnet_resize_upsampling_option(tmp_path):
    """upsample=resize: saved and loaded strictly like any config; every output pixel of its upsampling gets the
    same taps, where the official transposed convolution gives alternate pixels different ones (checkerboard)."""
    torch.manual_seed(0)
    cfg = make_config("resnet_6blocks", {"ngf": 4, "upsample": "resize"})
    net = init_weights(build_network("resnet_6blocks", cfg)).eval()
    loaded = load_checkpoint(save_checkpoint(Checkpoint(arch="resnet_6blocks", config=cfg, networks={"N": net}), tmp_path / "m.safetensors"))
    assert loaded.config.upsample == "resize"
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), loaded.networks["N"].eval()(x))
    with pytest.raises(UsageError, match="upsample must be one of transpose, resize"):
        make_config("resnet_6blocks", {"upsample": "bilinear"})

    def first_upsample_output(upsample: str) -> torch.Tensor:
        torch.manual_seed(0)
        g = build_network("resnet_6blocks", make_config("resnet_6blocks", {"ngf": 4, "upsample": upsample}))
        layers = list(g.model)
        start = next(i for i, m in enumerate(layers) if isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.Upsample)))
        end = next(i for i in range(start, len(layers)) if isinstance(layers[i], (torch.nn.Conv2d, torch.nn.ConvTranspose2d)))
        with torch.no_grad():  # a constant feature map (16 channels at 8x8) through the first upsampling layer(s)
            return torch.nn.Sequential(*layers[start : end + 1])(torch.ones(1, 16, 8, 8))[..., 2:-2, 2:-2]  # interior

    def parity_spread(y: torch.Tensor) -> float:  # how much the four pixel parities differ, per channel
        means = torch.stack([y[..., i::2, j::2].mean((-2, -1)) for i in (0, 1) for j in (0, 1)])
        return float((means.max(0).values - means.min(0).values).abs().max())

    assert parity_spread(first_upsample_output("transpose")) > 0.05
    assert parity_spread(first_upsample_output("resize")) < 1e-6


def test_unet_resize_upsampling_option(tmp_path):
    """The U-Net's upsample=resize: no transposed convolution left, saved and loaded strictly, and the outermost
    upsampling gives every output pixel the same taps (the official conv4 transpose does not)."""
    torch.manual_seed(0)
    cfg = make_config("unet_128", {"ngf": 4, "num_downs": 5, "upsample": "resize"})
    net = init_weights(build_network("unet_128", cfg)).eval()
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())
    assert sum(isinstance(m, torch.nn.Upsample) for m in net.modules()) == 5
    loaded = load_checkpoint(save_checkpoint(Checkpoint(arch="unet_128", config=cfg, networks={"N": net}), tmp_path / "m.safetensors"))
    assert loaded.config.upsample == "resize"
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        y = net(x)
        assert y.shape == (2, 3, 32, 32) and torch.equal(y, loaded.networks["N"].eval()(x))
    with pytest.raises(UsageError, match="upsample must be one of transpose, resize"):
        make_config("unet_128", {"upsample": "bilinear"})

    def outer_up(upsample: str) -> torch.Tensor:  # a constant map (8 channels at 8x8) through the last upsampling
        torch.manual_seed(0)
        g = build_network("unet_128", make_config("unet_128", {"ngf": 4, "num_downs": 5, "upsample": upsample}))
        with torch.no_grad():
            return torch.nn.Sequential(*list(g.model.model)[3:-1])(torch.ones(1, 8, 8, 8))[..., 2:-2, 2:-2]

    def parity_spread(y: torch.Tensor) -> float:
        means = torch.stack([y[..., i::2, j::2].mean((-2, -1)) for i in (0, 1) for j in (0, 1)])
        return float((means.max(0).values - means.min(0).values).abs().max())

    assert parity_spread(outer_up("transpose")) > 0.01
    assert parity_spread(outer_up("resize")) < 1e-6


def test_unet_reflect_padding_option():
    """padding_type=reflect/replicate: the official keys (a zero-padded model's weights load strictly), and a flat
    image stays flat all the way through (with zero padding its borders come out different from its middle)."""
    torch.manual_seed(0)
    zero = init_weights(build_network("unet_128", make_config("unet_128", {"ngf": 4, "num_downs": 5, "upsample": "resize"}))).eval()
    x = torch.full((1, 3, 32, 32), 0.9)  # (B, C, H, W), a flat near-white image
    for pad in ("reflect", "replicate"):
        other = build_network("unet_128", make_config("unet_128", {"ngf": 4, "num_downs": 5, "upsample": "resize", "padding_type": pad}))
        other.load_state_dict(zero.state_dict(), strict=True)
        with torch.no_grad():
            assert float(other.eval()(x).std((-2, -1)).max()) < 1e-5
    with torch.no_grad():
        assert float(zero(x).std((-2, -1)).max()) > 1e-3
    with pytest.raises(UsageError, match="padding_type must be one of zero, reflect, replicate"):
        make_config("unet_128", {"padding_type": "circular"})


def test_unet_residual_option(tmp_path):
    """residual=True: a fresh generator returns any 8-bit image unchanged (its gate starts at 0 whatever the
    initialisation), the gate is a stored key that loads strictly, and once open the output is an edit within (-1, 1)."""
    torch.manual_seed(0)
    cfg = make_config("unet_128", {"ngf": 4, "num_downs": 5, "upsample": "resize", "residual": True})
    net = init_weights(build_network("unet_128", cfg)).eval()
    x = torch.randint(0, 256, (2, 3, 32, 32)).float() / 127.5 - 1  # (B, C, H, W), 8-bit levels in [-1, 1]
    with torch.no_grad():
        assert torch.equal(((net(x) + 1) * 127.5).round(), ((x + 1) * 127.5).round())
        net.gate.fill_(0.5)
        y = net(x)
    assert float(y.abs().max()) < 1 and float((y - x).abs().mean()) > 1e-3
    loaded = load_checkpoint(save_checkpoint(Checkpoint(arch="unet_128", config=cfg, networks={"N": net}), tmp_path / "r.safetensors"))
    assert loaded.config.residual is True and float(loaded.networks["N"].gate.detach()) == 0.5
    with torch.no_grad():
        assert torch.equal(loaded.networks["N"].eval()(x), y)
    plain = build_network("unet_128", make_config("unet_128", {"ngf": 4, "num_downs": 5, "upsample": "resize"}))
    assert set(net.state_dict()) - set(plain.state_dict()) == {"gate"}
    with pytest.raises(UsageError, match="residual needs input_nc == output_nc, got 3 and 1"):
        make_config("unet_128", {"output_nc": 1, "residual": True})
    with pytest.raises(UsageError, match="unet_128: config field 'residual' must be a bool, got 'yes'"):
        make_config("unet_128", {"residual": "yes"})


def test_resize_upsampling_fitted_from_a_transposed_generator():
    """with_resize_upsampling keeps every other weight and fits the new convolutions by least squares: it recovers
    a convolution exactly from its own outputs, and starts far closer to the original than an untrained upsampling."""
    from gantrans.models.resnet import _fit_conv

    torch.manual_seed(0)
    conv, fitted = torch.nn.Conv2d(3, 5, 3, padding=1), torch.nn.Conv2d(3, 5, 3, padding=1)
    x = torch.randn(4, 3, 12, 12)
    with torch.no_grad():
        _fit_conv(fitted, x, conv(x), ridge=0.0)
    assert torch.allclose(fitted.weight, conv.weight, atol=1e-4) and torch.allclose(fitted.bias, conv.bias, atol=1e-4)

    g = init_weights(build_network("resnet_6blocks", make_config("resnet_6blocks", {"ngf": 4}))).eval()
    imgs = torch.nn.functional.interpolate(torch.rand(8, 3, 8, 8) * 2 - 1, size=32, mode="bilinear")  # smooth images
    r = g.with_resize_upsampling(imgs).eval()
    assert r.config.upsample == "resize" and g.config.upsample == "transpose"
    old, new = list(g.model), list(r.model)
    i = next(k for k, m in enumerate(old) if isinstance(m, torch.nn.ConvTranspose2d))
    j = next(k for k, m in enumerate(new) if isinstance(m, torch.nn.Upsample))
    assert i == j and all(torch.equal(a, b) for a, b in zip(g.model[:i].state_dict().values(), r.model[:j].state_dict().values()))
    assert torch.equal(old[-2].weight, new[-2].weight)  # the output conv7 is carried over too
    with torch.no_grad():
        h = g.model[:i](imgs)  # (8, 16, 8, 8): what both first upsamplings see
        target, up = old[i](h), torch.nn.Sequential(*new[j : j + 3])  # nearest x2, pad, conv3
        err = lambda: ((up(h) - target) ** 2).sum().item()  # noqa: E731
        fit = err()
        assert fit < 0.6 * ((target - target.mean()) ** 2).sum().item()  # most of a random kernel's output is kept
        for k, m in enumerate(old):  # each fit used the true activations (every pad included): redo it by hand
            if isinstance(m, torch.nn.ConvTranspose2d):
                at = [n for n, layer in enumerate(new) if isinstance(layer, torch.nn.Upsample)][sum(isinstance(x, torch.nn.ConvTranspose2d) for x in old[:k])]
                ref = torch.nn.Conv2d(m.in_channels, m.out_channels, 3, bias=m.bias is not None)
                _fit_conv(ref, r.model[: at + 2](imgs), m(g.model[:k](imgs)), ridge=1e-3)
                assert torch.allclose(ref.weight, new[at + 2].weight, atol=1e-5)
        new[j + 2].weight.add_(1e-2 * torch.randn_like(new[j + 2].weight))
        assert err() > fit  # least squares: any other kernel does worse
    with pytest.raises(UsageError, match="already uses upsample=resize"):
        r.with_resize_upsampling(imgs)


def test_unet_official_key_layout():
    sd = build_network("unet_256").state_dict()
    assert sd["model.model.0.weight"].shape == (64, 3, 4, 4)
    assert sd["model.model.1.model.1.weight"].shape == (128, 64, 4, 4)
    assert "model.model.1.model.2.running_mean" in sd


def test_unet_skip_carries_activated_input():
    """The official U-Net's in-place LeakyReLU makes each skip carry LeakyReLU(x), not x."""
    net = build_network("unet_128", make_config("unet_128", {"ngf": 2, "norm": "none"})).eval()
    block = net.model.model[1]  # first non-outermost level
    x = torch.randn(1, 2, 64, 64)
    out = block(x)
    assert torch.equal(out[:, :2], torch.nn.functional.leaky_relu(x, 0.2))


def test_config_validation():
    with pytest.raises(ValueError, match="input_nc must be 1 or 3"):
        make_config("resnet_9blocks", {"input_nc": 2})
    with pytest.raises(ValueError, match="unknown config field 'ngff'"):
        make_config("resnet_9blocks", {"ngff": 3})
    with pytest.raises(ValueError, match="norm must be one of"):
        make_config("unet_256", {"norm": "group"})
    with pytest.raises(KeyError, match="unknown architecture 'resnet_12blocks'"):
        get_spec("resnet_12blocks")


def test_build_is_seeded_and_rejects_discriminators():
    a = gantrans.build("resnet_6blocks", ngf=4, n_blocks=1, seed=3)
    b = gantrans.build("resnet_6blocks", ngf=4, n_blocks=1, seed=3)
    c = gantrans.build("resnet_6blocks", ngf=4, n_blocks=1, seed=4)
    wa = a.generator("a2b").model[1].weight
    assert torch.equal(wa, b.generator("a2b").model[1].weight)
    assert not torch.equal(wa, c.generator("a2b").model[1].weight)
    assert not torch.equal(wa, a.generator("b2a").model[1].weight)  # G_A and G_B differ
    with pytest.raises(ValueError, match="discriminator"):
        gantrans.build("patchgan")


def test_munit_official_key_layout_and_adain_order():
    sd = build_network("munit").gen_a.state_dict()
    assert sd["enc_style.model.6.weight"].shape == (8, 256, 1, 1)
    assert sd["enc_content.model.3.model.0.model.0.conv.weight"].shape == (256, 256, 3, 3)
    assert sd["dec.model.0.model.0.model.0.norm.running_mean"].shape == (256,)
    assert sd["dec.model.2.norm.gamma"].shape == (128,) and sd["dec.model.5.conv.weight"].shape == (3, 64, 7, 7)
    assert sd["mlp.model.2.fc.weight"].shape == (4096, 256)
    # AdaIN parameters: per layer in module order, [mean (bias) | std (weight)]
    from gantrans.models.munit_blocks import AdaptiveInstanceNorm2d, assign_adain_params

    g = build_network("munit", make_config("munit", {"dim": 4, "n_res": 1})).gen_a
    layers = [m for m in g.dec.modules() if isinstance(m, AdaptiveInstanceNorm2d)]
    params = torch.arange(4 * 16, dtype=torch.float32).view(1, -1)
    assign_adain_params(params, g.dec)
    assert torch.equal(layers[0].bias[0], torch.arange(0, 16.0)) and torch.equal(layers[0].weight[0], torch.arange(16, 32.0))
    assert torch.equal(layers[1].bias[0], torch.arange(32, 48.0))


def test_munit_layernorm_is_the_official_one():
    from gantrans.models.munit_blocks import LayerNorm

    ln = LayerNorm(3)
    x = torch.randn(2, 3, 5, 5)
    flat = x.view(2, -1)
    ref = (x - flat.mean(1).view(-1, 1, 1, 1)) / (flat.std(1).view(-1, 1, 1, 1) + 1e-5)
    ref = ref * ln.gamma.view(1, -1, 1, 1) + ln.beta.view(1, -1, 1, 1)
    assert torch.allclose(ln(x), ref, atol=1e-6)
    assert not torch.allclose(ln(x), torch.nn.functional.group_norm(x, 1, ln.gamma, ln.beta), atol=1e-4)


def test_unit_share_ties_the_innermost_blocks():
    net = build_network("unit", make_config("unit", {"dim": 4, "share": 1}))
    assert net.gen_a.enc.model[-1].model[3] is net.gen_b.enc.model[-1].model[3]
    assert net.gen_a.dec.model[0].model[0] is net.gen_b.dec.model[0].model[0]
    assert net.gen_a.enc.model[-1].model[2] is not net.gen_b.enc.model[-1].model[2]


def test_stargan_uses_instance_statistics_in_eval_mode():
    g = build_network("stargan", make_config("stargan", {"conv_dim": 4, "repeat_num": 1, "c_dim": 2})).eval()
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.running_mean.fill_(5.0)  # would wreck the output if running stats were used
    x, c = torch.rand(1, 3, 16, 16) * 2 - 1, torch.tensor([[1.0, 0.0]])
    y = g(x, c)
    g.train()
    assert torch.allclose(y, g(x, c), atol=1e-6)


def test_init_weights_reaches_spectral_normalised_layers():
    """A spectral-normalised layer's weight is recomputed from `original`: init must write there (it used to be lost)."""
    from torch.nn.utils.parametrizations import spectral_norm

    torch.manual_seed(0)
    net = torch.nn.Sequential(spectral_norm(torch.nn.Conv2d(64, 64, 3)), torch.nn.Conv2d(64, 64, 3))
    init_weights(net, "kaiming")
    for w in (net[0].parametrizations.weight.original, net[1].weight):
        assert abs(float(w.detach().std()) - (2 / (64 * 9)) ** 0.5) < 0.003  # kaiming fan_in: sqrt(2 / 576) = 0.059
    init_weights(net, "normal", 0.02)
    assert abs(float(net[0].parametrizations.weight.original.detach().std()) - 0.02) < 0.002


def test_resize_upsampling_init_script_writes_a_strict_loading_checkpoint(tmp_path):
    """scripts/resize_upsampling_init.py: both generators converted with the fit above, the config says resize,
    the file loads strictly and translates; a checkpoint that already uses resize is refused."""
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np
    from PIL import Image

    torch.manual_seed(0)
    cfg = make_config("resnet_6blocks", {"ngf": 4})
    nets = {k: init_weights(build_network("resnet_6blocks", cfg)).eval() for k in ("G_A", "G_B")}
    src = save_checkpoint(Checkpoint(arch="resnet_6blocks", config=cfg, networks=nets, preprocess={"size": 32, "mean": [0.5] * 3, "std": [0.5] * 3}), tmp_path / "m.safetensors")
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        for i in range(3):
            Image.fromarray((torch.rand(32, 32, 3) * 255).byte().numpy()).save(tmp_path / d / f"{i}.png")
    script = Path(__file__).resolve().parents[1] / "scripts" / "resize_upsampling_init.py"
    run = lambda m, o: subprocess.run([sys.executable, str(script), str(m), str(o), "--a", str(tmp_path / "a"), "--b", str(tmp_path / "b")], capture_output=True, text=True)  # noqa: E731
    r = run(src, tmp_path / "r.safetensors")
    assert r.returncode == 0, r.stderr
    assert "G_A: fitted on 3 images" in r.stdout and "G_B: fitted on 3 images" in r.stdout
    out = load_checkpoint(tmp_path / "r.safetensors")
    assert out.config.upsample == "resize" and out.provenance["resize_upsampling_init"]["images"] == 48
    assert out.provenance["resize_upsampling_init"]["fitted"] == {"G_A": 3, "G_B": 3}  # what was used, not asked for
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    imgs = torch.stack([torch.from_numpy(np.array(Image.open(tmp_path / "a" / f"{i}.png"))).permute(2, 0, 1) for i in range(3)]).float() / 127.5 - 1
    with torch.no_grad():  # the file holds exactly what with_resize_upsampling gives for G_A
        assert torch.allclose(out.networks["G_A"].eval()(x), nets["G_A"].with_resize_upsampling(imgs).eval()(x), atol=1e-5)
    r = run(tmp_path / "r.safetensors", tmp_path / "r2.safetensors")
    assert r.returncode != 0 and "not a CycleGAN checkpoint with transposed-conv ResNet generators" in r.stderr
    ucfg = make_config("unet_128", {"ngf": 4, "num_downs": 5})  # transposed convs too, but no fit for a U-Net
    unets = {k: build_network("unet_128", ucfg) for k in ("G_A", "G_B")}
    save_checkpoint(Checkpoint(arch="unet_128", config=ucfg, networks=unets, preprocess={"size": 32}), tmp_path / "u.safetensors")
    r = run(tmp_path / "u.safetensors", tmp_path / "u2.safetensors")
    assert r.returncode != 0 and "not a CycleGAN checkpoint with transposed-conv ResNet generators" in r.stderr
