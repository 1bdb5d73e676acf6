"""SRVGGNetCompact (Real-ESRGAN's compact model: realesr-animevideov3, realesr-general-x4v3), BasicSR's
module names: `body.0` conv in->feat, activation, then `num_conv` x (conv feat->feat, activation), a last
conv to out*scale^2 channels; PixelShuffle(scale); plus the nearest-upsampled input. PReLU activations (one
slope per channel) as the released models; input and output in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.errors import UsageError
from gantrans.models.layers import SRChannels, check_positive
from gantrans.models.registry import ArchSpec, register


@dataclass(frozen=True)
class SRVGGConfig(SRChannels):
    num_feat: int = 64
    num_conv: int = 16
    upscale: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_feat", "num_conv", "upscale"):
            check_positive(name, getattr(self, name))
        if self.upscale > 8:
            raise UsageError(f"srvgg_compact upscale must be 1..8, got {self.upscale}")

    @property
    def scale(self) -> int:
        return self.upscale


class SRVGGNetCompact(nn.Module):
    def __init__(self, cfg: SRVGGConfig) -> None:
        super().__init__()
        self.upscale = cfg.upscale
        layers: list[nn.Module] = [nn.Conv2d(cfg.num_in_ch, cfg.num_feat, 3, 1, 1), nn.PReLU(num_parameters=cfg.num_feat)]
        for _ in range(cfg.num_conv):
            layers += [nn.Conv2d(cfg.num_feat, cfg.num_feat, 3, 1, 1), nn.PReLU(num_parameters=cfg.num_feat)]
        layers.append(nn.Conv2d(cfg.num_feat, cfg.num_out_ch * cfg.upscale**2, 3, 1, 1))
        self.body = nn.Sequential(*layers)
        self.upsampler = nn.PixelShuffle(cfg.upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) in [0, 1] -> (B, out, H*s, W*s); the residual is the nearest-upsampled input
        out = self.upsampler(self.body(x))
        base = F.interpolate(x, scale_factor=self.upscale, mode="nearest")
        if base.shape[1] != out.shape[1]:  # grey in, colour out
            base = base.expand(-1, out.shape[1], -1, -1)
        return out + base


register(
    ArchSpec(
        name="srvgg_compact", config_cls=SRVGGConfig, build=SRVGGNetCompact, role="generator",
        pad_multiple=lambda c: 1, min_size=lambda c: 1, defaults={},
        description="Real-ESRGAN SRVGGNetCompact (conv + PReLU body, pixel shuffle, upsampled input added)",
    )
)  # fmt: skip
