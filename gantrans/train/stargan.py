"""StarGAN training recipe (yunjey/stargan `solver.py`): WGAN-GP critic with an auxiliary classifier,
G updated every n_critic steps with adversarial + classification + L1 reconstruction losses.

Targets are the batch's own labels in random order (official). Classification: binary
cross-entropy summed over independent attributes (CelebA form), cross-entropy per exclusive group
(RaFD form), both averaged over the batch; with several datasets only the batch's own dataset's
outputs are classified (mask vector training). `attention=true` trains the GANimation variant (an
attention head; its mask is penalised by lambda_mask * mean(A) against saturating to "copy the
input" and by lambda_mask_smooth * total variation, for the fake and the reconstruction, GANimation's
defaults). `diffaugment=translation,cutout` transforms every image D sees, real and fake, in both steps
(`diffaugment.py`): for small datasets, where the critic and its classifier memorise the training images.
`lambda_id` > 0 adds an identity term (not official StarGAN; CycleGAN's identity loss in StarGAN's form):
G asked for the labels an image already has must return it, lambda_id * L1(G(x, c_org), x).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.engine.labels import LabelSchema
from gantrans.io.checkpoint import Checkpoint
from gantrans.models.registry import build_network, make_config
from gantrans.train.config import check
from gantrans.train.diffaugment import diff_augment, parse_policy
from gantrans.train.labels import (
    LabelStream,
    full_label,
    label_dim,
    load_label_sets,
    schema,
)
from gantrans.train.losses import gradient_penalty
from gantrans.train.recipes import (
    GANOptions,
    Recipe,
    TrainContext,
    cpu_copy,
    list_field,
)

if TYPE_CHECKING:
    from gantrans.train.config import TrainConfig


@dataclass
class StarGANOptions(GANOptions):
    gan_mode: str = "wgangp"
    lambda_gp: float = 10.0
    attrs: list[str] = list_field()  # selected attributes (attribute-file datasets)
    groups: list[str] = list_field()  # exclusive groups, "hair=Black_Hair,Blond_Hair"
    datasets: list[str] = list_field()  # multi-dataset: "attrs:PATH", "folders:PATH"
    lambda_cls: float = 1.0
    lambda_rec: float = 10.0
    n_critic: int = 5
    repeat_num: int = 6  # generator residual blocks
    d_repeat_num: int = 6  # discriminator stride-2 convs (its classifier kernel is crop_size / 2**this)
    center_crop: int = 0  # centre-crop to this size before resizing (CelebA: 178); 0 = none
    attention: bool = False  # GANimation attention head in the generator (not official StarGAN)
    lambda_mask: float = 0.1  # GANimation: mean attention (against copying the input everywhere)
    lambda_mask_smooth: float = 1e-5  # GANimation: total variation of the attention, summed over the batch
    diffaugment: str = ""  # DiffAugment policies on every D input, e.g. "translation,cutout" (not official StarGAN)
    lambda_id: float = 0.0  # identity term L1(G(x, c_org), x); 0 = off, as the official StarGAN

    def validate(self, cfg: "TrainConfig") -> None:
        check(self.gan_mode == "wgangp", "stargan trains with gan_mode wgangp (the official WGAN-GP critic)")
        check(self.n_critic >= 1, "n_critic must be >= 1")
        check(self.lambda_id >= 0, "lambda_id must be >= 0")
        m = 2**self.d_repeat_num  # the classifier kernel fixes the multiple
        check(cfg.crop_size % m == 0, f"stargan needs a crop size that is a multiple of {m}; got {cfg.crop_size}")
        parse_policy(self.diffaugment)  # UsageError for an unknown name


class StarGAN(Recipe):
    Options = StarGANOptions
    # yunjey/stargan: WGAN-GP, Adam 1e-4, batch 16, 128 px, linear decay over the second half
    defaults = {
        "lr": 1e-4, "batch_size": 16, "load_size": 128, "crop_size": 128, "lr_policy": "linear", "lr_decay_start": 0.5,
        "steps": 200000, "flip": True,
    }  # fmt: skip
    data = "labels"
    host_keys = frozenset({"ds"})

    def __init__(self, cfg: "TrainConfig") -> None:
        super().__init__(cfg)
        self.sets = load_label_sets(cfg)  # the dataset files are read once per run
        n_attrs = sum(len(s.attrs) for s in self.sets)
        o = self.opts
        self.g_config = make_config("stargan", {"c_dim": label_dim(self.sets), "conv_dim": cfg.ngf, "repeat_num": o.repeat_num, "image_nc": cfg.input_nc, "attention": o.attention})
        self.d_config = make_config(
            "stargan_dis", {"image_size": cfg.crop_size, "c_dim": n_attrs, "conv_dim": cfg.ndf, "repeat_num": o.d_repeat_num, "image_nc": cfg.input_nc}
        )  # fmt: skip
        self.label_schema = schema(self.sets)
        self.schema = LabelSchema(self.label_schema)
        self.policy = parse_policy(o.diffaugment)

    def aug(self, x: torch.Tensor) -> torch.Tensor:
        """What D sees of x: x itself, or its DiffAugment transform (a fresh draw per call)."""
        return diff_augment(x, self.policy) if self.policy else x

    def open_data(self, info: Callable[[str], None]) -> dict[str, Any]:
        return {"dataset_layout": "labels", "images": [len(s.items) for s in self.sets], "label_sets": self.label_schema["datasets"]}

    def stream(self) -> torch.utils.data.Dataset:
        c = self.cfg
        return LabelStream(self.sets, c.crop_size, self.opts.center_crop, c.flip, c.input_nc, c.seed, c.batch_size)

    def samples(self, n: int = 4) -> dict[str, torch.Tensor]:
        """The first n images of the first dataset, centre-processed."""
        stream = LabelStream(self.sets[:1], self.cfg.crop_size, self.opts.center_crop, False, self.cfg.input_nc, self.cfg.seed, n)
        items = self.sets[0].items[:n]
        return {
            "image": torch.stack([stream.image(p, False) for p, _ in items]),
            "label": torch.stack([torch.from_numpy(full_label(self.sets, 0, own)) for _, own in items]),
            "ds": torch.zeros(len(items), dtype=torch.long),
        }

    def build(self) -> tuple[dict[str, nn.Module], dict[str, nn.Module]]:
        # PyTorch's default init, as the official code
        return {"G": build_network("stargan", self.g_config)}, {"D": build_network("stargan_dis", self.d_config)}

    def step(self, tr: TrainContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c = self.opts
        G, D, sch = tr.G["G"], tr.D["D"], self.schema
        x_real, label_org = batch["image"], batch["label"].float()
        ds = int(batch["ds"][0])  # on the host (host_keys): no device sync
        perm = torch.randperm(x_real.shape[0])  # CPU generator: part of the saved RNG state
        label_trg = label_org[perm.to(label_org.device)]
        # -- critic
        tr.requires_grad(tr.D, True)
        tr.opt_D.zero_grad(set_to_none=True)
        with tr.autocast():
            d_in_real = self.aug(x_real)
            out_src, out_cls = D(d_in_real)
            d_real = -out_src.float().mean()
            d_cls = cls_loss(sch, out_cls, label_org, ds)
            with torch.no_grad():
                x_fake = G(x_real, label_trg)
            d_in_fake = self.aug(x_fake.detach())
            d_fake = D(d_in_fake)[0].float().mean()
        d_gp = gradient_penalty(lambda x: D(x)[0], d_in_real, d_in_fake)  # on what D saw: between augmented images
        d_loss = d_real + d_fake + c.lambda_cls * d_cls + c.lambda_gp * d_gp
        tr.step_opt(d_loss, tr.d_params, tr.opt_D)
        out = {"D_real": d_real.detach(), "D_fake": d_fake.detach(), "D_cls": d_cls.detach(), "D_gp": d_gp.detach()}
        # -- generator, every n_critic steps (official: (i + 1) % n_critic == 0)
        if tr.step % c.n_critic == c.n_critic - 1:
            tr.requires_grad(tr.D, False)
            tr.opt_G.zero_grad(set_to_none=True)
            with tr.autocast():
                x_fake, a_fake = G.parts(x_real, label_trg)
                out_src, out_cls = D(self.aug(x_fake))
                g_fake = -out_src.float().mean()
                g_cls = cls_loss(sch, out_cls, label_trg, ds)
                x_rec, a_rec = G.parts(x_fake, label_org)
                g_rec = (x_real.float() - x_rec.float()).abs().mean()
                g_loss = g_fake + c.lambda_rec * g_rec + c.lambda_cls * g_cls
                if a_fake is not None and a_rec is not None:
                    g_mask = sum(c.lambda_mask * a.float().mean() + c.lambda_mask_smooth * total_variation(a.float()) for a in (a_fake, a_rec))
                    g_loss = g_loss + g_mask
                    out["G_mask"] = a_fake.detach().float().mean()
                if c.lambda_id > 0:
                    # edits should leave alone what they were not asked to change: "change nothing" must be a no-op
                    g_id = (x_real.float() - G(x_real, label_org).float()).abs().mean()
                    g_loss = g_loss + c.lambda_id * g_id
                    out["G_id"] = g_id.detach()
            tr.step_opt(g_loss, tr.g_params, tr.opt_G)
            out.update(G_fake=g_fake.detach(), G_cls=g_cls.detach(), G_rec=g_rec.detach())
        return out

    def compile_units(self, tr: TrainContext) -> list[tuple[nn.Module, str]]:
        # the G step calls `parts` (output and attention); forward goes through it too
        return [(tr.G["G"], "parts"), (tr.D["D"], "forward")]

    def sample_rows(self, tr: TrainContext, s: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Columns are samples: the input, then one row per single-attribute change of the first sample."""
        sch, G = self.schema, tr.G["G"]
        x, labels, ds = s["image"], s["label"], int(s["ds"][0])
        current = labels[0, : sch.n_attrs].cpu()
        rows = [x]
        for change in sch.single_changes(current, ds):
            trg = torch.stack([sch.target(labels[i, : sch.n_attrs].cpu(), change, ds) for i in range(x.shape[0])]).to(x.device)
            rows.append(G(x, trg))
        return [r if r.shape[1] == 3 else r.repeat(1, 3, 1, 1) for r in rows]

    def checkpoint(self, tr: TrainContext, step: int, dataset: str) -> Checkpoint:
        g, d, c = self.g_config, self.d_config, self.cfg
        return Checkpoint(
            arch="stargan", config=g,
            networks={"G": cpu_copy(tr.G["G"], build_network("stargan", g)), "D": cpu_copy(tr.D["D"], build_network("stargan_dis", d))},
            aux={"D": ("stargan_dis", d)}, labels=self.label_schema, domains=[s["name"] for s in self.label_schema["datasets"]],
            preprocess={"size": c.crop_size, "center_crop": self.opts.center_crop, "mean": [0.5] * 3, "std": [0.5] * 3},
            provenance=self.provenance(step, dataset),
        )  # fmt: skip


def total_variation(a: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) -> sum of absolute neighbour differences over the batch (GANimation's smooth loss)."""
    return (a[..., :, 1:] - a[..., :, :-1]).abs().sum() + (a[..., 1:, :] - a[..., :-1, :]).abs().sum()


def cls_loss(schema: LabelSchema, logits: torch.Tensor, target: torch.Tensor, ds: int) -> torch.Tensor:
    """logits (B, n_attrs), target (B, dim) -> loss over dataset `ds`'s attributes."""
    logits = logits.float()
    loss = torch.zeros((), device=logits.device)
    grouped = set()
    for ms in schema.groups.values():
        idx = [schema.attrs[m].index for m in ms]
        if schema.attrs[ms[0]].dataset != ds:
            continue
        grouped.update(idx)
        loss = loss + F.cross_entropy(logits[:, idx], target[:, idx].argmax(1))
    free = [a.index for a in schema.attrs.values() if a.dataset == ds and a.index not in grouped]
    if free:
        loss = loss + F.binary_cross_entropy_with_logits(logits[:, free], target[:, free], reduction="sum") / logits.shape[0]
    return loss
