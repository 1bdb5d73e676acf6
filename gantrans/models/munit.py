"""MUNIT (Huang et al. 2018): per-domain AdaIN generators with content and style codes.

The registered network holds both domains' generators, `gen_a` and `gen_b` (official `AdaINGen`),
because translating needs both: a2b = gen_b.decode(gen_a.encode_content(x), style_b).
Parameter count per generator at the defaults: 15,026,187 (82 state-dict keys), as the official one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gantrans.models.layers import check_channels, check_positive
from gantrans.models.munit_blocks import (
    MLP,
    ContentEncoder,
    Decoder,
    StyleEncoder,
    assign_adain_params,
    num_adain_params,
)
from gantrans.models.registry import ArchSpec, register


@dataclass(frozen=True)
class MUNITConfig:
    input_nc: int = 3  # domain A channels
    output_nc: int = 3  # domain B channels
    dim: int = 64
    style_dim: int = 8
    n_downsample: int = 2
    n_res: int = 4
    mlp_dim: int = 256
    activ: str = "relu"
    pad_type: str = "reflect"

    def __post_init__(self) -> None:
        check_channels("input_nc", self.input_nc)
        check_channels("output_nc", self.output_nc)
        for name in ("dim", "style_dim", "n_downsample", "n_res", "mlp_dim"):
            check_positive(name, getattr(self, name))


class AdaINGen(nn.Module):
    """One domain's MUNIT generator: style encoder (no norm), content encoder (IN), AdaIN decoder, MLP."""

    def __init__(self, in_dim: int, cfg: MUNITConfig) -> None:
        super().__init__()
        self.enc_style = StyleEncoder(4, in_dim, cfg.dim, cfg.style_dim, "none", cfg.activ, cfg.pad_type)
        self.enc_content = ContentEncoder(cfg.n_downsample, cfg.n_res, in_dim, cfg.dim, "in", cfg.activ, cfg.pad_type)
        self.dec = Decoder(cfg.n_downsample, cfg.n_res, self.enc_content.output_dim, in_dim, "adain", cfg.activ, cfg.pad_type)
        self.mlp = MLP(cfg.style_dim, num_adain_params(self.dec), cfg.mlp_dim, 3, cfg.activ)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) -> content (B, 256, H/4, W/4), style (B, style_dim, 1, 1)."""
        return self.enc_content(x), self.enc_style(x)

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        assign_adain_params(self.mlp(style), self.dec)
        return self.dec(content)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # within-domain reconstruction
        c, s = self.encode(x)
        return self.decode(c, s)

    @torch.no_grad()
    def recode_styles(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
        """Re-express style codes as s' = scale^-1 (s - mean), leaving every encode -> decode result unchanged.

        The style head (a 1x1 conv) and the MLP's first linear layer are affine in the code, so they absorb the
        map exactly: head' = scale^-1 (head - mean), fc'(s') = fc(mean + scale s'). `scale` is (d, d) lower
        triangular (a Cholesky factor), `mean` (d,). Used to make N(0, I) codes follow the encoded styles.
        """
        head, fc = self.enc_style.model[-1], self.mlp.model[0].fc
        d = fc.in_features
        dev = fc.weight.device
        mean64, scale64 = mean.to(dev, torch.float64).reshape(d), scale.to(dev, torch.float64).reshape(d, d)
        inv = torch.linalg.inv(scale64)  # (d, d)
        w_head = head.weight.double().reshape(d, -1)  # (d, C)
        head.weight.copy_((inv @ w_head).reshape(head.weight.shape))
        head.bias.copy_(inv @ (head.bias.double() - mean64))
        w_fc = fc.weight.double()  # (mlp_dim, d)
        fc.bias.copy_(fc.bias.double() + w_fc @ mean64)
        fc.weight.copy_(w_fc @ scale64)


class MUNIT(nn.Module):
    """Both domains: `translate(x, style, "a2b")` decodes x's content with a style code of the other domain."""

    def __init__(self, cfg: MUNITConfig) -> None:
        super().__init__()
        self.config = cfg
        self.gen_a = AdaINGen(cfg.input_nc, cfg)
        self.gen_b = AdaINGen(cfg.output_nc, cfg)

    def gens(self, direction: str) -> tuple[AdaINGen, AdaINGen]:
        """(source, target) generators for a2b or b2a."""
        return (self.gen_a, self.gen_b) if direction == "a2b" else (self.gen_b, self.gen_a)

    def encode_style(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """A reference image of `domain` ("a"/"b") -> its style code (B, style_dim, 1, 1)."""
        return (self.gen_a if domain == "a" else self.gen_b).enc_style(x)

    def recode_styles(self, domain: str, mean: torch.Tensor, scale: torch.Tensor) -> None:
        """`AdaINGen.recode_styles` for the generator of `domain` ("a"/"b")."""
        (self.gen_a if domain == "a" else self.gen_b).recode_styles(mean, scale)

    def translate(self, x: torch.Tensor, style: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        src, dst = self.gens(direction)
        return dst.decode(src.enc_content(x), style)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.translate(x, style, "a2b")


register(
    ArchSpec(
        name="munit",
        config_cls=MUNITConfig,
        build=MUNIT,
        role="generator",
        pad_multiple=lambda c: 2**c.n_downsample,
        min_size=lambda c: 2 ** (c.n_downsample + 1),
        defaults={},
        description="MUNIT: content + style codes, multimodal (gen_a, gen_b)",
    )
)
