"""Multi-scale discriminator of MUNIT/UNIT (official `MsImageDis`): one PatchGAN per scale.

Each scale: Conv4x4 s2 (dim) then n_layer - 1 doubling Conv4x4 s2 blocks, lrelu(0.2), reflect
padding, then Conv1x1 -> 1. Between scales the image is average-pooled (3, 2, 1, no padded zeros).
8.27 M parameters at the defaults (30 keys), as the official one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gantrans.models.layers import check_positive
from gantrans.models.munit_blocks import Conv2dBlock
from gantrans.models.registry import ArchSpec, register


@dataclass(frozen=True)
class MsImageDisConfig:
    input_nc: int = 3
    dim: int = 64
    n_layer: int = 4
    num_scales: int = 3
    norm: str = "none"
    activ: str = "lrelu"
    pad_type: str = "reflect"

    def __post_init__(self) -> None:
        for name in ("input_nc", "dim", "n_layer", "num_scales"):
            check_positive(name, getattr(self, name))


class MsImageDis(nn.Module):
    def __init__(self, cfg: MsImageDisConfig) -> None:
        super().__init__()
        self.config = cfg
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.cnns = nn.ModuleList([self._make_net(cfg) for _ in range(cfg.num_scales)])

    @staticmethod
    def _make_net(c: MsImageDisConfig) -> nn.Sequential:
        dim = c.dim
        layers: list[nn.Module] = [Conv2dBlock(c.input_nc, dim, 4, 2, 1, norm="none", activ=c.activ, pad_type=c.pad_type)]
        for _ in range(c.n_layer - 1):
            layers.append(Conv2dBlock(dim, dim * 2, 4, 2, 1, norm=c.norm, activ=c.activ, pad_type=c.pad_type))
            dim *= 2
        layers.append(nn.Conv2d(dim, 1, 1, 1, 0))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, H, W) -> one (B, 1, H / 2**(n_layer + s), ...) logit map per scale s."""
        outs = []
        for net in self.cnns:
            outs.append(net(x))
            x = self.downsample(x)
        return outs


register(
    ArchSpec(
        name="ms_image_dis",
        config_cls=MsImageDisConfig,
        build=MsImageDis,
        role="discriminator",
        pad_multiple=lambda c: 2 ** (c.n_layer + c.num_scales - 1),
        defaults={},
        description="multi-scale PatchGAN discriminator (MUNIT/UNIT)",
    )
)
