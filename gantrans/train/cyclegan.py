"""CycleGAN and pix2pix training recipes (official losses and update order)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.io.checkpoint import Checkpoint
from gantrans.models.layers import init_weights
from gantrans.models.registry import build_network, get_spec, make_config
from gantrans.train.config import check
from gantrans.train.diffaugment import diff_augment, parse_policy
from gantrans.train.losses import ImagePool, gan_loss, gradient_penalty
from gantrans.train.recipes import GANOptions, Recipe, TrainContext, add_averages, averaged, cpu_copy, live, update_averages

if TYPE_CHECKING:
    from gantrans.train.config import TrainConfig
    from gantrans.train.data import Layout


@dataclass
class CycleGANOptions(GANOptions):
    lambda_gp: float = 10.0  # gan_mode wgangp
    netG: str = "resnet_9blocks"
    norm: str = "instance"
    dropout: bool = False
    n_layers_D: int = 3
    init_gain: float = 0.02
    lambda_A: float = 10.0
    lambda_B: float = 10.0
    lambda_identity: float = 0.5
    lambda_L1: float = 100.0
    pool_size: int = 50
    direction: str = "a2b"  # pix2pix/aligned data: which side is the input
    upsample: str = "transpose"  # ResNet and U-Net generators: transpose (official) | resize (nearest x2 + conv3)
    num_downs: int = 0  # U-Net generators: downsamplings (0: the arch's own, 7 for unet_128, 8 for unet_256)
    padding_type: str = ""  # generators' padding ("": the arch's own; reflect/replicate for U-Nets are not official)
    diffaugment: str = ""  # DiffAugment policies on every D input, e.g. "translation,cutout" (not official; small datasets)
    ema: float = 0.0  # EMA decay of the generators' weights, which become the model's (0: off; not official)
    residual: bool = False  # U-Net generators: edit the input from the identity on (not official; see models/unet.py)
    lambda_paired: float = 0.0  # cyclegan on paired data: + w * (L1(G_A(A), B) + L1(G_B(B), A)) (not official; Tripathy et al. 2018)

    def arch_extra(self) -> dict[str, Any]:
        """Generator-config fields that only some generators have, where set away from their defaults."""
        extra: dict[str, Any] = {"upsample": self.upsample} if self.upsample != "transpose" else {}
        extra |= {"padding_type": self.padding_type} if self.padding_type else {}
        extra |= {"residual": True} if self.residual else {}
        return extra | ({"num_downs": self.num_downs} if self.num_downs else {})

    def validate(self, cfg: "TrainConfig") -> None:
        super().validate(cfg)
        check(self.direction in ("a2b", "b2a"), "direction must be a2b or b2a")
        check(self.pool_size >= 0, "pool_size must be >= 0")
        check(0.0 <= self.ema < 1.0, "ema is a decay in [0, 1)")
        check(self.lambda_paired >= 0, "lambda_paired must be >= 0")
        parse_policy(self.diffaugment)  # UsageError for an unknown name
        spec = get_spec(self.netG)
        check(spec.role == "generator", f"netG {self.netG!r} is not a generator")
        fields = {f.name for f in dataclasses.fields(spec.config_cls)}
        owners = {"upsample": "the ResNet and U-Net generators", "num_downs": "the U-Net generators", "residual": "the U-Net generators"}
        for name in self.arch_extra():  # each generator option set must be one of this generator's
            shown, owner = f"upsample={self.upsample}" if name == "upsample" else name, owners.get(name)
            check(name in fields, f"{shown} is an option of {owner}, not of {self.netG}" if owner else f"{name} is not an option of {self.netG}")
        base = spec.config_cls(**{**spec.defaults, **self.arch_extra()})  # the arch's config checks the values (num_downs >= 5)
        need = spec.padded_size(base, cfg.crop_size)
        check(
            "crop" not in cfg.preprocess or need == cfg.crop_size,
            f"{self.netG} needs a crop size that is a multiple of {spec.pad_multiple(base)} "
            f"(and at least {spec.padded_size(base, 1)}); got {cfg.crop_size}",
        )


class _ImageRecipe(Recipe):
    """Shared by CycleGAN and pix2pix: the generator config, image pools, the discriminator loss."""

    Options = CycleGANOptions

    def __init__(self, cfg: "TrainConfig") -> None:
        super().__init__(cfg)
        self.pools = {"A": ImagePool(self.opts.pool_size, cfg.seed * 2 + 1), "B": ImagePool(self.opts.pool_size, cfg.seed * 2 + 2)}
        self.policy = parse_policy(self.opts.diffaugment)

    def aug(self, x: torch.Tensor) -> torch.Tensor:
        """What D sees of x: x itself, or its DiffAugment transform (a fresh draw per call)."""
        return diff_augment(x, self.policy) if self.policy else x

    def generator_config(self) -> Any:
        c, o = self.cfg, self.opts
        return make_config(o.netG, {"input_nc": c.input_nc, "output_nc": c.output_nc, "ngf": c.ngf, "norm": o.norm, "dropout": o.dropout, **o.arch_extra()})

    def D(self, in_nc: int) -> nn.Module:
        o = self.opts
        dcfg = make_config("patchgan", {"input_nc": in_nc, "ndf": self.cfg.ndf, "n_layers": o.n_layers_D, "norm": o.norm})
        return init_weights(build_network("patchgan", dcfg), self.cfg.init_type, o.init_gain)

    def G(self) -> nn.Module:
        return init_weights(build_network(self.opts.netG, self.generator_config()), self.cfg.init_type, self.opts.init_gain)

    def d_loss(self, ctx: TrainContext, D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        mode = self.opts.gan_mode
        real, fake = self.aug(real), self.aug(fake.detach())
        with ctx.autocast():
            loss = (gan_loss(D(real), True, mode) + gan_loss(D(fake), False, mode)) * 0.5
        if mode == "wgangp":
            loss = loss + self.opts.lambda_gp * gradient_penalty(D, real, fake)
        return loss

    def rank_state(self) -> dict[str, Any]:
        return {"pools": {k: p.state_dict() for k, p in self.pools.items()}}

    def load_rank_state(self, state: dict[str, Any]) -> None:
        for k, p in self.pools.items():
            p.load_state_dict(state["pools"][k])

    def checkpoint(self, ctx: TrainContext, step: int, dataset: str) -> Checkpoint:
        c, o = self.cfg, self.opts
        nets = {k: cpu_copy(averaged(ctx.G, k), build_network(o.netG, self.generator_config())) for k in live(ctx.G)}  # plain BN, CPU
        domains = list(c.domains) if not self.swap else list(reversed(c.domains))
        return Checkpoint(
            arch=o.netG, config=self.generator_config(), networks=nets, domains=domains,
            preprocess={"size": c.crop_size, "mean": [0.5] * 3, "std": [0.5] * 3}, provenance=self.provenance(step, dataset),
        )  # fmt: skip


class CycleGAN(_ImageRecipe):
    defaults = {"netG": "resnet_9blocks", "norm": "instance", "dropout": False, "gan_mode": "lsgan", "pool_size": 50}

    def check_data(self, layout: "Layout", info: Callable[[str], None]) -> None:
        if self.opts.lambda_paired > 0:
            check(layout.kind in ("paired", "aligned"), f"lambda_paired needs paired data (aligned train/ or A/ + B/); {self.cfg.dataset} is {layout.kind}")
        elif layout.kind != "unpaired":
            info(f"note: training cyclegan on a {layout.kind} dataset (pairs are ignored; --set lambda_paired=W uses them)")

    def build(self) -> tuple[dict[str, nn.Module], dict[str, nn.Module]]:
        check(self.cfg.input_nc == self.cfg.output_nc, "cyclegan needs input_nc == output_nc (G_B maps B back to A)")
        G = add_averages({"G_A": self.G(), "G_B": self.G()}, self.opts.ema)
        return G, {"D_A": self.D(self.cfg.output_nc), "D_B": self.D(self.cfg.input_nc)}

    def step(self, tr: TrainContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c, mode = self.opts, self.opts.gan_mode
        A, B = batch["A"], batch["B"]
        G_A, G_B, D_A, D_B = tr.G["G_A"], tr.G["G_B"], tr.D["D_A"], tr.D["D_B"]
        tr.requires_grad(tr.D, False)
        tr.opt_G.zero_grad(set_to_none=True)
        with tr.autocast():
            fake_B = G_A(A)
            rec_A = G_B(fake_B)
            fake_A = G_B(B)
            rec_B = G_A(fake_A)
            loss_idt_A = loss_idt_B = torch.zeros((), device=tr.device)
            if c.lambda_identity > 0:
                loss_idt_A = F.l1_loss(G_A(B).float(), B) * c.lambda_B * c.lambda_identity
                loss_idt_B = F.l1_loss(G_B(A).float(), A) * c.lambda_A * c.lambda_identity
            loss_G_A = gan_loss(D_A(self.aug(fake_B)), True, mode, for_discriminator=False)
            loss_G_B = gan_loss(D_B(self.aug(fake_A)), True, mode, for_discriminator=False)
            loss_cyc_A = F.l1_loss(rec_A.float(), A) * c.lambda_A
            loss_cyc_B = F.l1_loss(rec_B.float(), B) * c.lambda_B
            paired = {}
            if c.lambda_paired > 0:  # A and B are one pair here (check_data), cropped and flipped alike
                paired["paired"] = (F.l1_loss(fake_B.float(), B) + F.l1_loss(fake_A.float(), A)) * c.lambda_paired
            loss_G = loss_G_A + loss_G_B + loss_cyc_A + loss_cyc_B + loss_idt_A + loss_idt_B + sum(paired.values())
        tr.step_opt(loss_G, tr.g_params, tr.opt_G)
        tr.requires_grad(tr.D, True)
        tr.opt_D.zero_grad(set_to_none=True)
        loss_D_A = self.d_loss(tr, D_A, B, self.pools["B"].query(fake_B))
        loss_D_B = self.d_loss(tr, D_B, A, self.pools["A"].query(fake_A))
        tr.step_opt(loss_D_A + loss_D_B, tr.d_params, tr.opt_D)
        update_averages(tr.G, self.opts.ema)
        return {
            "G_A": loss_G_A.detach(), "G_B": loss_G_B.detach(), "cycle_A": loss_cyc_A.detach(), "cycle_B": loss_cyc_B.detach(),
            "idt_A": loss_idt_A.detach(), "idt_B": loss_idt_B.detach(), "D_A": loss_D_A.detach(), "D_B": loss_D_B.detach(),
        } | {k: v.detach() for k, v in paired.items()}  # fmt: skip

    def sample_rows(self, tr: TrainContext, s: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        A, B = s["A"], s["B"]
        G_A, G_B = averaged(tr.G, "G_A"), averaged(tr.G, "G_B")
        fB, fA = G_A(A).float(), G_B(B).float()
        return [A, fB, G_B(fB).float(), B, fA, G_A(fA).float()]


class Pix2Pix(_ImageRecipe):
    defaults = {"netG": "unet_256", "norm": "batch", "dropout": True, "gan_mode": "vanilla", "pool_size": 0, "lambda_L1": 100.0}

    def check_data(self, layout: "Layout", info: Callable[[str], None]) -> None:
        check(layout.kind != "unpaired", f"pix2pix needs paired data (aligned train/ or A/ + B/); {self.cfg.dataset} is unpaired")

    @property
    def swap(self) -> bool:
        return self.opts.direction == "b2a"

    def build(self) -> tuple[dict[str, nn.Module], dict[str, nn.Module]]:
        return add_averages({"G_A": self.G()}, self.opts.ema), {"D": self.D(self.cfg.input_nc + self.cfg.output_nc)}  # conditional D sees input and output

    def step(self, tr: TrainContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c, mode = self.opts, self.opts.gan_mode
        A, B = batch["A"], batch["B"]
        G, D = tr.G["G_A"], tr.D["D"]
        with tr.autocast():
            fake_B = G(A)
        tr.requires_grad(tr.D, True)
        tr.opt_D.zero_grad(set_to_none=True)
        fake_AB = self.pools["B"].query(torch.cat([A, fake_B], 1))
        loss_D = self.d_loss(tr, D, torch.cat([A, B], 1), fake_AB)
        tr.step_opt(loss_D, tr.d_params, tr.opt_D)
        tr.requires_grad(tr.D, False)
        tr.opt_G.zero_grad(set_to_none=True)
        with tr.autocast():
            loss_G_GAN = gan_loss(D(self.aug(torch.cat([A, fake_B], 1))), True, mode, for_discriminator=False)
            loss_L1 = F.l1_loss(fake_B.float(), B) * c.lambda_L1
            loss_G = loss_G_GAN + loss_L1
        tr.step_opt(loss_G, tr.g_params, tr.opt_G)
        update_averages(tr.G, self.opts.ema)
        return {"G_GAN": loss_G_GAN.detach(), "G_L1": loss_L1.detach(), "D": loss_D.detach()}

    def sample_rows(self, tr: TrainContext, s: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        return [s["A"], averaged(tr.G, "G_A")(s["A"]).float(), s["B"]]
