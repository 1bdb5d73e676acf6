"""StarGAN (Choi et al. 2018): one generator for all domains, conditioned on a tiled label vector.

Generator: Conv7x7 -> 2x Conv4x4 s2 -> 6 residual blocks -> 2x ConvTranspose4x4 s2 -> Conv7x7 + tanh,
zero padding, no conv biases, InstanceNorm(affine, track_running_stats) as the official `model.py`
(103 keys, 8,430,528 parameters for c_dim 5). The official test never calls .eval(), so inference
uses per-instance statistics; `StatIN` does that in eval mode too while keeping the running-stat
buffers (and their keys). `attention=True` (not in the official StarGAN; GANimation, Pumarola et al.
2018) adds a 7x7 conv + sigmoid head beside the colour head: output = A * input + (1 - A) * colour, so
pixels an edit does not touch are copied instead of re-synthesised. Discriminator: PatchGAN source
head + an auxiliary classifier whose kernel is image_size / 2**repeat_num, so a discriminator is tied
to one image size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.errors import UsageError
from gantrans.models.cpuconv import instance_norm
from gantrans.models.layers import check_channels, check_positive
from gantrans.models.registry import ArchSpec, register


class StatIN(nn.InstanceNorm2d):
    """InstanceNorm2d(affine, track_running_stats) that always normalises with the instance's own
    statistics (running stats are updated in training only, never used)."""

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features, affine=True, track_running_stats=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        train = self.training
        y = None if train else instance_norm(x, self.weight, self.bias, self.eps)
        return y if y is not None else F.instance_norm(
            x, self.running_mean if train else None, self.running_var if train else None,
            self.weight, self.bias, True, self.momentum or 0.1, self.eps,
        )  # fmt: skip


@dataclass(frozen=True)
class StarGANConfig:
    c_dim: int = 5  # label channels (for multi-dataset training: all labels + the mask vector)
    conv_dim: int = 64
    repeat_num: int = 6
    image_nc: int = 3
    attention: bool = False  # GANimation attention head (not official StarGAN; converted weights keep False)

    def __post_init__(self) -> None:
        check_channels("image_nc", self.image_nc)
        for name in ("c_dim", "conv_dim", "repeat_num"):
            check_positive(name, getattr(self, name))

    # the Translator's view of the channels
    @property
    def input_nc(self) -> int:
        return self.image_nc

    @property
    def output_nc(self) -> int:
        return self.image_nc


class ResidualBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False), StatIN(dim), nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False), StatIN(dim),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


class StarGANGenerator(nn.Module):
    def __init__(self, cfg: StarGANConfig) -> None:
        super().__init__()
        self.config = cfg
        d = cfg.conv_dim
        layers: list[nn.Module] = [nn.Conv2d(cfg.image_nc + cfg.c_dim, d, 7, 1, 3, bias=False), StatIN(d), nn.ReLU(inplace=True)]
        for _ in range(2):
            layers += [nn.Conv2d(d, d * 2, 4, 2, 1, bias=False), StatIN(d * 2), nn.ReLU(inplace=True)]
            d *= 2
        layers += [ResidualBlock(d) for _ in range(cfg.repeat_num)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(d, d // 2, 4, 2, 1, bias=False), StatIN(d // 2), nn.ReLU(inplace=True)]
            d //= 2
        layers += [nn.Conv2d(d, cfg.image_nc, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        # GANimation's attention regressor: no bias, sigmoid
        self.attn = nn.Conv2d(d, 1, 7, 1, 3, bias=False) if cfg.attention else None

    def parts(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, C, H, W) in [-1, 1], c (B, c_dim) -> output (B, C, H, W), attention A (B, 1, H, W) or None."""
        c = c.to(x.dtype).view(c.shape[0], c.shape[1], 1, 1).expand(-1, -1, x.shape[2], x.shape[3])
        h = torch.cat([x, c], dim=1)
        if self.attn is None:
            return self.main(h), None
        h = self.main[:-2](h)  # (B, conv_dim, H, W)
        colour = self.main[-1](self.main[-2](h))
        a = torch.sigmoid(self.attn(h))
        return a * x + (1 - a) * colour, a

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) in [-1, 1], c (B, c_dim) target labels -> (B, C, H, W)."""
        return self.parts(x, c)[0]


@dataclass(frozen=True)
class StarGANDisConfig:
    image_size: int = 128
    c_dim: int = 5  # classified labels (without the mask vector)
    conv_dim: int = 64
    repeat_num: int = 6
    image_nc: int = 3

    def __post_init__(self) -> None:
        for name in ("image_size", "c_dim", "conv_dim", "repeat_num", "image_nc"):
            check_positive(name, getattr(self, name))
        if self.image_size % 2**self.repeat_num:
            raise UsageError(f"image_size {self.image_size} must be a multiple of 2**repeat_num = {2**self.repeat_num}")


class StarGANDiscriminator(nn.Module):
    def __init__(self, cfg: StarGANDisConfig) -> None:
        super().__init__()
        self.config = cfg
        d = cfg.conv_dim
        layers: list[nn.Module] = [nn.Conv2d(cfg.image_nc, d, 4, 2, 1), nn.LeakyReLU(0.01)]
        for _ in range(1, cfg.repeat_num):
            layers += [nn.Conv2d(d, d * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            d *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(d, 1, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(d, cfg.c_dim, cfg.image_size // 2**cfg.repeat_num, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, S, S) -> source logits (B, 1, S/2**r, S/2**r), class logits (B, c_dim)."""
        h = self.main(x)
        return self.conv1(h), self.conv2(h).view(x.shape[0], -1)


register(
    ArchSpec(
        name="stargan", config_cls=StarGANConfig, build=StarGANGenerator, role="generator",
        pad_multiple=lambda c: 4, min_size=lambda c: 8, defaults={},
        description="StarGAN generator: image + tiled target label",
    )
)  # fmt: skip
register(
    ArchSpec(
        name="stargan_dis", config_cls=StarGANDisConfig, build=StarGANDiscriminator, role="discriminator",
        pad_multiple=lambda c: c.image_size, defaults={},
        description="StarGAN PatchGAN + auxiliary classifier (tied to image_size)",
    )
)  # fmt: skip
