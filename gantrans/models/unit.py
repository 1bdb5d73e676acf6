"""UNIT (Liu et al. 2017): coupled VAE-GAN with a shared latent space (official `VAEGen` per domain).

The "reduced VAE" of the official code: the encoder gives the mean, the KL term is mean(mu^2),
training adds unit-variance noise, inference decodes the mean. Parameter count per generator at the
defaults: 11,140,483 (48 keys), as the official one. `share` > 0 ties the innermost `share` residual
blocks of the two encoders (last ones) and decoders (first ones), the weight sharing of the paper;
the official NVlabs code shares nothing (share=0, the default).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gantrans.errors import UsageError
from gantrans.models.layers import check_channels, check_positive
from gantrans.models.munit_blocks import ContentEncoder, Decoder
from gantrans.models.registry import ArchSpec, register


@dataclass(frozen=True)
class UNITConfig:
    input_nc: int = 3
    output_nc: int = 3
    dim: int = 64
    n_downsample: int = 2
    n_res: int = 4
    activ: str = "relu"
    pad_type: str = "reflect"
    share: int = 0  # residual blocks shared between the domains (encoder tail, decoder head)

    def __post_init__(self) -> None:
        check_channels("input_nc", self.input_nc)
        check_channels("output_nc", self.output_nc)
        for name in ("dim", "n_downsample", "n_res"):
            check_positive(name, getattr(self, name))
        if not 0 <= self.share <= self.n_res:
            raise UsageError(f"share must be between 0 and n_res ({self.n_res}), got {self.share}")


class VAEGen(nn.Module):
    def __init__(self, in_dim: int, cfg: UNITConfig) -> None:
        super().__init__()
        self.enc = ContentEncoder(cfg.n_downsample, cfg.n_res, in_dim, cfg.dim, "in", cfg.activ, cfg.pad_type)
        self.dec = Decoder(cfg.n_downsample, cfg.n_res, self.enc.output_dim, in_dim, "in", cfg.activ, cfg.pad_type)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> latent mean (B, 256, H/4, W/4); add unit noise yourself when training."""
        return self.enc(x)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        return self.dec(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class UNIT(nn.Module):
    def __init__(self, cfg: UNITConfig) -> None:
        super().__init__()
        self.config = cfg
        self.gen_a = VAEGen(cfg.input_nc, cfg)
        self.gen_b = VAEGen(cfg.output_nc, cfg)
        enc_res_a, enc_res_b = self.gen_a.enc.model[-1].model, self.gen_b.enc.model[-1].model
        dec_res_a, dec_res_b = self.gen_a.dec.model[0].model, self.gen_b.dec.model[0].model
        for k in range(cfg.share):  # the same module object under both names: one set of weights
            enc_res_b[cfg.n_res - 1 - k] = enc_res_a[cfg.n_res - 1 - k]
            dec_res_b[k] = dec_res_a[k]

    def gens(self, direction: str) -> tuple[VAEGen, VAEGen]:
        return (self.gen_a, self.gen_b) if direction == "a2b" else (self.gen_b, self.gen_a)

    def translate(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        src, dst = self.gens(direction)
        return dst.decode(src.encode(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.translate(x, "a2b")


register(
    ArchSpec(
        name="unit",
        config_cls=UNITConfig,
        build=UNIT,
        role="generator",
        pad_multiple=lambda c: 2**c.n_downsample,
        min_size=lambda c: 2 ** (c.n_downsample + 1),
        defaults={},
        description="UNIT: shared-latent VAE-GAN (gen_a, gen_b)",
    )
)
