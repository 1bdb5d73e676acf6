"""Closed-form photorealistic (PhotoWCT) and artistic (WCT) style transfer of whole batches.

Coarse to fine as FastPhotoStyle's `PhotoWCT.transform`: at level L = 4 .. 1 the current image is
encoded by encoder L, its features take the style's statistics (whitening-colouring transform, per
label with label maps), and decoder L (with encoder L's pooling indices) turns them back into an
image for the next level. Style statistics come from the deepest encoder's taps in one pass and are
computed once per style, whatever the number of content images. Then optional smoothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gantrans import registry
from gantrans.engine.device import describe, resolve_device, resolve_precision
from gantrans.engine.pipeline import Output, Task, Work
from gantrans.engine.smooth import (
    BETA,
    GIF_EPS,
    GIF_RADIUS,
    guided_filter_tiled,
    matting_propagate,
)
from gantrans.engine.wct import (
    MIN_PIXELS,
    StyleLevel,
    label_map,
    transfer,
    usable_labels,
)
from gantrans.errors import UsageError
from gantrans.io.checkpoint import Checkpoint
from gantrans.io.images import Decoded, InputItem, as_uint8, decode, open_image
from gantrans.models import cpuconv

SMOOTH_MODES = ("auto", "none", "fast", "exact")
MAX_SIZE = 960  # the official memory guard (longer side, here)
MIN_SIDE = 16  # level 4 works at 1/8 size and reflection-pads by 1


@dataclass
class StylizeOptions:
    """alpha: 1 = full style, 0 = content (blended in feature space at every level).
    smooth: auto (fast for PhotoWCT, none for WCT) | none | fast (guided filter) | exact (matting
    propagation). max_size: work with the longer side at most this many pixels (None: never shrink);
    results are upsampled back bilinearly, as the official de-resize; with `fast` the guided filter then
    runs at full size (radius scaled), guided by the full-size content, so edges come back sharp."""

    alpha: float = 1.0
    smooth: str = "auto"
    max_size: int | None = MAX_SIZE
    beta: float = BETA
    radius: int = GIF_RADIUS
    gif_eps: float = GIF_EPS
    tol: float = 3e-4  # matting CG stopping point (see smooth.matting_propagate)
    max_iter: int = 2000

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise UsageError(f"--alpha must be in [0, 1], got {self.alpha}")
        if self.smooth not in SMOOTH_MODES:
            raise UsageError(f"--smooth must be one of {', '.join(SMOOTH_MODES)}, got {self.smooth!r}")
        if self.max_size is not None and self.max_size < MIN_SIDE:
            raise UsageError(f"--max-size must be at least {MIN_SIDE}")
        if not 0.0 < self.beta < 1.0:
            raise UsageError(f"beta must be in (0, 1), got {self.beta}")


@dataclass
class Style:
    """A style image's statistics at every level (`seg`: its label map, or None)."""

    name: str
    levels: dict[int, StyleLevel]
    seg: np.ndarray | None = None
    labels: list[int] = field(default_factory=list)


@dataclass
class ContentDecoded(Decoded):
    seg: np.ndarray | None = None  # (H, W) label map at the content's size


def working_size(w: int, h: int, max_size: int | None) -> tuple[int, int]:
    if max_size is None or max(w, h) <= max_size:
        return w, h
    s = max_size / max(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


def resize_labels(seg: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) int labels -> nearest-neighbour labels at `size` = (W, H)."""
    if seg.shape[::-1] == tuple(size):
        return seg
    return np.asarray(Image.fromarray(seg.astype(np.int32)).resize(size, Image.Resampling.NEAREST), dtype=np.int64)


def load_labels(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """A label image resized (nearest) to `size` = (W, H) -> (H, W) int64 ids."""
    img, _ = open_image(Path(path))
    if img.size != size:
        img = img.resize(size, Image.Resampling.NEAREST)
    return label_map(img)


class Stylizer:
    """A WCT/PhotoWCT checkpoint ready for inference (`gantrans.stylizer(...)` or `Stylizer(ckpt)`)."""

    def __init__(self, checkpoint: Checkpoint, device: str | torch.device = "cpu", precision: str = "auto", name: str | None = None) -> None:
        registry.require(checkpoint.arch, "stylize", name or checkpoint.arch)
        self.checkpoint = checkpoint
        self.net = checkpoint.networks["G"]
        self.levels = checkpoint.config.levels
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        cpuconv.accelerate(self.net.to(self.device, self.dtype).eval().requires_grad_(False))

    @property
    def arch(self) -> str:
        return self.checkpoint.arch

    def describe(self) -> str:
        return describe(self.device, self.dtype)

    def smooth_mode(self, opts: StylizeOptions) -> str:
        if opts.smooth != "auto":
            return opts.smooth
        return "fast" if self.checkpoint.config.unpool else "none"

    def _to_device(self, pixels: Sequence[np.ndarray]) -> torch.Tensor:
        """(H, W, 3) uint8/float arrays of one size -> (B, 3, H, W) in [0, 1] on the device."""
        arr = np.stack([as_uint8(p) for p in pixels])
        x = torch.from_numpy(arr).to(self.device).permute(0, 3, 1, 2)
        return x.float().div(255.0)

    @torch.inference_mode()
    def prepare_style(self, image: Image.Image, seg: np.ndarray | None = None, name: str = "style",
                      max_size: int | None = MAX_SIZE) -> Style:
        """Style statistics at every level, from the image at its working size."""
        img = image.convert("RGB")
        w, h = working_size(*img.size, max_size)
        if (w, h) != img.size:
            img = img.resize((w, h), Image.Resampling.BICUBIC)
        _check_size(w, h, name)
        if seg is not None:
            seg = resize_labels(seg, (w, h))
        x = self._to_device([np.asarray(img)]).to(self.dtype)
        taps = self.net.encoder(self.levels).features(x)  # relu1_1 .. reluL_1
        labels: list[int] = []
        if seg is not None:
            ids, counts = np.unique(seg, return_counts=True)
            labels = [int(i) for i, c in zip(ids, counts) if c > MIN_PIXELS]
        levels = {lv: StyleLevel(taps[lv - 1][0], seg, labels) for lv in range(1, self.levels + 1)}
        return Style(name, levels, seg, labels)

    @torch.inference_mode()
    def transform(self, content: torch.Tensor, style: Style, alpha: float = 1.0,
                  segs: Sequence[np.ndarray | None] | None = None) -> torch.Tensor:
        """Content (B, 3, H, W) in [0, 1] -> stylised (B, 3, H, W) in [0, 1], no smoothing."""
        b = content.shape[0]
        segs = list(segs) if segs is not None else [None] * b
        if style.seg is not None and any(s is None for s in segs):
            raise UsageError("the style has a label map, so every content image needs one too (--content-seg)")
        labels = [usable_labels(s, style.seg) if s is not None and style.seg is not None else [] for s in segs]
        x = content.to(self.device, self.dtype)
        for level in range(self.levels, 0, -1):
            feats, pools = self.net.encoder(level)(x)  # (B, C, h, w)
            out = torch.stack([transfer(feats[i], style.levels[level], alpha, segs[i], labels[i]) for i in range(b)])
            x = self.net.decoder(level)(out, pools)
        return x.float().clamp(0, 1)

    def smooth(self, content: torch.Tensor, stylized: torch.Tensor, opts: StylizeOptions) -> torch.Tensor:
        mode = self.smooth_mode(opts)
        if mode == "fast":
            return guided_filter_tiled(content, stylized, opts.radius, opts.gif_eps)
        if mode == "exact":
            return matting_propagate(content, stylized, opts.beta, tol=opts.tol, max_iter=opts.max_iter)[0]
        return stylized

    @torch.inference_mode()
    def stylize_arrays(self, pixels: Sequence[np.ndarray], style: Style, opts: StylizeOptions,
                       segs: Sequence[np.ndarray | None] | None = None) -> list[np.ndarray]:
        """Content images of one size, (H, W, 3) arrays -> stylised (H, W, 3) uint8 arrays."""
        h, w = pixels[0].shape[:2]
        ww, wh = working_size(w, h, opts.max_size)
        _check_size(ww, wh, "content")
        full = self._to_device(pixels)
        if (ww, wh) == (w, h):
            y = self.smooth(full, self.transform(full, style, opts.alpha, segs), opts)
        else:
            x = F.interpolate(full, size=(wh, ww), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
            segs = [None if s is None else resize_labels(s, (ww, wh)) for s in segs] if segs else segs
            y = self.transform(x, style, opts.alpha, segs)
            mode = self.smooth_mode(opts)
            if mode == "exact":  # the global solve at the working size, as the official code
                y = self.smooth(x, y, opts)
            y = F.interpolate(y.float(), size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)
            if mode == "fast":  # the guided filter at full size doubles as edge-aware upsampling
                r = max(1, round(opts.radius * w / ww))
                y = guided_filter_tiled(full, y, r, opts.gif_eps)
        return list(y.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())

    def stylize(self, content: Image.Image, style: Image.Image, opts: StylizeOptions | None = None,
                content_seg: np.ndarray | None = None, style_seg: np.ndarray | None = None) -> Image.Image:
        """One PIL pair -> a PIL image of the content's size."""
        opts = opts or StylizeOptions()
        st = self.prepare_style(style, style_seg, max_size=opts.max_size)
        out = self.stylize_arrays([np.asarray(content.convert("RGB"))], st, opts, [content_seg])
        return Image.fromarray(out[0])


def _check_size(w: int, h: int, what: str) -> None:
    if min(w, h) < MIN_SIDE:
        raise UsageError(f"{what} is {w}x{h}; stylize needs at least {MIN_SIDE} pixels per side")


def stylizer(ref: str, device: str = "auto", precision: str = "auto") -> Stylizer:
    """Load a WCT/PhotoWCT model from a path, a bundled name or `hf://org/repo`."""
    from gantrans.io.checkpoint import load_checkpoint
    from gantrans.io.hub import resolve

    path = resolve(ref, "stylize")
    return Stylizer(load_checkpoint(path), device=device, precision=precision, name=path.name)


SEG_EXTS = (".png", ".pgm", ".bmp", ".tif", ".tiff", ".gif", ".jpg", ".jpeg", ".webp")


def find_seg(seg: Path, rel: PurePosixPath, single: bool) -> Path:
    """The label map of one content item: SEG itself (one content input) or SEG/<rel>.<ext>."""
    if seg.is_file():
        if not single:
            raise UsageError(f"--content-seg {seg} is one file but there are several content images; give a folder of maps named like the images")
        return seg
    for ext in SEG_EXTS:
        cand = seg.joinpath(*rel.parent.parts, rel.name + ext)
        if cand.is_file():
            return cand
    raise UsageError(f"no label map for it in {seg} (looked for {rel.name}.png/.pgm/...)")


def load_styles(s: Stylizer, refs: Sequence[str | Path], segs: Sequence[str | Path] | None, opts: StylizeOptions) -> list[Style]:
    """Style statistics of each reference image (named by its stem; repeated stems get -1, -2, ...)."""
    if segs and len(segs) != len(refs):
        raise UsageError(f"give one --style-seg per --style ({len(refs)} styles, {len(segs)} label maps)")
    stems = [Path(r).stem for r in refs]
    styles = []
    for i, ref in enumerate(refs):
        img, _ = open_image(Path(ref))
        seg = load_labels(segs[i], img.size) if segs else None
        name = stems[i] if stems.count(stems[i]) == 1 else f"{stems[i]}-{i + 1}"
        styles.append(s.prepare_style(img, seg, name, opts.max_size))
    return styles


class StylizeTask(Task):
    """Each content image with each style: outputs tagged by the style's name."""

    def __init__(self, s: Stylizer, styles: Sequence[Style], opts: StylizeOptions, content_seg: Path | None = None,
                 single_input: bool = False, batch_size: int = 1) -> None:
        self.s, self.styles, self.opts, self.seg_root, self.single_input = s, list(styles), opts, content_seg, single_input
        self.group = max(1, batch_size)

    def prepare(self, image: Image.Image, item: InputItem) -> Decoded:
        d = decode(image, 3)
        seg = load_labels(find_seg(self.seg_root, item.rel, self.single_input), image.size) if self.seg_root else None
        return ContentDecoded(d.pixels, d.alpha, d.notes, seg=seg)

    def produce(self, works: Sequence[Work]) -> list[list[Output]]:
        decoded = [w.decoded for w in works]
        outs: list[list[Output]] = [[] for _ in works]
        for st in self.styles:
            arrays = self.s.stylize_arrays([d.pixels for d in decoded], st, self.opts, [getattr(d, "seg", None) for d in decoded])  # type: ignore[union-attr]
            for k, arr in enumerate(arrays):
                outs[k].append((st.name, arr))
        return outs
