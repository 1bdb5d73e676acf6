"""SN-PatchGAN (DeepFill v2's discriminator, official `build_sn_patch_gan_discriminator`): six 5x5 stride-2
convolutions with spectral normalisation (64, 128, 256, 256, 256, 256 features; TensorFlow SAME padding),
each followed by LeakyReLU 0.2 (the last one too), flattened: every element is a GAN score for one patch.
Input: the image and the mask (`gan_with_mask`), so num_in_ch = image channels + 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gantrans.models.gated_inpaint import same_pad
from gantrans.models.layers import check_positive
from gantrans.models.registry import ArchSpec, register


@dataclass(frozen=True)
class SNPatchGANConfig:
    num_in_ch: int = 4
    cnum: int = 64

    def __post_init__(self) -> None:
        check_positive("num_in_ch", self.num_in_ch)  # image channels + the mask
        check_positive("cnum", self.cnum)


class SNPatchGAN(nn.Module):
    def __init__(self, cfg: SNPatchGANConfig) -> None:
        super().__init__()
        self.config = cfg
        c = cfg.cnum
        widths = [c, 2 * c, 4 * c, 4 * c, 4 * c, 4 * c]
        prev = cfg.num_in_ch
        for i, w in enumerate(widths, 1):
            self.add_module(f"conv{i}", spectral_norm(nn.Conv2d(prev, w, 5, 2)))
            prev = w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C+1, H, W) image and mask -> (B, 4c * H/64 * W/64) patch scores
        for i in range(1, 7):
            x = F.leaky_relu(getattr(self, f"conv{i}")(same_pad(x, 5, 2)), 0.2)
        return x.flatten(1)


register(
    ArchSpec(
        name="snpatchgan", config_cls=SNPatchGANConfig, build=SNPatchGAN, role="discriminator",
        pad_multiple=lambda cfg: 1, defaults={},
        description="SN-PatchGAN (DeepFill v2): six spectral-normalised 5x5 stride-2 convs on image + mask",
    )
)  # fmt: skip
