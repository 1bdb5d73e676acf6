"""Building blocks shared by the networks (norm choice, weight init, reflection padding to a size)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from gantrans.errors import UsageError

NORMS = ("instance", "batch", "none")
UPSAMPLES = ("transpose", "resize")  # generators trained here may use resize-convolutions (no checkerboard)


def norm_factory(norm: str) -> Callable[[int], nn.Module]:
    """Norm layer constructor, as the official `get_norm_layer`.

    "none" still yields an Identity module so that Sequential indices (and thus state-dict keys)
    stay those of the official networks.
    """
    if norm == "batch":
        return lambda c: nn.BatchNorm2d(c, affine=True, track_running_stats=True)
    if norm == "instance":
        return lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)
    if norm == "none":
        return lambda c: nn.Identity()
    raise UsageError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")


def conv_bias(norm: str) -> bool:
    # Official quirk: convolutions carry a bias only with instance norm (not with batch or none).
    return norm == "instance"


def check_channels(name: str, value: int) -> None:
    if value not in (1, 3):
        raise UsageError(f"{name} must be 1 or 3, got {value}")


def check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise UsageError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class SRChannels:
    """The channel fields every super-resolution config shares (BasicSR's names), and the Translator's view."""

    num_in_ch: int = 3
    num_out_ch: int = 3

    def __post_init__(self) -> None:
        check_channels("num_in_ch", self.num_in_ch)
        check_channels("num_out_ch", self.num_out_ch)

    @property
    def input_nc(self) -> int:
        return self.num_in_ch

    @property
    def output_nc(self) -> int:
        return self.num_out_ch


class ImageChannels:
    """The Translator's channel view of configs with one image channel count `img_ch` (in and out)."""

    img_ch: int

    @property
    def input_nc(self) -> int:
        return self.img_ch

    @property
    def output_nc(self) -> int:
        return self.img_ch


INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")


@torch.no_grad()
def scaled_kaiming(modules: list[nn.Module], scale: float = 0.1) -> None:
    """BasicSR's `default_init_weights`: Kaiming-normal (fan_in) conv weights times `scale`, zero biases
    (the small residual branches keep deep SR networks stable at the start of training)."""
    for m in modules:
        nn.init.kaiming_normal_(m.weight)
        m.weight.mul_(scale)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


@torch.no_grad()
def stored_weight(m: nn.Module) -> torch.Tensor:
    """The tensor to initialise: a spectral-normalised layer's `weight` is computed from `original` on each
    access, so initialising `weight` would change a temporary and leave the layer as constructed."""
    if parametrize.is_parametrized(m, "weight"):
        return m.parametrizations.weight.original  # type: ignore[union-attr,return-value]
    return m.weight  # type: ignore[return-value]


def init_weights(net: nn.Module, init_type: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise conv/linear weights as the official `init_weights` (normal(0, 0.02) by default)."""
    if init_type not in INIT_TYPES:
        raise UsageError(f"unknown init {init_type!r}; choose one of {', '.join(INIT_TYPES)}")
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = stored_weight(m)
            with torch.no_grad():
                if init_type == "normal":
                    nn.init.normal_(w, 0.0, gain)
                elif init_type == "xavier":
                    nn.init.xavier_normal_(w, gain=gain)
                elif init_type == "kaiming":
                    nn.init.kaiming_normal_(w, a=0, mode="fan_in")
                else:
                    nn.init.orthogonal_(w, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net


def pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, C, h, w) -> (B, C, height, width), padding bottom/right by reflection.

    Reflection needs pad < size, so large pads are done in rounds; a 1-pixel side is replicated.
    """
    while x.shape[-2] < height or x.shape[-1] < width:
        h, w = x.shape[-2:]
        ph, pw = min(height - h, h - 1), min(width - w, w - 1)
        if (height > h and ph <= 0) or (width > w and pw <= 0):
            return F.pad(x, (0, width - w, 0, height - h), mode="replicate")
        x = F.pad(x, (0, max(pw, 0), 0, max(ph, 0)), mode="reflect")
    return x
