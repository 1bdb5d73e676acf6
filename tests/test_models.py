"""Every registered architecture: official layout (keys, parameter counts) and a strict round trip."""

from __future__ import annotations

import pytest
import torch

import gantrans
from gantrans.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from gantrans.models import build_network, get_spec, list_archs, make_config
from gantrans.models.layers import init_weights

TINY = {
    "resnet_9blocks": {"ngf": 4},
    "resnet_6blocks": {"ngf": 4, "norm": "batch", "dropout": True},
    "unet_128": {"ngf": 4, "norm": "instance"},
    "unet_256": {"ngf": 4, "dropout": True},
    "patchgan": {"ndf": 4},
}


def test_every_architecture_has_a_tiny_config():
    assert sorted(TINY) == list_archs()


@pytest.mark.parametrize("arch", sorted(TINY))
def test_build_save_load_same_output(arch, tmp_path):
    torch.manual_seed(0)
    cfg = make_config(arch, TINY[arch])
    net = init_weights(build_network(arch, cfg)).eval()
    if isinstance(cfg, type(make_config("patchgan"))):
        x = torch.rand(2, cfg.input_nc, 64, 64)
    else:
        m = get_spec(arch).pad_multiple(cfg)
        side = max(m, 32 // m * m)
        x = torch.rand(2, cfg.input_nc, side, side)
    if any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()):
        with torch.no_grad():  # non-trivial running stats, so loading them is checked too
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
    path = save_checkpoint(Checkpoint(arch=arch, config=cfg, networks={"N": net}), tmp_path / "m.safetensors")
    loaded = load_checkpoint(path)
    assert loaded.arch == arch and loaded.config == cfg
    again = loaded.networks["N"].eval()
    with torch.no_grad():
        assert torch.equal(net(x), again(x))


# Reference numbers: the official networks as instantiated by their own code (anchors.md §1.3).
@pytest.mark.parametrize(
    "arch,config,n_keys,n_params",
    [
        ("resnet_9blocks", {}, 48, 11_378_179),
        ("unet_256", {}, 82, 54_413_955),
        ("patchgan", {}, 10, 2_764_737),
    ],
)
def test_official_default_sizes(arch, config, n_keys, n_params):
    net = build_network(arch, make_config(arch, config))
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
