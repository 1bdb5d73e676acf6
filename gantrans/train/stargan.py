"""StarGAN training recipe (yunjey/stargan `solver.py`): WGAN-GP critic with an auxiliary classifier,
G updated every n_critic steps with adversarial + classification + L1 reconstruction losses.

Targets are the batch's own labels in random order (official). Classification: binary
cross-entropy summed over independent attributes (CelebA form), cross-entropy per exclusive group
(RaFD form), both averaged over the batch; with several datasets only the batch's own dataset's
outputs are classified (mask vector training).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.engine.labels import LabelSchema
from gantrans.io.checkpoint import Checkpoint
from gantrans.models.registry import build_network, make_config
from gantrans.train.labels import label_dim, load_label_sets, schema
from gantrans.train.losses import gradient_penalty
from gantrans.train.recipes import Recipe, cpu_copy, provenance, register

if TYPE_CHECKING:
    from gantrans.train.config import TrainConfig
    from gantrans.train.trainer import _Trainer


def configs(cfg: "TrainConfig") -> tuple[Any, Any, dict]:
    sets = load_label_sets(cfg)
    n_attrs = sum(len(s.attrs) for s in sets)
    g = make_config("stargan", {"c_dim": label_dim(sets), "conv_dim": cfg.ngf, "repeat_num": cfg.repeat_num, "image_nc": cfg.input_nc})
    d = make_config("stargan_dis", {"image_size": cfg.crop_size, "c_dim": n_attrs, "conv_dim": cfg.ndf, "repeat_num": cfg.d_repeat_num, "image_nc": cfg.input_nc})
    return g, d, schema(sets)


def build_networks(cfg: "TrainConfig") -> tuple[dict[str, nn.Module], dict[str, nn.Module]]:
    g, d, _ = configs(cfg)  # PyTorch's default init, as the official code
    return {"G": build_network("stargan", g)}, {"D": build_network("stargan_dis", d)}


def _configs(tr: "_Trainer") -> tuple[Any, Any, dict]:
    """The run's configs and label schema, read from the dataset files once per run (not per save)."""
    if not hasattr(tr, "_stargan_configs"):
        tr._stargan_configs = configs(tr.cfg)
    return tr._stargan_configs


def _schema(tr: "_Trainer") -> LabelSchema:
    if not hasattr(tr, "_label_schema"):
        tr._label_schema = LabelSchema(_configs(tr)[2])
    return tr._label_schema


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


def stargan_step(tr: "_Trainer", batch: dict[str, torch.Tensor]) -> dict[str, float]:
    c = tr.cfg
    G, D, sch = tr.G["G"], tr.D["D"], _schema(tr)
    x_real, label_org = batch["image"], batch["label"].float()
    ds = int(batch["ds"][0])
    perm = torch.randperm(x_real.shape[0])  # CPU generator: part of the saved RNG state
    label_trg = label_org[perm.to(label_org.device)]
    # -- critic
    tr.requires_grad(tr.D, True)
    tr.opt_D.zero_grad(set_to_none=True)
    with tr.autocast():
        out_src, out_cls = D(x_real)
        d_real = -out_src.float().mean()
        d_cls = cls_loss(sch, out_cls, label_org, ds)
        with torch.no_grad():
            x_fake = G(x_real, label_trg)
        d_fake = D(x_fake.detach())[0].float().mean()
    d_gp = gradient_penalty(lambda x: D(x)[0], x_real, x_fake)
    d_loss = d_real + d_fake + c.lambda_cls * d_cls + c.lambda_gp * d_gp
    tr.step_opt(d_loss, tr.d_params, tr.opt_D)
    out = {"D_real": d_real.item(), "D_fake": d_fake.item(), "D_cls": d_cls.item(), "D_gp": d_gp.item()}
    # -- generator, every n_critic steps (official: (i + 1) % n_critic == 0)
    if tr.step_index % c.n_critic == c.n_critic - 1:
        tr.requires_grad(tr.D, False)
        tr.opt_G.zero_grad(set_to_none=True)
        with tr.autocast():
            x_fake = G(x_real, label_trg)
            out_src, out_cls = D(x_fake)
            g_fake = -out_src.float().mean()
            g_cls = cls_loss(sch, out_cls, label_trg, ds)
            g_rec = (x_real.float() - G(x_fake, label_org).float()).abs().mean()
            g_loss = g_fake + c.lambda_rec * g_rec + c.lambda_cls * g_cls
        tr.step_opt(g_loss, tr.g_params, tr.opt_G)
        out.update(G_fake=g_fake.item(), G_cls=g_cls.item(), G_rec=g_rec.item())
    return out


def sample_rows(tr: "_Trainer", s: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """Columns are samples: the input, then one row per single-attribute change of the first sample."""
    sch, G = _schema(tr), tr.G["G"]
    x, labels, ds = s["image"], s["label"], int(s["ds"][0])
    current = labels[0, : sch.n_attrs].cpu()
    rows = [x]
    for change in sch.single_changes(current, ds):
        trg = torch.stack([sch.target(labels[i, : sch.n_attrs].cpu(), change, ds) for i in range(x.shape[0])]).to(x.device)
        rows.append(G(x, trg))
    return [r if r.shape[1] == 3 else r.repeat(1, 3, 1, 1) for r in rows]


def checkpoint(tr: "_Trainer", step: int, dataset: str) -> Checkpoint:
    g, d, sch = _configs(tr)
    c = tr.cfg
    return Checkpoint(
        arch="stargan", config=g,
        networks={"G": cpu_copy(tr.G["G"], build_network("stargan", g)), "D": cpu_copy(tr.D["D"], build_network("stargan_dis", d))},
        aux={"D": ("stargan_dis", d)}, labels=sch, domains=[s["name"] for s in sch["datasets"]],
        preprocess={"size": c.crop_size, "center_crop": c.center_crop, "mean": [0.5] * 3, "std": [0.5] * 3},
        provenance=provenance(tr, step, dataset),
    )  # fmt: skip


register("stargan", Recipe(build_networks, stargan_step, sample_rows, checkpoint, data="labels"))
