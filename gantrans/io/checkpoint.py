"""Self-describing safetensors checkpoints.

One file holds every network inference needs, each under a prefix (`G_A.`, `G_B.`, ...), and a
header whose metadata (str -> str) describes how to rebuild them:

    format          "gantrans"
    format_version  "1"
    arch            registry name, e.g. "resnet_9blocks"
    config          JSON of the architecture config dataclass
    networks        JSON list of prefixes, e.g. ["G_A", "G_B"]
    domains         JSON list of domain names, e.g. ["A", "B"]
    preprocess      JSON: {"size": training crop size, "mean": [...], "std": [...]}
    gantrans_version
    provenance      JSON (optional: source file, sha256, command, ...)
    license         (optional)
    aux             JSON (optional): networks of another architecture, {prefix: {"arch", "config"}}
                    (e.g. StarGAN's discriminator, whose classifier predicts the input's attributes)
    labels          JSON (optional): a conditional model's label schema (StarGAN attributes/groups)
    postprocess     JSON (optional): the inference post-processing the model is meant to be used with, e.g.
                    {"smooth": "guided", "radius": 4, "eps": 0.001} (`translate --smooth auto` applies it)

No pickle is involved: tensors are raw buffers, metadata is JSON.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gantrans.errors import DataError, UsageError
from gantrans.io.atomic import atomic_target
from gantrans.models.registry import (
    build_network,
    check_plausible,
    config_to_dict,
    get_spec,
    make_config,
)

FORMAT = "gantrans"
FORMAT_VERSION = "1"
DEFAULT_PREPROCESS = {"size": 256, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".pkl", ".pickle", ".bin", ".tar")


class OptionError(UsageError):
    """A load-time config override names a field the model's architecture does not have."""


class CheckpointError(DataError):
    """A checkpoint is unreadable or does not match its own description."""


@dataclass
class Checkpoint:
    arch: str
    config: Any
    networks: dict[str, nn.Module]
    domains: list[str] = field(default_factory=lambda: ["A", "B"])
    preprocess: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PREPROCESS))
    provenance: dict[str, Any] = field(default_factory=dict)
    license: str | None = None
    version: str = ""
    aux: dict[str, tuple[str, Any]] = field(default_factory=dict)  # prefix -> (arch, config)
    labels: dict[str, Any] = field(default_factory=dict)
    postprocess: dict[str, Any] = field(default_factory=dict)


def _version() -> str:
    from gantrans import __version__

    return __version__


def save_checkpoint(ckpt: Checkpoint, path: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
    """Write `ckpt` atomically (temp file + rename) as one safetensors file.

    `dtype` (e.g. torch.float16) stores floating-point tensors smaller; loading casts them back.
    """
    from safetensors.torch import save_file

    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    for prefix, net in ckpt.networks.items():
        for key, value in net.state_dict().items():
            # contiguous clones: safetensors refuses shared or strided storage
            value = value.detach().to("cpu")
            if dtype is not None and value.is_floating_point():
                value = value.to(dtype)
            tensors[f"{prefix}.{key}"] = value.contiguous().clone()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": ckpt.arch,
        "config": json.dumps(config_to_dict(ckpt.config), sort_keys=True),
        "networks": json.dumps([k for k in ckpt.networks if k not in ckpt.aux]),
        "domains": json.dumps(list(ckpt.domains)),
        "preprocess": json.dumps(ckpt.preprocess, sort_keys=True),
        "gantrans_version": _version(),
    }
    if ckpt.provenance:
        meta["provenance"] = json.dumps(ckpt.provenance, sort_keys=True)
    if ckpt.license:
        meta["license"] = ckpt.license
    if ckpt.aux:
        meta["aux"] = json.dumps({k: {"arch": a, "config": config_to_dict(c)} for k, (a, c) in ckpt.aux.items()}, sort_keys=True)
    if ckpt.labels:
        meta["labels"] = json.dumps(ckpt.labels, sort_keys=True)
    if ckpt.postprocess:
        meta["postprocess"] = json.dumps(ckpt.postprocess, sort_keys=True)
    with atomic_target(path) as tmp:
        save_file(tensors, tmp, metadata=meta)
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The header metadata of a gantrans checkpoint, validated; tensors are not read."""
    from safetensors import safe_open

    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path} is a pickled PyTorch file; gantrans only loads .safetensors. "
            f"Convert it first: gantrans convert {path} -o {path.with_suffix('.safetensors').name} --from cyclegan|pix2pix|..."
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except Exception as e:
        raise CheckpointError(f"{path} is not a valid safetensors file ({e})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} has no gantrans metadata (format={meta.get('format')!r}); "
            "official checkpoints must be converted with `gantrans convert`"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {meta.get('format_version')!r}; "
            f"this gantrans reads version {FORMAT_VERSION} (upgrade gantrans?)"
        )
    for key in ("arch", "config", "networks"):
        if key not in meta:
            raise CheckpointError(f"{path}: metadata lacks {key!r}")
    return meta


def _json(meta: dict[str, str], key: str, default: Any, path: Path) -> Any:
    if key not in meta:
        return default
    try:
        return json.loads(meta[key])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: metadata {key!r} is not valid JSON ({e})") from None


def load_checkpoint(path: str | os.PathLike, check_finite: bool = True, config: dict[str, Any] | None = None) -> Checkpoint:
    """Rebuild every network from the file alone and load its weights strictly (on CPU). `config` overrides
    fields of the stored architecture config (options that change no weight, e.g. gated_inpaint's blend;
    strict loading rejects any override that would need other weights)."""
    from safetensors.torch import load_file

    path = Path(path)
    meta = read_metadata(path)
    arch = meta["arch"]
    try:
        get_spec(arch)
    except KeyError as e:
        raise CheckpointError(f"{path}: {e.args[0]}") from None
    config_dict = _json(meta, "config", {}, path)
    try:
        config_obj = make_config(arch, config_dict)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad {arch} config {config_dict}: {e}") from None
    if config:  # the caller's overrides: their errors are the caller's
        fields = config_to_dict(config_obj)
        for key in config:
            if key not in fields:
                raise OptionError(f"{path.name} ({arch}) has no {key} option (unknown config field {key!r}; fields: {', '.join(sorted(fields))})")
        config_dict = {**config_dict, **config}
        config_obj = make_config(arch, config_dict)
    prefixes = _json(meta, "networks", [], path)
    if not prefixes or not all(isinstance(p, str) and p for p in prefixes):
        raise CheckpointError(f"{path}: metadata 'networks' must be a non-empty list of names")
    aux_meta = _json(meta, "aux", {}, path)
    aux: dict[str, tuple[str, Any]] = {}
    plan = [(p, arch, config_obj, config_dict) for p in prefixes]
    try:
        for prefix, entry in aux_meta.items():
            aux[prefix] = (entry["arch"], make_config(entry["arch"], entry["config"]))
            plan.append((prefix, entry["arch"], aux[prefix][1], entry["config"]))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{path}: bad 'aux' metadata ({e})") from None
    try:
        for _prefix, net_arch, net_config, _d in plan:
            check_plausible(net_arch, net_config)
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from None
    _check_header(path, plan)  # shapes and dtypes against the architecture, before anything is allocated
    try:
        tensors = load_file(str(path))
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read tensors ({e})") from None
    networks: dict[str, nn.Module] = {}
    claimed: set[str] = set()
    for prefix, net_arch, net_config, net_config_dict in plan:
        net = build_network(net_arch, net_config)
        own = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        claimed.update(f"{prefix}.{k}" for k in own)
        load_strict(net, own, f"{path} [{prefix}, arch={net_arch}, config={json.dumps(net_config_dict, sort_keys=True)}]")
        networks[prefix] = net
    stray = sorted(set(tensors) - claimed)
    if stray:
        raise CheckpointError(f"{path}: tensors belong to no listed network: {_short(stray)}")
    if check_finite:
        bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise CheckpointError(f"{path}: NaN or Inf values in {_short(bad)}")
    return Checkpoint(
        arch=arch,
        config=config_obj,
        networks=networks,
        domains=_domains(_json(meta, "domains", ["A", "B"], path), path),
        preprocess=_preprocess(_json(meta, "preprocess", DEFAULT_PREPROCESS, path), path),
        provenance=_object(_json(meta, "provenance", {}, path), "provenance", path),
        license=meta.get("license"),
        version=meta.get("gantrans_version", ""),
        aux=aux,
        labels=_object(_json(meta, "labels", {}, path), "labels", path),
        postprocess=_postprocess(_json(meta, "postprocess", {}, path), path),
    )


def _object(value: Any, key: str, path: Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: metadata {key!r} must be a JSON object, got {type(value).__name__}")
    return value


def _domains(value: Any, path: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(d, str) and d for d in value):
        raise CheckpointError(f"{path}: metadata 'domains' must be a list of names, got {value!r}")
    return value


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _preprocess(value: Any, path: Path) -> dict[str, Any]:
    """size: an int >= 0; mean/std: lists of 1 or 3 finite numbers, std > 0 (a zero std is a black image)."""
    p = _object(value, "preprocess", path)
    size = p.get("size", 0)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise CheckpointError(f"{path}: metadata preprocess.size must be an integer >= 0, got {size!r}")
    for key in ("mean", "std"):
        v = p.get(key, DEFAULT_PREPROCESS[key])
        if not isinstance(v, list) or len(v) not in (1, 3) or not all(_number(x) for x in v):
            raise CheckpointError(f"{path}: metadata preprocess.{key} must be a list of 1 or 3 numbers, got {v!r}")
        if key == "std" and not all(x > 0 for x in v):
            raise CheckpointError(f"{path}: metadata preprocess.std must be > 0, got {v!r}")
    return p


def _postprocess(value: Any, path: Path) -> dict[str, Any]:
    """{} or {"smooth": "guided", "radius": int >= 1, "eps": number > 0, "threshold": number >= 0 (optional)}."""
    p = _object(value, "postprocess", path)
    if not p:
        return p
    radius, eps, threshold = p.get("radius"), p.get("eps"), p.get("threshold", 0.0)
    good = (
        p.get("smooth") == "guided" and set(p) <= {"smooth", "radius", "eps", "threshold"}
        and isinstance(radius, int) and not isinstance(radius, bool) and radius >= 1
        and isinstance(eps, (int, float)) and _number(eps) and eps > 0
        and isinstance(threshold, (int, float)) and _number(threshold) and threshold >= 0
    )  # fmt: skip
    if not good:
        raise CheckpointError(f"{path}: metadata postprocess must be {{\"smooth\": \"guided\", \"radius\": int >= 1, \"eps\": number > 0, \"threshold\": number >= 0}}, got {p!r}")
    return p


FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}


def _check_header(path: Path, plan: list[tuple[str, str, Any, Any]]) -> None:
    """Compare the file's tensor names, shapes and dtypes (read from its header only) with each network
    built on the meta device (no memory): a mismatch is refused before any weight or module is allocated."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        header = {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()}
    for prefix, net_arch, net_config, net_config_dict in plan:
        with torch.device("meta"):
            net = build_network(net_arch, net_config)
        expected = net.state_dict()
        own = {k[len(prefix) + 1 :]: v for k, v in header.items() if k.startswith(prefix + ".")}
        where = f"{path} [{prefix}, arch={net_arch}, config={json.dumps(net_config_dict, sort_keys=True)}]"
        load_strict(net, {k: torch.empty(shape, device="meta") for k, (shape, _) in own.items()}, where, check_only=True)
        bad = sorted(f"{k} ({dt})" for k, (_, dt) in own.items() if expected[k].is_floating_point() != (dt in FLOAT_DTYPES))
        if bad:
            raise CheckpointError(f"{where}: tensors of an unsupported dtype (weights must be F16, BF16, F32 or F64): {_short(bad)}")


def _short(keys: list[str], n: int = 8) -> str:
    more = f" ... (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_strict(net: nn.Module, state: dict[str, torch.Tensor], where: str, check_only: bool = False) -> None:
    """Load `state` into `net` with every key and shape matching, else one CheckpointError listing the
    differences (check_only: compare only)."""
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = sorted(
        f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
        for k in set(state) & set(expected)
        if state[k].shape != expected[k].shape
    )
    if missing or unexpected or misshaped:
        parts = []
        if missing:
            parts.append(f"missing keys: {_short(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_short(unexpected)}")
        if misshaped:
            parts.append(f"mis-shaped keys (file != model): {_short(misshaped)}")
        raise CheckpointError(f"{where}: weights do not match the architecture; " + "; ".join(parts))
    if not check_only:
        net.load_state_dict(state, strict=True)
