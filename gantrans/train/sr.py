"""Super-resolution training: SRResNet, SRGAN, ESRGAN, Real-ESRNet and Real-ESRGAN on any folder of photos.

Each sample is a random HR crop (flip, and 90-degree rotation where the paper's code uses it) and the LR
image made from it on the fly (`degrade.py`: bicubic, or Real-ESRGAN's second-order pipeline), drawn from a
generator seeded by (seed, sample position): the data of a step is a function of the step, so runs resume
bit-identically. Losses follow the papers and their official configurations:

- srresnet   (Ledig et al. 2017): pixel MSE; Adam 1e-4. A PSNR model for any generator (`--set netG=...`).
- srgan      (Ledig et al. 2017): content loss on VGG-19 phi_{5,4} (features / 12.75, MSE) + 1e-3 adversarial
             (BCE, the paper's discriminator); lr 1e-4, then 1e-5 for the second half; start from an SRResNet
             (`--init-from`).
- esrgan     (Wang et al. 2018, BasicSR train_ESRGAN_x4): L1 1e-2 + perceptual (conv5_4 before activation, L1) 1
             + relativistic average GAN 5e-3, VGG-style discriminator, Adam (0.9, 0.99) 1e-4 halved at 50k/100k/
             200k/300k, EMA 0.999; start from an RRDB-PSNR model.
- realesrnet (Wang et al. 2021): L1 on Real-ESRGAN degradations, USM-sharpened targets, lr 2e-4, EMA 0.999.
- realesrgan (Wang et al. 2021): L1 1 + perceptual (conv1_2 .1, conv2_2 .1, conv3_4 1, conv4_4 1, conv5_4 1; L1)
             + 0.1 BCE GAN with the U-Net SN discriminator; USM-sharpened targets for L1 and perceptual; Adam
             (0.9, 0.99) 1e-4; EMA 0.999; start from a Real-ESRNet model.

Perceptual losses need a torchvision VGG-19 weights file (`--set vgg_weights=...`); without one the run says
so and trains without it (SRGAN falls back to the paper's SRGAN-MSE: pixel MSE as content loss).
Deviation: Real-ESRGAN's training-pair queue (a 180-sample shuffle buffer across batches) is not used; the
stream's seeded permutation already mixes images, and the queue would be more state to resume.
With EMA on, the EMA weights are the model's inference weights.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.io.checkpoint import Checkpoint
from gantrans.models.registry import build_network, get_spec, make_config
from gantrans.train.config import check
from gantrans.train.data import DatasetError, StreamDataset, Transform, load_rgb, random_crop, sample_generator
from gantrans.train.degrade import DEGRADATIONS, degrade, usm_sharpen
from gantrans.train.losses import gan_loss
from gantrans.train.recipes import GANOptions, Recipe, TrainContext, add_averages, averaged, cpu_copy, list_field, update_averages

if TYPE_CHECKING:
    from gantrans.train.config import TrainConfig
    from gantrans.train.data import Layout

REALESRGAN_LAYERS = ["conv1_2=0.1", "conv2_2=0.1", "conv3_4=1", "conv4_4=1", "conv5_4=1"]


@dataclass
class SROptions(GANOptions):
    netG: str = "rrdbnet"  # rrdbnet | srresnet | msrresnet | srvgg_compact (width: --ngf)
    scale: int = 4
    num_block: int = 23  # residual blocks (rrdbnet, srresnet, msrresnet) or body convs (srvgg_compact)
    num_grow_ch: int = 32  # rrdbnet growth channels
    degradation: str = "bicubic"  # bicubic | realesrgan
    rot: bool = True  # 90-degree rotations (BasicSR use_rot)
    pixel_loss: str = "l1"  # l1 | mse
    pixel_w: float = 1.0
    perceptual_w: float = 0.0
    perceptual_layers: list[str] = list_field(["conv5_4=1"])
    perceptual_loss: str = "l1"  # l1 | mse
    feature_scale: float = 1.0  # SRGAN rescales VGG features by 1/12.75
    vgg_weights: str = ""  # torchvision VGG-19 weights file for the perceptual loss
    gan_w: float = 0.0  # 0: no discriminator
    relativistic: bool = False  # ESRGAN's relativistic average GAN
    netD: str = "vgg_style_d"  # srgan_d | vgg_style_d | unet_sn
    ema: float = 0.0  # EMA decay of the generator (0: off)
    gt_usm: bool = False  # USM-sharpened targets for the pixel and perceptual losses (Real-ESRGAN)

    def validate(self, cfg: "TrainConfig") -> None:
        from gantrans import registry
        from gantrans.train.perceptual import parse_layers

        super().validate(cfg)
        fam = registry.recipe_family(cfg.model)
        check(self.netG in fam.archs, f"netG must be one of {', '.join(fam.archs)}")
        check(self.netD in fam.aux_archs, f"netD must be one of {', '.join(fam.aux_archs)}")
        check(self.degradation in DEGRADATIONS, f"degradation must be one of {', '.join(DEGRADATIONS)}")
        check(self.pixel_loss in ("l1", "mse") and self.perceptual_loss in ("l1", "mse"), "pixel_loss and perceptual_loss are l1 or mse")
        check(0.0 <= self.ema < 1.0, "ema is a decay in [0, 1)")
        check(self.scale >= 1 and cfg.crop_size % self.scale == 0, f"crop size {cfg.crop_size} must be a multiple of the scale {self.scale}")
        check(self.gan_w <= 0 or self.netD != "unet_sn" or cfg.crop_size % 8 == 0, "the U-Net discriminator needs a crop size that is a multiple of 8")
        check(self.gan_w <= 0 or self.netD != "vgg_style_d" or cfg.crop_size & (cfg.crop_size - 1) == 0,
              "the VGG-style discriminator needs a power-of-two crop size (128 as ESRGAN)")  # fmt: skip
        parse_layers(self.perceptual_layers)
        make_config(self.netG, _fit(self.netG, self.g_values(cfg)))  # the generator config is valid

    def g_values(self, cfg: "TrainConfig") -> dict[str, Any]:
        return {"num_in_ch": cfg.input_nc, "num_out_ch": cfg.output_nc, "num_feat": cfg.ngf, "num_block": self.num_block,
                "num_conv": self.num_block, "num_grow_ch": self.num_grow_ch, "scale": self.scale, "upscale": self.scale}  # fmt: skip


def _fit(arch: str, values: dict[str, Any]) -> dict[str, Any]:
    """The values `arch`'s config has fields for (generators name their scale and depth differently)."""
    names = {f.name for f in dataclasses.fields(get_spec(arch).config_cls)}
    return {k: v for k, v in values.items() if k in names}


class SRStream(StreamDataset):
    """Item k: a random HR crop of image perm(k) and its degraded LR, in [0, 1]."""

    def __init__(self, layout: "Layout", cfg: "TrainConfig") -> None:
        super().__init__(layout, Transform("crop", cfg.crop_size, cfg.crop_size, cfg.flip), cfg.seed, cfg.input_nc, cfg.output_nc, False)
        self.crop, self.scale, self.flip = cfg.crop_size, cfg.options.scale, cfg.flip
        self.rot, self.kind = cfg.options.rot, cfg.options.degradation

    def _item(self, k: int) -> dict[str, torch.Tensor]:
        epoch, pos = divmod(k, self.n)
        img = load_rgb(self.layout.a[int(self._perm(epoch)[pos])], self.in_nc)
        gen = sample_generator(self.seed, k)
        hr = random_crop(img, self.crop, gen, self.flip, self.rot)
        return {"LR": degrade(hr, self.scale, self.kind, gen), "HR": hr}


class _SR(Recipe):
    Options = SROptions
    data = "images"

    def check_data(self, layout: "Layout", info: Callable[[str], None]) -> None:
        if layout.kind != "images":
            raise DatasetError(f"{self.cfg.model} trains on a folder of high-resolution images")

    def stream(self) -> torch.utils.data.Dataset:
        return SRStream(self.layout, self.cfg)

    def samples(self) -> dict[str, torch.Tensor]:
        """Fixed crops of the first images and their LR (the run's degradation, fixed seeds)."""
        from gantrans.train.data import _first_loadable

        s = self.cfg.crop_size
        crops = _first_loadable(self.layout.a, lambda p: random_crop(load_rgb(p, self.cfg.input_nc), s, torch.Generator().manual_seed(0), False, False), 4)
        hr = torch.stack(crops)
        lr = torch.stack([degrade(x, self.opts.scale, self.opts.degradation, torch.Generator().manual_seed(i)) for i, x in enumerate(hr)])
        return {"LR": lr, "HR": hr}

    # -- networks ------------------------------------------------------------------------------------
    def g_config(self) -> Any:
        return make_config(self.opts.netG, _fit(self.opts.netG, self.opts.g_values(self.cfg)))

    def d_config(self) -> Any:
        c = self.cfg
        return make_config(self.opts.netD, _fit(self.opts.netD, {"num_in_ch": c.output_nc, "num_feat": c.ndf, "input_size": c.crop_size}))

    def build(self) -> tuple[dict[str, nn.Module], dict[str, nn.Module]]:
        from gantrans import registry

        fam = registry.family_of(self.opts.netG)
        G = add_averages({"G": fam.init(build_network(self.opts.netG, self.g_config()), self.cfg.init_type)}, self.opts.ema)
        D = {}
        if self.opts.gan_w > 0:
            D["D"] = fam.init(build_network(self.opts.netD, self.d_config()), self.cfg.init_type)
        return G, D

    def setup(self, ctx: TrainContext) -> None:
        o = self.opts
        self.vgg: nn.Module | None = None
        self.pixel_w = o.pixel_w
        if o.perceptual_w > 0 and o.vgg_weights:
            from gantrans.train.perceptual import VGGFeatureLoss, parse_layers

            self.vgg = VGGFeatureLoss(o.vgg_weights, parse_layers(o.perceptual_layers), o.perceptual_loss, o.feature_scale).to(ctx.device)
        elif o.perceptual_w > 0:
            fallback = self.pixel_w == 0
            if fallback:
                self.pixel_w = 1.0
            ctx.info("no vgg_weights (a torchvision VGG-19 file, --set vgg_weights=PATH): training without the perceptual loss"
                     + (f" ({o.pixel_loss} pixel loss as the content loss instead, weight 1)" if fallback else ""))  # fmt: skip

    def step(self, tr: TrainContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        o = self.opts
        lr, hr = batch["LR"], batch["HR"]
        target = usm_sharpen(hr) if o.gt_usm else hr
        G, D = tr.G["G"], tr.D.get("D")
        out: dict[str, torch.Tensor] = {}
        if D is not None:
            tr.requires_grad(tr.D, False)
        tr.opt_G.zero_grad(set_to_none=True)
        with tr.autocast():
            sr = G(lr)
            total = torch.zeros((), device=tr.device)
            if self.pixel_w > 0:
                crit = F.l1_loss if o.pixel_loss == "l1" else F.mse_loss
                pix = crit(sr.float(), target) * self.pixel_w
                total, out["pixel"] = total + pix, pix.detach()
            if self.vgg is not None:
                per = self.vgg(sr, target) * o.perceptual_w
                total, out["perceptual"] = total + per, per.detach()
            if D is not None:
                fake = D(sr).float()
                if o.relativistic:
                    real = D(hr).float().detach()
                    g_gan = (gan_loss(real - fake.mean(), False, "vanilla") + gan_loss(fake - real.mean(), True, "vanilla")) * 0.5
                else:
                    g_gan = gan_loss(fake, True, o.gan_mode, for_discriminator=False)
                total, out["G_gan"] = total + g_gan * o.gan_w, g_gan.detach()
        tr.step_opt(total, tr.g_params, tr.opt_G)
        if D is not None:
            tr.requires_grad(tr.D, True)
            assert tr.opt_D is not None
            tr.opt_D.zero_grad(set_to_none=True)
            with tr.autocast():
                real, fake = D(hr).float(), D(sr.detach()).float()
                if o.relativistic:  # BasicSR: each side against the other's detached mean
                    d = (gan_loss(real - fake.detach().mean(), True, "vanilla") + gan_loss(fake - real.detach().mean(), False, "vanilla")) * 0.5
                else:
                    d = gan_loss(real, True, o.gan_mode) + gan_loss(fake, False, o.gan_mode)
            tr.step_opt(d, tr.d_params, tr.opt_D)
            out["D"] = d.detach()
        update_averages(tr.G, o.ema)
        return out

    def inference_net(self, tr: TrainContext) -> nn.Module:
        return averaged(tr.G, "G")

    def sample_rows(self, tr: TrainContext, s: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        lr, hr = s["LR"], s["HR"]
        up = F.interpolate(lr, size=hr.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
        return [up * 2 - 1, self.inference_net(tr)(lr).float().clamp(0, 1) * 2 - 1, hr * 2 - 1]

    def checkpoint(self, tr: TrainContext, step: int, dataset: str) -> Checkpoint:
        from gantrans.families.sr import SR_PREPROCESS

        net = cpu_copy(self.inference_net(tr), build_network(self.opts.netG, self.g_config()))
        prov = {**self.provenance(step, dataset), "degradation": self.opts.degradation, "ema": self.opts.ema}
        return Checkpoint(arch=self.opts.netG, config=self.g_config(), networks={"G": net}, domains=["LR", "HR"],
                          preprocess=dict(SR_PREPROCESS), provenance=prov)  # fmt: skip


_RUN = {"init_type": "official", "beta1": 0.9, "beta2": 0.999, "lr": 1e-4, "lr_policy": "constant", "preprocess": "crop", "gan_mode": "vanilla"}


class SRResNetRecipe(_SR):
    defaults = {**_RUN, "netG": "srresnet", "num_block": 16, "pixel_loss": "mse", "crop_size": 96, "load_size": 96,
                "batch_size": 16, "steps": 1_000_000}  # fmt: skip


class SRGANRecipe(_SR):
    defaults = {**_RUN, "netG": "srresnet", "num_block": 16, "pixel_w": 0.0, "perceptual_w": 1.0, "perceptual_layers": ["relu5_4=1"],
                "perceptual_loss": "mse", "feature_scale": 1 / 12.75, "gan_w": 1e-3, "netD": "srgan_d", "crop_size": 96,
                "load_size": 96, "batch_size": 16, "steps": 200_000, "lr_policy": "multistep", "lr_milestones": [100_000]}  # fmt: skip


class ESRGANRecipe(_SR):
    defaults = {**_RUN, "netG": "rrdbnet", "pixel_w": 1e-2, "perceptual_w": 1.0, "perceptual_layers": ["conv5_4=1"],
                "gan_w": 5e-3, "relativistic": True, "netD": "vgg_style_d", "beta2": 0.99, "crop_size": 128, "load_size": 128,
                "batch_size": 16, "steps": 400_000, "lr_policy": "multistep", "lr_milestones": [50_000, 100_000, 200_000, 300_000],
                "lr_gamma": 0.5, "ema": 0.999}  # fmt: skip


class RealESRNetRecipe(_SR):
    defaults = {**_RUN, "netG": "rrdbnet", "degradation": "realesrgan", "rot": False, "gt_usm": True, "lr": 2e-4, "beta2": 0.99,
                "crop_size": 256, "load_size": 256, "batch_size": 12, "steps": 1_000_000, "lr_policy": "multistep",
                "lr_milestones": [1_000_000], "lr_gamma": 0.5, "ema": 0.999}  # fmt: skip


class RealESRGANRecipe(_SR):
    defaults = {**RealESRNetRecipe.defaults, "lr": 1e-4, "steps": 400_000, "lr_milestones": [400_000], "perceptual_w": 1.0,
                "perceptual_layers": REALESRGAN_LAYERS, "gan_w": 0.1, "netD": "unet_sn"}  # fmt: skip
