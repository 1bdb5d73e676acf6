"""ESRGAN's discriminator (BasicSR `VGGStyleDiscriminator`): stages of a 3x3 conv and a 4x4 stride-2 conv,
each followed by batch norm (none after the very first conv) and LeakyReLU 0.2, widths 64, 128, 256, 512,
512, ...; then linear 512*4*4 -> 100, LeakyReLU, linear 100 -> 1. BasicSR takes 128 (5 stages) or 256
(6 stages) inputs; here any power of two >= 8 (stages until 4x4). Module names as BasicSR's
(`conv0_0`, `conv0_1`, `bn0_1`, ..., `linear1`, `linear2`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.errors import UsageError
from gantrans.models.layers import check_channels, check_positive
from gantrans.models.registry import ArchSpec, register


@dataclass(frozen=True)
class VGGStyleDConfig:
    num_in_ch: int = 3
    num_feat: int = 64
    input_size: int = 128

    def __post_init__(self) -> None:
        check_channels("num_in_ch", self.num_in_ch)
        check_positive("num_feat", self.num_feat)
        s = self.input_size
        if not isinstance(s, int) or s < 8 or s & (s - 1):
            raise UsageError(f"vgg_style_d input_size must be a power of two >= 8, got {s!r}")

    @property
    def stages(self) -> int:
        return self.input_size.bit_length() - 3  # halvings down to 4x4


class VGGStyleDiscriminator(nn.Module):
    def __init__(self, cfg: VGGStyleDConfig) -> None:
        super().__init__()
        self.config = cfg
        f = cfg.num_feat
        prev = cfg.num_in_ch
        for i in range(cfg.stages):
            width = f * min(2**i, 8)
            self.add_module(f"conv{i}_0", nn.Conv2d(prev, width, 3, 1, 1, bias=i == 0))
            if i > 0:
                self.add_module(f"bn{i}_0", nn.BatchNorm2d(width))
            self.add_module(f"conv{i}_1", nn.Conv2d(width, width, 4, 2, 1, bias=False))
            self.add_module(f"bn{i}_1", nn.BatchNorm2d(width))
            prev = width
        self.linear1 = nn.Linear(prev * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, S, S) -> (B, 1) logits
        if x.shape[-1] != self.config.input_size or x.shape[-2] != self.config.input_size:
            raise UsageError(f"vgg_style_d takes {self.config.input_size}x{self.config.input_size} inputs, got {tuple(x.shape[-2:])}")
        for i in range(self.config.stages):
            x = getattr(self, f"conv{i}_0")(x)
            x = F.leaky_relu(x if i == 0 else getattr(self, f"bn{i}_0")(x), 0.2)
            x = F.leaky_relu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(x)), 0.2)
        return self.linear2(F.leaky_relu(self.linear1(x.flatten(1)), 0.2))


register(
    ArchSpec(
        name="vgg_style_d", config_cls=VGGStyleDConfig, build=VGGStyleDiscriminator, role="discriminator",
        pad_multiple=lambda cfg: cfg.input_size, defaults={},
        description="ESRGAN discriminator (BasicSR VGGStyleDiscriminator; fixed input size)",
    )
)  # fmt: skip
