"""DeepFill v2's generator (Yu et al. 2019, "Free-Form Image Inpainting with Gated Convolution"), as the official
TensorFlow code (`inpaint_model.py`, `inpaint_ops.py`) builds it:

- every layer is a gated convolution: one convolution with `c` outputs split in halves, features through ELU
  (ReLU for pmconv6) times sigmoid(gate), so a layer named with `c` channels passes on c/2; the two output
  layers (3 channels) have no gate and end in tanh;
- upsampling is nearest x2 then a gated 3x3 convolution; TensorFlow's SAME padding (asymmetric for stride 2)
  is reproduced, so layer arithmetic matches the official graph;
- stage 1 (coarse): 5x5, two stride-2 downsamplings, dilations 2/4/8/16, two upsamplings, from the image
  with the hole zeroed + a ones channel + the mask (+ an optional sketch channel inside the hole);
- stage 2 (refinement) on the coarse result pasted into the hole: a dilated "hallucination" branch and a
  contextual-attention branch (matching 3x3 patches at 1/2 of the 1/4 feature resolution), concatenated,
  then the same decoder as stage 1.

cnum = 48 as the released models. Inputs and outputs in [-1, 1]; mask 1 = hole. Module names follow the
official variable scopes (conv1 ... conv17, xconv1 ..., pmconv1 ..., allconv11 ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.errors import UsageError
from gantrans.models.contextual_attention import contextual_attention
from gantrans.models.diffusion_fill import diffusion_fill, poisson_blend
from gantrans.models.layers import ImageChannels, check_positive
from gantrans.models.registry import ArchSpec, register


def same_pad(x: torch.Tensor, k: int, stride: int = 1, dilation: int = 1) -> torch.Tensor:
    """TensorFlow's SAME padding (zeros; the extra pixel, if any, after)."""
    eff = dilation * (k - 1) + 1
    pads = []
    for n in (x.shape[-1], x.shape[-2]):
        total = max((-(-n // stride) - 1) * stride + eff - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class GatedConv(nn.Module):
    """conv (c outputs) -> split -> act(features) * sigmoid(gate) (c/2 outputs); plain conv when gated=False.
    Padding: TensorFlow's SAME, or `symmetric` rate*(k-1)/2 on each side (PyTorch ports' choice)."""

    def __init__(self, cin: int, c: int, k: int, stride: int = 1, rate: int = 1, act: str = "elu", gated: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, c, k, stride, dilation=rate)
        self.k, self.stride, self.rate, self.act, self.gated = k, stride, rate, act, gated
        self.symmetric = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.symmetric:
            p = self.rate * (self.k - 1) // 2
            x = self.conv(F.pad(x, (p, p, p, p)))
        else:
            x = self.conv(same_pad(x, self.k, self.stride, self.rate))
        if not self.gated:
            return x
        f, g = x.chunk(2, dim=1)
        f = F.elu(f) if self.act == "elu" else F.relu(f)
        return f * torch.sigmoid(g)


class GatedUp(GatedConv):
    """The official gen_deconv: nearest x2, then a gated 3x3 conv."""

    def __init__(self, cin: int, c: int) -> None:
        super().__init__(cin, c, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.interpolate(x, scale_factor=2, mode="nearest"))


PREFILLS = ("zero", "diffusion")
BLENDS = ("none", "poisson")


@dataclass(frozen=True)
class GatedInpaintConfig(ImageChannels):
    cnum: int = 48
    img_ch: int = 3
    sketch: bool = False  # an extra input channel: the user's sketch (edges) inside the hole
    padding: str = "same"  # "same": TensorFlow's (the official model); "symmetric": the PyTorch port's networks.py
    # what the hole holds in the generator's input: "zero" (the official model) or "diffusion" (a harmonic fill
    # of the known pixels, see diffusion_fill.py); with "diffusion" each stage outputs its input image plus a
    # tanh residual, so the network learns corrections to a classical fill instead of the whole content
    prefill: str = "zero"
    # the refined output in the hole: "none" (the official model: as generated) or "poisson" (shifted by a
    # harmonic correction so that it meets the known pixels without a seam, see diffusion_fill.poisson_blend)
    blend: str = "none"

    def __post_init__(self) -> None:
        if self.blend not in BLENDS:
            raise UsageError(f"gated_inpaint blend must be one of {', '.join(BLENDS)}, got {self.blend!r}")
        if self.prefill not in PREFILLS:
            raise UsageError(f"gated_inpaint prefill must be one of {', '.join(PREFILLS)}, got {self.prefill!r}")
        if self.padding not in ("same", "symmetric"):
            raise UsageError(f"gated_inpaint padding must be same or symmetric, got {self.padding!r}")
        check_positive("cnum", self.cnum)
        if self.cnum % 4:
            raise UsageError(f"gated_inpaint cnum must be a multiple of 4, got {self.cnum}")
        if self.img_ch not in (1, 3):
            raise UsageError(f"gated_inpaint img_ch must be 1 or 3, got {self.img_ch}")


class GatedInpaintNet(nn.Module):
    def __init__(self, cfg: GatedInpaintConfig) -> None:
        super().__init__()
        self.config = cfg
        c, n = cfg.cnum, cfg.img_ch
        cin = n + (1 if cfg.sketch else 0) + 2  # incomplete image (+ sketch), ones, mask
        # stage 1 (a gated conv with k outputs passes on k/2)
        self.conv1, self.conv2_downsample = GatedConv(cin, c, 5), GatedConv(c // 2, 2 * c, 3, 2)
        self.conv3, self.conv4_downsample = GatedConv(c, 2 * c, 3), GatedConv(c, 4 * c, 3, 2)
        self.conv5, self.conv6 = GatedConv(2 * c, 4 * c, 3), GatedConv(2 * c, 4 * c, 3)
        for i, r in zip((7, 8, 9, 10), (2, 4, 8, 16)):
            self.add_module(f"conv{i}_atrous", GatedConv(2 * c, 4 * c, 3, rate=r))
        self.conv11, self.conv12 = GatedConv(2 * c, 4 * c, 3), GatedConv(2 * c, 4 * c, 3)
        self.conv13_upsample, self.conv14 = GatedUp(2 * c, 2 * c), GatedConv(c, 2 * c, 3)
        self.conv15_upsample, self.conv16 = GatedUp(c, c), GatedConv(c // 2, c // 2, 3)
        self.conv17 = GatedConv(c // 4, n, 3, gated=False)
        # stage 2: hallucination branch (narrower than stage 1 before the dilations, as the official code)
        self.xconv1, self.xconv2_downsample = GatedConv(n, c, 5), GatedConv(c // 2, c, 3, 2)
        self.xconv3, self.xconv4_downsample = GatedConv(c // 2, 2 * c, 3), GatedConv(c, 2 * c, 3, 2)
        self.xconv5, self.xconv6 = GatedConv(c, 4 * c, 3), GatedConv(2 * c, 4 * c, 3)
        for i, r in zip((7, 8, 9, 10), (2, 4, 8, 16)):
            self.add_module(f"xconv{i}_atrous", GatedConv(2 * c, 4 * c, 3, rate=r))
        # stage 2: contextual attention branch
        self.pmconv1, self.pmconv2_downsample = GatedConv(n, c, 5), GatedConv(c // 2, c, 3, 2)
        self.pmconv3, self.pmconv4_downsample = GatedConv(c // 2, 2 * c, 3), GatedConv(c, 4 * c, 3, 2)
        self.pmconv5, self.pmconv6 = GatedConv(2 * c, 4 * c, 3), GatedConv(2 * c, 4 * c, 3, act="relu")
        self.pmconv9, self.pmconv10 = GatedConv(2 * c, 4 * c, 3), GatedConv(2 * c, 4 * c, 3)
        # stage 2: decoder on both branches
        self.allconv11, self.allconv12 = GatedConv(4 * c, 4 * c, 3), GatedConv(2 * c, 4 * c, 3)
        self.allconv13_upsample, self.allconv14 = GatedUp(2 * c, 2 * c), GatedConv(c, 2 * c, 3)
        self.allconv15_upsample, self.allconv16 = GatedUp(c, c), GatedConv(c // 2, c // 2, 3)
        self.allconv17 = GatedConv(c // 4, n, 3, gated=False)
        for m in self.modules():
            if isinstance(m, GatedConv):
                m.symmetric = cfg.padding == "symmetric"

    def _seq(self, x: torch.Tensor, names: list[str]) -> torch.Tensor:
        for name in names:
            x = getattr(self, name)(x)
        return x

    def stages(self, image: torch.Tensor, mask: torch.Tensor, sketch: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """image (B, C, H, W) in [-1, 1], mask (B, 1, H, W) 1 = hole, H and W multiples of 8 ->
        (coarse, refined), each (B, C, H, W) over the whole frame: in [-1, 1], or a little beyond it with the
        diffusion prefill (input + residual; clamped when written)."""
        mask = mask.to(image.dtype)
        xin = image * (1 - mask)
        residual = self.config.prefill == "diffusion"
        if residual:
            xin = diffusion_fill(xin, mask)
        base = xin
        if self.config.sketch:
            xin = torch.cat([xin, (sketch if sketch is not None else torch.zeros_like(mask)) * mask], 1)
        ones = torch.ones_like(mask)
        x = torch.cat([xin, ones, ones * mask], 1)
        atrous = [f"conv{i}_atrous" for i in (7, 8, 9, 10)]
        x = self._seq(x, ["conv1", "conv2_downsample", "conv3", "conv4_downsample", "conv5", "conv6", *atrous, "conv11",
                          "conv12", "conv13_upsample", "conv14", "conv15_upsample", "conv16", "conv17"])  # fmt: skip
        coarse = base + torch.tanh(x) if residual else torch.tanh(x)  # (B, C, H, W)
        xnow = coarse * mask + base * (1 - mask)
        hallu = self._seq(xnow, ["xconv1", "xconv2_downsample", "xconv3", "xconv4_downsample", "xconv5", "xconv6",
                                 *(f"x{a}" for a in atrous)])  # fmt: skip  # (B, 2c, H/4, W/4)
        pm = self._seq(xnow, ["pmconv1", "pmconv2_downsample", "pmconv3", "pmconv4_downsample", "pmconv5", "pmconv6"])
        mask_s = F.interpolate(mask, size=pm.shape[-2:], mode="nearest")
        pm = contextual_attention(pm, mask_s, 3, rate=2)
        pm = self._seq(pm, ["pmconv9", "pmconv10"])
        x = self._seq(torch.cat([hallu, pm], 1), ["allconv11", "allconv12", "allconv13_upsample", "allconv14",
                                                  "allconv15_upsample", "allconv16", "allconv17"])  # fmt: skip
        refined = xnow + torch.tanh(x) if residual else torch.tanh(x)  # (B, C, H, W)
        if self.config.blend == "poisson":
            refined = poisson_blend(image, refined, mask)
        return coarse, refined

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # (B, C, H, W) [-1, 1] + (B, 1, H, W) -> refined (B, C, H, W); known pixels are composited by the caller
        if self.config.sketch and image.shape[1] == self.config.img_ch + 1:
            return self.stages(image[:, : self.config.img_ch], mask, image[:, self.config.img_ch :])[1]
        return self.stages(image, mask)[1]


register(
    ArchSpec(
        name="gated_inpaint", config_cls=GatedInpaintConfig, build=GatedInpaintNet, role="generator",
        pad_multiple=lambda cfg: 8, min_size=lambda cfg: 16, defaults={},
        description="DeepFill v2 generator: gated convolutions, coarse + refinement with contextual attention",
    )
)  # fmt: skip
