"""CycleGAN / pix2pix: one generator per direction (G_A maps A to B, G_B maps B to A), `G(x)`.

Architectures: the ResNet and U-Net generators and the PatchGAN discriminator of junyanz/pytorch-CycleGAN-and-pix2pix.
Converters read the official `latest_net_G*.pth` files; the architecture is inferred from keys and shapes.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gantrans.families.base import Converter, Family
from gantrans.registry import register_family

if TYPE_CHECKING:
    from gantrans.engine.convert import ConvertOptions, ConvertResult


def infer_generator(state: dict[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    """(arch, config overrides, notes) from an official generator's keys and shapes."""
    from gantrans.io.checkpoint import CheckpointError

    notes: list[str] = []
    if any(k.startswith("model.model.") for k in state):
        # the top-level "model." plus one "model." per level of nesting
        num_downs = max(k.count("model.") for k in state if k.endswith("weight")) - 1
        arch = {8: "unet_256", 7: "unet_128"}.get(num_downs)
        if arch is None:
            raise CheckpointError(f"U-Net with {num_downs} downsamplings: only unet_128 (7) and unet_256 (8) are registered")
        first = state["model.model.0.weight"]  # (ngf, in, 4, 4)
        last = max((k for k in state if re.fullmatch(r"model\.model\.\d+\.weight", k)), key=lambda k: int(k.split(".")[2]))
        cfg: dict[str, Any] = {"ngf": first.shape[0], "input_nc": first.shape[1], "output_nc": state[last].shape[1]}
        norm = "batch" if "model.model.1.model.2.weight" in state else ("instance" if "model.model.1.model.1.bias" in state else "none")
        notes.append(f"U-Net with {num_downs} downsamplings -> {arch}")
    else:
        blocks = sorted({int(m.group(1)) for k in state if (m := re.match(r"model\.(\d+)\.conv_block\.", k))})
        arch = {9: "resnet_9blocks", 6: "resnet_6blocks"}.get(len(blocks))
        if arch is None:
            raise CheckpointError(f"ResNet generator with {len(blocks)} blocks: only 6 and 9 are registered")
        first = state["model.1.weight"]  # (ngf, in, 7, 7)
        last = max((k for k in state if re.fullmatch(r"model\.\d+\.weight", k)), key=lambda k: int(k.split(".")[1]))
        cfg = {"ngf": first.shape[0], "input_nc": first.shape[1], "output_nc": state[last].shape[0]}
        # batch norm is affine (weights at model.2); only instance norm gives convolutions a bias
        norm = "batch" if "model.2.weight" in state else ("instance" if "model.1.bias" in state else "none")
        # dropout shifts each block's second conv from index 5 to 6 (with batch norm, 6 is a norm)
        cfg["dropout"] = any(k.endswith("conv_block.6.weight") and v.ndim == 4 for k, v in state.items())
        notes.append(f"{len(blocks)} residual blocks -> {arch}; dropout {'on' if cfg['dropout'] else 'off'}")
    cfg["norm"] = norm
    notes.append(f"ngf {cfg['ngf']}, input_nc {cfg['input_nc']}, output_nc {cfg['output_nc']}, norm {norm}")
    return arch, cfg, notes


def convert(sources: list[Path], opts: "ConvertOptions", unet_dropout: bool = False) -> "ConvertResult":
    """One or two official generator files (G_A and/or G_B, told apart by 'G_B' in the name).

    `unet_dropout`: record dropout for a U-Net unless --dropout/--no-dropout says (pix2pix's default;
    dropout has no weights and is off at inference)."""
    from gantrans.engine.convert import (
        ConvertResult,
        drop_stale,
        two_domains,
    )
    from gantrans.errors import UsageError
    from gantrans.io.checkpoint import Checkpoint, CheckpointError, load_strict
    from gantrans.io.weights import file_sha256, read_official
    from gantrans.models.registry import build_network, get_spec, make_config

    roles: dict[str, Path] = {}
    for src in sources:
        role = "G_B" if "G_B" in src.name else "G_A"
        if role in roles:
            raise UsageError(f"two files for {role}: {roles[role].name} and {src.name}")
        roles[role] = src
    networks: dict[str, Any] = {}
    notes: list[str] = []
    sources_prov: list[dict[str, str]] = []
    provenance: dict[str, Any] = {"converted_from": opts.source, "sources": sources_prov}
    arch = config = None
    for role, src in sorted(roles.items()):
        state = read_official(src)
        a, inferred, n = infer_generator(state)
        overrides = {k: v for k, v in {"norm": opts.norm, "ngf": opts.ngf, "dropout": opts.dropout}.items() if v is not None}
        if unet_dropout and opts.dropout is None and a.startswith("unet"):
            overrides["dropout"] = True
        a = opts.netG or a
        cfg = make_config(a, {**{k: v for k, v in inferred.items() if k in ("ngf", "input_nc", "output_nc", "norm", "dropout")}, **overrides})
        if arch is not None and (a, cfg) != (arch, config):
            raise CheckpointError(f"{src.name}: architecture differs from the other file's ({a} vs {arch})")
        arch, config = a, cfg
        net = build_network(a, cfg)
        state, dropped = drop_stale(state, set(net.state_dict()))
        load_strict(net, state, f"{src} [{role}, arch={a}, config={cfg}]")
        networks[role] = net
        notes += [f"{src.name} ({role}): " + "; ".join(n + dropped)]
        sources_prov.append({"file": src.name, "sha256": file_sha256(src), "role": role})
    assert arch is not None and get_spec(arch).role == "generator"
    ckpt = Checkpoint(
        arch=arch, config=config, networks=networks, domains=two_domains(opts),
        preprocess={"size": opts.size, "mean": [0.5] * 3, "std": [0.5] * 3},
        provenance=provenance, license=opts.license,
    )  # fmt: skip
    return ConvertResult(ckpt, notes)


def _is_resnet(obj: Any) -> bool:
    return isinstance(obj, dict) and "model.1.weight" in obj and any(".conv_block." in k for k in obj)


def _is_unet(obj: Any) -> bool:
    return isinstance(obj, dict) and "model.model.0.weight" in obj


class ImageFamily(Family):
    name = "image"
    title = "CycleGAN/pix2pix"
    archs = ("resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128")
    aux_archs = ("patchgan",)
    model_modules = ("gantrans.models.resnet", "gantrans.models.unet", "gantrans.models.patchgan")
    recipes = {"cyclegan": "gantrans.train.cyclegan:CycleGAN", "pix2pix": "gantrans.train.cyclegan:Pix2Pix"}
    converters = {
        # auto-detection asks in this order: a ResNet generator is most likely CycleGAN's, a U-Net pix2pix's
        "cyclegan": Converter("cyclegan", "latest_net_G.pth | latest_net_G_A.pth latest_net_G_B.pth", _is_resnet, convert),
        "pix2pix": Converter("pix2pix", "latest_net_G.pth (pix2pix)", _is_unet, functools.partial(convert, unet_dropout=True)),
    }


register_family(ImageFamily())
