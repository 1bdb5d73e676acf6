"""U-Net generator of pix2pix, layer for layer as the official `UnetGenerator`.

Recursive skip blocks (keys `model.model.1.model.3.*`, ...): conv4 stride 2 down, LeakyReLU(0.2),
transposed conv4 up, ReLU; the innermost `num_downs - 5` blocks at 8*ngf may use dropout 0.5.
Input height and width must be multiples of 2**num_downs (128 for unet_128, 256 for unet_256).

`upsample="resize"` (not in the official code; for models trained here, never set by conversion) replaces each
transposed conv4 by nearest x2 + conv3 (padding 1, of the kind `padding_type` says; Odena et al. 2016):
every output pixel gets the same taps, which removes the grid a transposed convolution can paint. The keys of
each level after its upsampling shift by the added layer. `padding_type="reflect"` or `"replicate"` (not official either)
pads the input of every convolution that way instead of with zeros (the transposed ones have no input padding); the keys
stay the official ones, so such a config loads the weights of a zero-padded model of the same shape.

`residual=True` (not official; input_nc == output_nc) makes the generator an edit of its input in tanh's
pre-activation space, out = tanh(atanh(0.999 x) + g * h), with h the outermost level's output before its Tanh and g a
scalar gate (key `gate`) that starts at 0 (ReZero, Bachlechner et al. 2020): a fresh model returns its input unchanged
in 8 bits, so training starts from the identity instead of from noise, and the output stays in (-1, 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gantrans.errors import UsageError
from gantrans.models.layers import (
    NORMS,
    UPSAMPLES,
    check_channels,
    check_positive,
    conv_bias,
    norm_factory,
)
from gantrans.models.registry import ArchSpec, register

PADDINGS = {"zero": "zeros", "reflect": "reflect", "replicate": "replicate"}  # padding_type -> nn.Conv2d padding_mode


@dataclass(frozen=True)
class UnetConfig:
    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 64
    norm: str = "batch"
    dropout: bool = False
    num_downs: int = 8
    upsample: str = "transpose"  # transpose (official) | resize (nearest x2 + conv3)
    padding_type: str = "zero"  # zero (official) | reflect | replicate: what the convolutions pad their inputs with
    residual: bool = False  # True: out = tanh(atanh(0.999 x) + gate * h), gate from 0 (not official)

    def __post_init__(self) -> None:
        check_channels("input_nc", self.input_nc)
        check_channels("output_nc", self.output_nc)
        check_positive("ngf", self.ngf)
        if not isinstance(self.num_downs, int) or self.num_downs < 5:
            raise UsageError(f"num_downs must be an integer >= 5, got {self.num_downs!r}")
        if self.norm not in NORMS:
            raise UsageError(f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        if self.upsample not in UPSAMPLES:
            raise UsageError(f"upsample must be one of {', '.join(UPSAMPLES)}, got {self.upsample!r}")
        if self.padding_type not in PADDINGS:
            raise UsageError(f"padding_type must be one of {', '.join(PADDINGS)}, got {self.padding_type!r}")
        if self.residual and self.input_nc != self.output_nc:
            raise UsageError(f"residual needs input_nc == output_nc, got {self.input_nc} and {self.output_nc}")


def _up(in_nc: int, out_nc: int, upsample: str, bias: bool = True, padding: str = "zero") -> list[nn.Module]:
    """x2 upsampling, (B, in, h, w) -> (B, out, 2h, 2w): the official transposed conv4 or a resize-convolution."""
    if upsample == "resize":
        conv = nn.Conv2d(in_nc, out_nc, 3, padding=1, bias=bias, padding_mode=PADDINGS[padding])
        return [nn.Upsample(scale_factor=2, mode="nearest"), conv]
    return [nn.ConvTranspose2d(in_nc, out_nc, 4, stride=2, padding=1, bias=bias)]


class UnetSkipBlock(nn.Module):
    """One level: down -> submodule -> up, with the level's input concatenated to its output."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        norm: str,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        dropout: bool = False,
        upsample: str = "transpose",
        padding: str = "zero",
        tanh: bool = True,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        norm_layer, bias = norm_factory(norm), conv_bias(norm)
        downconv = nn.Conv2d(input_nc or outer_nc, inner_nc, 4, stride=2, padding=1, bias=bias, padding_mode=PADDINGS[padding])
        downrelu = nn.LeakyReLU(0.2)
        uprelu = nn.ReLU(True)  # as the official block; its input (a fresh concat or conv output) is not reused
        if outermost:
            layers = [downconv, submodule, uprelu, *_up(inner_nc * 2, outer_nc, upsample, bias=True, padding=padding)]
            layers += [nn.Tanh()] if tanh else []  # a residual generator applies its tanh after adding the input
        elif innermost:
            layers = [downrelu, downconv, uprelu, *_up(inner_nc, outer_nc, upsample, bias, padding), norm_layer(outer_nc)]
        else:
            up = _up(inner_nc * 2, outer_nc, upsample, bias, padding)
            layers = [downrelu, downconv, norm_layer(inner_nc), submodule, uprelu, *up, norm_layer(outer_nc)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C + outer, H, W)
        if self.outermost:
            return self.model(x)
        # The official block applies its first LeakyReLU in place, so the skip connection carries
        # LeakyReLU(x), not x. Reproduced explicitly so converted weights give identical outputs.
        a = self.model[0](x)
        h = a
        for layer in self.model[1:]:
            h = layer(h)
        return torch.cat([a, h], 1)


class UnetGenerator(nn.Module):
    def __init__(self, cfg: UnetConfig) -> None:
        super().__init__()
        self.config = cfg
        ngf, norm, kw = cfg.ngf, cfg.norm, {"upsample": cfg.upsample, "padding": cfg.padding_type}
        block = UnetSkipBlock(ngf * 8, ngf * 8, norm, innermost=True, **kw)
        for _ in range(cfg.num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, norm, submodule=block, dropout=cfg.dropout, **kw)
        block = UnetSkipBlock(ngf * 4, ngf * 8, norm, submodule=block, **kw)
        block = UnetSkipBlock(ngf * 2, ngf * 4, norm, submodule=block, **kw)
        block = UnetSkipBlock(ngf, ngf * 2, norm, submodule=block, **kw)
        self.model = UnetSkipBlock(
            cfg.output_nc, ngf, norm, input_nc=cfg.input_nc, submodule=block, outermost=True, tanh=not cfg.residual, **kw
        )
        if cfg.residual:
            self.gate = nn.Parameter(torch.zeros(()))  # not a conv weight, so init_weights leaves it at 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H, W)
        if not self.config.residual:
            return self.model(x)
        h = self.model(x)  # (B, out, H, W), pre-activation
        # 0.999 keeps atanh finite at +-1; tanh(atanh(0.999)) * 127.5 + 127.5 = 254.87 still rounds to 255.
        return torch.tanh(torch.atanh(x.float() * 0.999) + self.gate * h.float()).to(h.dtype)


for _name, _downs in (("unet_256", 8), ("unet_128", 7)):
    register(
        ArchSpec(
            name=_name,
            config_cls=UnetConfig,
            build=UnetGenerator,
            role="generator",
            pad_multiple=lambda cfg: 2**cfg.num_downs,
            defaults={"num_downs": _downs},
            description=f"pix2pix U-Net generator, {_downs} downsamplings",
        )
    )
