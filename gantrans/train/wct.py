"""wct-decoder recipe: train WCT/PhotoWCT decoders to invert fixed VGG-19 encoders.

Li et al. (2017): for each level L, minimise ||D_L(E_L(x)) - x||^2 + lambda ||E_L(D_L(E_L(x))) - E_L(x)||^2
with the encoder frozen (lambda = 1). All levels train together; their decoders share no weights, so
the summed loss trains each one independently. The encoders come from `encoder`: a gantrans
WCT/PhotoWCT checkpoint, a torchvision VGG-19 weights file, or "random" (seeded; for tests and
experiments -- real style transfer needs ImageNet VGG weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.errors import UsageError
from gantrans.io.checkpoint import Checkpoint
from gantrans.models.registry import build_network, make_config
from gantrans.models.wct import WCTNet
from gantrans.train.config import check
from gantrans.train.recipes import Options, Recipe, TrainContext, cpu_copy

if TYPE_CHECKING:
    from gantrans.train.config import TrainConfig


@dataclass
class WCTOptions(Options):
    encoder: str = ""  # a WCT/PhotoWCT checkpoint, a torchvision VGG-19 weights file, or "random" (ngf is the VGG width)
    unpool: bool = True  # PhotoWCT max-unpooling decoders (False: WCT nearest upsampling)
    wct_levels: int = 4
    lambda_feat: float = 1.0

    def validate(self, cfg: "TrainConfig") -> None:
        check(bool(self.encoder), "wct-decoder needs encoder: a WCT/PhotoWCT checkpoint, a torchvision VGG-19 file, or 'random'")
        check(1 <= self.wct_levels <= 4, "wct_levels must be 1..4")
        check(cfg.crop_size % 8 == 0 or "crop" not in cfg.preprocess, "wct-decoder needs a crop size that is a multiple of 8")


def random_encoders(net: WCTNet) -> None:
    """Seeded He-initialised encoders; conv0 maps [0, 1] to roughly zero-mean, unit-range inputs."""
    for level in range(1, net.config.levels + 1):
        enc = net.encoder(level)
        for name, mod in enc.named_children():
            if isinstance(mod, nn.Conv2d) and name != "conv0":
                nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
                nn.init.zeros_(mod.bias)
        with torch.no_grad():
            enc.conv0.weight.copy_(torch.eye(3).view(3, 3, 1, 1) * 4.0)
            enc.conv0.bias.fill_(-2.0)
    # every level sees the same trunk, as VGG truncated at different depths
    deepest = net.encoder(net.config.levels).state_dict()
    for level in range(1, net.config.levels):
        enc = net.encoder(level)
        enc.load_state_dict({k: deepest[k] for k in enc.state_dict()}, strict=True)


def load_encoders(net: WCTNet, ref: str) -> str:
    """Fill the encoders from `ref`; returns a description for the run's provenance."""
    from gantrans.engine.convert_wct import load_vgg19_encoders, load_wct_encoders

    if ref == "random":
        random_encoders(net)
        return "random (seeded)"
    from gantrans.io.checkpoint import load_checkpoint
    from gantrans.io.hub import resolve

    path = resolve(ref)  # a file, a bundled name or hf://
    if path.suffix.lower() == ".safetensors" and _is_gantrans(path):
        ck = load_checkpoint(path)
        from gantrans import registry

        if registry.family_of(ck.arch).role != "stylizer":
            raise UsageError(f"encoder {ref}: {ck.arch} is not a WCT/PhotoWCT checkpoint")
        load_wct_encoders(net, ck.networks["G"])
        return f"encoders of {path.name}"
    load_vgg19_encoders(net, path)
    return f"torchvision VGG-19 {path.name}"


def _is_gantrans(path: Path) -> bool:
    """A gantrans checkpoint (else, e.g., a VGG-19 saved as safetensors)."""
    from gantrans.io.checkpoint import CheckpointError, read_metadata

    try:
        read_metadata(path)
        return True
    except CheckpointError:
        return False


class WCTDecoder(Recipe):
    Options = WCTOptions
    # Li et al. 2017 (universal style transfer): Adam 1e-4, pixel + feature reconstruction, lambda 1
    defaults = {"lr": 1e-4, "beta1": 0.9, "lr_policy": "constant", "batch_size": 8, "load_size": 286, "crop_size": 256, "steps": 20000, "ngf": 64}
    data = "images"

    @property
    def arch(self) -> str:
        return "photowct" if self.opts.unpool else "wct"

    def net_config(self) -> Any:
        return make_config(self.arch, {"levels": self.opts.wct_levels, "base": self.cfg.ngf, "unpool": self.opts.unpool})

    def build(self) -> tuple[dict[str, nn.Module], dict[str, nn.Module]]:
        net = build_network(self.arch, self.net_config())
        self.encoder_source = load_encoders(net, self.opts.encoder)
        for level in range(1, net.config.levels + 1):
            net.encoder(level).requires_grad_(False)
        return {"G": net}, {}

    def step(self, tr: TrainContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        net = tr.G["G"]
        x = batch["A"] * 0.5 + 0.5  # the encoders take RGB in [0, 1]
        tr.opt_G.zero_grad(set_to_none=True)
        losses: dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=tr.device)
        with tr.autocast():
            for level in range(1, net.config.levels + 1):
                enc, dec = net.encoder(level), net.decoder(level)
                with torch.no_grad():
                    feat, pools = enc(x)
                y = dec(feat, pools)
                pix = F.mse_loss(y.float(), x)
                fl = F.mse_loss(enc(y)[0].float(), feat.float())
                total = total + pix + self.opts.lambda_feat * fl
                losses[f"pix{level}"], losses[f"feat{level}"] = pix.detach(), fl.detach()
        tr.step_opt(total, tr.g_params, tr.opt_G)
        return losses

    def sample_rows(self, tr: TrainContext, s: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        net = tr.G["G"]
        x = s["A"] * 0.5 + 0.5
        rows = [s["A"]]
        for level in range(net.config.levels, 0, -1):
            feat, pools = net.encoder(level)(x)
            rows.append(net.decoder(level)(feat, pools).float().clamp(0, 1) * 2 - 1)
        return rows

    def checkpoint(self, tr: TrainContext, step: int, dataset: str) -> Checkpoint:
        from gantrans.engine.convert_wct import WCT_PREPROCESS

        net = cpu_copy(tr.G["G"], build_network(self.arch, self.net_config()))
        prov = {**self.provenance(step, dataset), "encoder": getattr(self, "encoder_source", self.opts.encoder)}
        return Checkpoint(arch=self.arch, config=self.net_config(), networks={"G": net}, domains=["content"],
                          preprocess=dict(WCT_PREPROCESS), provenance=prov)
