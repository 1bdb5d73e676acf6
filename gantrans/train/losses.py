"""GAN objectives and helpers: lsgan | vanilla | wgangp | hinge, gradient penalty, image pool."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.errors import UsageError


def gan_loss(pred: torch.Tensor, target_real: bool, mode: str, for_discriminator: bool = True) -> torch.Tensor:
    """Loss of discriminator output `pred` against real/fake, as the official GANLoss (+ hinge)."""
    pred = pred.float()
    if mode == "lsgan":
        return F.mse_loss(pred, torch.full_like(pred, 1.0 if target_real else 0.0))
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(pred, torch.full_like(pred, 1.0 if target_real else 0.0))
    if mode == "wgangp":
        return -pred.mean() if target_real else pred.mean()
    if mode == "hinge":
        if not for_discriminator:  # generator side: raise the critic's score of fakes
            return -pred.mean()
        return F.relu(1.0 - pred).mean() if target_real else F.relu(1.0 + pred).mean()
    raise UsageError(f"unknown gan_mode {mode!r}")


def gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP: mean((||grad D(x_hat)||_2 - 1)^2) on random interpolates (official 'mixed' type)."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, generator=gen).to(real.device)
    x = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = D(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


class ImagePool:
    """History of generated images (Shrivastava et al.): with p=0.5 return a stored image instead.

    Its randomness comes from its own generator, and `state_dict` holds images and generator state,
    so a resumed run continues with exactly the same pool. Images stay on their device: a copy to the host
    for each one would wait for the device on every step.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.gen = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for img in images.detach():
            img = img[None]
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif float(torch.rand((), generator=self.gen)) > 0.5:
                j = int(torch.randint(0, self.size, (1,), generator=self.gen))
                old = self.images[j].to(img.device)
                self.images[j] = img.clone()
                out.append(old)
            else:
                out.append(img)
        return torch.cat(out)

    def state_dict(self) -> dict[str, Any]:
        return {"images": [t.cpu() for t in self.images], "gen": self.gen.get_state()}  # a state file loads anywhere

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.images = [t.clone() for t in state["images"]]
        self.gen.set_state(state["gen"].cpu())  # CPU bytes only, also where the state file was loaded onto a GPU
