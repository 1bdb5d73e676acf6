"""CycleGAN and pix2pix training recipes (official losses and update order)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.io.checkpoint import Checkpoint
from gantrans.models.layers import init_weights
from gantrans.models.registry import build_network, make_config
from gantrans.train.losses import gan_loss
from gantrans.train.recipes import Recipe, cpu_copy, provenance, register

if TYPE_CHECKING:
    from gantrans.train.config import TrainConfig
    from gantrans.train.trainer import _Trainer


def generator_config(cfg: "TrainConfig") -> Any:
    return make_config(cfg.netG, {"input_nc": cfg.input_nc, "output_nc": cfg.output_nc, "ngf": cfg.ngf, "norm": cfg.norm, "dropout": cfg.dropout})


def build_networks(cfg: "TrainConfig") -> tuple[dict[str, nn.Module], dict[str, nn.Module]]:
    gcfg = generator_config(cfg)

    def D(in_nc: int) -> nn.Module:
        dcfg = make_config("patchgan", {"input_nc": in_nc, "ndf": cfg.ndf, "n_layers": cfg.n_layers_D, "norm": cfg.norm})
        return init_weights(build_network("patchgan", dcfg), cfg.init_type, cfg.init_gain)

    G = {"G_A": init_weights(build_network(cfg.netG, gcfg), cfg.init_type, cfg.init_gain)}
    if cfg.model == "cyclegan":
        G["G_B"] = init_weights(build_network(cfg.netG, gcfg), cfg.init_type, cfg.init_gain)
        return G, {"D_A": D(cfg.output_nc), "D_B": D(cfg.input_nc)}
    return G, {"D": D(cfg.input_nc + cfg.output_nc)}  # conditional D sees input and output


def cyclegan_step(tr: "_Trainer", batch: dict[str, torch.Tensor]) -> dict[str, float]:
    c, mode = tr.cfg, tr.cfg.gan_mode
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
        loss_G_A = gan_loss(D_A(fake_B), True, mode, for_discriminator=False)
        loss_G_B = gan_loss(D_B(fake_A), True, mode, for_discriminator=False)
        loss_cyc_A = F.l1_loss(rec_A.float(), A) * c.lambda_A
        loss_cyc_B = F.l1_loss(rec_B.float(), B) * c.lambda_B
        loss_G = loss_G_A + loss_G_B + loss_cyc_A + loss_cyc_B + loss_idt_A + loss_idt_B
    tr.step_opt(loss_G, tr.g_params, tr.opt_G)
    tr.requires_grad(tr.D, True)
    tr.opt_D.zero_grad(set_to_none=True)
    loss_D_A = tr.d_loss(D_A, B, tr.pools["B"].query(fake_B))
    loss_D_B = tr.d_loss(D_B, A, tr.pools["A"].query(fake_A))
    tr.step_opt(loss_D_A + loss_D_B, tr.d_params, tr.opt_D)
    return {
        "G_A": loss_G_A.item(), "G_B": loss_G_B.item(), "cycle_A": loss_cyc_A.item(), "cycle_B": loss_cyc_B.item(),
        "idt_A": loss_idt_A.item(), "idt_B": loss_idt_B.item(), "D_A": loss_D_A.item(), "D_B": loss_D_B.item(),
    }  # fmt: skip


def pix2pix_step(tr: "_Trainer", batch: dict[str, torch.Tensor]) -> dict[str, float]:
    c, mode = tr.cfg, tr.cfg.gan_mode
    A, B = batch["A"], batch["B"]
    G, D = tr.G["G_A"], tr.D["D"]
    with tr.autocast():
        fake_B = G(A)
    tr.requires_grad(tr.D, True)
    tr.opt_D.zero_grad(set_to_none=True)
    fake_AB = tr.pools["B"].query(torch.cat([A, fake_B], 1))
    loss_D = tr.d_loss(D, torch.cat([A, B], 1), fake_AB)
    tr.step_opt(loss_D, tr.d_params, tr.opt_D)
    tr.requires_grad(tr.D, False)
    tr.opt_G.zero_grad(set_to_none=True)
    with tr.autocast():
        loss_G_GAN = gan_loss(D(torch.cat([A, fake_B], 1)), True, mode, for_discriminator=False)
        loss_L1 = F.l1_loss(fake_B.float(), B) * c.lambda_L1
        loss_G = loss_G_GAN + loss_L1
    tr.step_opt(loss_G, tr.g_params, tr.opt_G)
    return {"G_GAN": loss_G_GAN.item(), "G_L1": loss_L1.item(), "D": loss_D.item()}


def sample_rows(tr: "_Trainer", s: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    A, B = s["A"], s["B"]
    if tr.cfg.model == "cyclegan":
        fB, fA = tr.G["G_A"](A).float(), tr.G["G_B"](B).float()
        return [A, fB, tr.G["G_B"](fB).float(), B, fA, tr.G["G_A"](fA).float()]
    return [A, tr.G["G_A"](A).float(), B]


def checkpoint(tr: "_Trainer", step: int, dataset: str) -> Checkpoint:
    c = tr.cfg
    nets = {k: cpu_copy(net, build_network(c.netG, generator_config(c))) for k, net in tr.G.items()}  # plain BN, CPU
    domains = list(c.domains) if c.direction == "a2b" or c.model == "cyclegan" else list(reversed(c.domains))
    return Checkpoint(
        arch=c.netG, config=generator_config(c), networks=nets, domains=domains,
        preprocess={"size": c.crop_size, "mean": [0.5] * 3, "std": [0.5] * 3}, provenance=provenance(tr, step, dataset),
    )  # fmt: skip


register("cyclegan", Recipe(build_networks, cyclegan_step, sample_rows, checkpoint))
register("pix2pix", Recipe(build_networks, pix2pix_step, sample_rows, checkpoint))
