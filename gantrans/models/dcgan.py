"""DCGAN-style generator / decoder (Radford et al. 2016), shared by the latent recipes (VAE-GAN, BiGAN, InfoGAN):
a code z (B, nz) -> a 4x4 transposed convolution to ngf * 2^(k-1) channels, then k-1 stride-2 transposed 4x4
convolutions halving the width, each with batch norm and ReLU, and a last stride-2 transposed convolution to the
image channels with tanh. k = log2(size) - 3: 64 px (the paper's 4 stages), 128 px (5). Output in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gantrans.errors import UsageError
from gantrans.models.layers import ImageChannels, check_channels, check_positive
from gantrans.models.registry import ArchSpec, register

SIZES = (32, 64, 128)


@dataclass(frozen=True)
class DCGANConfig(ImageChannels):
    nz: int = 100  # code length (InfoGAN: noise + code dimensions)
    ngf: int = 64
    img_ch: int = 3
    size: int = 64

    def __post_init__(self) -> None:
        check_positive("nz", self.nz)
        check_positive("ngf", self.ngf)
        check_channels("img_ch", self.img_ch)
        if self.size not in SIZES:
            raise UsageError(f"dcgan size must be one of {', '.join(map(str, SIZES))}, got {self.size}")

    @property
    def stages(self) -> int:
        return self.size.bit_length() - 4  # 64 -> 3 inner stages after the 4x4 projection


class DCGANGenerator(nn.Module):
    def __init__(self, cfg: DCGANConfig) -> None:
        super().__init__()
        self.config = cfg
        width = cfg.ngf * 2**cfg.stages
        layers: list[nn.Module] = [nn.ConvTranspose2d(cfg.nz, width, 4, 1, 0, bias=False), nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(cfg.stages):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, cfg.img_ch, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # z: (B, nz) or (B, nz, 1, 1) -> (B, C, size, size) in [-1, 1]
        return self.main(z.view(z.shape[0], -1, 1, 1))


register(
    ArchSpec(
        name="dcgan_g", config_cls=DCGANConfig, build=DCGANGenerator, role="decoder",
        pad_multiple=lambda cfg: cfg.size, defaults={},
        description="DCGAN generator / decoder (64 or 128 px), the latent families' image model",
    )
)  # fmt: skip
