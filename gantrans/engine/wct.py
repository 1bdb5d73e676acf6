"""The whitening-colouring transform on feature maps, with optional semantic label maps.

As FastPhotoStyle's `__wct_core`: the content covariance gets `reg` * I added (1 in the official
code), eigenvalues below `cut` (1e-5) are dropped on both sides, and the style mean is added back.
The maths runs in float64 whatever the network precision (eigh of up to 512 x 512 matrices).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

CUT = 1e-5
REG = 1.0
MIN_PIXELS, MAX_RATIO = 10, 100  # a label is used when both regions have > 10 px and area ratio < 100


@dataclass
class Colouring:
    """What the style contributes at one level: its mean (C, 1) and covariance square root (C, C)."""

    mean: torch.Tensor
    root: torch.Tensor


def _centred_cov(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, N) -> mean (C, 1), unbiased covariance (C, C)."""
    mean = f.mean(dim=1, keepdim=True)
    x = f - mean
    return mean, x @ x.T / max(1, f.shape[1] - 1)


def _eig_power(cov: torch.Tensor, power: float, cut: float) -> torch.Tensor:
    """cov ** power on the eigenvalues >= cut (the others dropped, as the official truncation)."""
    e, v = torch.linalg.eigh(cov)
    keep = e >= cut
    v = v[:, keep]
    return (v * e[keep].pow(power)) @ v.T


def colouring(style: torch.Tensor, cut: float = CUT) -> Colouring:
    """Style features (C, N) -> the colouring statistics."""
    mean, cov = _centred_cov(style.double())
    return Colouring(mean, _eig_power(cov, 0.5, cut))


def whiten(content: torch.Tensor, reg: float = REG, cut: float = CUT) -> torch.Tensor:
    """Content features (C, N) -> centred, whitened features (float64)."""
    mean, cov = _centred_cov(content.double())
    if reg:
        cov = cov + reg * torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
    return _eig_power(cov, -0.5, cut) @ (content.double() - mean)


def wct(content: torch.Tensor, style: Colouring, reg: float = REG, cut: float = CUT) -> torch.Tensor:
    """Content features (C, N) re-coloured with the style's covariance and mean (float64)."""
    return style.root @ whiten(content, reg, cut) + style.mean


def label_map(img) -> np.ndarray:
    """A segmentation image -> (H, W) int64 labels: integer modes as they are, colours packed to one id."""
    if img.mode in ("L", "P", "I", "I;16", "1"):
        return np.asarray(img, dtype=np.int64)
    rgb = np.asarray(img.convert("RGB"), dtype=np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def usable_labels(content_seg: np.ndarray, style_seg: np.ndarray) -> list[int]:
    """Labels transferred region to region (the official validity rule, on the full-size maps)."""
    out = []
    c_ids, c_counts = np.unique(content_seg, return_counts=True)
    s_count = dict(zip(*np.unique(style_seg, return_counts=True)))
    for label, a in zip(c_ids.tolist(), c_counts.tolist()):
        b = int(s_count.get(label, 0))
        if a > MIN_PIXELS and b > MIN_PIXELS and a / b < MAX_RATIO and b / a < MAX_RATIO:
            out.append(label)
    return out


def resize_labels(seg: np.ndarray, h: int, w: int) -> torch.Tensor:
    """(H, W) labels -> (h * w,) nearest-neighbour labels at a feature map's size."""
    t = torch.from_numpy(seg)[None, None].double()
    return F.interpolate(t, size=(h, w), mode="nearest").long().view(-1)


class StyleLevel:
    """A style's statistics at one level: whole-image, or per usable label (computed once, reused
    for every content image)."""

    def __init__(self, feat: torch.Tensor, seg: np.ndarray | None, labels: Sequence[int] = (), cut: float = CUT) -> None:
        c, h, w = feat.shape  # (C, h, w)
        flat = feat.reshape(c, h * w)
        self.whole = colouring(flat, cut) if seg is None else None
        self.per_label: dict[int, Colouring] = {}
        if seg is not None:
            ids = resize_labels(seg, h, w).to(feat.device)
            for label in labels:
                sel = (ids == label).nonzero().view(-1)
                if sel.numel():
                    self.per_label[label] = colouring(flat[:, sel], cut)


def transfer(
    content: torch.Tensor, style: StyleLevel, alpha: float = 1.0, seg: np.ndarray | None = None,
    labels: Sequence[int] = (), reg: float = REG, cut: float = CUT,
) -> torch.Tensor:
    """One content feature map (C, h, w) -> stylised features of the same dtype.

    With label maps, the content pixels of each label in `labels` (see `usable_labels`) take that
    label's style statistics; other pixels keep their content features. `alpha` blends with the
    content features (WCT's knob).
    """
    c, h, w = content.shape
    flat = content.reshape(c, h * w).double()
    if style.whole is not None:
        out = wct(flat, style.whole, reg, cut)
    else:
        out = flat.clone()
        ids = resize_labels(seg, h, w).to(content.device) if seg is not None else None
        for label in labels if ids is not None else ():
            col = style.per_label.get(label)
            sel = (ids == label).nonzero().view(-1)
            if col is not None and sel.numel():
                out[:, sel] = wct(flat[:, sel], col, reg, cut)
    if alpha != 1.0:
        out = alpha * out + (1.0 - alpha) * flat
    return out.to(content.dtype).view(c, h, w)
