"""Image completion (DeepFill v2): one generator `G` that fills the hole of an image given its mask, the
condition of the uniform forward (B, 1, H, W; 1 = hole). `gantrans inpaint` runs it and composites the
known pixels back exactly; `gantrans train PHOTOS --arch inpaint` trains it with free-form masks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from gantrans.families.base import Family
from gantrans.registry import register_family

if TYPE_CHECKING:
    import torch
    from torch import nn


class InpaintFamily(Family):
    name = "inpaint"
    title = "image completion (DeepFill v2)"
    archs = ("gated_inpaint",)
    aux_archs = ("snpatchgan",)
    model_modules = ("gantrans.models.gated_inpaint", "gantrans.models.snpatchgan")
    role = "inpainter"
    cond = "mask"
    commands = frozenset({"inpaint"})
    recipes = {"inpaint": "gantrans.train.inpaint:InpaintRecipe"}

    def networks(self, directions: Sequence[str]) -> list[str]:
        return ["G"]

    def directions(self, networks: Sequence[str]) -> list[str]:
        return ["a2b"] if "G" in networks else []

    def network(self, direction: str) -> str:
        return "G"

    def missing_direction(self, direction: str, have: Sequence[str]) -> str:
        return "an inpainting model has one direction: image with a hole to the completed image (a2b)"

    def channels(self, config: Any, direction: str) -> tuple[int, int]:
        return config.img_ch, config.img_ch

    def forward(self, gen: "nn.Module", x: "torch.Tensor", direction: str, cond: "torch.Tensor | None") -> "torch.Tensor":
        """x: normalised image, padded; cond: the unpadded mask -> padded with zeros (the padding is known)."""
        import torch.nn.functional as F

        assert cond is not None
        h, w = cond.shape[-2:]
        mask = F.pad(cond, (0, x.shape[-1] - w, 0, x.shape[-2] - h))
        return gen(x, mask)

    def cond_hint(self) -> str:
        return "a mask (B, 1, H, W), 1 = hole"

    def example_cond(self, t: Any, n: int, seed: int) -> "torch.Tensor | None":
        import torch

        m = torch.zeros(n, 1, 64, 64)
        m[..., 16:40, 20:44] = 1
        return m

    def init(self, net: "nn.Module", init: str) -> "nn.Module":
        if init == "official":  # PyTorch's defaults (the official code uses TensorFlow's Glorot-uniform)
            return net
        return super().init(net, init)

    init_default = "official"


register_family(InpaintFamily())
