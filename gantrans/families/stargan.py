"""StarGAN (yunjey/stargan): one label-conditioned generator `G(x, label)` and, stored beside it, the
discriminator whose auxiliary classifier `edit` uses to read an input's current attributes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from gantrans.families.base import Converter, Family
from gantrans.registry import register_family

if TYPE_CHECKING:
    import torch
    from torch import nn

    from gantrans.engine.convert import ConvertOptions, ConvertResult
    from gantrans.engine.translator import Translator

# yunjey/stargan's default --selected_attrs, used for a 5-label file when --attrs is not given
STARGAN_CELEBA = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]


def convert(sources: list[Path], opts: "ConvertOptions") -> "ConvertResult":
    """yunjey/stargan N-G.ckpt (+ optional N-D.ckpt, whose classifier `edit` then uses)."""
    from gantrans.engine.convert import (
        ConvertResult,
        drop_stale,
    )
    from gantrans.errors import UsageError
    from gantrans.io.checkpoint import Checkpoint, CheckpointError, load_strict
    from gantrans.io.weights import file_sha256, read_official
    from gantrans.models.registry import build_network, make_config

    g_files = [p for p in sources if not re.search(r"-D\.ckpt$|(^|[_-])D\.", p.name)]
    d_files = [p for p in sources if p not in g_files]
    if len(g_files) != 1 or len(d_files) > 1:
        raise UsageError("--from stargan takes the generator file (N-G.ckpt) and optionally the discriminator (N-D.ckpt)")
    g_state = read_official(g_files[0])
    first = g_state["main.0.weight"] if "main.0.weight" in g_state else None
    if first is None:
        raise CheckpointError(f"{g_files[0]}: not a StarGAN generator (no main.0.weight)")
    c_dim = first.shape[1] - 3
    repeat = len({int(m.group(1)) for k in g_state if (m := re.match(r"main\.(\d+)\.main\.", k))})
    attrs = list(opts.attrs or [])
    notes = [f"{g_files[0].name}: conv_dim {first.shape[0]}, {repeat} residual blocks, c_dim {c_dim} (label channels = main.0 in-channels - 3)"]
    groups = dict(opts.groups or {})
    if not attrs:
        if c_dim != len(STARGAN_CELEBA):
            raise UsageError(f"this generator takes {c_dim} labels: name them with --attrs A,B,... (in training order)")
        attrs = list(STARGAN_CELEBA)
        groups = groups or {"hair": ["Black_Hair", "Blond_Hair", "Brown_Hair"]}
        notes.append("no --attrs: assumed the official CelebA default Black_Hair,Blond_Hair,Brown_Hair,Male,Young with hair colours exclusive")
    if len(attrs) != c_dim:
        raise UsageError(f"--attrs names {len(attrs)} labels but the generator takes {c_dim}")
    for g, ms in groups.items():
        if not set(ms) <= set(attrs):
            raise UsageError(f"group {g}: {', '.join(m for m in ms if m not in attrs)} not in --attrs")
    cfg = make_config("stargan", {"c_dim": c_dim, "conv_dim": first.shape[0], "repeat_num": repeat})
    g_net = build_network("stargan", cfg)
    g_state, dropped = drop_stale(g_state, set(g_net.state_dict()))
    load_strict(g_net, g_state, f"{g_files[0]} [G, arch=stargan, config={cfg}]")
    networks = {"G": g_net}
    aux = {}
    prov = [{"file": g_files[0].name, "sha256": file_sha256(g_files[0]), "role": "G"}]
    if d_files:
        d_state = read_official(d_files[0])
        d_rep = len([k for k in d_state if re.fullmatch(r"main\.\d+\.weight", k)])
        kernel = d_state["conv2.weight"].shape[-1]
        dcfg = make_config("stargan_dis", {"image_size": kernel * 2**d_rep, "c_dim": d_state["conv2.weight"].shape[0], "conv_dim": d_state["main.0.weight"].shape[0], "repeat_num": d_rep})
        if dcfg.c_dim != c_dim:
            raise CheckpointError(f"{d_files[0]}: the classifier has {dcfg.c_dim} outputs, the generator {c_dim} labels")
        d_net = build_network("stargan_dis", dcfg)
        load_strict(d_net, d_state, f"{d_files[0]} [D, arch=stargan_dis, config={dcfg}]")
        networks["D"], aux["D"] = d_net, ("stargan_dis", dcfg)
        notes.append(f"{d_files[0].name}: discriminator for {dcfg.image_size} px (classifier kernel {kernel}), stored for attribute prediction")
        prov.append({"file": d_files[0].name, "sha256": file_sha256(d_files[0]), "role": "D"})
    size = aux["D"][1].image_size if aux else opts.size
    name = opts.domains[0] if opts.domains else "stargan"
    ckpt = Checkpoint(
        arch="stargan", config=cfg, networks=networks, aux=aux, domains=[name],
        labels={"datasets": [{"name": name, "attrs": attrs, "groups": groups}], "mask": False},
        preprocess={"size": size, "mean": [0.5] * 3, "std": [0.5] * 3},
        provenance={"converted_from": "stargan", "sources": prov}, license=opts.license,
    )  # fmt: skip
    return ConvertResult(ckpt, notes + dropped)


def _is_stargan(obj: Any) -> bool:
    return isinstance(obj, dict) and "main.0.weight" in obj and any(re.match(r"main\.\d+\.main\.", k) for k in obj)


class StarGANFamily(Family):
    name = "stargan"
    title = "StarGAN"
    archs = ("stargan",)
    aux_archs = ("stargan_dis",)
    model_modules = ("gantrans.models.stargan",)
    cond = "label"
    commands = frozenset({"edit", "export"})
    recipes = {"stargan": "gantrans.train.stargan:StarGAN"}
    converters = {"stargan": Converter("stargan", "N-G.ckpt [N-D.ckpt]", _is_stargan, convert, default_size=128, domains=1)}

    def networks(self, directions: Sequence[str]) -> list[str]:
        return ["G"]

    def directions(self, networks: Sequence[str]) -> list[str]:
        return ["a2b"]

    def network(self, direction: str) -> str:
        return "G"

    def missing_direction(self, direction: str, have: Sequence[str]) -> str:
        return "a StarGAN model has no directions; it edits attributes (gantrans edit)"

    def init(self, net: "nn.Module", init: str) -> "nn.Module":
        return net  # PyTorch's default init, as the official code

    def forward(self, gen: "nn.Module", x: "torch.Tensor", direction: str, cond: "torch.Tensor | None") -> "torch.Tensor":
        return gen(x, cond)

    def cond_shape(self, config: Any) -> tuple[int, ...]:
        return (config.c_dim,)

    def cond_hint(self) -> str:
        return "target labels (B, c_dim)"

    def example_cond(self, t: "Translator", n: int, seed: int) -> "torch.Tensor":
        import torch

        gen = torch.Generator().manual_seed(seed)
        return (torch.rand(n, t.checkpoint.config.c_dim, generator=gen) > 0.5).float()

    def item_conds(self, t: "Translator", direction: str, seed: int, style_from: str | None) -> Callable[[Any], "torch.Tensor"]:
        from gantrans.errors import UsageError

        raise UsageError("a StarGAN model edits attributes: use gantrans edit INPUTS -m MODEL --set NAME=VALUE")


register_family(StarGANFamily())
