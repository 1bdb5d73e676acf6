"""Image completion on the batch pipeline: `gantrans inpaint`.

Each input gets its mask (one file for all, a folder matched by relative path / stem, or the input's own
transparent pixels), optionally grown (`dilate`). The model sees the image with the hole; the output keeps
every known pixel exactly (composited in 8 bits after the model). Large images follow IOPaint's
"hd strategy": `crop` runs the model on the box around the hole plus a margin (resized to `resize_limit` when
even that box is larger), `resize` runs it on the whole image reduced to `resize_limit` and pastes the hole
back at full size, `original` runs the whole image (contextual attention's memory grows with the fourth
power of the side: see benchmarks/RESULTS.md). With `codec="device"` JPEG inputs are decoded on the model's device,
completed and composited there, and JPEG outputs encoded there (`gantrans.engine.devcodec`); masks are read on the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Hashable, Sequence

import numpy as np
from PIL import Image, ImageOps

from gantrans.engine.batch import BatchOptions
from gantrans.engine.devcodec import DeviceDecoding, deliver, take_images
from gantrans.engine.pipeline import Output, Task, Work
from gantrans.engine.translator import Translator, to_uint8
from gantrans.errors import DataError, UsageError
from gantrans.io.images import Decoded, InputItem, find_mask, placeholder, show_path
from gantrans.io.jpeg import codec_problem, peek_jpeg

HD_STRATEGIES = ("crop", "resize", "original")


@dataclass
class InpaintOptions:
    mask: Path | None = None  # a mask file (every input) or a folder of masks
    mask_from_alpha: bool = False  # transparent pixels (alpha < 128) are the hole
    dilate: int = 0  # grow masks by this many pixels
    hd_strategy: str = "crop"
    crop_trigger: int = 512  # images whose longer side exceeds this use the hd strategy
    crop_margin: int = 128
    resize_limit: int = 512

    def __post_init__(self) -> None:
        if self.mask is None and not self.mask_from_alpha:
            raise UsageError("give --mask FILE|DIR or --mask-from-alpha")
        if self.mask is not None and self.mask_from_alpha:
            raise UsageError("--mask and --mask-from-alpha exclude each other")
        if self.mask is not None and not self.mask.exists():
            raise UsageError(f"--mask {show_path(str(self.mask))}: no such file or folder")
        if self.hd_strategy not in HD_STRATEGIES:
            raise UsageError(f"--hd-strategy must be one of {', '.join(HD_STRATEGIES)}")
        for name in ("dilate", "crop_margin"):
            if getattr(self, name) < 0:
                raise UsageError(f"--{name.replace('_', '-')} must be >= 0")
        if self.resize_limit < 16 or self.crop_trigger < 16:
            raise UsageError("--resize-limit and --crop-trigger must be >= 16")


@dataclass
class Masked(Decoded):
    mask: np.ndarray | None = None  # (H, W) bool, True = hole


def read_mask(path: Path) -> np.ndarray:
    """A mask image -> (H, W) bool: any non-zero (white) pixel is part of the hole."""
    try:
        with Image.open(path) as im:
            return np.asarray(ImageOps.exif_transpose(im).convert("L")) > 0
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"mask {show_path(str(path))}: cannot read ({e})") from None


def dilate(mask: np.ndarray, n: int) -> np.ndarray:
    """Grow the hole by n pixels (a (2n+1)^2 square max filter)."""
    if n <= 0 or not mask.any():
        return mask
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(mask.astype(np.float32))[None, None]
    return F.max_pool2d(t, 2 * n + 1, stride=1, padding=n)[0, 0].numpy() > 0


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize to (width, height)."""
    return np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)) > 0


class InpaintTask(DeviceDecoding, Task):
    """One output per input: the completed image, known pixels byte-identical to the input's."""

    single = True

    def __init__(self, t: Translator, batch: BatchOptions, opts: InpaintOptions) -> None:
        self.t, self.batch, self.opts, self.group = t, batch, opts, batch.batch_size
        self._single: np.ndarray | None = None
        self.stages = batch.codec == "device"

    def check(self) -> None:
        problem = codec_problem(self.t.device) if self.batch.codec == "device" else None
        if problem:
            raise UsageError(f"--codec device: {problem}; use --codec host")
        m = self.opts.mask
        if m is not None and m.is_file():
            self._single = read_mask(m)

    # -- masks ---------------------------------------------------------------------------------------
    def _mask_file(self, item: InputItem) -> Path:
        root = self.opts.mask
        assert root is not None
        found, tried = find_mask(root, item.rel)
        if found is None:
            raise DataError(f"no mask in {show_path(str(root))} for this image (looked for {', '.join(tried)})")
        return found

    def prepare(self, image: Image.Image, item: InputItem) -> Decoded:
        d = self.t.prepare(image, None, "a2b", self.max_pixels)
        w, h = d.size
        o = self.opts
        if o.mask_from_alpha:
            if d.alpha is None:
                raise DataError("--mask-from-alpha: this image has no alpha channel")
            alpha = d.alpha if d.alpha.dtype == np.uint8 else np.round(d.alpha * 255)
            mask = alpha < 128
            d.alpha = None  # the hole is filled: the output is opaque
        else:
            mask = self._file_mask(item, w, h, d.notes)
        return Masked(d.pixels, d.alpha, d.notes, dilate(mask, o.dilate))

    def _file_mask(self, item: InputItem, w: int, h: int, notes: list[str]) -> np.ndarray:
        mask = self._single if self._single is not None else read_mask(self._mask_file(item))
        if mask.shape != (h, w):
            notes.append(f"mask {mask.shape[1]}x{mask.shape[0]} resized to {w}x{h} (nearest)")
            mask = resize_mask(mask, (w, h))
        return mask

    def peek(self, item: InputItem) -> Decoded | None:
        """codec "device": a JPEG with a mask file, not large enough for the hd strategy, is decoded in produce()."""
        o = self.opts
        if self.batch.codec != "device" or o.mask_from_alpha:  # a JPEG has no alpha: the host path says so
            return None
        j = peek_jpeg(item.data or b"" if item.source is None else item.source, self.max_pixels)
        if j is None or (o.hd_strategy != "original" and max(j.size) > o.crop_trigger):
            return None
        notes: list[str] = []
        mask = dilate(self._file_mask(item, *j.size, notes), o.dilate)
        return Masked(placeholder(*j.size, self.t.channels("a2b")[0]), None, notes, mask, jpeg=j)

    def key(self, work: Work) -> Hashable | None:
        assert work.decoded is not None
        w, h = work.decoded.size
        if self.opts.hd_strategy != "original" and max(w, h) > self.opts.crop_trigger:
            return None  # alone, with the hd strategy
        return h, w, work.decoded.jpeg is not None  # exact sizes: _fill stacks images and masks as they are (a padded key mixed sizes and failed)

    # -- the model -----------------------------------------------------------------------------------
    def _fill(self, pixels: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
        """Same-size uint8 (H, W, C) images and (H, W) masks -> the model's uint8 outputs (whole frames)."""
        import torch

        x = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2)
        m = torch.from_numpy(np.stack(masks).astype(np.float32))[:, None]
        y = to_uint8(self.t.run(x, "a2b", m))
        return [y[i] for i in range(len(pixels))]

    def _fill_resized(self, pixels: np.ndarray, mask: np.ndarray, limit: int) -> np.ndarray:
        """Run the model on the image reduced to `limit` on its longer side; the result back at full size."""
        h, w = mask.shape
        f = limit / max(h, w)
        size = (max(1, round(w * f)), max(1, round(h * f)))
        img = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
        small = np.asarray(img.resize(size, Image.Resampling.LANCZOS))
        small = small[..., None] if small.ndim == 2 else small
        # a pixel of the small image is in the hole when any part of it is (bilinear coverage > 0)
        cover = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BILINEAR)) > 0
        (out,) = self._fill([np.ascontiguousarray(small)], [cover])
        big = np.asarray(Image.fromarray(out[..., 0] if out.shape[2] == 1 else out).resize((w, h), Image.Resampling.BICUBIC))
        return big[..., None] if big.ndim == 2 else big

    def _large(self, pixels: np.ndarray, mask: np.ndarray, notes: list[str]) -> np.ndarray:
        o = self.opts
        h, w = mask.shape
        if o.hd_strategy == "resize":
            if max(h, w) <= o.resize_limit:
                return self._fill([pixels], [mask])[0]
            notes.append(f"large image: inpainted at {o.resize_limit} px on the longer side (--hd-strategy resize)")
            return self._fill_resized(pixels, mask, o.resize_limit)
        ys, xs = np.nonzero(mask)
        y0, y1 = max(0, int(ys.min()) - o.crop_margin), min(h, int(ys.max()) + 1 + o.crop_margin)
        x0, x1 = max(0, int(xs.min()) - o.crop_margin), min(w, int(xs.max()) + 1 + o.crop_margin)
        crop, cmask = np.ascontiguousarray(pixels[y0:y1, x0:x1]), mask[y0:y1, x0:x1]
        out = pixels.copy()
        if max(y1 - y0, x1 - x0) > o.resize_limit:  # a large hole: even its box is too big for the model
            notes.append(f"large hole: the {x1 - x0}x{y1 - y0} box around it inpainted at {o.resize_limit} px")
            out[y0:y1, x0:x1] = self._fill_resized(crop, cmask, o.resize_limit)
        else:
            notes.append(f"large image: inpainted the {x1 - x0}x{y1 - y0} box around the hole (--crop-margin {o.crop_margin})")
            out[y0:y1, x0:x1] = self._fill([crop], [cmask])[0]
        return out

    # -- codec "device" ------------------------------------------------------------------------------
    def _on_device(self, works: Sequence[Work]) -> list[list[Output] | Exception]:
        """Complete a group decoded on the device (one size): known pixels composited there, JPEG outputs encoded there."""
        import torch

        images = take_images(works, self.decode_images)
        results: list[Any] = [im if isinstance(im, Exception) else None for im in images]
        masks = [w.decoded.mask for w in works]  # type: ignore[union-attr]
        live = [i for i, im in enumerate(images) if not isinstance(im, Exception)]
        todo = [i for i in live if masks[i].any()]
        ys: dict[int, Any] = {}
        if todo:  # (B, C, H, W) uint8 in the host path's layout (channels last in memory), as _fill
            x = torch.stack([images[i].permute(1, 2, 0) for i in todo]).permute(0, 3, 1, 2)
            m = torch.from_numpy(np.stack([masks[i] for i in todo]))
            y = (self.t.run(x, "a2b", m[:, None].float()) * 255.0).round_().to(torch.uint8)
            m = m.to(y.device)
            for k, i in enumerate(todo):
                ys[i] = torch.where(m[k][None], y[k], images[i])  # known pixels exactly as decoded
        for i in live:
            if i not in ys:
                works[i].decoded.notes.append("the mask is empty: nothing to fill")  # type: ignore[union-attr]
                ys[i] = images[i]
        return deliver(works, results, ys)

    def produce(self, works: Sequence[Work]) -> Sequence[list[Output] | Exception]:
        if works[0].decoded is not None and works[0].decoded.jpeg is not None:
            return self._on_device(works)
        items: list[Masked] = []
        for w in works:
            assert isinstance(w.decoded, Masked) and w.decoded.mask is not None
            items.append(w.decoded)
        known: list[np.ndarray] = [d.pixels if d.pixels.dtype == np.uint8 else np.round(np.clip(d.pixels, 0, 1) * 255).astype(np.uint8) for d in items]
        masks: list[np.ndarray] = [d.mask for d in items if d.mask is not None]
        todo = [i for i, m in enumerate(masks) if m.any()]
        filled: dict[int, np.ndarray] = {}
        if len(todo) == 1 and self.key(works[todo[0]]) is None:
            i = todo[0]
            filled[i] = self._large(known[i], masks[i], items[i].notes)
        elif todo:
            for i, y in zip(todo, self._fill([known[i] for i in todo], [masks[i] for i in todo])):
                filled[i] = y
        outs: list[list[Output]] = []
        for i, (px, m) in enumerate(zip(known, masks)):
            if i not in filled:
                items[i].notes.append("the mask is empty: nothing to fill")
                outs.append([("", px)])
                continue
            outs.append([("", np.where(m[..., None], filled[i], px))])  # known pixels exactly as they were
        return outs
