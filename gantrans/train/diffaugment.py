"""Differentiable augmentation of everything the discriminator sees (DiffAugment, Zhao et al. 2020).

With few training images the discriminator (and an auxiliary classifier on its trunk) memorises them.
DiffAugment transforms real *and* generated images with the same kinds of random transform (a fresh
draw per image and per D call) in both the D and the G step; the transforms are differentiable, so G
still gets gradients through them.
Policies (the paper's, minus colour, which would erase attributes such as skin tone):

- `translation`: shift each image by up to 1/8 of its size, vacated pixels 0 (mid-grey in [-1, 1]);
- `cutout`: zero one square, half the image's side, per image, its centre anywhere in the image.

Parameters come from the global CPU generator (saved with the run, so a resume continues exactly)
and are copied to the device: no host read.
"""

from __future__ import annotations

import torch

from gantrans.errors import UsageError

POLICIES = ("translation", "cutout")


def parse_policy(text: str) -> list[str]:
    """Policy names from text: "translation,cutout" -> ["translation", "cutout"]; "" -> []; unknown -> UsageError."""
    names = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in names if p not in POLICIES]
    if bad:
        raise UsageError(f"unknown diffaugment policy {', '.join(bad)}; choose from {', '.join(POLICIES)}")
    return names


def diff_augment(x: torch.Tensor, policy: list[str], ratio_t: float = 0.125, ratio_c: float = 0.5) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W), each image transformed by its own random draw of every policy."""
    for name in policy:
        x = translate(x, ratio_t) if name == "translation" else cutout(x, ratio_c)
    return x


def translate(x: torch.Tensor, ratio: float) -> torch.Tensor:
    """Shift image b by (dy_b, dx_b), each uniform in [-s, s] with s = ratio * size; 0 enters at the edges."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (b, 1)).to(x.device)
    dx = torch.randint(-sx, sx + 1, (b, 1)).to(x.device)
    padded = torch.nn.functional.pad(x, [sx, sx, sy, sy])  # (B, C, H + 2sy, W + 2sx)
    rows = torch.arange(h, device=x.device)[None] + sy - dy  # (B, H): source row of each output row
    cols = torch.arange(w, device=x.device)[None] + sx - dx  # (B, W)
    idx = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float) -> torch.Tensor:
    """Zero a (ratio*H, ratio*W) box per image; its centre is uniform over the image, so it may be clipped."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h, (b, 1, 1)).to(x.device)
    cx = torch.randint(0, w, (b, 1, 1)).to(x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]  # (1, H, 1)
    xs = torch.arange(w, device=x.device)[None, None, :]  # (1, 1, W)
    inside = (ys >= cy - ch // 2) & (ys < cy - ch // 2 + ch) & (xs >= cx - cw // 2) & (xs < cx - cw // 2 + cw)  # (B, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)
