"""`Translator`: a loaded generator checkpoint on a device, translating tensors or PIL images.

Any input size works: images are padded by reflection to the generator's multiple (4 for ResNet,
2**num_downs for U-Net) and cropped back, so the output has exactly the input's size. Large images
can be processed tile by tile with linearly blended overlaps; only one tile is on the device at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from PIL import Image

from gantrans import registry
from gantrans.engine.device import autocast, describe, resolve_device, resolve_precision
from gantrans.engine.smooth import GuidedSmoothing
from gantrans.engine.tiling import output_rows, run_tiled_uint8, to_float
from gantrans.errors import UsageError
from gantrans.families.base import DIRECTIONS, Family
from gantrans.io.checkpoint import Checkpoint, CheckpointError, save_checkpoint
from gantrans.io.images import DEFAULT_MAX_PIXELS, Decoded, decode, resize_shorter, to_pil
from gantrans.models import cpuconv
from gantrans.models.layers import pad_to
from gantrans.models.registry import get_spec

__all__ = ["DIRECTIONS", "SMOOTH_MODES", "TTA_MODES", "DirectionError", "Translator", "pad_to", "style_for_seed", "to_uint8"]

# Geometric self-ensemble (EDSR+, Lim et al. 2017): each input also run turned/mirrored, the outputs turned back
# and averaged. Each transform is (quarter turns k, mirrored).
TTA_MODES: dict[str, tuple[tuple[int, bool], ...]] = {
    "none": ((0, False),),
    "hflip": ((0, False), (0, True)),
    "dihedral": tuple((k, m) for k in range(4) for m in (False, True)),
}

# Output smoothing guided by the input: auto = the checkpoint's own `postprocess` (if it has one), none, or the
# colour-guided filter (He et al. 2010; stylize's `fast` smoothing), see smooth.GuidedSmoothing.
SMOOTH_MODES = ("auto", "none", "guided")


class DirectionError(UsageError):
    """The model has no generator for the requested direction."""


def turn(t: torch.Tensor, k: int, mirror: bool) -> torch.Tensor:
    """(..., H, W): mirrored left-right (if `mirror`), then turned k quarter turns."""
    t = t.flip(-1) if mirror else t
    return torch.rot90(t, k, (-2, -1)) if k else t


def turn_back(t: torch.Tensor, k: int, mirror: bool) -> torch.Tensor:
    """The inverse of `turn`."""
    t = torch.rot90(t, -k, (-2, -1)) if k else t
    return t.flip(-1) if mirror else t


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


class Translator:
    """A generator checkpoint ready for inference. Build with `gantrans.load` or `gantrans.build`."""

    def __init__(self, checkpoint: Checkpoint, device: str | torch.device = "cpu", precision: str = "auto") -> None:
        spec = get_spec(checkpoint.arch)
        family = registry.family_of(checkpoint.arch)
        if family.role not in ("translator", "upscaler", "inpainter"):  # e.g. a WCT model: the wrong kind, a usage error
            registry.require(checkpoint.arch, "translate", checkpoint.arch)
        if spec.role != "generator":
            raise CheckpointError(f"{checkpoint.arch} is a {spec.role}, not a generator; it cannot translate")
        self.checkpoint = checkpoint
        self.family: Family = family
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        self.multiple = spec.pad_multiple(checkpoint.config)
        self._spec = spec
        self.in_channels, self.out_channels = self.channels("a2b")
        pre = checkpoint.preprocess
        self._mean = torch.tensor(pre.get("mean", [0.5] * 3), device=self.device).view(1, -1, 1, 1)
        self._std = torch.tensor(pre.get("std", [0.5] * 3), device=self.device).view(1, -1, 1, 1)
        for name, net in checkpoint.networks.items():
            net.to(self.device).eval().requires_grad_(False)
            if name not in checkpoint.aux:  # the generators (not a stored discriminator) get the CPU fast paths
                cpuconv.accelerate(net)
        self._compiled: dict[str, Any] | None = None  # direction -> compiled forward (after .compile())
        self.tta = "none"
        self.smoothing: GuidedSmoothing | None = None
        self.smooth("auto")

    def channels(self, direction: str = "a2b") -> tuple[int, int]:
        """(input, output) channel counts for a direction (MUNIT/UNIT domains may differ)."""
        return self.family.channels(self.checkpoint.config, direction)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] on the device -> the generator's input range (the checkpoint's mean/std)."""
        n = x.shape[1]
        return (x - self._mean[:, :n]) / self._std[:, :n]

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        """Generator output ([-1, 1], or [0, 1] for super-resolution families) -> float32 in [0, 1] (clamped)."""
        return self.family.to_unit(y.float())

    @property
    def scale(self) -> int:
        """Output size / input size (1 for translation models)."""
        return self.family.scale(self.checkpoint.config)

    def norm_stats(self, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) of the first `channels` input channels, each (1, channels, 1, 1) on the device."""
        return self._mean[:, :channels], self._std[:, :channels]

    # -- description -------------------------------------------------------------------------
    @property
    def arch(self) -> str:
        return self.checkpoint.arch

    @property
    def directions(self) -> list[str]:
        return self.family.directions(list(self.checkpoint.networks))

    @property
    def cond(self) -> str:
        """The condition kind the generator takes: none | style | label."""
        return self.family.cond

    @property
    def style_dim(self) -> int:
        """Length of a style code (0 for models without style codes)."""
        return self.family.cond_shape(self.checkpoint.config)[0] if self.cond == "style" else 0  # type: ignore[index]

    def padded(self, n: int) -> int:
        """The size a side of n pixels is padded to before the generator."""
        return self._spec.padded_size(self.checkpoint.config, n)

    def describe(self) -> str:
        return describe(self.device, self.dtype)

    def generator(self, direction: str) -> torch.nn.Module:
        """The module that translates `direction` (MUNIT/UNIT/StarGAN: the one "G" module)."""
        if direction not in DIRECTIONS:
            raise DirectionError(f"unknown direction {direction!r}; use {' or '.join(DIRECTIONS)}")
        if direction not in self.directions:
            raise DirectionError(self.family.missing_direction(direction, self.directions))
        return self.checkpoint.networks[self.family.network(direction)]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as one self-describing safetensors file."""
        return save_checkpoint(self.checkpoint, path)

    # -- tensors -----------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        return autocast(self.device, self.dtype)

    def self_ensemble(self, mode: str = "hflip") -> "Translator":
        """Average each output over transformed copies of its input: `hflip` (as is + mirrored, 2 passes) or
        `dihedral` (4 quarter turns x mirror, 8 passes); `none` turns it off. Texture the generator adds
        that does not turn with the image averages out (noto2emojione: held-out FID 135.7 -> 128.4 with hflip)."""
        if mode not in TTA_MODES:
            raise UsageError(f"--tta {mode!r}: use one of {', '.join(TTA_MODES)}")
        self.tta = mode
        return self

    def smooth(self, mode: str = "guided", radius: int | None = None, eps: float | None = None, threshold: float | None = None) -> "Translator":
        """Smooth each output with the colour-guided filter, its own input as the guide (`guided`, see
        `GuidedSmoothing`): the output keeps what is locally an affine function of the input's colours (restyled
        colours and shading, the input's edges) plus its departures from that larger than `threshold`, and loses
        texture the generator adds where the input is flat. `auto` (set on load) applies the checkpoint's
        `postprocess`, if any; `none` turns it off. Arguments override the checkpoint's values. RGB in and out, same size."""
        if mode not in SMOOTH_MODES:
            raise UsageError(f"--smooth {mode!r}: use one of {', '.join(SMOOTH_MODES)}")
        post = self.checkpoint.postprocess
        if mode == "none" or (mode == "auto" and not post):
            self.smoothing = None
            return self
        given = {"radius": radius, "eps": eps, "threshold": threshold}
        smoothing = dataclasses.replace(GuidedSmoothing(**{k: v for k, v in post.items() if k != "smooth"}), **{k: v for k, v in given.items() if v is not None})
        if self.scale != 1:
            raise UsageError(f"--smooth guided needs outputs of the input's size; {self.arch} upscales x{self.scale}")
        if any(self.channels(d) != (3, 3) for d in self.directions):
            raise UsageError(f"--smooth guided needs RGB input and output; this {self.arch} model maps {self.channels()[0]} -> {self.channels()[1]} channels")
        self.smoothing = smoothing
        return self

    def _forward(self, x: torch.Tensor, direction: str, cond: torch.Tensor | None) -> torch.Tensor:
        """Normalised, padded (B, C, H, W) -> (B, out, H, W) in [-1, 1] (or [0, 1]); self-ensembled if set."""
        if self.cond != "none":
            if cond is None:
                raise UsageError(f"a {self.arch} model needs {self.family.cond_hint()}")
            cond = cond.to(self.device, torch.float32)
            if cond.shape[0] == 1 and x.shape[0] > 1:
                cond = cond.expand(x.shape[0], *cond.shape[1:])
        if self.tta == "none":
            return self._forward_once(x, direction, cond)
        image_cond = cond is not None and self.family.cond_is_image
        if image_cond:  # padded like x so that both turn about the same centre
            cond = pad_to(cond, x.shape[-2], x.shape[-1])  # type: ignore[arg-type]
        total: torch.Tensor | None = None
        transforms = TTA_MODES[self.tta]
        for k, mirror in transforms:
            xt, ct = turn(x, k, mirror), (turn(cond, k, mirror) if image_cond else cond)  # type: ignore[arg-type]
            y = turn_back(self._forward_once(xt, direction, ct), k, mirror).float()
            total = y if total is None else total + y
        assert total is not None
        return total / len(transforms)

    def _forward_once(self, x: torch.Tensor, direction: str, cond: torch.Tensor | None) -> torch.Tensor:
        if self._compiled is not None:
            if direction not in self._compiled:
                self._compiled[direction] = torch.compile(functools.partial(self.family.forward, self.generator(direction)), dynamic=True)
            return self._compiled[direction](x, direction, cond)
        return self.family.forward(self.generator(direction), x, direction, cond)

    def channels_last(self) -> "Translator":
        """Store the generators' weights channels-last (NHWC): convolutions then run in that layout.
        Same results (tested); faster only on some devices -- on this project's CPU no clear gain (RESULTS.md)."""
        for net in self.checkpoint.networks.values():
            net.to(memory_format=torch.channels_last)
        return self

    def compile(self) -> "Translator":
        """Run the generators through `torch.compile` (dynamic shapes; compiled on first use per direction).
        The first batch pays the compilation (tens of seconds); on CPU it needs a C++ compiler."""
        self._compiled = {}
        return self

    def _input(self, x: torch.Tensor, pad: bool = True) -> torch.Tensor:
        """(B, C, H, W) uint8 or [0, 1] float -> normalised float on the device, reflect-padded to the multiple."""
        h, w = x.shape[-2:]
        x = x.to(self.device, non_blocking=True)
        x = self.normalize(x.float() / 255.0 if x.dtype == torch.uint8 else x.float())
        return pad_to(x, self.padded(h), self.padded(w)) if pad else x

    @torch.inference_mode()
    def run(self, x: torch.Tensor, direction: str = "a2b", cond: torch.Tensor | None = None, postprocess: bool = True) -> torch.Tensor:
        """(B, C, H, W) in [0, 1], any H and W -> (B, out, H, W) float32 in [0, 1] on the device.
        `postprocess=False` skips the smoothing (for passes whose output is not kept, e.g. tiling's statistics pass).

        `cond`: MUNIT style codes (B or 1, style_dim, 1, 1); StarGAN target labels (B or 1, c_dim).
        """
        self.generator(direction)
        n_in = self.channels(direction)[0]
        if x.shape[1] != n_in:
            raise UsageError(f"model takes {n_in}-channel input, got {x.shape[1]} channels")
        h, w = x.shape[-2:]
        smoothing = self.smoothing if postprocess else None
        guide = None if smoothing is None else x.to(self.device).float() / (255.0 if x.dtype == torch.uint8 else 1.0)
        x = self._input(x)
        with self._autocast():
            y = self._forward(x, direction, cond)
        s = self.scale
        y = self.denormalize(y[..., : h * s, : w * s])
        if smoothing is not None and guide is not None:  # the input, in [0, 1], guides its own output
            y = smoothing(guide, y)
        return y

    @torch.inference_mode()
    def encode_style(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        """MUNIT: reference images of the *target* domain, (B, C, H, W) in [0, 1] -> style codes (B, style_dim, 1, 1)."""
        if self.cond != "style":
            raise UsageError(f"{self.arch} has no style encoder (only MUNIT models do)")
        n_ref = self.channels(direction)[1]
        if x.shape[1] != n_ref:
            raise UsageError(f"style references must have {n_ref} channels, got {x.shape[1]}")
        with self._autocast():
            s = self.generator(direction).encode_style(self._input(x, pad=False), "b" if direction == "a2b" else "a")
        return s.float().cpu()

    def random_styles(self, seeds: Sequence[int]) -> torch.Tensor:
        """MUNIT: one N(0, I) style code per seed, drawn on the CPU -> (K, style_dim, 1, 1), the same on any device."""
        if self.cond != "style":
            raise UsageError(f"{self.arch} has no style codes (only MUNIT models do)")
        return torch.stack([style_for_seed(s, self.style_dim) for s in seeds])

    @torch.inference_mode()
    def run_styles(self, x: torch.Tensor, styles: torch.Tensor, direction: str = "a2b", batch_size: int = 8) -> torch.Tensor:
        """MUNIT: (N, C, H, W) in [0, 1] x (K, style_dim, 1, 1) -> (N, K, out, H, W) in [0, 1].

        The content code of each input is computed once; decoding runs over inputs x styles in chunks.
        """
        gen = self.generator(direction)
        src, dst = gen.gens(direction)
        n, k = x.shape[0], styles.shape[0]
        h, w = x.shape[-2:]
        x = self._input(x)
        outs = []
        with self._autocast():
            content = src.enc_content(x)  # (N, 256, H/4, W/4)
            pairs = [(i, j) for i in range(n) for j in range(k)]
            for start in range(0, len(pairs), max(1, batch_size)):
                chunk = pairs[start : start + batch_size]
                c = content[[i for i, _ in chunk]]
                s = styles[[j for _, j in chunk]].to(self.device, torch.float32)
                outs.append(dst.decode(c, s).float())
        y = self.denormalize(torch.cat(outs)[..., :h, :w])
        return y.view(n, k, *y.shape[1:])

    @torch.inference_mode()
    def run_tiled(
        self, x: torch.Tensor, direction: str, tile: int, overlap: int = 32, cond: torch.Tensor | None = None,
        stats_size: int = 1024,
    ) -> torch.Tensor:
        """(1, C, H, W) host tensor -> (1, out, H, W) float32 on the CPU, one tile on the device at a time.

        Instance/layer norms use whole-image statistics, recorded in one untiled pass over the image
        downscaled to at most `stats_size` pixels a side (0: per-tile statistics), see tiling.py.
        """
        _, _, h, w = x.shape
        whole = round_up(max(tile, self.multiple), self.multiple)  # the tile as the tiler rounds it
        if h <= whole and w <= whole:
            return self.run(x, direction, cond).cpu()
        out = torch.empty(1, self.channels(direction)[1], h * self.scale, w * self.scale)
        pixels = x[0].permute(1, 2, 0).numpy()  # (H, W, C) as decoded
        for y0, block in output_rows(self, pixels, direction, tile, overlap, cond, stats_size):
            out[0, :, y0 : y0 + block.shape[1]] = block
        return out

    # -- images ------------------------------------------------------------------------------
    def prepare(self, image: Image.Image, size: int | None = None, direction: str = "a2b",
                max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Decoded:
        """PIL image (any mode) -> pixels with the model's input channel count (+ alpha kept aside)."""
        if size:
            image = resize_shorter(image, size, max_pixels)
        return decode(image, self.channels(direction)[0])

    def translate_decoded(
        self, items: Sequence[Decoded], direction: str = "a2b", tile: int | None = None, tile_overlap: int = 32,
        cond: torch.Tensor | None = None, tile_stats: int = 1024,
    ) -> list[np.ndarray]:
        """Decoded images of one padded size -> (H, W, out) uint8 arrays, as one batch (or tiled).

        `cond`: one MUNIT style code / StarGAN label per item (len(items), ...), or one for all.
        """
        if tile:
            outs = []
            for i, d in enumerate(items):
                c = None if cond is None else cond[i : i + 1] if cond.shape[0] > 1 else cond
                h, w = d.pixels.shape[:2]
                whole = round_up(max(tile, self.multiple), self.multiple)  # the tile as the tiler rounds it
                if h <= whole and w <= whole:
                    outs.append(to_uint8(self.run(to_float(d.pixels), direction, c))[0])
                else:  # memory bounded by the tile: uint8 in, uint8 out, one band of floats
                    outs.append(run_tiled_uint8(self, d.pixels, direction, tile, tile_overlap, c, tile_stats))
            return outs
        shapes = {(d.pixels.shape, d.pixels.dtype) for d in items}
        if len(shapes) == 1:  # the common case: one host->device copy for the whole batch
            batch = torch.from_numpy(np.stack([d.pixels for d in items])).permute(0, 3, 1, 2)
        else:
            hp = self.padded(max(d.pixels.shape[0] for d in items))
            wp = self.padded(max(d.pixels.shape[1] for d in items))
            batch = torch.cat([self._pad_raw(torch.from_numpy(d.pixels).permute(2, 0, 1), hp, wp) for d in items])
        y = to_uint8(self.run(batch, direction, cond))  # one device->host copy
        s = self.scale
        return [y[i, : d.pixels.shape[0] * s, : d.pixels.shape[1] * s] for i, d in enumerate(items)]

    def translate_tensors(self, images: Sequence[torch.Tensor], direction: str = "a2b", cond: torch.Tensor | None = None) -> list[torch.Tensor]:
        """(C, H, W) uint8 images of one padded size, on the device (`--codec device` decodes there) -> (out, H·s, W·s)
        uint8 tensors on the device, as one batch."""
        if len({tuple(t.shape) for t in images}) == 1:  # (B, C, H, W) in the host path's layout, channels last in memory
            batch = torch.stack([t.permute(1, 2, 0) for t in images]).permute(0, 3, 1, 2)
        else:
            hp, wp = self.padded(max(t.shape[1] for t in images)), self.padded(max(t.shape[2] for t in images))
            batch = torch.cat([self._pad_raw(t, hp, wp) for t in images])
        y = (self.run(batch, direction, cond) * 255.0).round_().to(torch.uint8)
        s = self.scale
        return [y[i, :, : t.shape[1] * s, : t.shape[2] * s] for i, t in enumerate(images)]

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
        cond: torch.Tensor | None = None,
        tile_stats: int = 1024,
    ) -> Any:
        """Translate PIL image(s); returns one image or a list, each with its input's size (and alpha).

        `cond`: MUNIT style code(s) / StarGAN label(s), one for all images or one per image.
        """
        single = isinstance(images, Image.Image)
        decoded = [self.prepare(im, size, direction) for im in ([images] if single else images)]
        self.generator(direction)  # fail before any work
        outputs: list[Image.Image | None] = [None] * len(decoded)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, d in enumerate(decoded):
            w, h = d.size
            groups.setdefault((self.padded(h), self.padded(w)), []).append(i)
        for idx in groups.values():
            for start in range(0, len(idx), 1 if tile else batch_size):
                chunk = idx[start : start + (1 if tile else batch_size)]
                c = None if cond is None else cond[chunk] if cond.shape[0] > 1 else cond
                arrays = self.translate_decoded([decoded[i] for i in chunk], direction, tile, tile_overlap, c, tile_stats)
                for i, arr in zip(chunk, arrays):
                    outputs[i] = to_pil(arr, decoded[i].alpha)
        return outputs[0] if single else outputs


def style_for_seed(seed: int, style_dim: int) -> torch.Tensor:
    """The MUNIT style code of `seed`: N(0, I) from a CPU generator -> (style_dim, 1, 1)."""
    return torch.randn(style_dim, 1, 1, generator=torch.Generator().manual_seed(int(seed)))


def to_uint8(y: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) float in [0, 1] -> (B, H, W, C) uint8 on the host."""
    return (y * 255.0).round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()
