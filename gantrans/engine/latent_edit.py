"""Editing photos in a latent model's code space: invert an image to z (the encoder, gradient descent on z, or
the encoder then descent), move z along stored attribute vectors from the attribute's current value to the
requested one, decode. `add_attribute` computes a vector from two folders of examples and stores it in the
checkpoint, so users add attributes without retraining.
"""

from __future__ import annotations

from typing import Sequence, cast

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gantrans.engine.latent import LatentModel
from gantrans.engine.pipeline import Output, Task, Work
from gantrans.errors import UsageError
from gantrans.io.checkpoint import Checkpoint
from gantrans.io.images import Decoded, InputItem, decode, open_image
from gantrans.models.attr_vectors import AttrVectors
from gantrans.models.dcgan_d import DCGANDiscriminator
from gantrans.models.registry import build_network, make_config

INVERSIONS = ("encoder", "optimize", "both")


def stored_attrs(ck: Checkpoint) -> AttrVectors | None:
    """The checkpoint's attribute vectors ("A"), if any."""
    a = ck.networks.get("A")
    return cast(AttrVectors, a) if a is not None else None


def attr_names(ck: Checkpoint) -> list[str]:
    a = stored_attrs(ck)
    return list(a.config.names) if a is not None else []


def fit(img: Image.Image, size: int, channels: int) -> np.ndarray:
    """An image at the model's square size (bicubic, antialiased) -> (size, size, C) uint8."""
    img = img.convert("L" if channels == 1 else "RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
    a = np.asarray(img)
    return np.ascontiguousarray(a[..., None] if a.ndim == 2 else a)


def load_folder(folder: str, size: int, channels: int) -> np.ndarray:
    from pathlib import Path

    from gantrans.io.images import list_images

    paths = list_images(Path(folder)) if Path(folder).is_dir() else []
    if not paths:
        raise UsageError(f"{folder}: no images")
    return np.stack([fit(open_image(p)[0], size, channels) for p in paths])


def attribute_vector(m: LatentModel, with_images: np.ndarray, without_images: np.ndarray) -> tuple[torch.Tensor, float, float]:
    """(vector, low, high): mean(z with) - mean(z without), and both means projected on its direction."""
    zw, zo = m.encode(with_images).double(), m.encode(without_images).double()
    v = zw.mean(0) - zo.mean(0)
    unit = v / v.norm().clamp_min(1e-12)
    return v.float(), float(zo.mean(0) @ unit), float(zw.mean(0) @ unit)


def add_attribute(ck: Checkpoint, name: str, v: torch.Tensor, low: float, high: float) -> Checkpoint:
    """`ck` with attribute `name` added (or replaced) in its attribute vectors ("A")."""
    old = stored_attrs(ck)
    rows = {n: (old.vectors[i], float(old.low[i]), float(old.high[i])) for i, n in enumerate(old.config.names)} if old is not None else {}
    rows[name] = (v, low, high)
    cfg = make_config("attr_vectors", {"nz": int(v.numel()), "names": list(rows)})
    net = cast(AttrVectors, build_network("attr_vectors", cfg))
    with torch.no_grad():
        for i, (vec, lo, hi) in enumerate(rows.values()):
            net.vectors[i], net.low[i], net.high[i] = vec.cpu(), lo, hi
    ck.networks["A"] = net
    ck.aux["A"] = ("attr_vectors", cfg)
    return ck


def parse_edits(m: LatentModel, sets: Sequence[str]) -> list[tuple[int, str]]:
    """["smile=1", "age=0.5", "glasses=toggle", "tone=tone_5"] -> [(attribute index, value)]; names checked.
    GROUP=NAME (StarGAN's form for exclusive groups) means NAME=1: move towards that member's vector."""
    names = attr_names(m.checkpoint)
    if not names:
        raise UsageError("this model stores no attribute vectors: add one with gantrans attributes -m MODEL --add NAME --with DIR --without DIR")
    out = []
    for item in sets:
        name, sep, value = item.partition("=")
        if sep and value in names and name not in names:
            name, value = value, "1"
        if not sep or name not in names:
            raise UsageError(f"--set {item!r}: expected NAME=VALUE (or GROUP=NAME) with NAME one of {', '.join(names)}")
        if value != "toggle":
            try:
                float(value)
            except ValueError:
                raise UsageError(f"--set {item!r}: the value is a number (0 = without, 1 = with), toggle, or a stored attribute name") from None
        out.append((names.index(name), value))
    return out


class LatentEditor:
    """Inversion and attribute moves for one latent model."""

    def __init__(self, m: LatentModel, invert: str | None = None, steps: int = 100, strength: float = 1.0, seed: int = 0) -> None:
        """invert None: the encoder if the model has one, else optimisation."""
        invert = invert or ("encoder" if "E" in m.checkpoint.networks else "optimize")
        if invert not in INVERSIONS:
            raise UsageError(f"--invert must be one of {', '.join(INVERSIONS)}")
        if invert != "optimize" and "E" not in m.checkpoint.networks:
            raise UsageError(f"this model has no encoder: use --invert optimize (it was trained as {m.checkpoint.provenance['latent'].get('recipe')})")
        self.m, self.invert, self.steps, self.strength, self.seed = m, invert, steps, strength, seed

    def invert_codes(self, images: np.ndarray) -> torch.Tensor:
        """(B, S, S, C) uint8 -> (B, nz) codes on the CPU."""
        m = self.m
        z = m.encode(images) if self.invert != "optimize" else torch.stack([m.draw(self.seed + i) for i in range(len(images))])
        if self.invert == "encoder":
            return z
        return self.optimize(images, z)

    def optimize(self, images: np.ndarray, z0: torch.Tensor) -> torch.Tensor:
        """Gradient descent on z: pixel L1 + discriminator-feature MSE (stay close to the original) + a prior
        term and the discriminator's realism score (stay realistic). Adam, lr 0.05."""
        m = self.m
        G = m.checkpoint.networks["G"]
        D = cast(DCGANDiscriminator, m.checkpoint.networks["D"]) if "D" in m.checkpoint.networks else None
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().to(m.device) / 127.5 - 1
        z = z0.clone().to(m.device).requires_grad_(True)
        opt = torch.optim.Adam([z], lr=0.05)
        joint = D is not None and D.config.joint_nz > 0
        with torch.enable_grad():
            target = [f.detach() for f in D.features(x)] if D is not None else []
            for _ in range(self.steps):
                opt.zero_grad()
                y = G(z)
                loss = (y - x).abs().mean() + 1e-3 * z.pow(2).mean()
                if D is not None:
                    loss = loss + F.mse_loss(D.features(y)[-2], target[-2]) * 0.1
                    loss = loss + 1e-2 * F.softplus(-D(y, z) if joint else -D(y)).mean()
                loss.backward()
                opt.step()
        return z.detach().cpu()

    def move(self, z: torch.Tensor, edits: list[tuple[int, str]]) -> torch.Tensor:
        """z moved along each edited attribute from its current value to the requested one (times strength)."""
        a = stored_attrs(self.m.checkpoint)
        assert a is not None
        vec, low, high = a.vectors.cpu(), a.low.cpu(), a.high.cpu()
        z = z.clone()
        for i, value in edits:
            unit = vec[i] / vec[i].norm().clamp_min(1e-8)
            span = float(high[i] - low[i])
            cur = (z @ unit - low[i]) / span  # (B,)
            want = (cur < 0.5).float() if value == "toggle" else torch.full_like(cur, float(value))
            z = z + (self.strength * (want - cur) * span)[:, None] * unit[None]
        return z


class LatentEditTask(Task):
    """One output per input: the edit decoded at the model's size, resized back to the input's size."""

    single = False

    def __init__(self, ed: LatentEditor, edits: list[tuple[int, str]], names: list[str]) -> None:
        self.ed, self.edits, self.names = ed, edits, names
        self.tag = "_".join(f"{names[i]}-{v}" for i, v in edits)  # outputs: {stem}_tone_5-1.png
        self.group = 8

    def prepare(self, image: Image.Image, item: InputItem) -> Decoded:
        m = self.ed.m
        d = decode(image, m.checkpoint.config.img_ch)
        w, h = d.size
        if (w, h) != (m.size, m.size):
            d.notes.append(f"the model runs at {m.size}x{m.size}: the result is resized back to {w}x{h}")
        return d

    def produce(self, works: Sequence[Work]) -> list[list[Output]]:
        m = self.ed.m
        decoded = [w.decoded for w in works]
        small = np.stack([fit(Image.fromarray(self._u8(d)), m.size, m.checkpoint.config.img_ch) for d in decoded])
        z = self.ed.move(self.ed.invert_codes(small), self.edits)
        out = m.decode(z)
        results: list[list[Output]] = []
        for d, y in zip(decoded, out):
            assert d is not None
            w, h = d.size
            img = Image.fromarray(y[..., 0] if y.shape[2] == 1 else y)
            if img.size != (w, h):
                img = img.resize((w, h), Image.Resampling.BICUBIC)
            a = np.asarray(img)
            results.append([(self.tag, np.ascontiguousarray(a[..., None] if a.ndim == 2 else a))])
        return results

    @staticmethod
    def _u8(d: Decoded | None) -> np.ndarray:
        assert d is not None
        p = d.pixels if d.pixels.dtype == np.uint8 else np.round(np.clip(d.pixels, 0, 1) * 255).astype(np.uint8)
        return p[..., 0] if p.shape[2] == 1 else p
