"""PatchGAN discriminator (official `NLayerDiscriminator`; n_layers=3 is the 70x70 "basic" D)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gantrans.errors import UsageError
from gantrans.models.layers import NORMS, check_positive, conv_bias, norm_factory
from gantrans.models.registry import ArchSpec, register


@dataclass(frozen=True)
class PatchGANConfig:
    input_nc: int = 3  # pix2pix's conditional D sees input_nc + output_nc channels
    ndf: int = 64
    n_layers: int = 3
    norm: str = "instance"

    def __post_init__(self) -> None:
        check_positive("input_nc", self.input_nc)
        check_positive("ndf", self.ndf)
        check_positive("n_layers", self.n_layers)
        if self.norm not in NORMS:
            raise UsageError(f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}")


class NLayerDiscriminator(nn.Module):
    def __init__(self, cfg: PatchGANConfig) -> None:
        super().__init__()
        self.config = cfg
        norm_layer, bias, ndf = norm_factory(cfg.norm), conv_bias(cfg.norm), cfg.ndf
        layers: list[nn.Module] = [nn.Conv2d(cfg.input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, cfg.n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=bias),
                norm_layer(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**cfg.n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=bias),
            norm_layer(ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 1, h, w) patch logits
        return self.model(x)


register(
    ArchSpec(
        name="patchgan",
        config_cls=PatchGANConfig,
        build=NLayerDiscriminator,
        role="discriminator",
        pad_multiple=lambda cfg: 1,
        defaults={},
        description="PatchGAN discriminator (n_layers=3: 70x70 receptive field)",
    )
)
