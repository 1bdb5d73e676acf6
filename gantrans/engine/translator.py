"""`Translator`: a loaded generator checkpoint on a device, translating tensors or PIL images.

Any input size works: images are padded by reflection to the generator's multiple (4 for ResNet,
2**num_downs for U-Net) and cropped back, so the output has exactly the input's size. Large images
can be processed tile by tile with linearly blended overlaps; only one tile is on the device at a time.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gantrans.engine.device import describe, resolve_device, resolve_precision
from gantrans.io.checkpoint import Checkpoint, CheckpointError, save_checkpoint
from gantrans.io.images import Decoded, decode, resize_shorter, to_pil
from gantrans.models.registry import get_spec

# direction -> checkpoint network prefix (CycleGAN convention: G_A maps A to B, G_B maps B to A)
DIRECTIONS = {"a2b": "G_A", "b2a": "G_B"}


class DirectionError(ValueError):
    """The model has no generator for the requested direction."""


def pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, C, h, w) -> (B, C, height, width), padding bottom/right by reflection.

    Reflection needs pad < size, so large pads are done in rounds; a 1-pixel side is replicated.
    """
    while x.shape[-2] < height or x.shape[-1] < width:
        h, w = x.shape[-2:]
        ph, pw = min(height - h, h - 1), min(width - w, w - 1)
        if (height > h and ph <= 0) or (width > w and pw <= 0):
            return F.pad(x, (0, width - w, 0, height - h), mode="replicate")
        x = F.pad(x, (0, max(pw, 0), 0, max(ph, 0)), mode="reflect")
    return x


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _ramp(length: int, overlap: int, lead: bool, trail: bool) -> torch.Tensor:
    """1-D blend weights: rising over `overlap` at a shared leading edge, falling at a trailing one."""
    w = torch.ones(length)
    if overlap > 0:
        r = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
        if lead:
            w[:overlap] = torch.minimum(w[:overlap], r)
        if trail:
            w[-overlap:] = torch.minimum(w[-overlap:], r.flip(0))
    return w


def _tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


class Translator:
    """A generator checkpoint ready for inference. Build with `gantrans.load` or `gantrans.build`."""

    def __init__(self, checkpoint: Checkpoint, device: str | torch.device = "cpu", precision: str = "auto") -> None:
        spec = get_spec(checkpoint.arch)
        if spec.role != "generator":
            raise CheckpointError(f"{checkpoint.arch} is a {spec.role}, not a generator; it cannot translate")
        self.checkpoint = checkpoint
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        self.multiple = spec.pad_multiple(checkpoint.config)
        self._spec = spec
        self.in_channels: int = checkpoint.config.input_nc
        self.out_channels: int = checkpoint.config.output_nc
        pre = checkpoint.preprocess
        self._mean = torch.tensor(pre.get("mean", [0.5] * 3)[: self.in_channels], device=self.device).view(1, -1, 1, 1)
        self._std = torch.tensor(pre.get("std", [0.5] * 3)[: self.in_channels], device=self.device).view(1, -1, 1, 1)
        for net in checkpoint.networks.values():
            net.to(self.device).eval().requires_grad_(False)

    # -- description -------------------------------------------------------------------------
    @property
    def arch(self) -> str:
        return self.checkpoint.arch

    @property
    def directions(self) -> list[str]:
        return [d for d, prefix in DIRECTIONS.items() if prefix in self.checkpoint.networks]

    def padded(self, n: int) -> int:
        """The size a side of n pixels is padded to before the generator."""
        return self._spec.padded_size(self.checkpoint.config, n)

    def describe(self) -> str:
        return describe(self.device, self.dtype)

    def generator(self, direction: str) -> torch.nn.Module:
        if direction not in DIRECTIONS:
            raise DirectionError(f"unknown direction {direction!r}; use {' or '.join(DIRECTIONS)}")
        prefix = DIRECTIONS[direction]
        if prefix not in self.checkpoint.networks:
            raise DirectionError(
                f"this model has no {direction} generator ({prefix}); it translates {', '.join(self.directions)} only"
            )
        return self.checkpoint.networks[prefix]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as one self-describing safetensors file."""
        return save_checkpoint(self.checkpoint, path)

    # -- tensors -----------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    @torch.inference_mode()
    def run(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        """(B, C, H, W) in [0, 1], any H and W -> (B, out, H, W) float32 in [0, 1] on the device."""
        gen = self.generator(direction)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"model takes {self.in_channels}-channel input, got {x.shape[1]} channels")
        h, w = x.shape[-2:]
        x = x.to(self.device, non_blocking=True)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        x = pad_to((x - self._mean) / self._std, self.padded(h), self.padded(w))
        with self._autocast():
            y = gen(x)
        return ((y[..., :h, :w].float() + 1.0) * 0.5).clamp_(0.0, 1.0)

    @torch.inference_mode()
    def run_tiled(self, x: torch.Tensor, direction: str, tile: int, overlap: int = 32) -> torch.Tensor:
        """(1, C, H, W) host tensor -> (1, out, H, W) float32 on the CPU, one tile on the device at a time."""
        tile = round_up(max(tile, self.multiple), self.multiple)
        overlap = max(0, min(overlap, tile // 2))
        _, _, h, w = x.shape
        if h <= tile and w <= tile:
            return self.run(x, direction).cpu()
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        hp, wp = self.padded(h), self.padded(w)
        x = pad_to(x, hp, wp)
        acc = torch.zeros(1, self.out_channels, hp, wp)
        weight = torch.zeros(1, 1, hp, wp)
        ys, xs = _tile_starts(hp, tile, overlap), _tile_starts(wp, tile, overlap)
        for y0 in ys:
            th = min(tile, hp)
            wy = _ramp(th, overlap, y0 > 0, y0 + th < hp)
            for x0 in xs:
                tw = min(tile, wp)
                wx = _ramp(tw, overlap, x0 > 0, x0 + tw < wp)
                out = self.run(x[..., y0 : y0 + th, x0 : x0 + tw], direction).cpu()
                wt = (wy[:, None] * wx[None, :])[None, None]
                acc[..., y0 : y0 + th, x0 : x0 + tw] += out * wt
                weight[..., y0 : y0 + th, x0 : x0 + tw] += wt
        return (acc / weight)[..., :h, :w]

    # -- images ------------------------------------------------------------------------------
    def prepare(self, image: Image.Image, size: int | None = None) -> Decoded:
        """PIL image (any mode) -> pixels with the model's channel count (+ alpha kept aside)."""
        if size:
            image = resize_shorter(image, size)
        return decode(image, self.in_channels)

    def translate_decoded(
        self, items: Sequence[Decoded], direction: str = "a2b", tile: int | None = None, tile_overlap: int = 32
    ) -> list[np.ndarray]:
        """Decoded images of one padded size -> (H, W, out) uint8 arrays, as one batch (or tiled)."""
        if tile:
            outs = []
            for d in items:
                x = torch.from_numpy(d.pixels).permute(2, 0, 1)[None]  # (1, C, H, W)
                outs.append(to_uint8(self.run_tiled(x, direction, tile, tile_overlap))[0])
            return outs
        shapes = {(d.pixels.shape, d.pixels.dtype) for d in items}
        if len(shapes) == 1:  # the common case: one host->device copy for the whole batch
            batch = torch.from_numpy(np.stack([d.pixels for d in items])).permute(0, 3, 1, 2)
        else:
            hp = self.padded(max(d.pixels.shape[0] for d in items))
            wp = self.padded(max(d.pixels.shape[1] for d in items))
            batch = torch.cat([self._pad_raw(torch.from_numpy(d.pixels).permute(2, 0, 1), hp, wp) for d in items])
        y = to_uint8(self.run(batch, direction))  # one device->host copy
        return [y[i, : d.pixels.shape[0], : d.pixels.shape[1]] for i, d in enumerate(items)]

    def _pad_raw(self, t: torch.Tensor, hp: int, wp: int) -> torch.Tensor:
        # Pad in [0, 1] space (reflection commutes with per-channel normalisation).
        x = t[None].to(self.device, non_blocking=True)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        return pad_to(x, hp, wp)

    def translate(
        self,
        images: Image.Image | Iterable[Image.Image],
        direction: str = "a2b",
        size: int | None = None,
        tile: int | None = None,
        tile_overlap: int = 32,
        batch_size: int = 8,
    ) -> Any:
        """Translate PIL image(s); returns one image or a list, each with its input's size (and alpha)."""
        single = isinstance(images, Image.Image)
        decoded = [self.prepare(im, size) for im in ([images] if single else images)]
        self.generator(direction)  # fail before any work
        outputs: list[Image.Image | None] = [None] * len(decoded)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, d in enumerate(decoded):
            w, h = d.size
            groups.setdefault((self.padded(h), self.padded(w)), []).append(i)
        for idx in groups.values():
            for start in range(0, len(idx), 1 if tile else batch_size):
                chunk = idx[start : start + (1 if tile else batch_size)]
                arrays = self.translate_decoded([decoded[i] for i in chunk], direction, tile, tile_overlap)
                for i, arr in zip(chunk, arrays):
                    outputs[i] = to_pil(arr, decoded[i].alpha)
        return outputs[0] if single else outputs


def to_uint8(y: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) float in [0, 1] -> (B, H, W, C) uint8 on the host."""
    return (y * 255.0).round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()
