"""ResNet generator of CycleGAN (Johnson et al. style), layer for layer as the official code.

Layout (keys `model.N.*` as official): reflect-pad 3, conv7 + norm + ReLU, two stride-2 conv3
downsamples, n_blocks residual blocks at 4*ngf, two transposed-conv upsamples, reflect-pad 3,
conv7, tanh. Input height and width must be multiples of 4.

`upsample="resize"` (not in the official code; for models trained here, never set by conversion) replaces each
transposed convolution by nearest x2 + pad 1 + conv3 (Odena et al. 2016, "Deconvolution and Checkerboard
Artifacts"): a stride-2 transposed 3x3 convolution gives alternate output pixels different numbers of taps,
the resize-convolution gives every pixel the same. Keys after the first upsample shift by the added layers.
"""

from __future__ import annotations

import dataclasses
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

PADDINGS = ("reflect", "replicate", "zero")


@dataclass(frozen=True)
class ResnetConfig:
    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 64
    norm: str = "instance"
    dropout: bool = False
    n_blocks: int = 9
    padding_type: str = "reflect"
    upsample: str = "transpose"  # transpose (official) | resize (nearest x2 + conv3: no checkerboard)

    def __post_init__(self) -> None:
        check_channels("input_nc", self.input_nc)
        check_channels("output_nc", self.output_nc)
        check_positive("ngf", self.ngf)
        if not isinstance(self.n_blocks, int) or self.n_blocks < 0:
            raise UsageError(f"n_blocks must be >= 0, got {self.n_blocks!r}")
        if self.norm not in NORMS:
            raise UsageError(f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        if self.padding_type not in PADDINGS:
            raise UsageError(f"padding_type must be one of {', '.join(PADDINGS)}")
        if self.upsample not in UPSAMPLES:
            raise UsageError(f"upsample must be one of {', '.join(UPSAMPLES)}, got {self.upsample!r}")


def _pad(padding_type: str) -> tuple[list[nn.Module], int]:
    if padding_type == "reflect":
        return [nn.ReflectionPad2d(1)], 0
    if padding_type == "replicate":
        return [nn.ReplicationPad2d(1)], 0
    return [], 1


class ResnetBlock(nn.Module):
    """x + [pad, conv3, norm, ReLU, (dropout 0.5), pad, conv3, norm](x); keys `conv_block.N.*`."""

    def __init__(self, dim: int, padding_type: str, norm: str, dropout: bool) -> None:
        super().__init__()
        norm_layer, bias = norm_factory(norm), conv_bias(norm)
        pad, p = _pad(padding_type)
        layers: list[nn.Module] = [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), norm_layer(dim), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        pad, p = _pad(padding_type)
        layers += [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), norm_layer(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, cfg: ResnetConfig) -> None:
        super().__init__()
        self.config = cfg
        norm_layer, bias, ngf = norm_factory(cfg.norm), conv_bias(cfg.norm), cfg.ngf
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(cfg.input_nc, ngf, 7, padding=0, bias=bias),
            norm_layer(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):  # (B, ngf*2^i, H/2^i) -> (B, ngf*2^(i+1), H/2^(i+1))
            c = ngf * 2**i
            layers += [nn.Conv2d(c, c * 2, 3, stride=2, padding=1, bias=bias), norm_layer(c * 2), nn.ReLU(True)]
        for _ in range(cfg.n_blocks):
            layers.append(ResnetBlock(ngf * 4, cfg.padding_type, cfg.norm, cfg.dropout))
        for i in range(2):  # (B, ngf*4/2^i, h) -> (B, ngf*2/2^i, 2h)
            c = ngf * 2 ** (2 - i)
            if cfg.upsample == "resize":
                pad, p = _pad(cfg.padding_type)
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), *pad, nn.Conv2d(c, c // 2, 3, padding=p, bias=bias)]
            else:
                layers.append(nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias))
            layers += [norm_layer(c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, cfg.output_nc, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H, W)
        return self.model(x)

    def with_resize_upsampling(self, images: torch.Tensor, ridge: float = 1e-3) -> "ResnetGenerator":
        """A copy with `upsample="resize"`: every other weight carried over, and each resize-convolution fitted
        (least squares on `images`' activations, one layer after the other) to what the transposed
        convolution it replaces gives there. images: (N, input_nc, H, W) in [-1, 1].

        Not the same function (the transposed convs' uneven taps are what the resize removes, and the norms after
        them amplify the difference), but a fine-tune starts from the trained weights instead of from scratch."""
        if self.config.upsample != "transpose":
            raise UsageError(f"the generator already uses upsample={self.config.upsample}")
        out = ResnetGenerator(dataclasses.replace(self.config, upsample="resize")).to(images.device)
        pads = (nn.ReflectionPad2d, nn.ReplicationPad2d)
        dst = iter(out.model)
        with torch.no_grad():
            x_old = x_new = images.float()  # the activations of self and of out, layer by layer
            for a in self.model:
                b = next(dst)
                if isinstance(a, nn.ConvTranspose2d):
                    up = [b] + ([next(dst)] if self.config.padding_type != "zero" else [])  # nearest x2 (+ pad)
                    conv = next(dst)
                    for m in up:
                        x_new = m(x_new)
                    x_old = a(x_old)  # (N, out, 2H, 2W): what the fit aims at
                    _fit_conv(conv, x_new, x_old, ridge)
                    x_new = conv(x_new)
                    continue
                if not isinstance(a, pads):
                    b.load_state_dict(a.state_dict())
                x_old, x_new = a(x_old), b(x_new)
        return out


def _fit_conv(conv: nn.Conv2d, x: torch.Tensor, y: torch.Tensor, ridge: float) -> None:
    """Set conv's weight (and bias) to the ridge least-squares fit of conv(x) ~ y over all pixels of all images."""
    taps = x.shape[1] * conv.kernel_size[0] * conv.kernel_size[1]
    cols = torch.nn.functional.unfold(x, conv.kernel_size, padding=conv.padding).transpose(1, 2).reshape(-1, taps)  # (N*H*W, taps)
    if conv.bias is not None:
        cols = torch.cat([cols, torch.ones(len(cols), 1, dtype=cols.dtype)], 1)
    a = cols.double()
    rhs = y.permute(0, 2, 3, 1).reshape(-1, y.shape[1]).double()  # (N*H*W, out)
    gram = a.T @ a
    gram += ridge * gram.diagonal().mean() * torch.eye(len(gram), dtype=gram.dtype)
    sol = torch.linalg.solve(gram, a.T @ rhs).float()  # (taps (+1), out)
    conv.weight.copy_(sol[:taps].T.reshape(conv.weight.shape))
    if conv.bias is not None:
        conv.bias.copy_(sol[-1])

for _name, _blocks in (("resnet_9blocks", 9), ("resnet_6blocks", 6)):
    register(
        ArchSpec(
            name=_name,
            config_cls=ResnetConfig,
            build=ResnetGenerator,
            role="generator",
            pad_multiple=lambda cfg: 4,
            defaults={"n_blocks": _blocks},
            min_size=lambda cfg: 8,  # bottleneck (H/4) must be > 1 pixel for instance norm
            description=f"CycleGAN ResNet generator, {_blocks} residual blocks",
        )
    )
