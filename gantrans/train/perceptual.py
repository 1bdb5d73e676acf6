"""VGG-19 feature losses for super-resolution (SRGAN's content loss, ESRGAN's and Real-ESRGAN's perceptual loss).

Features come from a torchvision VGG-19 weights file the user supplies (read with weights_only=True, or
safetensors; the same reader as the WCT encoders). Layer names are BasicSR's: `convB_I` is the feature map
before its ReLU (ESRGAN: "features before activation"), `reluB_I` after it (SRGAN's phi_{5,4}). Inputs are
RGB in [0, 1], normalised with the ImageNet mean/std as VGG was trained.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.errors import UsageError

_BLOCKS = (2, 2, 4, 4, 4)  # convolutions per VGG-19 block


def vgg19_index() -> dict[str, int]:
    """BasicSR layer name -> index in torchvision's vgg19().features."""
    out, i = {}, 0
    for b, n in enumerate(_BLOCKS, 1):
        for c in range(1, n + 1):
            out[f"conv{b}_{c}"], out[f"relu{b}_{c}"] = i, i + 1
            i += 2
        out[f"pool{b}"] = i
        i += 1
    return out


def parse_layers(spec: list[str]) -> dict[str, float]:
    """["conv5_4=1", "conv1_2=0.1"] -> {name: weight}; names checked against VGG-19."""
    index, out = vgg19_index(), {}
    for item in spec:
        name, _, w = str(item).partition("=")
        name = name.strip()
        if name not in index:
            raise UsageError(f"perceptual layer {name!r}: not a VGG-19 layer (conv1_1 .. conv5_4, relu1_1 .. relu5_4)")
        try:
            out[name] = float(w) if w else 1.0
        except ValueError:
            raise UsageError(f"perceptual layer {item!r}: the weight after '=' must be a number") from None
    if not out:
        raise UsageError("perceptual_layers is empty")
    return out


class VGGFeatureLoss(nn.Module):
    """sum_l w_l * criterion(scale * phi_l(x), scale * phi_l(y)) over the chosen VGG-19 layers (frozen)."""

    def __init__(self, path: str | Path, layers: dict[str, float], criterion: str = "l1", scale: float = 1.0) -> None:
        super().__init__()
        from torchvision.models import vgg19

        from gantrans.engine.convert_wct import IMAGENET_MEAN, IMAGENET_STD, read_vgg19

        index = vgg19_index()
        self.layers = {index[k]: w for k, w in layers.items()}
        last = max(self.layers)
        self.features = vgg19(weights=None).features[: last + 1]
        state = {k: v for k, v in read_vgg19(Path(path)).items() if int(k.split(".")[0]) <= last}
        self.features.load_state_dict(state, strict=True)
        for m in self.features:
            if isinstance(m, nn.ReLU):
                m.inplace = False  # keep the pre-activation maps intact
        self.requires_grad_(False).eval()
        if criterion not in ("l1", "mse"):
            raise UsageError(f"perceptual criterion must be l1 or mse, got {criterion!r}")
        self.criterion, self.scale = criterion, scale
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def feats(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        x = x.float()
        x = x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x
        x = (x - self.mean) / self.std
        out = {}
        for i, m in enumerate(self.features):
            x = m(x)
            if i in self.layers:
                out[i] = x * self.scale
        return out

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fx = self.feats(x)
        with torch.no_grad():
            fy = self.feats(target)
        crit = F.l1_loss if self.criterion == "l1" else F.mse_loss
        return sum((w * crit(fx[i], fy[i]) for i, w in self.layers.items()), torch.zeros((), device=x.device))
