"""Low-resolution inputs made from high-resolution crops, for super-resolution training.

`bicubic`: the classic antialiased bicubic x1/s (SRGAN, ESRGAN). `realesrgan`: Real-ESRGAN's second-order
pipeline (Wang et al. 2021, and its training options): two rounds of blur (isotropic / anisotropic Gaussian,
generalized Gaussian, plateau, or a sinc kernel), random resize (up / down / keep, area / bilinear / bicubic),
Gaussian or Poisson noise (colour or grey) and JPEG, then the final [resize + sinc] and JPEG in random
order. Kernels and noise follow BasicSR's formulas; JPEG is Pillow's encoder at the drawn quality (the
official code uses a differentiable JPEG; nothing needs its gradient here).

Every draw comes from the `torch.Generator` passed in, seeded per (seed, sample): the LR image a step sees
is a pure function of the step, on any machine, so resumed runs repeat exactly.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

KERNELS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
MODES = ("area", "bilinear", "bicubic")


@dataclass(frozen=True)
class DegradationConfig:
    """Real-ESRGAN's options (train_realesrgan_x4plus.yml); `*2` are the second round's."""

    kernel_prob: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    kernel_sizes: tuple[int, ...] = (7, 9, 11, 13, 15, 17, 19, 21)
    sinc_prob: float = 0.1
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    betag_range: tuple[float, float] = (0.5, 4.0)
    betap_range: tuple[float, float] = (1.0, 2.0)
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: tuple[float, float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple[float, float] = (1.0, 30.0)
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[float, float] = (30.0, 95.0)
    second_blur_prob: float = 0.8
    sinc_prob2: float = 0.1
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    resize_prob2: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range2: tuple[float, float] = (0.3, 1.2)
    noise_range2: tuple[float, float] = (1.0, 25.0)
    poisson_scale_range2: tuple[float, float] = (0.05, 2.5)
    final_sinc_prob: float = 0.8


def _u(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=gen, dtype=torch.float64))


def _choice(gen: torch.Generator, n: int, probs: tuple[float, ...] | None = None) -> int:
    if probs is None:
        return int(torch.randint(0, n, (1,), generator=gen))
    return int(torch.multinomial(torch.tensor(probs, dtype=torch.float64), 1, generator=gen))


# -- kernels ------------------------------------------------------------------------------------------
def _grid(size: int) -> torch.Tensor:
    ax = torch.arange(-(size // 2), size // 2 + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    return torch.stack([xx, yy], -1)  # (k, k, 2)


def _quadratic(size: int, sx: float, sy: float, theta: float) -> torch.Tensor:
    """x^T Sigma^-1 x over the kernel grid, Sigma = R diag(sx^2, sy^2) R^T."""
    c, s = math.cos(theta), math.sin(theta)
    rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    sigma = rot @ torch.diag(torch.tensor([sx * sx, sy * sy], dtype=torch.float64)) @ rot.T
    g = _grid(size)
    return torch.einsum("ijk,kl,ijl->ij", g, torch.linalg.inv(sigma), g)


def mixed_kernel(gen: torch.Generator, size: int, probs: tuple[float, ...], sigma: tuple[float, float],
                 betag: tuple[float, float], betap: tuple[float, float]) -> torch.Tensor:  # fmt: skip
    """One of the six blur kernels (BasicSR's random_mixed_kernels, without kernel noise), (size, size) summing to 1."""
    kind = KERNELS[_choice(gen, len(KERNELS), probs)]
    sx = _u(gen, *sigma)
    if kind.endswith("iso") and not kind.endswith("aniso"):
        sy, theta = sx, 0.0
    else:
        sy, theta = _u(gen, *sigma), _u(gen, -math.pi, math.pi)
    q = _quadratic(size, sx, sy, theta)
    if kind.startswith("generalized"):
        beta = _u(gen, betag[0], 1.0) if _u(gen, 0, 1) < 0.5 else _u(gen, 1.0, betag[1])
        k = torch.exp(-0.5 * q.pow(beta))
    elif kind.startswith("plateau"):
        beta = _u(gen, betap[0], 1.0) if _u(gen, 0, 1) < 0.5 else _u(gen, 1.0, betap[1])
        k = 1.0 / (q.pow(beta) + 1.0)
    else:
        k = torch.exp(-0.5 * q)
    return (k / k.sum()).float()


def sinc_kernel(cutoff: float, size: int) -> torch.Tensor:
    """Circular low-pass (2-D sinc) kernel: cutoff * J1(cutoff r) / (2 pi r), cutoff^2 / (4 pi) at the centre."""
    g = _grid(size)
    r = g.pow(2).sum(-1).sqrt()
    k = cutoff * torch.special.bessel_j1(cutoff * r) / (2 * math.pi * r.clamp_min(1e-12))
    k[size // 2, size // 2] = cutoff**2 / (4 * math.pi)
    return (k / k.sum()).float()


def _pad_to(k: torch.Tensor, size: int = 21) -> torch.Tensor:
    p = (size - k.shape[0]) // 2
    return F.pad(k, (p, p, p, p))


def filter2d(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """(C, H, W) convolved with a (k, k) kernel per channel, reflect-padded (BasicSR's filter2D); images
    too small to reflect half a kernel (tiny training crops) are edge-padded instead."""
    k = kernel.shape[-1]
    c = img.shape[0]
    x = F.pad(img[None], (k // 2,) * 4, mode="reflect" if min(img.shape[-2:]) > k // 2 else "replicate")
    return F.conv2d(x, kernel.expand(c, 1, k, k), groups=c)[0]


# -- noise, resize, JPEG ------------------------------------------------------------------------------
def gaussian_noise(img: torch.Tensor, gen: torch.Generator, sigma_range: tuple[float, float], gray_prob: float) -> torch.Tensor:
    sigma = _u(gen, *sigma_range) / 255.0
    gray = _u(gen, 0, 1) < gray_prob
    shape = (1, *img.shape[1:]) if gray else img.shape
    noise = torch.randn(shape, generator=gen) * sigma
    return (img + noise).clamp(0, 1)


def poisson_noise(img: torch.Tensor, gen: torch.Generator, scale_range: tuple[float, float], gray_prob: float) -> torch.Tensor:
    scale = _u(gen, *scale_range)
    gray = _u(gen, 0, 1) < gray_prob
    src = (img * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True) if gray and img.shape[0] == 3 else img
    src = (src.clamp(0, 1) * 255).round() / 255
    vals = 2 ** math.ceil(math.log2(max(2, len(torch.unique(src)))))  # BasicSR: levels of the quantised image
    noise = torch.poisson(src * vals, generator=gen) / vals - src
    return (img + noise * scale).clamp(0, 1)


def add_noise(img: torch.Tensor, gen: torch.Generator, gauss_prob: float, sigma: tuple[float, float],
              poisson: tuple[float, float], gray_prob: float) -> torch.Tensor:  # fmt: skip
    if _u(gen, 0, 1) < gauss_prob:
        return gaussian_noise(img, gen, sigma, gray_prob)
    return poisson_noise(img, gen, poisson, gray_prob)


def resize(img: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """(C, H, W) to (C, h, w) with F.interpolate (as the official pipeline; bicubic may overshoot: clamp later)."""
    size = (max(1, size[0]), max(1, size[1]))
    kw = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(img[None], size=size, mode=mode, **kw)[0]


def jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    """Round-trip through Pillow's JPEG encoder (4:2:0, as libjpeg's default) at `quality`."""
    arr = (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr.squeeze(-1) if arr.shape[-1] == 1 else arr).save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        out = np.asarray(im.convert("L" if img.shape[0] == 1 else "RGB"), dtype=np.float32)
    t = torch.from_numpy(out.copy()) / 255.0
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1)


# -- the pipelines ------------------------------------------------------------------------------------
def bicubic_down(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """(C, H, W) in [0, 1] -> antialiased bicubic (C, H/scale, W/scale), rounded to 8 bits (as saved LR images)."""
    h, w = hr.shape[-2] // scale, hr.shape[-1] // scale
    lr = F.interpolate(hr[None], size=(h, w), mode="bicubic", align_corners=False, antialias=True)[0]
    return (lr.clamp(0, 1) * 255).round() / 255


def _blur_kernel(gen: torch.Generator, c: DegradationConfig, sinc_prob: float, sigma: tuple[float, float]) -> torch.Tensor:
    size = c.kernel_sizes[_choice(gen, len(c.kernel_sizes))]
    if _u(gen, 0, 1) < sinc_prob:
        cutoff = _u(gen, math.pi / 3, math.pi) if size < 13 else _u(gen, math.pi / 5, math.pi)
        return _pad_to(sinc_kernel(cutoff, size))
    return _pad_to(mixed_kernel(gen, size, c.kernel_prob, sigma, c.betag_range, c.betap_range))


def _random_scale(gen: torch.Generator, probs: tuple[float, float, float], rng: tuple[float, float]) -> float:
    kind = _choice(gen, 3, probs)
    return _u(gen, 1.0, rng[1]) if kind == 0 else (_u(gen, rng[0], 1.0) if kind == 1 else 1.0)


def realesrgan_degrade(hr: torch.Tensor, scale: int, gen: torch.Generator, c: DegradationConfig = DegradationConfig()) -> torch.Tensor:
    """(C, H, W) HR in [0, 1] -> (C, H/scale, W/scale) LR through Real-ESRGAN's second-order degradation."""
    H, W = hr.shape[-2:]
    k1 = _blur_kernel(gen, c, c.sinc_prob, c.blur_sigma)
    k2 = _blur_kernel(gen, c, c.sinc_prob2, c.blur_sigma2)
    if _u(gen, 0, 1) < c.final_sinc_prob:
        final = _pad_to(sinc_kernel(_u(gen, math.pi / 3, math.pi), c.kernel_sizes[_choice(gen, len(c.kernel_sizes))]))
    else:
        final = _pad_to(torch.ones(1, 1))  # a pulse: no filtering
    # first round
    out = filter2d(hr, k1)
    s = _random_scale(gen, c.resize_prob, c.resize_range)
    out = resize(out, (int(H * s), int(W * s)), MODES[_choice(gen, 3)])
    out = add_noise(out, gen, c.gaussian_noise_prob, c.noise_range, c.poisson_scale_range, c.gray_noise_prob)
    out = jpeg(out, round(_u(gen, *c.jpeg_range)))
    # second round
    if _u(gen, 0, 1) < c.second_blur_prob:
        out = filter2d(out, k2)
    s = _random_scale(gen, c.resize_prob2, c.resize_range2)
    out = resize(out, (int(H / scale * s), int(W / scale * s)), MODES[_choice(gen, 3)])
    out = add_noise(out, gen, c.gaussian_noise_prob, c.noise_range2, c.poisson_scale_range2, c.gray_noise_prob)
    # [resize back + sinc] and JPEG, in random order (other orders give twisted lines, per the authors)
    size = (H // scale, W // scale)
    if _u(gen, 0, 1) < 0.5:
        out = filter2d(resize(out, size, MODES[_choice(gen, 3)]), final)
        out = jpeg(out, round(_u(gen, *c.jpeg_range)))
    else:
        out = jpeg(out, round(_u(gen, *c.jpeg_range)))
        out = filter2d(resize(out, size, MODES[_choice(gen, 3)]), final)
    return (out.clamp(0, 1) * 255).round() / 255


def usm_sharpen(img: torch.Tensor, weight: float = 0.5, threshold: float = 10.0, radius: int = 51) -> torch.Tensor:
    """BasicSR's USMSharp (Real-ESRGAN sharpens the L1/perceptual targets): unsharp mask where the detail
    exceeds `threshold` levels, feathered by the same Gaussian. (C, H, W) or (B, C, H, W) in [0, 1]."""
    sigma = 0.3 * ((radius - 1) * 0.5 - 1) + 0.8  # OpenCV's sigma for getGaussianKernel(radius, 0)
    ax = torch.arange(radius, dtype=torch.float64) - radius // 2
    g = torch.exp(-(ax**2) / (2 * sigma * sigma))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).float().to(img.device)
    batch = img if img.ndim == 4 else img[None]
    pad = min(radius // 2, batch.shape[-1] - 1, batch.shape[-2] - 1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        n, ch = x.shape[:2]
        k = kernel if pad == radius // 2 else kernel[radius // 2 - pad : radius // 2 + pad + 1, radius // 2 - pad : radius // 2 + pad + 1]
        k = (k / k.sum()).expand(ch, 1, *k.shape)
        return F.conv2d(F.pad(x, (pad,) * 4, mode="reflect"), k, groups=ch)

    residual = batch - blur(batch)
    mask = (residual.abs() * 255 > threshold).float()
    soft = blur(mask)
    sharp = (batch + weight * residual).clamp(0, 1)
    out = soft * sharp + (1 - soft) * batch
    return out if img.ndim == 4 else out[0]


DEGRADATIONS = ("bicubic", "realesrgan")


def degrade(hr: torch.Tensor, scale: int, kind: str, gen: torch.Generator) -> torch.Tensor:
    """HR crop (C, H, W) in [0, 1] -> LR (C, H/scale, W/scale) in [0, 1], quantised to 8 bits."""
    if kind == "bicubic":
        return bicubic_down(hr, scale)
    if kind == "realesrgan":
        return realesrgan_degrade(hr, scale, gen)
    raise ValueError(f"unknown degradation {kind!r}; one of {', '.join(DEGRADATIONS)}")
