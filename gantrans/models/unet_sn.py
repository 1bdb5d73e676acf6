"""Real-ESRGAN's U-Net discriminator with spectral normalisation (`UNetDiscriminatorSN`): a per-pixel
realness map. conv0 (3x3, plain) -> three 4x4 stride-2 SN convs (x2, x4, x8 features) -> three x2 bilinear
upsamplings each followed by an SN 3x3 conv, with skip additions from the encoder -> two SN 3x3 convs ->
conv9 (3x3, plain) to one channel. LeakyReLU 0.2 throughout; SN convs have no bias. Module names as the
official code; SN uses `torch.nn.utils.parametrizations.spectral_norm` (one power iteration per forward).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gantrans.models.layers import check_channels, check_positive
from gantrans.models.registry import ArchSpec, register


@dataclass(frozen=True)
class UNetSNConfig:
    num_in_ch: int = 3
    num_feat: int = 64
    skip_connection: bool = True

    def __post_init__(self) -> None:
        check_channels("num_in_ch", self.num_in_ch)
        check_positive("num_feat", self.num_feat)


class UNetDiscriminatorSN(nn.Module):
    def __init__(self, cfg: UNetSNConfig) -> None:
        super().__init__()
        self.config = cfg
        f = cfg.num_feat

        def sn(i: int, o: int, k: int, s: int) -> nn.Module:
            return spectral_norm(nn.Conv2d(i, o, k, s, 1, bias=False))

        self.conv0 = nn.Conv2d(cfg.num_in_ch, f, 3, 1, 1)
        self.conv1, self.conv2, self.conv3 = sn(f, 2 * f, 4, 2), sn(2 * f, 4 * f, 4, 2), sn(4 * f, 8 * f, 4, 2)
        self.conv4, self.conv5, self.conv6 = sn(8 * f, 4 * f, 3, 1), sn(4 * f, 2 * f, 3, 1), sn(2 * f, f, 3, 1)
        self.conv7, self.conv8 = sn(f, f, 3, 1), sn(f, f, 3, 1)
        self.conv9 = nn.Conv2d(f, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W), H and W multiples of 8 -> (B, 1, H, W) logits
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))  # (B, 2f, H/2, W/2)
        x2 = act(self.conv2(x1))  # (B, 4f, H/4, W/4)
        x3 = act(self.conv3(x2))  # (B, 8f, H/8, W/8)
        x4 = act(self.conv4(up(x3)))
        if self.config.skip_connection:
            x4 = x4 + x2
        x5 = act(self.conv5(up(x4)))
        if self.config.skip_connection:
            x5 = x5 + x1
        x6 = act(self.conv6(up(x5)))
        if self.config.skip_connection:
            x6 = x6 + x0
        out = act(self.conv8(act(self.conv7(x6))))
        return self.conv9(out)


register(
    ArchSpec(
        name="unet_sn", config_cls=UNetSNConfig, build=UNetDiscriminatorSN, role="discriminator",
        pad_multiple=lambda cfg: 8, defaults={},
        description="Real-ESRGAN U-Net discriminator with spectral normalisation (per-pixel logits)",
    )
)  # fmt: skip
