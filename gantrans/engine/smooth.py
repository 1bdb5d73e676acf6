"""Photorealistic smoothing in pure PyTorch (CPU or GPU, batched): FastPhotoStyle's two modes.

- `exact`: the closed-form propagation of FastPhotoStyle's `Propagator` (beta 0.9999): with W the
  matting affinity of the content image (3x3 windows, eps 1e-7) and S = D^-1/2 W D^-1/2,
  R = (1 - beta) (I - beta S)^-1 Y. The official code factorises the sparse matrix with SciPy
  (memory grows fast: issue #52); here W is never formed -- its product with a vector is a few
  3x3 box sums -- and the SPD system is solved with conjugate gradients.
- `fast`: the colour-guided filter (He et al.) that the official `--fast` mode takes from OpenCV
  (radius 35, eps 1e-3 on 0..255 values, i.e. 1e-3/255^2 on [0, 1]); box means here are normalised
  by the window's pixel count inside the image (OpenCV reflects at the border).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gantrans.errors import UsageError

BETA = 0.9999
MATTING_EPS = 1e-7
GIF_RADIUS = 35
GIF_EPS = 1e-3 / 255.0**2


def _work_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


# ---- guided filter --------------------------------------------------------------------------


def _box_sum(x: torch.Tensor, r: int) -> torch.Tensor:
    """Sum over the (2r+1)^2 window clipped to the image, for every pixel of (..., H, W)."""
    for dim in (-2, -1):
        n = x.shape[dim]
        c = F.pad(x.cumsum(dim), (0, 0, 1, 0) if dim == -2 else (1, 0))
        hi = torch.arange(n, device=x.device).add(r + 1).clamp(max=n)
        lo = torch.arange(n, device=x.device).sub(r).clamp(min=0)
        x = c.index_select(dim, hi) - c.index_select(dim, lo)
    return x


def guided_filter(guide: torch.Tensor, src: torch.Tensor, radius: int = GIF_RADIUS, eps: float = GIF_EPS) -> torch.Tensor:
    """Colour-guided filter: guide (B, 3, H, W), src (B, K, H, W), both in [0, 1] -> (B, K, H, W)."""
    dt = _work_dtype(guide.device)
    g, p = guide.to(dt), src.to(dt)
    b, _, h, w = g.shape
    count = _box_sum(torch.ones(1, 1, h, w, dtype=dt, device=g.device), radius)

    def mean(x: torch.Tensor) -> torch.Tensor:
        return _box_sum(x, radius) / count

    mu_g, mu_p = mean(g), mean(p)  # (B, 3, H, W), (B, K, H, W)
    gg = mean(g[:, :, None] * g[:, None]) - mu_g[:, :, None] * mu_g[:, None]  # (B, 3, 3, H, W)
    gp = mean(g[:, :, None] * p[:, None]) - mu_g[:, :, None] * mu_p[:, None]  # (B, 3, K, H, W)
    eye = torch.eye(3, dtype=dt, device=g.device)
    sigma = gg.permute(0, 3, 4, 1, 2) + eps * eye  # (B, H, W, 3, 3)
    a = torch.linalg.solve(sigma, gp.permute(0, 3, 4, 1, 2))  # (B, H, W, 3, K)
    a = a.permute(0, 3, 4, 1, 2)  # (B, 3, K, H, W)
    bias = mu_p - (a * mu_g[:, :, None]).sum(1)  # (B, K, H, W)
    out = (mean(a) * g[:, :, None]).sum(1) + mean(bias)
    return out.clamp(0, 1).to(src.dtype)


def guided_filter_tiled(guide: torch.Tensor, src: torch.Tensor, radius: int = GIF_RADIUS, eps: float = GIF_EPS,
                        tile: int = 1024) -> torch.Tensor:
    """`guided_filter` in tiles with a 2*radius halo: the same result (an output pixel depends on pixels
    within 2*radius only) with memory bounded by the tile, for full-resolution photos."""
    h, w = guide.shape[-2:]
    if h * w <= tile * tile:
        return guided_filter(guide, src, radius, eps)
    out = torch.empty(src.shape, dtype=src.dtype, device=src.device)
    halo = 2 * radius
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(h, y0 + tile), min(w, x0 + tile)
            ya, xa, yb, xb = max(0, y0 - halo), max(0, x0 - halo), min(h, y1 + halo), min(w, x1 + halo)
            part = guided_filter(guide[..., ya:yb, xa:xb], src[..., ya:yb, xa:xb], radius, eps)
            out[..., y0:y1, x0:x1] = part[..., y0 - ya : y1 - ya, x0 - xa : x1 - xa]
    return out


@dataclass(frozen=True)
class GuidedSmoothing:
    """`translate --smooth guided`: each output guided-filtered with its own input as the guide, then the part of
    the output's departure from that (RGB length) above `threshold` added back -- texture the generator draws where
    the input is flat goes, edges it draws where the input has none stay sharp instead of spreading as a halo."""

    radius: int = 4
    eps: float = 1e-3
    threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.radius < 1 or not self.eps > 0 or not self.threshold >= 0:
            raise UsageError(f"guided smoothing needs a radius >= 1, eps > 0 and a threshold >= 0, got radius {self.radius}, eps {self.eps}, threshold {self.threshold}")

    def __call__(self, guide: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Input (B, 3, H, W) and output (B, 3, H, W), both in [0, 1] -> the smoothed output (B, 3, H, W)."""
        q = guided_filter_tiled(guide, y, self.radius, self.eps).float()
        if self.threshold == 0:
            return q
        d = y - q
        length = d.norm(dim=1, keepdim=True)  # (B, 1, H, W)
        return (q + d * (length - self.threshold).clamp(min=0) / length.clamp(min=1e-8)).clamp(0, 1)  # soft threshold

    def describe(self) -> str:
        return f"radius {self.radius}, eps {self.eps:g}" + (f", threshold {self.threshold:g}" if self.threshold else "")


# ---- matting-affinity propagation ------------------------------------------------------------


def _valid3(x: torch.Tensor) -> torch.Tensor:
    """3x3 window sums at every window fully inside the image: (N, C, H, W) -> (N, C, H-2, W-2)."""
    rows = x[..., :-2, :] + x[..., 1:-1, :] + x[..., 2:, :]  # separable: 2x faster than avg_pool2d in float64
    return rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]


def _spread3(x: torch.Tensor) -> torch.Tensor:
    """Adjoint of `_valid3`: each window's value added to its 9 pixels: (N, C, h, w) -> (N, C, h+2, w+2)."""
    return _valid3(F.pad(x, (2, 2, 2, 2)))


class MattingAffinity:
    """W of the closed-form matting Laplacian (Levin et al.), as a linear operator on (B, K, H, W)."""

    def __init__(self, image: torch.Tensor, eps: float = MATTING_EPS) -> None:
        b, c, h, w = image.shape  # (B, 3, H, W) in [0, 1]
        if h < 3 or w < 3:
            raise UsageError(f"matting smoothing needs at least 3x3 pixels, got {w}x{h}")
        self.image = image
        self.mu = _valid3(image) / 9.0  # (B, 3, h', w')
        outer = (image[:, :, None] * image[:, None]).reshape(b, c * c, h, w)
        cov = _valid3(outer).view(b, c, c, h - 2, w - 2) / 9.0 - self.mu[:, :, None] * self.mu[:, None]
        eye = torch.eye(c, dtype=image.dtype, device=image.device)
        self.inv = torch.linalg.inv(cov.permute(0, 3, 4, 1, 2) + (eps / 9.0) * eye)  # (B, h', w', 3, 3)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        b, k, h, w = x.shape
        c = self.image.shape[1]
        s = _valid3(x)  # (B, K, h', w') window sums of x
        ix = (self.image[:, :, None] * x[:, None]).reshape(b, c * k, h, w)
        t = _valid3(ix).view(b, c, k, h - 2, w - 2) - self.mu[:, :, None] * s[:, None]  # (B, 3, K, h', w')
        u = torch.einsum("byxcd,bdkyx->bckyx", self.inv, t)  # (B, 3, K, h', w')
        per_window = s - (self.mu[:, :, None] * u).sum(1)  # (B, K, h', w')
        spread_u = _spread3(u.reshape(b, c * k, h - 2, w - 2)).view(b, c, k, h, w)
        return (_spread3(per_window) + (self.image[:, :, None] * spread_u).sum(1)) / 9.0


@dataclass
class SolveInfo:
    iterations: int
    residual: float  # relative residual reached (max over channels)


def conjugate_gradient(apply, b: torch.Tensor, x0: torch.Tensor, tol: float, max_iter: int) -> tuple[torch.Tensor, SolveInfo]:
    """Solve A x = b for an SPD operator, one independent system per (batch, channel) plane."""
    dims = (-2, -1)
    x = x0.clone()
    r = b - apply(x)
    p = r.clone()
    rr = (r * r).sum(dims, keepdim=True)
    bnorm = (b * b).sum(dims, keepdim=True).sqrt().clamp_min(1e-30)
    it = 0
    rel = float((rr.sqrt() / bnorm).max())
    while it < max_iter and rel > tol:
        ap = apply(p)
        step = rr / (p * ap).sum(dims, keepdim=True).clamp_min(1e-300)
        x = x + step * p
        r = r - step * ap
        rr_new = (r * r).sum(dims, keepdim=True)
        p = r + (rr_new / rr.clamp_min(1e-300)) * p
        rr = rr_new
        it += 1
        rel = float((rr.sqrt() / bnorm).max())
    return x, SolveInfo(it, rel)


def matting_propagate(
    content: torch.Tensor, stylized: torch.Tensor, beta: float = BETA, eps: float = MATTING_EPS,
    tol: float = 3e-4, max_iter: int = 2000, border: int = 2,
) -> tuple[torch.Tensor, SolveInfo]:
    """FastPhotoStyle's propagation: content, stylized (B, 3, H, W) in [0, 1] -> smoothed (B, 3, H, W).

    `border` pixels of the stylized image are replaced by replication first (the official code
    does this to drop the decoder's border artefacts). `tol`: relative residual where CG stops; 3e-4
    was measured to stay within 0.06 levels (0-255) of a 1e-9 solve on photos, at ~55% of the
    iterations of 1e-6.
    """
    dt = _work_dtype(content.device)
    img, y = content.to(dt), stylized.to(dt)
    if border and min(y.shape[-2:]) > 2 * border:
        inner = y[..., border:-border, border:-border]
        y = F.pad(inner, (border,) * 4, mode="replicate")
    affinity = MattingAffinity(img, eps)
    ones = torch.ones_like(img[:, :1])
    d_inv_sqrt = affinity(ones).clamp_min(1e-30).rsqrt()  # (B, 1, H, W)

    def apply(x: torch.Tensor) -> torch.Tensor:  # (I - beta D^-1/2 W D^-1/2) x
        return x - beta * d_inv_sqrt * affinity(d_inv_sqrt * x)

    x, info = conjugate_gradient(apply, y, y / (1.0 - beta), tol, max_iter)
    return ((1.0 - beta) * x).clamp(0, 1).to(stylized.dtype), info


def dense_matting_affinity(image: torch.Tensor, eps: float = MATTING_EPS) -> torch.Tensor:
    """The (HW, HW) affinity matrix built window by window (a reference for small images and tests)."""
    _, h, w = image.shape  # (3, H, W)
    img = image.double().reshape(3, -1).T  # (HW, 3)
    ids = torch.arange(h * w).view(h, w)
    out = torch.zeros(h * w, h * w, dtype=torch.float64)
    for y in range(1, h - 1):
        for x in range(1, w - 1):
            win = ids[y - 1 : y + 2, x - 1 : x + 2].reshape(-1)
            pix = img[win]  # (9, 3)
            mu = pix.mean(0)
            cov = pix.T @ pix / 9.0 - torch.outer(mu, mu)
            inv = torch.linalg.inv(cov + (eps / 9.0) * torch.eye(3, dtype=torch.float64))
            d = pix - mu
            out[win[:, None], win[None, :]] += (1.0 + d @ inv @ d.T) / 9.0
    return out
