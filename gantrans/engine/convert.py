"""Convert official CycleGAN/pix2pix `.pth` generators into self-describing gantrans checkpoints.

Official files are pickles: they are read with `torch.load(weights_only=True)` only, so a file that
would need arbitrary code is refused, never executed. The architecture is inferred from the key set
and shapes (ResNet blocks or U-Net depth, ngf, channels, norm, ResNet dropout); flags override it.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gantrans.io.checkpoint import Checkpoint, CheckpointError, _load_strict
from gantrans.models.registry import build_network, get_spec, make_config

SOURCES = ("cyclegan", "pix2pix")


@dataclass
class ConvertOptions:
    source: str = "cyclegan"
    netG: str | None = None
    norm: str | None = None
    ngf: int | None = None
    dropout: bool | None = None
    domains: tuple[str, str] = ("A", "B")
    license: str | None = None
    size: int = 256


@dataclass
class ConvertResult:
    checkpoint: Checkpoint
    inferred: list[str] = field(default_factory=list)  # "what was inferred", for the user


def read_official(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from an official file, without ever running pickled code."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path} needs arbitrary code to load (it is not a plain state dict); gantrans never "
            f"executes pickled code, so it is refused ({str(e).splitlines()[0][:200]})"
        ) from None
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read as a PyTorch file ({e})") from None
    for key in ("state_dict", "model", "net_G", "G"):  # common wrappers around the weights
        if isinstance(obj, dict) and isinstance(obj.get(key), dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors")
    state = {}
    for k, v in obj.items():
        while k.startswith("module."):  # DataParallel-wrapped saves
            k = k[len("module.") :]
        state[k] = v
    return state


def infer_generator(state: dict[str, torch.Tensor]) -> tuple[str, dict[str, Any], list[str]]:
    """(arch, config overrides, notes) from an official generator's keys and shapes."""
    notes: list[str] = []
    if any(k.startswith("model.model.") for k in state):
        # the top-level "model." plus one "model." per level of nesting
        num_downs = max(k.count("model.") for k in state if k.endswith("weight")) - 1
        arch = {8: "unet_256", 7: "unet_128"}.get(num_downs)
        if arch is None:
            raise CheckpointError(f"U-Net with {num_downs} downsamplings: only unet_128 (7) and unet_256 (8) are registered")
        first = state["model.model.0.weight"]  # (ngf, in, 4, 4)
        last = max((k for k in state if re.fullmatch(r"model\.model\.\d+\.weight", k)), key=lambda k: int(k.split(".")[2]))
        cfg = {"ngf": first.shape[0], "input_nc": first.shape[1], "output_nc": state[last].shape[1]}
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


def clean_state(state: dict[str, torch.Tensor], norm: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Drop what the official loader patches away: `_metadata`, and with instance norm the stale
    running_mean/running_var/num_batches_tracked of pre-0.4 checkpoints."""
    dropped = [k for k in state if norm == "instance" and re.search(r"\.(running_mean|running_var|num_batches_tracked)$", k)]
    out = {k: v for k, v in state.items() if k not in dropped}
    return out, ([f"dropped {len(dropped)} stale instance-norm buffers"] if dropped else [])


def convert_official(sources: list[Path], opts: ConvertOptions) -> ConvertResult:
    """One or two official generator files (G_A and/or G_B, told apart by 'G_B' in the name)."""
    if opts.source not in SOURCES:
        raise ValueError(f"--from must be one of {', '.join(SOURCES)} (MUNIT/UNIT/StarGAN need their networks first)")
    roles: dict[str, Path] = {}
    for src in sources:
        role = "G_B" if "G_B" in src.name else "G_A"
        if role in roles:
            raise ValueError(f"two files for {role}: {roles[role].name} and {src.name}")
        roles[role] = src
    networks, notes, provenance = {}, [], {"converted_from": opts.source, "sources": []}
    arch = config = None
    for role, src in sorted(roles.items()):
        state = read_official(src)
        a, inferred, n = infer_generator(state)
        overrides = {k: v for k, v in {"norm": opts.norm, "ngf": opts.ngf, "dropout": opts.dropout}.items() if v is not None}
        if opts.source == "pix2pix" and opts.dropout is None and a.startswith("unet"):
            overrides["dropout"] = True  # pix2pix's default; dropout has no weights and is off at inference
        a = opts.netG or a
        cfg = make_config(a, {**{k: v for k, v in inferred.items() if k in ("ngf", "input_nc", "output_nc", "norm", "dropout")}, **overrides})
        if arch is not None and (a, cfg) != (arch, config):
            raise CheckpointError(f"{src.name}: architecture differs from the other file's ({a} vs {arch})")
        arch, config = a, cfg
        state, dropped = clean_state(state, cfg.norm)
        net = build_network(a, cfg)
        _load_strict(net, state, f"{src} [{role}, arch={a}, config={cfg}]")
        networks[role] = net
        notes += [f"{src.name} ({role}): " + "; ".join(n + dropped)]
        provenance["sources"].append({"file": src.name, "sha256": hashlib.sha256(src.read_bytes()).hexdigest(), "role": role})
    assert arch is not None and get_spec(arch).role == "generator"
    ckpt = Checkpoint(
        arch=arch, config=config, networks=networks, domains=list(opts.domains),
        preprocess={"size": opts.size, "mean": [0.5] * 3, "std": [0.5] * 3},
        provenance=provenance, license=opts.license,
    )  # fmt: skip
    return ConvertResult(ckpt, notes)
