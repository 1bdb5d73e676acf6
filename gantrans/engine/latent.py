"""Latent-code models (VAE-GAN, BiGAN, InfoGAN) for inference: draw codes from the prior (seeded on the CPU, so
the same seed gives the same image on any device), walk one code, interpolate, decode, and encode images back.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from gantrans.engine.device import autocast, describe, resolve_device, resolve_precision
from gantrans.errors import UsageError
from gantrans.io.checkpoint import Checkpoint
from gantrans.models.dcgan_d import parse_codes


@dataclass(frozen=True)
class Code:
    """One named part of z: InfoGAN codes are c1, c2, ...; any latent dimension is zN (0-based)."""

    name: str
    kind: str  # cat | cont | dim
    start: int
    size: int


class LatentModel:
    """A decoder G (+ encoder E, discriminator D) with the prior and codes its checkpoint records."""

    def __init__(self, ckpt: Checkpoint, device: str = "auto", precision: str = "auto") -> None:
        info = ckpt.provenance.get("latent")
        if not isinstance(info, dict):
            raise UsageError(f"{ckpt.arch}: the checkpoint does not describe its latent code (provenance 'latent')")
        self.checkpoint = ckpt
        self.device = resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        self.prior = str(info.get("prior", "normal"))
        self.noise_dim = int(info.get("noise_dim", ckpt.config.nz))
        self.codes: list[Code] = []
        j = self.noise_dim
        for i, (kind, k) in enumerate(parse_codes(str(info.get("codes", ""))), 1):
            self.codes.append(Code(f"c{i}", kind, j, k))
            j += k
        self.variational = bool(info.get("variational", False))
        for net in ckpt.networks.values():
            net.to(self.device).eval().requires_grad_(False)

    @property
    def code_dim(self) -> int:
        return int(self.checkpoint.config.nz)

    @property
    def size(self) -> int:
        return int(self.checkpoint.config.size)

    def describe(self) -> str:
        return describe(self.device, self.dtype)

    def code(self, name: str) -> Code:
        for c in self.codes:
            if c.name == name:
                return c
        if name.startswith("z") and name[1:].isdigit() and int(name[1:]) < self.code_dim:
            return Code(name, "dim", int(name[1:]), 1)
        known = ", ".join(c.name for c in self.codes) or "none"
        raise UsageError(f"no code {name!r}: this model's codes are {known}; any latent dimension is z0..z{self.code_dim - 1}")

    # -- codes ---------------------------------------------------------------------------------------
    def draw(self, seed: int) -> torch.Tensor:
        """The code of `seed`: (code_dim,) on the CPU, from its own generator."""
        g = torch.Generator().manual_seed(seed)
        z = (torch.rand(self.noise_dim, generator=g) * 2 - 1) if self.prior == "uniform" else torch.randn(self.noise_dim, generator=g)
        parts = [z]
        for c in self.codes:
            if c.kind == "cat":
                parts.append(F.one_hot(torch.randint(0, c.size, (1,), generator=g), c.size)[0].float())
            else:
                parts.append(torch.rand(1, generator=g) * 2 - 1)
        return torch.cat(parts)

    def vary(self, z: torch.Tensor, code: Code, values: list[float]) -> torch.Tensor:
        """(len(values), code_dim): z with `code` set to each value (a categorical code: each category index)."""
        out = z[None].repeat(len(values), 1)
        for i, v in enumerate(values):
            if code.kind == "cat":
                out[i, code.start : code.start + code.size] = F.one_hot(torch.tensor(int(v)), code.size).float()
            else:
                out[i, code.start] = v
        return out

    @staticmethod
    def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
        t = torch.linspace(0, 1, steps)[:, None]
        return a[None] * (1 - t) + b[None] * t

    # -- networks ------------------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        return autocast(self.device, self.dtype)

    @torch.inference_mode()
    def decode(self, z: torch.Tensor) -> np.ndarray:
        """(B, code_dim) -> (B, size, size, C) uint8."""
        with self._autocast():
            y = self.checkpoint.networks["G"](z.to(self.device))
        y = ((y.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return y.permute(0, 2, 3, 1).cpu().numpy()

    @torch.inference_mode()
    def encode(self, images: np.ndarray) -> torch.Tensor:
        """(B, size, size, C) uint8 -> (B, code_dim) codes (the posterior mean of a VAE-GAN) on the CPU."""
        if "E" not in self.checkpoint.networks:
            raise UsageError(f"this model has no encoder ({self.checkpoint.provenance['latent'].get('recipe')}): it cannot encode images")
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().to(self.device) / 127.5 - 1
        with self._autocast():
            h = self.checkpoint.networks["E"](x).float()
        return (h[:, : self.code_dim] if self.variational else h).cpu()


def load_latent(ref: str | None, device: str = "auto", precision: str = "auto") -> LatentModel:
    """A latent model from a path, bundled name or hf:// reference (None: the bundled default of `sample`)."""
    from gantrans import registry
    from gantrans.io.checkpoint import load_checkpoint
    from gantrans.io.hub import resolve

    path = resolve(ref, "sample")
    ck = load_checkpoint(path)
    registry.require(ck.arch, "sample", path.name)
    return LatentModel(ck, device, precision)


Job = tuple[str, torch.Tensor]  # (file name stem, codes (k, code_dim)): one group of `gantrans sample` outputs


def sample_jobs(m: LatentModel, n: int = 8, seed: int = 0, vary: str | None = None, lo: float = -2.0, hi: float = 2.0, steps: int = 9,
                pair: tuple[str, str] | None = None) -> list[Job]:  # fmt: skip
    """What `gantrans sample` decodes: n seeded samples, a walk of code `vary` per seed, or an interpolation
    between two seeds' codes or two images' codes (`pair`: seeds as digits, else image paths)."""
    if pair is not None:
        if all(p.lstrip("-").isdigit() for p in pair):
            za, zb = m.draw(int(pair[0])), m.draw(int(pair[1]))
            stem = f"interp_{pair[0]}_{pair[1]}"
        else:  # two images: their codes (the encoder's; the posterior mean of a VAE-GAN)
            from pathlib import Path

            from gantrans.engine.latent_edit import fit
            from gantrans.io.images import open_image

            imgs = np.stack([fit(open_image(Path(p))[0], m.size, m.checkpoint.config.img_ch) for p in pair])
            za, zb = m.encode(imgs)
            stem = f"interp_{Path(pair[0]).stem}_{Path(pair[1]).stem}"
        return [(stem, m.interpolate(za, zb, steps))]
    if vary:
        code = m.code(vary)
        values = list(range(code.size)) if code.kind == "cat" else torch.linspace(lo, hi, steps).tolist()
        return [(f"seed{s}_{code.name}", m.vary(m.draw(s), code, values)) for s in range(seed, seed + n)]
    return [("", torch.stack([m.draw(s) for s in range(seed, seed + n)]))]


def write_samples(m: LatentModel, jobs: list[Job], out: Any, seed: int, n: int, grid: bool = False, ext: str = "png",
                  overwrite: bool = False, on_file: Callable[[Any, str | None], None] | None = None) -> list[Any]:  # fmt: skip
    """Decode and write `jobs` into folder `out` (atomic writes; `{stem}_{k:02d}`, `seed{S}`, `*_grid.png` strips)
    -> the paths written. A file that exists (without `overwrite`) is left alone: on_file(path, "exists ...");
    each written one: on_file(path, None)."""
    from pathlib import Path

    from gantrans.engine.pipeline import strip
    from gantrans.io.images import SAVE_FORMATS, save_atomic, to_pil

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for stem, z in jobs:  # one group at a time: memory stays at one walk
        images = m.decode(z)
        names = [f"seed{seed + i}" for i in range(len(images))] if not stem else [f"{stem}_{k:02d}" for k in range(len(images))]
        pairs = list(zip(names, images))
        if grid:
            pairs.append((f"{stem or f'seeds{seed}-{seed + n - 1}'}_grid", strip(list(images))))
        for name, arr in pairs:
            is_grid = name.endswith("_grid")
            path = out / f"{name}.{'png' if is_grid else ext}"
            try:
                save_atomic(path, to_pil(arr, None), "PNG" if is_grid else SAVE_FORMATS[ext], overwrite)
            except FileExistsError:
                if on_file:
                    on_file(path, "exists (use --overwrite)")
                continue
            written.append(path)
            if on_file:
                on_file(path, None)
    return written
