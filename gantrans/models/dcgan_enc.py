"""DCGAN-style encoder for the latent recipes: the discriminator's convolution stack (4x4 stride-2 convolutions
doubling the width from ndf, batch norm after the first, LeakyReLU 0.2) down to 4x4, then a 4x4 convolution to
the code: (mu, logvar) of a diagonal Gaussian (VAE-GAN, `variational`) or z itself (BiGAN). Input in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gantrans.errors import UsageError
from gantrans.models.dcgan import SIZES
from gantrans.models.layers import check_channels, check_positive
from gantrans.models.registry import ArchSpec, register


@dataclass(frozen=True)
class DCGANEncConfig:
    nz: int = 100
    ndf: int = 64
    img_ch: int = 3
    size: int = 64
    variational: bool = True

    def __post_init__(self) -> None:
        check_positive("nz", self.nz)
        check_positive("ndf", self.ndf)
        check_channels("img_ch", self.img_ch)
        if self.size not in SIZES:
            raise UsageError(f"dcgan_enc size must be one of {', '.join(map(str, SIZES))}, got {self.size}")


def conv_stack(img_ch: int, ndf: int, size: int, sn: bool = False) -> tuple[nn.Sequential, int]:
    """4x4 stride-2 convs from size to 4x4 -> (stack, width); BN after all but the first (none with SN)."""
    from torch.nn.utils.parametrizations import spectral_norm

    wrap = spectral_norm if sn else (lambda m: m)
    layers: list[nn.Module] = [wrap(nn.Conv2d(img_ch, ndf, 4, 2, 1, bias=sn)), nn.LeakyReLU(0.2, True)]
    width, side = ndf, size // 2
    while side > 4:
        layers.append(wrap(nn.Conv2d(width, width * 2, 4, 2, 1, bias=sn)))
        if not sn:
            layers.append(nn.BatchNorm2d(width * 2))
        layers.append(nn.LeakyReLU(0.2, True))
        width, side = width * 2, side // 2
    return nn.Sequential(*layers), width


class DCGANEncoder(nn.Module):
    def __init__(self, cfg: DCGANEncConfig) -> None:
        super().__init__()
        self.config = cfg
        self.main, width = conv_stack(cfg.img_ch, cfg.ndf, cfg.size)
        self.out = nn.Conv2d(width, cfg.nz * (2 if cfg.variational else 1), 4, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, size, size) -> (B, 2 nz) = [mu, logvar] (variational) or (B, nz)
        return self.out(self.main(x)).flatten(1)


register(
    ArchSpec(
        name="dcgan_enc", config_cls=DCGANEncConfig, build=DCGANEncoder, role="encoder",
        pad_multiple=lambda cfg: cfg.size, defaults={},
        description="DCGAN-style encoder to a latent code (Gaussian for VAE-GAN, deterministic for BiGAN)",
    )
)  # fmt: skip
