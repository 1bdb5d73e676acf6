"""Building blocks of the official MUNIT/UNIT networks (NVlabs `networks.py`), same module names.

Module names and order are the official ones, so official state dicts load key for key:
`Conv2dBlock` holds `pad`, `norm`, `activation`, `conv` (pad -> conv -> norm -> activation, conv
bias always on); `ResBlocks.model.k.model.{0,1}`; the decoder is `model.0` = ResBlocks, then
(Upsample, Conv5x5 + LayerNorm) twice, then Conv7x7 + tanh.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.errors import UsageError
from gantrans.models.cpuconv import instance_norm

PAD_TYPES = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d, "zero": nn.ZeroPad2d}
ACTIVATIONS = ("relu", "lrelu", "prelu", "selu", "tanh", "none")
NORMS = ("none", "bn", "in", "ln", "adain")


def activation(name: str) -> nn.Module | None:
    table = {
        "relu": lambda: nn.ReLU(inplace=True), "lrelu": lambda: nn.LeakyReLU(0.2, inplace=True),
        "prelu": nn.PReLU, "selu": lambda: nn.SELU(inplace=True), "tanh": nn.Tanh, "none": lambda: None,
    }  # fmt: skip
    if name not in table:
        raise UsageError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return table[name]()


class LayerNorm(nn.Module):
    """The official MUNIT LayerNorm: per sample over (C, H, W), divided by (unbiased std + eps).

    Not nn.GroupNorm(1): that divides by sqrt(biased var + eps). gamma starts uniform in [0, 1).
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.gamma = nn.Parameter(torch.empty(num_features).uniform_())
        self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()  # statistics in fp32 even under autocast; any memory layout (no reshape copy)
        std, mean = torch.std_mean(xf, dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1), unbiased std
        y = (xf - mean) / (std + self.eps)
        return (y * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)).to(x.dtype)


class AdaptiveInstanceNorm2d(nn.Module):
    """Instance norm whose per-sample scale and shift are set before each decode (from the MLP).

    The official layer runs F.batch_norm in training mode on a (1, B*C, H, W) view, i.e. instance
    statistics with biased variance; its running buffers are copies that never change, kept only so
    that state dicts match.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.weight: torch.Tensor | None = None  # (B, C) std, assigned by assign_adain_params
        self.bias: torch.Tensor | None = None  # (B, C) mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight is None or self.bias is None:
            raise RuntimeError("AdaIN parameters are not assigned; decode through the generator's decode()")
        b, c = x.shape[:2]
        xf = x.float()  # statistics in fp32 even under autocast
        y = instance_norm(xf, None, None, self.eps)  # channels-last CPU inference path, else PyTorch's
        y = F.instance_norm(xf, eps=self.eps) if y is None else y  # (B, C, H, W)
        y = y * self.weight.reshape(b, c, 1, 1).float() + self.bias.reshape(b, c, 1, 1).float()
        return y.to(x.dtype)


def assign_adain_params(params: torch.Tensor, model: nn.Module) -> None:
    """(B, N) MLP output -> AdaIN layers in module order: per layer [bias (mean) C | weight (std) C]."""
    for m in model.modules():
        if isinstance(m, AdaptiveInstanceNorm2d):
            c = m.num_features
            m.bias = params[:, :c]
            m.weight = params[:, c : 2 * c]
            params = params[:, 2 * c :]


def num_adain_params(model: nn.Module) -> int:
    return sum(2 * m.num_features for m in model.modules() if isinstance(m, AdaptiveInstanceNorm2d))


class StyleHead(nn.Conv2d):
    """The style encoder's 1x1 output convolution on pooled (B, C, 1, 1) features. Its own class so that the
    engine's CPU fast paths (cpuconv.accelerate, for stock nn.Conv2d only) leave it on PyTorch's call: a
    matrix-vector product gains nothing there, and the style codes stay bit-identical to PyTorch's."""


class Conv2dBlock(nn.Module):
    def __init__(
        self, in_dim: int, out_dim: int, kernel: int, stride: int, padding: int = 0,
        norm: str = "none", activ: str = "relu", pad_type: str = "zero",
    ) -> None:  # fmt: skip
        super().__init__()
        if pad_type not in PAD_TYPES:
            raise UsageError(f"unknown pad_type {pad_type!r}; choose one of {', '.join(PAD_TYPES)}")
        self.pad = PAD_TYPES[pad_type](padding)
        norms = {
            "bn": lambda: nn.BatchNorm2d(out_dim), "in": lambda: nn.InstanceNorm2d(out_dim),
            "ln": lambda: LayerNorm(out_dim), "adain": lambda: AdaptiveInstanceNorm2d(out_dim), "none": lambda: None,
        }  # fmt: skip
        if norm not in norms:
            raise UsageError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
        self.norm = norms[norm]()
        self.activation = activation(activ)
        self.conv = nn.Conv2d(in_dim, out_dim, kernel, stride, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


class LinearBlock(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, activ: str = "relu") -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, out_dim, bias=True)
        self.activation = activation(activ)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        return self.activation(x) if self.activation is not None else x


class ResBlock(nn.Module):
    def __init__(self, dim: int, norm: str, activ: str, pad_type: str) -> None:
        super().__init__()
        self.model = nn.Sequential(
            Conv2dBlock(dim, dim, 3, 1, 1, norm=norm, activ=activ, pad_type=pad_type),
            Conv2dBlock(dim, dim, 3, 1, 1, norm=norm, activ="none", pad_type=pad_type),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.model(x)


class ResBlocks(nn.Module):
    def __init__(self, n: int, dim: int, norm: str, activ: str, pad_type: str) -> None:
        super().__init__()
        self.model = nn.Sequential(*[ResBlock(dim, norm, activ, pad_type) for _ in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ContentEncoder(nn.Module):
    """(B, C, H, W) -> (B, dim * 2**n_down, H / 2**n_down, W / 2**n_down)."""

    def __init__(self, n_down: int, n_res: int, in_dim: int, dim: int, norm: str, activ: str, pad_type: str) -> None:
        super().__init__()
        layers: list[nn.Module] = [Conv2dBlock(in_dim, dim, 7, 1, 3, norm=norm, activ=activ, pad_type=pad_type)]
        for _ in range(n_down):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, norm=norm, activ=activ, pad_type=pad_type))
            dim *= 2
        layers.append(ResBlocks(n_res, dim, norm, activ, pad_type))
        self.model = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class StyleEncoder(nn.Module):
    """(B, C, H, W) -> (B, style_dim, 1, 1): 2 doubling + (n_down - 2) plain stride-2 convs, global pool."""

    def __init__(self, n_down: int, in_dim: int, dim: int, style_dim: int, norm: str, activ: str, pad_type: str) -> None:
        super().__init__()
        layers: list[nn.Module] = [Conv2dBlock(in_dim, dim, 7, 1, 3, norm=norm, activ=activ, pad_type=pad_type)]
        for _ in range(2):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, norm=norm, activ=activ, pad_type=pad_type))
            dim *= 2
        for _ in range(n_down - 2):
            layers.append(Conv2dBlock(dim, dim, 4, 2, 1, norm=norm, activ=activ, pad_type=pad_type))
        layers += [nn.AdaptiveAvgPool2d(1), StyleHead(dim, style_dim, 1, 1, 0)]
        self.model = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Decoder(nn.Module):
    """(B, dim, h, w) -> (B, out_dim, h * 2**n_up, w * 2**n_up) in [-1, 1]."""

    def __init__(self, n_up: int, n_res: int, dim: int, out_dim: int, res_norm: str, activ: str, pad_type: str) -> None:
        super().__init__()
        layers: list[nn.Module] = [ResBlocks(n_res, dim, res_norm, activ, pad_type)]
        for _ in range(n_up):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                Conv2dBlock(dim, dim // 2, 5, 1, 2, norm="ln", activ=activ, pad_type=pad_type),
            ]
            dim //= 2
        layers.append(Conv2dBlock(dim, out_dim, 7, 1, 3, norm="none", activ="tanh", pad_type=pad_type))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MLP(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, dim: int, n_blk: int, activ: str) -> None:
        super().__init__()
        layers = [LinearBlock(in_dim, dim, activ)]
        layers += [LinearBlock(dim, dim, activ) for _ in range(n_blk - 2)]
        layers.append(LinearBlock(dim, out_dim, "none"))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.reshape(x.shape[0], -1))


@torch.no_grad()
def munit_init(net: nn.Module, kind: str) -> nn.Module:
    """The official `weights_init`: conv/linear weights kaiming (fan_in) or gaussian N(0, 0.02), biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if kind == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            elif kind in ("gaussian", "normal"):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif kind == "xavier":
                nn.init.xavier_normal_(m.weight, gain=2**0.5)
            elif kind == "orthogonal":
                nn.init.orthogonal_(m.weight, gain=2**0.5)
            elif kind != "default":
                raise UsageError(f"unknown init {kind!r}")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net
