"""Latent-code recipes on any folder of images (DCGAN-style networks at 32, 64 or 128 px):

- vaegan (Larsen et al. 2016): encoder -> Gaussian code (reparameterised) -> decoder; the discriminator judges
  x, Dec(Enc(x)) and Dec(z_prior). The paper's per-network objectives: Enc minimises L_prior + L_llike, Dec
  minimises gamma * L_llike - L_GAN (non-saturating form), Dis maximises L_GAN; L_llike is the squared error
  between discriminator features (the `llike_layer`-th block) of x and of its reconstruction -- "learned
  similarity" instead of pixels. Each network gets only its own objective's gradient.
- bigan (Donahue et al. 2017): generator z -> x, encoder x -> z, and a discriminator on (x, z) pairs: real
  (x, E(x)) vs generated (G(z), z); G and E are trained with the labels swapped. Prior U(-1, 1).
- infogan (Chen et al. 2016): G(noise, c) with codes c (`--set codes=cat:10,cont:2`: one categorical code of 10
  values, two continuous codes in U(-1, 1)); Q shares the discriminator's body and predicts c; both G and Q
  minimise lambda * (cross-entropy of the categorical codes + lambda_cont * Gaussian NLL of the continuous ones),
  the variational lower bound of the mutual information (lambda 1 for discrete codes, smaller for continuous
  ones, as the paper).

Adam 2e-4 (0.5, 0.999), batch 64, N(0, 0.02) init as DCGAN. Noise is drawn from the run's RNG (saved with
the state), so runs resume bit-identically. The checkpoint holds G (+ E) and D (InfoGAN's Q lives on it), and
the prior and codes in its provenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.io.checkpoint import Checkpoint
from gantrans.models.dcgan_d import parse_codes
from gantrans.models.layers import init_weights
from gantrans.models.registry import build_network, make_config
from gantrans.train.config import check
from gantrans.train.recipes import Options, Recipe, TrainContext, cpu_copy

if TYPE_CHECKING:
    from gantrans.train.config import TrainConfig
    from gantrans.train.data import Layout


@dataclass
class LatentOptions(Options):
    nz: int = 100  # code length (InfoGAN: the incompressible noise; codes come on top)
    sn: bool = False  # spectral normalisation in the discriminator (no batch norm there)
    # vaegan: the paper leaves the scales open; with mean-reduced terms, gamma 10 and a 0.1 prior weight keep the
    # code informative (gamma 1 / kl 1 collapsed to the prior on the tests' data: reconstructions no better than untrained)
    gamma: float = 10.0  # vaegan: weight of the feature reconstruction in the decoder's objective
    kl_w: float = 0.1  # vaegan: weight of the prior term (KL per code dimension, batch mean)
    llike_layer: int = 3  # vaegan: discriminator block whose features measure reconstruction (1-based)
    codes: str = "cat:10,cont:2"  # infogan
    lambda_info: float = 1.0  # infogan
    lambda_cont: float = 0.1  # infogan: continuous codes' weight relative to the categorical ones

    def validate(self, cfg: "TrainConfig") -> None:
        check(cfg.crop_size in (32, 64, 128), "latent models train at --size 32, 64 or 128")
        check(self.nz >= 1, "nz must be >= 1")
        check(1 <= self.llike_layer <= cfg.crop_size.bit_length() - 3, f"llike_layer must be 1..{cfg.crop_size.bit_length() - 3} at {cfg.crop_size} px")
        parse_codes(self.codes)


class _Latent(Recipe):
    Options = LatentOptions
    defaults = {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "lr_policy": "constant", "batch_size": 64, "crop_size": 64, "load_size": 64,
                "preprocess": "resize_and_crop", "steps": 100_000, "init_type": "normal", "flip": False}  # fmt: skip
    data = "images"
    prior = "normal"
    encoder = False
    variational = False

    def check_data(self, layout: "Layout", info: Callable[[str], None]) -> None:
        check(layout.kind == "images", f"{self.cfg.model} trains on a folder of images")

    # -- codes ---------------------------------------------------------------------------------------
    def code_dim(self) -> int:
        return self.opts.nz

    def draw(self, n: int, device: torch.device) -> torch.Tensor:
        """Prior samples (B, code_dim) from the global RNG (part of the saved state)."""
        if self.prior == "uniform":
            return (torch.rand(n, self.code_dim()) * 2 - 1).to(device)
        return torch.randn(n, self.code_dim()).to(device)

    # -- networks ------------------------------------------------------------------------------------
    def g_config(self) -> Any:
        c = self.cfg
        return make_config("dcgan_g", {"nz": self.code_dim(), "ngf": c.ngf, "img_ch": c.input_nc, "size": c.crop_size})

    def e_config(self) -> Any:
        c = self.cfg
        return make_config("dcgan_enc", {"nz": self.opts.nz, "ndf": c.ndf, "img_ch": c.input_nc, "size": c.crop_size, "variational": self.variational})

    def d_config(self) -> Any:
        c, o = self.cfg, self.opts
        return make_config("dcgan_d", {"ndf": c.ndf, "img_ch": c.input_nc, "size": c.crop_size, "sn": o.sn,
                                       "joint_nz": o.nz if self.prior == "uniform" and self.encoder else 0,
                                       "codes": o.codes if self.code_dim() != o.nz else ""})  # fmt: skip

    def build(self) -> tuple[dict[str, nn.Module], dict[str, nn.Module]]:
        init = self.cfg.init_type
        G = {"G": init_weights(build_network("dcgan_g", self.g_config()), init)}
        if self.encoder:
            G["E"] = init_weights(build_network("dcgan_enc", self.e_config()), init)
        return G, {"D": init_weights(build_network("dcgan_d", self.d_config()), init)}

    def checkpoint(self, tr: TrainContext, step: int, dataset: str) -> Checkpoint:
        c, o = self.cfg, self.opts
        nets: dict[str, nn.Module] = {"G": cpu_copy(tr.G["G"], build_network("dcgan_g", self.g_config()))}
        aux = {"D": ("dcgan_d", self.d_config())}
        nets["D"] = cpu_copy(tr.D["D"], build_network("dcgan_d", self.d_config()))
        if self.encoder:
            nets["E"] = cpu_copy(tr.G["E"], build_network("dcgan_enc", self.e_config()))
            aux["E"] = ("dcgan_enc", self.e_config())
        latent = {"recipe": c.model, "prior": self.prior, "noise_dim": o.nz, "codes": o.codes if self.code_dim() != o.nz else "",
                  "variational": self.variational}  # fmt: skip
        return Checkpoint(arch="dcgan_g", config=self.g_config(), networks=nets, domains=["code", "image"], aux=aux,
                          preprocess={"size": c.crop_size, "mean": [0.5] * 3, "std": [0.5] * 3},
                          provenance={**self.provenance(step, dataset), "latent": latent})  # fmt: skip

    def samples(self) -> dict[str, torch.Tensor]:
        from gantrans.train.data import fixed_samples

        s = fixed_samples(self.layout, self.cfg.crop_size, self.cfg.input_nc, self.cfg.output_nc, False, n=8)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1234)  # fixed codes for the grids, off the training stream
            s["z"] = self.draw(len(s["A"]), torch.device("cpu"))
        return s

    def sample_rows(self, tr: TrainContext, s: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        rows = [tr.G["G"](s["z"]).float()]
        if self.encoder:
            rows = [s["A"], tr.G["G"](self.encode(tr, s["A"])).float(), *rows]
        return rows

    def encode(self, tr: TrainContext, x: torch.Tensor) -> torch.Tensor:
        h = tr.G["E"](x)
        return h[:, : self.opts.nz] if self.variational else h


def bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits.float(), 1.0 if real else 0.0))


class VAEGAN(_Latent):
    encoder = True
    variational = True

    def step(self, tr: TrainContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        o = self.opts
        x = batch["A"]
        G, E, D = tr.G["G"], tr.G["E"], tr.D["D"]
        with tr.autocast():
            mu, logvar = E(x).float().chunk(2, 1)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            zp = self.draw(x.shape[0], x.device)
            x_rec, x_p = G(z.detach()), G(zp)
        # discriminator: x real, reconstructions and prior samples fake
        tr.requires_grad(tr.D, True)
        assert tr.opt_D is not None
        tr.opt_D.zero_grad(set_to_none=True)
        with tr.autocast():
            d_loss = bce(D(x), True) + bce(D(x_rec.detach()), False) + bce(D(x_p.detach()), False)
        tr.step_opt(d_loss, tr.d_params, tr.opt_D)
        # encoder and decoder, each with its own objective
        tr.requires_grad(tr.D, False)
        tr.opt_G.zero_grad(set_to_none=True)
        with tr.autocast():
            layer = o.llike_layer - 1
            target = D.features(x)[layer].detach()
            # the encoder's path: the decoder's weights as constants, so only Enc gets this gradient
            frozen = {k: v.detach() for k, v in G.named_parameters()}
            x_rec_e = torch.func.functional_call(G, {**frozen, **dict(G.named_buffers())}, (z,))
            llike_e = F.mse_loss(D.features(x_rec_e)[layer].float(), target.float())
            prior = -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())
            llike_d = F.mse_loss(D.features(x_rec)[layer].float(), target.float())
            gan_g = bce(D(x_rec), True) + bce(D(x_p), True)
            loss = (o.kl_w * prior + llike_e) + (o.gamma * llike_d + gan_g)
        tr.step_opt(loss, tr.g_params, tr.opt_G)
        return {"prior": prior.detach(), "llike": llike_d.detach(), "G_gan": gan_g.detach(), "D": d_loss.detach()}


class BiGAN(_Latent):
    encoder = True
    prior = "uniform"

    def step(self, tr: TrainContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["A"]
        G, E, D = tr.G["G"], tr.G["E"], tr.D["D"]
        with tr.autocast():
            ze = E(x)
            zp = self.draw(x.shape[0], x.device)
            xp = G(zp)
        tr.requires_grad(tr.D, True)
        assert tr.opt_D is not None
        tr.opt_D.zero_grad(set_to_none=True)
        with tr.autocast():
            d_loss = bce(D(x, ze.detach()), True) + bce(D(xp.detach(), zp), False)
        tr.step_opt(d_loss, tr.d_params, tr.opt_D)
        tr.requires_grad(tr.D, False)
        tr.opt_G.zero_grad(set_to_none=True)
        with tr.autocast():
            ge_loss = bce(D(x, ze), False) + bce(D(xp, zp), True)  # the labels swapped
        tr.step_opt(ge_loss, tr.g_params, tr.opt_G)
        return {"GE": ge_loss.detach(), "D": d_loss.detach()}


class InfoGAN(_Latent):
    def code_dim(self) -> int:
        return self.opts.nz + sum(n for _, n in parse_codes(self.opts.codes))

    def draw(self, n: int, device: torch.device) -> torch.Tensor:
        """[noise ~ N(0, 1), one-hot categorical codes, continuous codes ~ U(-1, 1)]."""
        parts = [torch.randn(n, self.opts.nz)]
        for kind, k in parse_codes(self.opts.codes):
            if kind == "cat":
                parts.append(F.one_hot(torch.randint(0, k, (n,)), k).float())
            else:
                parts.append(torch.rand(n, 1) * 2 - 1)
        return torch.cat(parts, 1).to(device)

    def info_loss(self, D: nn.Module, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """-(lower bound of the mutual information) between the codes in z and the image x, up to constants."""
        o = self.opts
        q = D.q(D.body(x)).float()
        codes, i, j, loss = z[:, o.nz :].float(), 0, 0, torch.zeros((), device=x.device)
        for kind, k in parse_codes(o.codes):
            if kind == "cat":
                loss = loss + F.cross_entropy(q[:, i : i + k], codes[:, j : j + k].argmax(1))
            else:
                loss = loss + o.lambda_cont * 0.5 * (q[:, i] - codes[:, j]).pow(2).mean()  # unit-variance Gaussian NLL
            i, j = i + k, j + k
        return o.lambda_info * loss

    def step(self, tr: TrainContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["A"]
        G, D = tr.G["G"], tr.D["D"]
        with tr.autocast():
            z = self.draw(x.shape[0], x.device)
            xg = G(z)
        tr.requires_grad(tr.D, True)
        assert tr.opt_D is not None
        tr.opt_D.zero_grad(set_to_none=True)
        with tr.autocast():
            d_gan = bce(D(x), True) + bce(D(xg.detach()), False)
            q_loss = self.info_loss(D, xg.detach(), z)  # Q (and the shared body) learn to read the codes
        tr.step_opt(d_gan + q_loss, tr.d_params, tr.opt_D)
        tr.requires_grad(tr.D, False)
        tr.opt_G.zero_grad(set_to_none=True)
        with tr.autocast():
            g_gan = bce(D(xg), True)
            g_info = self.info_loss(D, xg, z)
        tr.step_opt(g_gan + g_info, tr.g_params, tr.opt_G)
        return {"G_gan": g_gan.detach(), "info": g_info.detach(), "D": d_gan.detach()}

    def sample_rows(self, tr: TrainContext, s: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """One row per value of the first categorical code (the rest fixed), then a walk of each continuous code."""
        o, z = self.opts, s["z"][:1].repeat(8, 1)
        rows, j = [], o.nz
        for kind, k in parse_codes(o.codes):
            zz = z.clone()
            if kind == "cat":
                zz[:, j : j + k] = F.one_hot(torch.arange(8) % k, k).float()
            else:
                zz[:, j] = torch.linspace(-2, 2, 8)
            rows.append(tr.G["G"](zz.to(next(tr.G["G"].parameters()).device)).float())
            j += k
        return rows
