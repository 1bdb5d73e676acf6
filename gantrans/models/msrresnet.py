"""MSRResNet, BasicSR's "modified SRResNet" (no batch norm): `conv_first` + LeakyReLU(0.1), `body.N`
residual blocks (conv, ReLU, conv, + identity), sub-pixel upsampling (`upconv1` [+ `upconv2` for x4] ->
PixelShuffle -> LeakyReLU), `conv_hr` + LeakyReLU, `conv_last`, plus the bilinearly upsampled input.
BasicSR's names, so its MSRResNet files load strictly. Input and output in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.errors import UsageError
from gantrans.models.layers import SRChannels, check_positive, scaled_kaiming
from gantrans.models.registry import ArchSpec, register


@dataclass(frozen=True)
class MSRResNetConfig(SRChannels):
    num_feat: int = 64
    num_block: int = 16
    upscale: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_feat", "num_block"):
            check_positive(name, getattr(self, name))
        if self.upscale not in (2, 3, 4):
            raise UsageError(f"msrresnet upscale must be 2, 3 or 4, got {self.upscale}")

    @property
    def scale(self) -> int:
        return self.upscale


class ResidualBlockNoBN(nn.Module):
    def __init__(self, f: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(f, f, 3, 1, 1)
        self.conv2 = nn.Conv2d(f, f, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        scaled_kaiming([self.conv1, self.conv2])  # as BasicSR's constructor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    def __init__(self, cfg: MSRResNetConfig) -> None:
        super().__init__()
        f, s = cfg.num_feat, cfg.upscale
        self.upscale = s
        self.conv_first = nn.Conv2d(cfg.num_in_ch, f, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(f) for _ in range(cfg.num_block)])
        self.upconv1 = nn.Conv2d(f, f * (4 if s == 4 else s * s), 3, 1, 1)
        if s == 4:
            self.upconv2 = nn.Conv2d(f, f * 4, 3, 1, 1)
        self.pixel_shuffle = nn.PixelShuffle(2 if s == 4 else s)
        self.conv_hr = nn.Conv2d(f, f, 3, 1, 1)
        self.conv_last = nn.Conv2d(f, cfg.num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)
        scaled_kaiming([m for m in (self.conv_first, self.upconv1, getattr(self, "upconv2", None), self.conv_hr, self.conv_last) if m is not None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) in [0, 1] -> (B, out, H*s, W*s)
        out = self.body(self.lrelu(self.conv_first(x)))
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.upscale == 4:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        base = F.interpolate(x, scale_factor=self.upscale, mode="bilinear", align_corners=False)
        return out + (base if base.shape[1] == out.shape[1] else base.expand(-1, out.shape[1], -1, -1))


register(
    ArchSpec(
        name="msrresnet", config_cls=MSRResNetConfig, build=MSRResNet, role="generator",
        pad_multiple=lambda c: 1, min_size=lambda c: 1, defaults={},
        description="BasicSR MSRResNet (SRResNet without BN; x2/x3/x4)",
    )
)  # fmt: skip
