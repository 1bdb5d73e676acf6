"""The SRGAN discriminator (Ledig et al. 2017, Fig. 4): a VGG-style stack of eight 3x3 convolutions
(64 -> 512 features, stride 2 on every second one), batch norm on all but the first, LeakyReLU 0.2, then a
dense layer of 1024, LeakyReLU and one logit (the paper's sigmoid lives in the loss). The dense layer sees
the flattened features, so the config fixes the input size (96 in the paper; the training crop here).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gantrans.errors import UsageError
from gantrans.models.layers import check_channels, check_positive
from gantrans.models.registry import ArchSpec, register


@dataclass(frozen=True)
class SRGANDConfig:
    num_in_ch: int = 3
    num_feat: int = 64
    input_size: int = 96
    dense: int = 1024

    def __post_init__(self) -> None:
        check_channels("num_in_ch", self.num_in_ch)
        for name in ("num_feat", "input_size", "dense"):
            check_positive(name, getattr(self, name))
        if self.input_size < 16:
            raise UsageError(f"srgan_d input_size must be at least 16, got {self.input_size}")


class SRGANDiscriminator(nn.Module):
    def __init__(self, cfg: SRGANDConfig) -> None:
        super().__init__()
        self.config = cfg
        f = cfg.num_feat
        layers: list[nn.Module] = [nn.Conv2d(cfg.num_in_ch, f, 3, padding=1), nn.LeakyReLU(0.2, True)]
        chans = [f, f, 2 * f, 2 * f, 4 * f, 4 * f, 8 * f, 8 * f]  # k3n64s1 (above), k3n64s2, k3n128s1, ...
        side = cfg.input_size
        for i in range(1, 8):
            stride = 2 if i % 2 == 1 else 1
            layers += [nn.Conv2d(chans[i - 1], chans[i], 3, stride=stride, padding=1), nn.BatchNorm2d(chans[i]), nn.LeakyReLU(0.2, True)]
            side = (side - 1) // stride + 1
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(chans[-1] * side * side, cfg.dense), nn.LeakyReLU(0.2, True), nn.Linear(cfg.dense, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, S, S), S = input_size -> (B, 1) logits
        if x.shape[-1] != self.config.input_size or x.shape[-2] != self.config.input_size:
            raise UsageError(f"srgan_d takes {self.config.input_size}x{self.config.input_size} inputs, got {tuple(x.shape[-2:])}")
        return self.classifier(self.features(x))


register(
    ArchSpec(
        name="srgan_d", config_cls=SRGANDConfig, build=SRGANDiscriminator, role="discriminator",
        pad_multiple=lambda cfg: cfg.input_size, defaults={},
        description="SRGAN discriminator (8 convs, BN, LeakyReLU, dense 1024; fixed input size)",
    )
)  # fmt: skip
