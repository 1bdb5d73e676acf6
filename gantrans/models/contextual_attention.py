"""Contextual attention (Yu et al. 2018, used by DeepFill v2's refinement branch), written from the paper and
the official TensorFlow code's semantics:

foreground f and background b are the same feature map; both are downscaled (nearest) by `rate` for
matching. Every 3x3 background patch that lies entirely outside the hole is a candidate; each foreground
position scores the candidates by cosine similarity (patches L2-normalised), the scores are "fused" by a
3x3 identity convolution along both image axes (neighbouring matches reinforce each other), masked to the
candidates, soft-maxed with scale 10, and the output is the transposed convolution of the attention with
the full-resolution 2*rate x 2*rate background patches, divided by 4. TF's SAME padding (zeros) is kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FUSE = torch.eye(3).view(1, 1, 3, 3)


def _fuse(s: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """s: (h*w fg, h*w bg) scores -> the same, summed over fg/bg index pairs shifted together, first in
    row-major order, then in column-major order (the official `fuse`)."""
    k = FUSE.to(s)
    s = F.conv2d(s[None, None], k, padding=1)[0, 0]  # along rows (row-major flattening)
    s = s.view(h, w, h, w).permute(1, 0, 3, 2).reshape(h * w, h * w)  # to column-major order
    s = F.conv2d(s[None, None], k, padding=1)[0, 0]
    return s.view(w, h, w, h).permute(1, 0, 3, 2).reshape(h * w, h * w)


def contextual_attention(x: torch.Tensor, mask: torch.Tensor, ksize: int = 3, rate: int = 2, softmax_scale: float = 10.0,
                         fuse: bool = True) -> torch.Tensor:  # fmt: skip
    """x: (B, C, H, W) features (H, W multiples of `rate`); mask: (B or 1, 1, H, W), 1 = hole -> (B, C, H, W)."""
    B, C, H, W = x.shape
    k_raw = 2 * rate
    # full-resolution background patches for pasting: (B, L, C, 2r, 2r), L = (H/r)(W/r)
    raw = F.unfold(x, k_raw, padding=rate // 2, stride=rate)  # TF SAME: r/2 each side (r even)
    raw = raw.view(B, C, k_raw, k_raw, -1).permute(0, 4, 1, 2, 3)
    f = F.interpolate(x, scale_factor=1 / rate, mode="nearest") if rate > 1 else x
    m = F.interpolate(mask.float(), scale_factor=1 / rate, mode="nearest") if rate > 1 else mask.float()
    h, w = f.shape[-2:]
    pad = ksize // 2
    patches = F.unfold(f, ksize, padding=pad).view(B, C, ksize, ksize, h * w).permute(0, 4, 1, 2, 3)  # (B, L, C, k, k)
    mpatch = F.unfold(m, ksize, padding=pad).view(m.shape[0], ksize * ksize, h * w)
    valid = (mpatch.mean(1) == 0).to(x.dtype)  # (B or 1, L): candidate patches wholly outside the hole
    out = []
    for i in range(B):
        wi = patches[i]
        wi = wi / wi.flatten(1).norm(dim=1).clamp_min(1e-4).view(-1, 1, 1, 1)
        s = F.conv2d(f[i : i + 1], wi, padding=pad)[0]  # (L bg, h, w fg)
        s = s.flatten(1).t()  # (h*w fg, L bg)
        if fuse:
            s = _fuse(s, h, w)
        mm = valid[i if valid.shape[0] > 1 else 0]
        s = torch.softmax(s * mm * softmax_scale, dim=1) * mm  # (fg, bg)
        att = s.t().reshape(1, h * w, h, w)  # (1, L bg, h, w) as conv_transpose channels
        y = F.conv_transpose2d(att, raw[i], stride=rate, padding=rate // 2) / 4.0
        out.append(y[..., :H, :W])
    return torch.cat(out)
