"""DCGAN discriminator for the latent recipes, with the variants their papers need:

- the body: 4x4 stride-2 convolutions from ndf, doubling, to 4x4 (batch norm after the first; spectral norm and
  no batch norm with `sn`), LeakyReLU 0.2; `features(x)` returns every block's output (VAE-GAN's learned
  similarity uses the l-th);
- the realness head: a 4x4 convolution to one logit, or, for BiGAN (`joint_nz` > 0), the flattened image
  features joined with an embedding of z (two 512-unit layers) through a 1024-unit layer to one logit;
- InfoGAN's Q head (`codes`, e.g. "cat:10,cont:2") sharing the body: a 128-unit layer (BN, LeakyReLU) to the
  categorical logits and the continuous codes' means (a factored Gaussian with unit variance).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from gantrans.errors import UsageError
from gantrans.models.dcgan import SIZES
from gantrans.models.dcgan_enc import conv_stack
from gantrans.models.layers import check_channels, check_positive
from gantrans.models.registry import ArchSpec, register


def parse_codes(spec: str) -> list[tuple[str, int]]:
    """"cat:10,cont:2" -> [("cat", 10), ("cont", 1), ("cont", 1)]: one entry per code."""
    out: list[tuple[str, int]] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        kind, _, n = part.partition(":")
        if kind not in ("cat", "cont") or not n.isdigit() or int(n) < 1:
            raise UsageError(f"codes: {part!r} is not cat:N or cont:N")
        out += [("cat", int(n))] if kind == "cat" else [("cont", 1)] * int(n)
    return out


@dataclass(frozen=True)
class DCGANDConfig:
    ndf: int = 64
    img_ch: int = 3
    size: int = 64
    sn: bool = False
    joint_nz: int = field(default=0, metadata={"max": 4096})  # BiGAN: the discriminator sees (x, z); the code size
    codes: str = ""  # InfoGAN's Q head

    def __post_init__(self) -> None:
        check_positive("ndf", self.ndf)
        check_channels("img_ch", self.img_ch)
        if self.size not in SIZES:
            raise UsageError(f"dcgan_d size must be one of {', '.join(map(str, SIZES))}, got {self.size}")
        if self.joint_nz < 0:
            raise UsageError("joint_nz must be >= 0")
        parse_codes(self.codes)


class DCGANDiscriminator(nn.Module):
    def __init__(self, cfg: DCGANDConfig) -> None:
        super().__init__()
        self.config = cfg
        from torch.nn.utils.parametrizations import spectral_norm

        wrap = spectral_norm if cfg.sn else (lambda m: m)
        self.body, width = conv_stack(cfg.img_ch, cfg.ndf, cfg.size, cfg.sn)
        if cfg.joint_nz:
            self.z_embed = nn.Sequential(wrap(nn.Linear(cfg.joint_nz, 512)), nn.LeakyReLU(0.2, True), wrap(nn.Linear(512, 512)), nn.LeakyReLU(0.2, True))
            self.joint = nn.Sequential(wrap(nn.Linear(width * 16 + 512, 1024)), nn.LeakyReLU(0.2, True), wrap(nn.Linear(1024, 1)))
        else:
            self.head = wrap(nn.Conv2d(width, 1, 4, 1, 0))
        self.codes = parse_codes(cfg.codes)
        if self.codes:
            n_out = sum(n for _, n in self.codes)
            self.q = nn.Sequential(nn.Flatten(), nn.Linear(width * 16, 128), nn.BatchNorm1d(128), nn.LeakyReLU(0.2, True), nn.Linear(128, n_out))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every block's output (after its activation), shallow to deep."""
        out, h = [], x
        for m in self.body:
            h = m(h)
            if isinstance(m, nn.LeakyReLU):
                out.append(h)
        return out

    def score(self, h: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Body output (B, W, 4, 4) (+ z for BiGAN) -> (B,) logits."""
        if self.config.joint_nz:
            if z is None:
                raise UsageError("this discriminator judges (image, code) pairs: pass z")
            return self.joint(torch.cat([h.flatten(1), self.z_embed(z.flatten(1))], 1)).flatten()
        return self.head(h).flatten()

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, C, size, size) [-1, 1] (+ z (B, nz)) -> (B,) logits
        return self.score(self.body(x), z)


register(
    ArchSpec(
        name="dcgan_d", config_cls=DCGANDConfig, build=DCGANDiscriminator, role="discriminator",
        pad_multiple=lambda cfg: cfg.size, defaults={},
        description="DCGAN discriminator (optional SN, BiGAN joint (x, z) head, InfoGAN Q head)",
    )
)  # fmt: skip
