"""DeepFill v2 training (`--arch inpaint`) on any folder of images, with the official losses and schedule:

each sample is a random crop (flips) and a hole mask drawn for it (`masks.py`: free-form strokes and a box,
as the official code; or a mask from the user's `masks` folder, resized nearest and flipped at random),
both seeded by (seed, sample position), so runs resume bit-identically. Per step: the SN-PatchGAN update
(hinge loss on real and completed images, each with the mask as a fourth channel), then the generator update:
l1_alpha * (mean |x - coarse| + mean |x - refined|) over the whole image + gan_alpha * (-mean D(completed)).
With gan_alpha 0 (L1-only pre-training) the discriminator is not updated at all; with gan_start N the
discriminator learns from the first step but the generator's adversarial term waits N steps (a warm-up, so that
fine-tuning an L1-trained generator starts from a discriminator that already tells its fills from real pixels).
Adam 1e-4 (0.5, 0.999), 256 px crops, batch 16 as the official configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gantrans.io.checkpoint import Checkpoint
from gantrans.models.registry import build_network, make_config
from gantrans.train.config import check
from gantrans.train.data import DatasetError, StreamDataset, Transform, load_rgb, random_crop, sample_generator
from gantrans.train.masks import MASK_KINDS, random_mask
from gantrans.train.recipes import Options, Recipe, TrainContext, cpu_copy

if TYPE_CHECKING:
    from gantrans.train.config import TrainConfig
    from gantrans.train.data import Layout


@dataclass
class InpaintOptions(Options):
    cnum: int = 48  # generator width (the official 48); the discriminator's is --ndf
    mask_kind: str = "both"  # both | strokes | box
    mask_ratio: float = 1.0  # redraw masks covering more than this fraction
    prefill: str = "zero"  # the generator's hole input: zero (official) | diffusion (residual on a harmonic fill)
    blend: str = "none"  # the refined output: none (official) | poisson (seamless with the known pixels)
    masks: str = ""  # a folder of user masks (white = hole) sampled instead of random ones
    l1_alpha: float = 1.0
    l1_region: str = "image"  # image (official: L1 over the whole frame) | hole (only the pixels that are filled)
    gan_alpha: float = 1.0
    gan_start: int = 0  # steps of this run before the generator's adversarial term is switched on (D warm-up)

    def validate(self, cfg: "TrainConfig") -> None:
        check(self.mask_kind in MASK_KINDS, f"mask_kind must be one of {', '.join(MASK_KINDS)}")
        check(0.0 < self.mask_ratio <= 1.0, "mask_ratio is a fraction in (0, 1]")
        check(self.l1_region in ("image", "hole"), "l1_region must be image or hole")
        check(self.gan_start >= 0, "gan_start is a number of steps, 0 or more")
        check(cfg.crop_size % 8 == 0 and cfg.crop_size >= 64, "inpaint needs a crop size that is a multiple of 8, at least 64")
        check(not self.masks or Path(self.masks).is_dir(), f"masks {self.masks}: not a folder")
        make_config("gated_inpaint", {"cnum": self.cnum, "img_ch": cfg.input_nc, "prefill": self.prefill, "blend": self.blend})


def recon_l1(target: torch.Tensor, out: torch.Tensor, mask: torch.Tensor, region: str) -> torch.Tensor:
    """Mean L1 over every pixel; region "hole" counts only the hole's errors (the known pixels are composited
    back at inference, and with prefill=diffusion their residual would otherwise pull every output to zero)."""
    err = (target - out.float()).abs()  # (B, C, H, W)
    return (err * mask).mean() if region == "hole" else err.mean()


class MaskStream(StreamDataset):
    """Item k: a random crop of image perm(k) in [-1, 1] and its hole mask (1, S, S)."""

    def __init__(self, layout: "Layout", cfg: "TrainConfig", user_masks: list[Path]) -> None:
        super().__init__(layout, Transform("crop", cfg.crop_size, cfg.crop_size, cfg.flip), cfg.seed, cfg.input_nc, cfg.output_nc, False)
        self.size, self.flip, self.opts, self.user_masks = cfg.crop_size, cfg.flip, cfg.options, user_masks

    def mask(self, gen: torch.Generator) -> torch.Tensor:
        s = self.size
        if self.user_masks:
            from gantrans.engine.inpaint import read_mask, resize_mask

            m = resize_mask(read_mask(self.user_masks[int(torch.randint(0, len(self.user_masks), (1,), generator=gen))]), (s, s))
            if bool(torch.rand((), generator=gen) < 0.5):
                m = m[:, ::-1]
            if bool(torch.rand((), generator=gen) < 0.5):
                m = m[::-1]
        else:
            m = random_mask(s, s, gen, self.opts.mask_kind, self.opts.mask_ratio)
        return torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))[None]

    def _item(self, k: int) -> dict[str, torch.Tensor]:
        epoch, pos = divmod(k, self.n)
        img = load_rgb(self.layout.a[int(self._perm(epoch)[pos])], self.in_nc)
        gen = sample_generator(self.seed, k)
        x = random_crop(img, self.size, gen, self.flip, False) * 2 - 1
        return {"A": x, "M": self.mask(gen)}


class InpaintRecipe(Recipe):
    Options = InpaintOptions
    defaults = {"lr": 1e-4, "beta1": 0.5, "beta2": 0.999, "lr_policy": "constant", "batch_size": 16, "crop_size": 256,
                "load_size": 256, "preprocess": "crop", "steps": 1_000_000, "ndf": 64, "init_type": "official"}  # fmt: skip
    data = "images"

    def check_data(self, layout: "Layout", info: Callable[[str], None]) -> None:
        if layout.kind != "images":
            raise DatasetError("inpaint trains on a folder of images")

    def user_masks(self) -> list[Path]:
        if not self.opts.masks:
            return []
        from gantrans.io.images import list_images

        found = list_images(Path(self.opts.masks))
        if not found:
            raise DatasetError(f"masks {self.opts.masks}: no images")
        return found

    def stream(self) -> torch.utils.data.Dataset:
        return MaskStream(self.layout, self.cfg, self.user_masks())

    def samples(self) -> dict[str, torch.Tensor]:
        """Crops of the first images with fixed masks (seeds 1000..)."""
        from gantrans.train.data import _first_loadable

        s = self.cfg.crop_size
        xs = _first_loadable(self.layout.a, lambda p: random_crop(load_rgb(p, self.cfg.input_nc), s, torch.Generator().manual_seed(0), False, False) * 2 - 1, 4)
        stream = MaskStream(self.layout, self.cfg, self.user_masks())
        return {"A": torch.stack(xs), "M": torch.stack([stream.mask(torch.Generator().manual_seed(1000 + i)) for i in range(len(xs))])}

    def g_config(self) -> Any:
        o = self.opts
        return make_config("gated_inpaint", {"cnum": o.cnum, "img_ch": self.cfg.input_nc, "prefill": o.prefill, "blend": o.blend})

    def build(self) -> tuple[dict[str, nn.Module], dict[str, nn.Module]]:
        from gantrans import registry

        fam = registry.recipe_family(self.cfg.model)
        G = fam.init(build_network("gated_inpaint", self.g_config()), self.cfg.init_type)
        D = fam.init(build_network("snpatchgan", make_config("snpatchgan", {"num_in_ch": self.cfg.input_nc + 1, "cnum": self.cfg.ndf})),
                     self.cfg.init_type)  # fmt: skip
        return {"G": G}, {"D": D}

    def step(self, tr: TrainContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        o = self.opts
        x, m = batch["A"], batch["M"]
        G, D = tr.G["G"], tr.D["D"]
        with tr.autocast():
            coarse, refined = G.stages(x, m)
        complete = refined * m + x * (1 - m)
        out: dict[str, torch.Tensor] = {}
        if o.gan_alpha > 0:  # gan_alpha 0 (L1-only pre-training): the discriminator would learn for nothing
            # discriminator: hinge on real and completed images, each with the mask
            tr.requires_grad(tr.D, True)
            assert tr.opt_D is not None
            tr.opt_D.zero_grad(set_to_none=True)
            with tr.autocast():
                pos, neg = D(torch.cat([x, m], 1)).float(), D(torch.cat([complete.detach(), m], 1)).float()
                d_loss = F.relu(1 - pos).mean() + F.relu(1 + neg).mean()
            tr.step_opt(d_loss, tr.d_params, tr.opt_D)
            tr.requires_grad(tr.D, False)
            out["D"] = d_loss.detach()
        # generator: L1 on both stages + the hinge generator loss
        tr.opt_G.zero_grad(set_to_none=True)
        with tr.autocast():
            ae = o.l1_alpha * (recon_l1(x, coarse, m, o.l1_region) + recon_l1(x, refined, m, o.l1_region))
            g_loss = ae
            if o.gan_alpha > 0 and tr.step >= o.gan_start:
                g_gan = -D(torch.cat([complete, m], 1)).float().mean()
                g_loss = g_loss + o.gan_alpha * g_gan
                out["G_gan"] = g_gan.detach()
        tr.step_opt(g_loss, tr.g_params, tr.opt_G)
        return {"ae": ae.detach(), **out}

    def compile_units(self, tr: TrainContext) -> list[tuple[nn.Module, str]]:
        return [(tr.G["G"], "stages"), (tr.D["D"], "forward")]

    def sample_rows(self, tr: TrainContext, s: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        x, m = s["A"], s["M"]
        coarse, refined = tr.G["G"].stages(x, m)
        return [x, x * (1 - m) + m, coarse.float(), (refined.float() * m + x * (1 - m))]

    def checkpoint(self, tr: TrainContext, step: int, dataset: str) -> Checkpoint:
        net = cpu_copy(tr.G["G"], build_network("gated_inpaint", self.g_config()))
        c = self.cfg
        return Checkpoint(arch="gated_inpaint", config=self.g_config(), networks={"G": net}, domains=["image", "completed"],
                          preprocess={"size": c.crop_size, "mean": [0.5] * 3, "std": [0.5] * 3},
                          provenance={**self.provenance(step, dataset), "mask_kind": self.opts.mask_kind})  # fmt: skip
