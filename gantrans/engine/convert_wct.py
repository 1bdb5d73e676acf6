"""PhotoWCT weights: FastPhotoStyle's `photo_wct.pth`, and VGG-19 encoders from a torchvision file.

`photo_wct.pth` is a plain state dict with the module names `WCTNet` keeps (e1..e4, d1..d4), so the
conversion is a strict load plus the config inferred from the keys. A torchvision VGG-19 file
(`features.N.*`, inputs normalised with the ImageNet mean/std) gives the encoders: its
normalisation becomes each encoder's 1x1 `conv0`, so the network still takes RGB in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import torch

from gantrans.io.checkpoint import CheckpointError
from gantrans.io.weights import read_features
from gantrans.models.wct import WCTNet

# torchvision vgg19().features indices of the convolutions the encoders use
VGG19_INDEX = {"1_1": 0, "1_2": 2, "2_1": 5, "2_2": 7, "3_1": 10, "3_2": 12, "3_3": 14, "3_4": 16, "4_1": 19}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WCT_PREPROCESS = {"size": 0, "mean": [0.0] * 3, "std": [1.0] * 3}  # RGB in [0, 1]; any size


def read_vgg19(path: Path) -> dict[str, torch.Tensor]:
    """A torchvision VGG-19 state dict (.pth read with weights_only, or .safetensors) -> features.* tensors."""
    state = read_features(path)
    for name, i in VGG19_INDEX.items():
        w = state.get(f"{i}.weight")
        if w is None or w.ndim != 4 or w.shape[-1] != 3:
            raise CheckpointError(f"{path}: not a torchvision VGG-19 file (no 3x3 conv{name} at features.{i})")
    return state


def load_vgg19_encoders(net: WCTNet, path: Path) -> list[str]:
    """Put a torchvision VGG-19's convolutions (and its input normalisation) into every encoder."""
    state = read_vgg19(path)
    std = torch.tensor(IMAGENET_STD)
    mean = torch.tensor(IMAGENET_MEAN)
    for level in range(1, net.config.levels + 1):
        enc = net.encoder(level)
        with torch.no_grad():
            assert enc.conv0.bias is not None
            enc.conv0.weight.copy_(torch.diag(1.0 / std).view(3, 3, 1, 1))  # (x - mean) / std
            enc.conv0.bias.copy_(-mean / std)
            for kind, name in enc.ops:
                if kind != "conv":
                    continue
                conv = getattr(enc, f"conv{name}")
                w, b = state[f"{VGG19_INDEX[name]}.weight"], state[f"{VGG19_INDEX[name]}.bias"]
                if w.shape != conv.weight.shape:
                    raise CheckpointError(f"{path}: conv{name} is {tuple(w.shape)}, the encoder needs {tuple(conv.weight.shape)} (VGG width {net.config.base})")
                conv.weight.copy_(w)
                conv.bias.copy_(b)
    return [f"encoders from torchvision VGG-19 {path.name} (ImageNet normalisation folded into conv0)"]


def load_wct_encoders(net: WCTNet, source: WCTNet) -> None:
    """Copy another WCT/PhotoWCT model's encoders (same levels and width)."""
    for level in range(1, net.config.levels + 1):
        net.encoder(level).load_state_dict(source.encoder(level).state_dict(), strict=True)
