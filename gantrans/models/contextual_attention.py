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
    """s: (B, h*w fg, h*w bg) scores -> the same, summed over fg/bg index pairs shifted together, first in
    row-major order, then in column-major order (the official `fuse`)."""
    B = s.shape[0]
    k = FUSE.to(s)
    s = F.conv2d(s[:, None], k, padding=1)  # (B, 1, fg, bg): along the diagonal, row-major flattening
    s = s.view(B, h, w, h, w).permute(0, 2, 1, 4, 3).reshape(B, 1, h * w, h * w)  # to column-major order
    s = F.conv2d(s, k, padding=1)
    return s.view(B, w, h, w, h).permute(0, 2, 1, 4, 3).reshape(B, h * w, h * w)


def contextual_attention(x: torch.Tensor, mask: torch.Tensor, ksize: int = 3, rate: int = 2, softmax_scale: float = 10.0,
                         fuse: bool = True) -> torch.Tensor:  # fmt: skip
    """x: (B, C, H, W) features (H, W multiples of `rate`); mask: (B or 1, 1, H, W), 1 = hole -> (B, C, H, W).

    Written with unfold / batched matmul / fold (not convolutions with data-dependent kernels), so the whole
    batch runs at once and the graph exports to ONNX."""
    B, C, H, W = x.shape
    f = F.interpolate(x, scale_factor=1 / rate, mode="nearest") if rate > 1 else x
    m = F.interpolate(mask.to(x.dtype), scale_factor=1 / rate, mode="nearest") if rate > 1 else mask.to(x.dtype)
    h, w = f.shape[-2], f.shape[-1]
    pad = ksize // 2
    patches = F.unfold(f, ksize, padding=pad)  # (B, C*k*k, L): the 3x3 patch around every position (zero-padded)
    normed = patches / patches.norm(dim=1, keepdim=True).clamp_min(1e-4)
    s = torch.bmm(patches.transpose(1, 2), normed)  # (B, L fg, L bg): cosine-like scores
    if fuse:
        s = _fuse(s, h, w)
    valid = (F.unfold(m, ksize, padding=pad).mean(1) == 0).to(x.dtype)[:, None]  # (B or 1, 1, L bg): wholly known
    att = torch.softmax(s * valid * softmax_scale, dim=2) * valid  # (B, fg, bg)
    # paste the full-resolution 2r x 2r background patches (TF SAME: r/2 padding), i.e. a transposed convolution
    raw = F.unfold(x, 2 * rate, padding=rate // 2, stride=rate)  # (B, C*2r*2r, L bg)
    cols = torch.bmm(raw, att.transpose(1, 2))  # (B, C*2r*2r, L fg)
    if rate != 2:
        return F.fold(cols, (H, W), 2 * rate, padding=rate // 2, stride=rate) / 4.0
    return _paste2(cols.view(B, C, 4, 4, h, w)) / 4.0


def _shift(t: torch.Tensor, step: int, axis: int) -> torch.Tensor:
    """t moved by `step` (+1 or -1) positions along `axis` (-2 rows, -1 columns), zeros coming in."""
    if axis == -1:
        return F.pad(t, (1, 0))[..., :-1] if step > 0 else F.pad(t, (0, 1))[..., 1:]
    return F.pad(t, (0, 0, 1, 0))[..., :-1, :] if step > 0 else F.pad(t, (0, 0, 0, 1))[..., 1:, :]


def _paste2(c: torch.Tensor) -> torch.Tensor:
    """(B, C, 4, 4, h, w) patches at stride 2, padding 1 -> (B, C, 2h, 2w) summed where they overlap: the
    transposed convolution written with shifts and a pixel shuffle (F.fold does not export with dynamic sizes).
    Output row 2k gets kernel row 1 of patch k and row 3 of patch k-1; row 2k+1 gets row 2 of k and row 0 of k+1
    (the same for columns)."""
    out = []
    for ty in (c[:, :, 1] + _shift(c[:, :, 3], 1, -2), c[:, :, 2] + _shift(c[:, :, 0], -1, -2)):  # (B, C, 4 kx, h, w)
        out += [ty[:, :, 1] + _shift(ty[:, :, 3], 1, -1), ty[:, :, 2] + _shift(ty[:, :, 0], -1, -1)]  # (B, C, h, w)
    B, C, h, w = out[0].shape
    return F.pixel_shuffle(torch.stack(out, 2).reshape(B, C * 4, h, w), 2)  # channel c*4 + 2*py + px
