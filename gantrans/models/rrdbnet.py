"""RRDBNet (Wang et al. 2018, ESRGAN; Real-ESRGAN), with BasicSR's module names so official weights load
strictly: `conv_first` -> `body.N` (RRDB: `rdb1..rdb3`, each a 5-conv dense block, growth `num_grow_ch`,
LeakyReLU 0.2, residual x0.2, the RRDB itself residual x0.2) -> `conv_body` (+ long skip) -> nearest x2 ->
`conv_up1` -> nearest x2 -> `conv_up2` -> `conv_hr` -> `conv_last`. Always x4 inside: scale 2 and 1 models
pixel-unshuffle the input first (4x / 16x the channels), as Real-ESRGAN x2plus. Input and output in [0, 1].
RealESRGAN_x4plus (23 blocks, 64 features, growth 32): 16,697,987 parameters.
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
class RRDBNetConfig(SRChannels):
    scale: int = 4
    num_feat: int = 64
    num_block: int = 23
    num_grow_ch: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scale not in (1, 2, 4):
            raise UsageError(f"rrdbnet scale must be 1, 2 or 4, got {self.scale}")
        for name in ("num_feat", "num_block", "num_grow_ch"):
            check_positive(name, getattr(self, name))


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs, each seeing the block input and every earlier output (concatenated)."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        scaled_kaiming([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5])  # as BasicSR's constructor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x  # residual scaling


class RRDB(nn.Module):
    """Residual in residual dense block: three dense blocks, scaled residual around them."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    def __init__(self, cfg: RRDBNetConfig) -> None:
        super().__init__()
        self.scale = cfg.scale
        unshuffle = {4: 1, 2: 2, 1: 4}[cfg.scale]  # x2 / x1 models see the input pixel-unshuffled
        self.unshuffle = unshuffle
        f = cfg.num_feat
        self.conv_first = nn.Conv2d(cfg.num_in_ch * unshuffle**2, f, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(f, cfg.num_grow_ch) for _ in range(cfg.num_block)])
        self.conv_body = nn.Conv2d(f, f, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(f, f, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(f, f, 3, 1, 1)
        self.conv_hr = nn.Conv2d(f, f, 3, 1, 1)
        self.conv_last = nn.Conv2d(f, cfg.num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) in [0, 1], H and W multiples of `unshuffle` -> (B, out, H*scale, W*scale)
        feat = F.pixel_unshuffle(x, self.unshuffle) if self.unshuffle > 1 else x
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


register(
    ArchSpec(
        name="rrdbnet", config_cls=RRDBNetConfig, build=RRDBNet, role="generator",
        pad_multiple=lambda c: {4: 1, 2: 2, 1: 4}[c.scale], min_size=lambda c: {4: 1, 2: 2, 1: 4}[c.scale], defaults={},
        description="ESRGAN / Real-ESRGAN RRDBNet (BasicSR names; x4, or x2/x1 through pixel-unshuffle)",
    )
)  # fmt: skip
