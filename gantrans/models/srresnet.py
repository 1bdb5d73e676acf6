"""SRResNet, the generator of SRGAN (Ledig et al. 2017): 9x9 conv + PReLU, residual blocks (conv3x3, BN,
PReLU, conv3x3, BN, + identity), conv3x3 + BN with the long skip from the first features, sub-pixel x2
stages (conv to 4x the channels -> PixelShuffle(2) -> PReLU), 9x9 conv, `(tanh + 1) / 2`. No official code
was released: module names follow the most used PyTorch implementation (leftthomas/SRGAN: `block1`,
`block2..`, `block{n+2}` conv+BN, `block{n+3}` upsampling + last conv) so its checkpoints load strictly;
the paper uses 16 residual blocks, leftthomas 5. Input and output in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from gantrans.errors import UsageError
from gantrans.models.layers import SRChannels, check_positive
from gantrans.models.registry import ArchSpec, register


@dataclass(frozen=True)
class SRResNetConfig(SRChannels):
    num_feat: int = 64
    num_block: int = 16
    scale: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_feat", "num_block", "scale"):
            check_positive(name, getattr(self, name))
        if self.scale & (self.scale - 1) or self.scale > 16:
            raise UsageError(f"srresnet scale must be a power of 2 up to 16, got {self.scale}")


class ResidualBlock(nn.Module):
    def __init__(self, f: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(f, f, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(f)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(f, f, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class UpsampleBlock(nn.Module):
    """conv to 4x the channels -> PixelShuffle(2) -> PReLU (one x2 sub-pixel stage)."""

    def __init__(self, f: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(f, f * 4, 3, padding=1)
        self.pixel_shuffle = nn.PixelShuffle(2)
        self.prelu = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.pixel_shuffle(self.conv(x)))


class SRResNet(nn.Module):
    def __init__(self, cfg: SRResNetConfig) -> None:
        super().__init__()
        f, n = cfg.num_feat, cfg.num_block
        self.n = n
        self.block1 = nn.Sequential(nn.Conv2d(cfg.num_in_ch, f, 9, padding=4), nn.PReLU())
        for i in range(n):
            self.add_module(f"block{i + 2}", ResidualBlock(f))
        self.add_module(f"block{n + 2}", nn.Sequential(nn.Conv2d(f, f, 3, padding=1), nn.BatchNorm2d(f)))
        stages: list[nn.Module] = [UpsampleBlock(f) for _ in range(int(math.log2(cfg.scale)))]
        self.add_module(f"block{n + 3}", nn.Sequential(*stages, nn.Conv2d(f, cfg.num_out_ch, 9, padding=4)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) in [0, 1] -> (B, out, H*scale, W*scale) in [0, 1]
        first = self.block1(x)
        y = first
        for i in range(self.n):
            y = getattr(self, f"block{i + 2}")(y)
        y = getattr(self, f"block{self.n + 2}")(y)
        y = getattr(self, f"block{self.n + 3}")(first + y)
        return (torch.tanh(y) + 1) / 2


register(
    ArchSpec(
        name="srresnet", config_cls=SRResNetConfig, build=SRResNet, role="generator",
        pad_multiple=lambda c: 1, min_size=lambda c: 1, defaults={},
        description="SRGAN's SRResNet generator (BN + PReLU residual blocks, sub-pixel x2 stages; leftthomas/SRGAN names)",
    )
)  # fmt: skip
