"""MUNIT and UNIT training recipes: the official NVlabs losses, weights and update order.

Each step is dis_update then gen_update, as the official train.py. MUNIT draws random style codes
from N(0, I) on the device's global generator (part of the saved RNG state, so resume is exact).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.errors import UsageError
from gantrans.io.checkpoint import Checkpoint
from gantrans.models.munit_blocks import munit_init
from gantrans.models.registry import build_network, make_config
from gantrans.train.config import check
from gantrans.train.recipes import GANOptions, Recipe, TrainContext, cpu_copy

if TYPE_CHECKING:
    from gantrans.train.config import TrainConfig
    from gantrans.train.data import Layout


@dataclass
class NVlabsOptions(GANOptions):
    """Settings MUNIT and UNIT share (the NVlabs yaml keys; ngf/ndf are the generator/discriminator dims)."""

    n_res: int = 4
    n_layers_D: int = 4
    num_scales: int = 3
    gan_w: float = 1.0
    recon_x_w: float = 10.0
    recon_x_cyc_w: float = 0.0
    vgg_w: float = 0.0
    vgg_weights: str = ""  # torchvision VGG16 weights file for the perceptual loss (vgg_w > 0)

    def validate(self, cfg: "TrainConfig") -> None:
        check(self.gan_mode in ("lsgan", "vanilla"), "munit/unit: gan_mode lsgan or vanilla (nsgan)")
        check(self.vgg_w <= 0 or bool(self.vgg_weights), "vgg_w > 0 needs vgg_weights (a torchvision VGG16 weights file)")
        m = 2 ** (self.n_layers_D + self.num_scales - 1)  # the coarsest discriminator scale fixes the multiple
        check(cfg.crop_size % m == 0, f"{cfg.model} needs a crop size that is a multiple of {m}; got {cfg.crop_size}")


@dataclass
class MUNITOptions(NVlabsOptions):
    """MUNIT's own keys: the style code and its MLP, the style/content reconstruction weights."""

    style_dim: int = 8
    mlp_dim: int = 256
    recon_s_w: float = 1.0
    recon_c_w: float = 1.0
    # gantrans extension (0 = the official recipe): L1 of decode_b(content_a(A_n), style_b(B_ref)) to B_n, on
    # triplets of a dataset whose trainB is grouped by style (see train/guided.py); supervises --style-from
    guided_w: float = 0.0

    def validate(self, cfg: "TrainConfig") -> None:
        super().validate(cfg)
        check(self.guided_w >= 0, f"guided_w must be >= 0; got {self.guided_w}")


@dataclass
class UNITOptions(NVlabsOptions):
    """UNIT's own keys: shared residual blocks and the VAE KL weights."""

    share: int = 0  # residual blocks shared between the domains (paper: 1; official code: 0)
    recon_kl_w: float = 0.01
    recon_kl_cyc_w: float = 0.01


# NVlabs MUNIT/UNIT configs (edges2handbags / unit_gta2city): Adam 1e-4, wd 1e-4, lr x0.5 every 100k
_NVLABS: dict[str, Any] = {
    "gan_mode": "lsgan", "lr": 1e-4, "weight_decay": 1e-4, "lr_policy": "step", "lr_decay_every": 100000,
    "lr_gamma": 0.5, "init_type": "kaiming", "n_layers_D": 4, "load_size": 256, "crop_size": 256, "steps": 1000000,
}  # fmt: skip


def dis_loss(D: nn.Module, fake: torch.Tensor, real: torch.Tensor, mode: str) -> torch.Tensor:
    """Official MsImageDis.calc_dis_loss: summed over scales, lsgan or nsgan (= vanilla)."""
    loss = torch.zeros((), device=real.device)
    for o_fake, o_real in zip(D(fake), D(real)):
        o_fake, o_real = o_fake.float(), o_real.float()
        if mode == "lsgan":
            loss = loss + (o_fake**2).mean() + ((o_real - 1) ** 2).mean()
        else:
            loss = loss + F.binary_cross_entropy_with_logits(o_fake, torch.zeros_like(o_fake)) + F.binary_cross_entropy_with_logits(o_real, torch.ones_like(o_real))
    return loss


def gen_adv_loss(D: nn.Module, fake: torch.Tensor, mode: str) -> torch.Tensor:
    loss = torch.zeros((), device=fake.device)
    for o in D(fake):
        o = o.float()
        loss = loss + (((o - 1) ** 2).mean() if mode == "lsgan" else F.binary_cross_entropy_with_logits(o, torch.ones_like(o)))
    return loss


class VGGPerceptual(nn.Module):
    """MUNIT's domain-invariant perceptual loss: MSE between instance-normalised VGG16 relu5_3 features.

    The official code loads a Lua VGG16 (no longer loadable); this takes torchvision's VGG16 layout
    from a user-supplied weights file (safetensors, or a state dict read with weights_only=True).
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        from torchvision.models import vgg16

        self.features = vgg16(weights=None).features[:30]  # up to relu5_3
        path = Path(path)
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier.")}
        state = {k: v for k, v in state.items() if int(k.split(".")[0]) < 30}
        self.features.load_state_dict(state, strict=True)
        self.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def feats(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() + 1) * 0.5
        x = x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x
        return F.instance_norm(self.features((x - self.mean) / self.std))

    def forward(self, img: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.feats(img), self.feats(target))


def _l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The official recon_criterion: mean absolute error (in fp32)."""
    return (a.float() - b.float()).abs().mean()


def kl(mu: torch.Tensor) -> torch.Tensor:
    """The official "reduced VAE" KL term: mean(mu^2)."""
    return (mu.float() ** 2).mean()


class _NVlabs(Recipe):
    Options = NVlabsOptions
    defaults = _NVLABS

    def __init__(self, cfg: "TrainConfig") -> None:
        super().__init__(cfg)
        self.vgg: VGGPerceptual | None = None

    def generator_config(self) -> Any:
        c, o = self.cfg, self.opts
        return make_config(c.model, {"input_nc": c.input_nc, "output_nc": c.output_nc, "dim": c.ngf, "n_res": o.n_res, **self.arch_values()})

    def arch_values(self) -> dict[str, Any]:
        return {}

    def build(self) -> tuple[dict[str, nn.Module], dict[str, nn.Module]]:
        c, o = self.cfg, self.opts
        G = munit_init(build_network(c.model, self.generator_config()), c.init_type)

        def D(nc: int) -> nn.Module:
            dcfg = make_config("ms_image_dis", {"input_nc": nc, "dim": c.ndf, "n_layer": o.n_layers_D, "num_scales": o.num_scales})
            return munit_init(build_network("ms_image_dis", dcfg), "gaussian")  # the official D init

        return {"G": G}, {"dis_a": D(c.input_nc), "dis_b": D(c.output_nc)}

    def setup(self, ctx: TrainContext) -> None:
        if self.opts.vgg_w > 0:
            if not self.opts.vgg_weights:
                raise UsageError("vgg_w > 0 needs vgg_weights: a torchvision VGG16 weights file (.safetensors or .pth)")
            self.vgg = VGGPerceptual(self.opts.vgg_weights).to(ctx.device)

    def compile_units(self, tr: TrainContext) -> list[tuple[nn.Module, str]]:
        G = tr.G["G"]
        return [(g, m) for g in (G.gen_a, G.gen_b) for m in ("encode", "decode")] + [(d, "forward") for d in tr.D.values()]

    def cycle_and_vgg(self, losses: dict, total: torch.Tensor, cycles: tuple, images: tuple) -> torch.Tensor:
        """The optional terms shared by MUNIT and UNIT: cycle reconstruction (decoded only when its weight is
        > 0, as the official code) and the domain-invariant perceptual loss."""
        c = self.opts
        x_a, x_b, x_ba, x_ab = images
        if c.recon_x_cyc_w > 0:
            losses["cyc_x_a"], losses["cyc_x_b"] = _l1(cycles[0](), x_a), _l1(cycles[1](), x_b)
            total = total + c.recon_x_cyc_w * (losses["cyc_x_a"] + losses["cyc_x_b"])
        if self.vgg is not None:
            losses["vgg_a"], losses["vgg_b"] = self.vgg(x_ba, x_b), self.vgg(x_ab, x_a)
            total = total + c.vgg_w * (losses["vgg_a"] + losses["vgg_b"])
        return total

    def finish(self, tr: TrainContext, total: torch.Tensor, losses: dict, loss_D: torch.Tensor, dis_a: torch.Tensor, dis_b: torch.Tensor) -> dict[str, torch.Tensor]:
        tr.step_opt(total, tr.g_params, tr.opt_G)
        return {"D": loss_D.detach(), "dis_a": dis_a.detach(), "dis_b": dis_b.detach(), **{k: v.detach() for k, v in losses.items()}}

    def translate_rows(self, G: nn.Module, A: torch.Tensor, B: torch.Tensor, device: torch.device) -> list[torch.Tensor]:
        raise NotImplementedError

    def sample_rows(self, tr: TrainContext, s: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """A, A->B (2 fixed styles for MUNIT), B, B->A."""
        n = min(s["A"].shape[0], s["B"].shape[0])
        rows = self.translate_rows(tr.G["G"], s["A"][:n], s["B"][:n], tr.device)
        return [r if r.shape[1] == 3 else r.repeat(1, 3, 1, 1) for r in rows]

    def checkpoint(self, tr: TrainContext, step: int, dataset: str) -> Checkpoint:
        c = self.cfg
        gcfg = self.generator_config()
        return Checkpoint(
            arch=c.model, config=gcfg, networks={"G": cpu_copy(tr.G["G"], build_network(c.model, gcfg))},
            domains=list(c.domains), preprocess={"size": c.crop_size, "mean": [0.5] * 3, "std": [0.5] * 3},
            provenance=self.provenance(step, dataset),
        )  # fmt: skip


class MUNIT(_NVlabs):
    Options = MUNITOptions
    opts: MUNITOptions
    defaults = {**_NVLABS, "recon_x_cyc_w": 0.0}

    def arch_values(self) -> dict[str, Any]:
        return {"style_dim": self.opts.style_dim, "mlp_dim": self.opts.mlp_dim}

    def check_data(self, layout: "Layout", info: Callable[[str], None]) -> None:
        if self.opts.guided_w > 0:
            from gantrans.train.guided import find_triplets

            self.triplets = find_triplets(layout, Path(self.cfg.dataset) / f"{self.cfg.phase}B")
            info(f"guided_w: {len(self.triplets)} example-guided triplets")

    def stream(self) -> torch.utils.data.Dataset:
        if self.opts.guided_w <= 0:
            return super().stream()
        from gantrans.train.guided import GuidedStream

        c = self.cfg
        return GuidedStream(self.layout, self.transform(), c.seed, c.input_nc, c.output_nc, self.triplets)

    def step(self, tr: TrainContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c, mode = self.opts, self.opts.gan_mode
        x_a, x_b = batch["A"], batch["B"]
        G = tr.G["G"]
        ga, gb, da, db = G.gen_a, G.gen_b, tr.D["dis_a"], tr.D["dis_b"]
        n, sd = x_a.shape[0], c.style_dim
        # -- discriminators
        tr.requires_grad(tr.D, True)
        tr.opt_D.zero_grad(set_to_none=True)
        s_a, s_b = torch.randn(n, sd, 1, 1, device=tr.device), torch.randn(n, sd, 1, 1, device=tr.device)
        with tr.autocast():
            with torch.no_grad():
                x_ba = ga.decode(gb.enc_content(x_b), s_a)
                x_ab = gb.decode(ga.enc_content(x_a), s_b)
            loss_dis_a = dis_loss(da, x_ba.detach(), x_a, mode)
            loss_dis_b = dis_loss(db, x_ab.detach(), x_b, mode)
            loss_D = c.gan_w * (loss_dis_a + loss_dis_b)
        tr.step_opt(loss_D, tr.d_params, tr.opt_D)
        # -- generators
        tr.requires_grad(tr.D, False)
        tr.opt_G.zero_grad(set_to_none=True)
        s_a, s_b = torch.randn(n, sd, 1, 1, device=tr.device), torch.randn(n, sd, 1, 1, device=tr.device)
        l1 = _l1
        with tr.autocast():
            c_a, s_a_prime = ga.encode(x_a)
            c_b, s_b_prime = gb.encode(x_b)
            x_a_recon, x_b_recon = ga.decode(c_a, s_a_prime), gb.decode(c_b, s_b_prime)
            x_ba, x_ab = ga.decode(c_b, s_a), gb.decode(c_a, s_b)
            c_b_recon, s_a_recon = ga.encode(x_ba)
            c_a_recon, s_b_recon = gb.encode(x_ab)
            losses = {
                "recon_x_a": l1(x_a_recon, x_a), "recon_x_b": l1(x_b_recon, x_b),
                "recon_s_a": l1(s_a_recon, s_a), "recon_s_b": l1(s_b_recon, s_b),
                "recon_c_a": l1(c_a_recon, c_a), "recon_c_b": l1(c_b_recon, c_b),
                "adv_a": gen_adv_loss(da, x_ba, mode), "adv_b": gen_adv_loss(db, x_ab, mode),
            }  # fmt: skip
            total = c.gan_w * (losses["adv_a"] + losses["adv_b"]) + c.recon_x_w * (losses["recon_x_a"] + losses["recon_x_b"])
            total = total + c.recon_s_w * (losses["recon_s_a"] + losses["recon_s_b"]) + c.recon_c_w * (losses["recon_c_a"] + losses["recon_c_b"])
            cycles = (lambda: ga.decode(c_a_recon, s_a_prime), lambda: gb.decode(c_b_recon, s_b_prime))
            total = self.cycle_and_vgg(losses, total, cycles, (x_a, x_b, x_ba, x_ab))
            if c.guided_w > 0:  # B_n from A_n's content and the style of another member of B_n's group
                x_guided = gb.decode(ga.enc_content(batch["GA"]), gb.enc_style(batch["GR"]))
                losses["guided"] = l1(x_guided, batch["GB"])
                total = total + c.guided_w * losses["guided"]
        return self.finish(tr, total, losses, loss_D, loss_dis_a, loss_dis_b)

    def translate_rows(self, G: nn.Module, A: torch.Tensor, B: torch.Tensor, device: torch.device) -> list[torch.Tensor]:
        n, rows = A.shape[0], [A]
        for x, direction in ((A, "a2b"), (B, "b2a")):
            if direction == "b2a":
                rows.append(B)
            for seed in (1, 2):
                style = torch.randn(1, self.opts.style_dim, 1, 1, generator=torch.Generator().manual_seed(seed)).to(device)
                rows.append(G.translate(x, style.expand(n, -1, -1, -1), direction))
        return rows


class UNIT(_NVlabs):
    Options = UNITOptions
    opts: UNITOptions
    defaults = {**_NVLABS, "recon_x_cyc_w": 10.0}

    def arch_values(self) -> dict[str, Any]:
        return {"share": self.opts.share}

    def step(self, tr: TrainContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c, mode = self.opts, self.opts.gan_mode
        x_a, x_b = batch["A"], batch["B"]
        G = tr.G["G"]
        ga, gb, da, db = G.gen_a, G.gen_b, tr.D["dis_a"], tr.D["dis_b"]
        noise = torch.randn_like
        tr.requires_grad(tr.D, True)
        tr.opt_D.zero_grad(set_to_none=True)
        with tr.autocast():
            with torch.no_grad():
                h_a, h_b = ga.encode(x_a), gb.encode(x_b)
                x_ba, x_ab = ga.decode(h_b + noise(h_b)), gb.decode(h_a + noise(h_a))
            loss_dis_a, loss_dis_b = dis_loss(da, x_ba, x_a, mode), dis_loss(db, x_ab, x_b, mode)
            loss_D = c.gan_w * (loss_dis_a + loss_dis_b)
        tr.step_opt(loss_D, tr.d_params, tr.opt_D)
        tr.requires_grad(tr.D, False)
        tr.opt_G.zero_grad(set_to_none=True)
        l1 = _l1
        with tr.autocast():
            h_a, h_b = ga.encode(x_a), gb.encode(x_b)
            n_a, n_b = noise(h_a), noise(h_b)
            x_a_recon, x_b_recon = ga.decode(h_a + n_a), gb.decode(h_b + n_b)
            x_ba, x_ab = ga.decode(h_b + n_b), gb.decode(h_a + n_a)
            h_b_recon, h_a_recon = ga.encode(x_ba), gb.encode(x_ab)
            losses = {
                "recon_x_a": l1(x_a_recon, x_a), "recon_x_b": l1(x_b_recon, x_b), "kl_a": kl(h_a), "kl_b": kl(h_b),
                "kl_cyc_aba": kl(h_a_recon), "kl_cyc_bab": kl(h_b_recon),
                "adv_a": gen_adv_loss(da, x_ba, mode), "adv_b": gen_adv_loss(db, x_ab, mode),
            }  # fmt: skip
            total = c.gan_w * (losses["adv_a"] + losses["adv_b"]) + c.recon_x_w * (losses["recon_x_a"] + losses["recon_x_b"])
            total = total + c.recon_kl_w * (losses["kl_a"] + losses["kl_b"]) + c.recon_kl_cyc_w * (losses["kl_cyc_aba"] + losses["kl_cyc_bab"])
            cycles = (lambda: ga.decode(h_a_recon + noise(h_a_recon)), lambda: gb.decode(h_b_recon + noise(h_b_recon)))
            total = self.cycle_and_vgg(losses, total, cycles, (x_a, x_b, x_ba, x_ab))
        return self.finish(tr, total, losses, loss_D, loss_dis_a, loss_dis_b)

    def translate_rows(self, G: nn.Module, A: torch.Tensor, B: torch.Tensor, device: torch.device) -> list[torch.Tensor]:
        return [A, G.translate(A, "a2b"), B, G.translate(B, "b2a")]
