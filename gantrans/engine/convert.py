"""Convert official weights into self-describing gantrans checkpoints, through the converters the families register.

Official files are pickles: they are read with `torch.load(weights_only=True)` only, so a file that
would need arbitrary code is refused, never executed. Each family's converter infers the architecture from
the key set and shapes; flags override it.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gantrans import registry
from gantrans.errors import UsageError
from gantrans.io.checkpoint import Checkpoint, CheckpointError


@dataclass
class ConvertOptions:
    source: str | None = None  # a registered converter; None: detected from the first file's keys
    netG: str | None = None
    norm: str | None = None
    ngf: int | None = None
    dropout: bool | None = None
    domains: tuple[str, ...] | None = None  # None: A, B (StarGAN: the dataset name "stargan")
    license: str | None = None
    size: int | None = None  # training image size recorded; None: the converter's default
    attrs: list[str] | None = None  # StarGAN label names
    groups: dict[str, list[str]] | None = None  # StarGAN exclusive groups


@dataclass
class ConvertResult:
    checkpoint: Checkpoint
    inferred: list[str] = field(default_factory=list)  # "what was inferred", for the user


def read_official(path: Path, nested: bool = False) -> dict[str, Any]:
    """A state dict from an official file, without ever running pickled code.

    `nested`: the MUNIT/UNIT layout {"a": state, "b": state} is returned as is (prefixes cleaned).
    """
    obj = _read_object(path)
    if nested:
        if not isinstance(obj, dict) or set(obj) != {"a", "b"} or not all(isinstance(v, dict) for v in obj.values()):
            raise CheckpointError(f"{path}: expected the MUNIT/UNIT generator layout {{'a': state_dict, 'b': state_dict}} (gen_*.pt)")
        return {d: _strip_module(obj[d], path) for d in ("a", "b")}
    for key in ("state_dict", "model", "net_G", "G"):  # common wrappers around the weights
        if isinstance(obj, dict) and isinstance(obj.get(key), dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            obj = obj[key]
    return _strip_module(obj, path)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Third-party weights: a .safetensors file, or a pickle read as `read_official` (no code runs)."""
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return read_official(path)


def read_features(path: Path) -> dict[str, torch.Tensor]:
    """A torchvision VGG/AlexNet weights file -> its `features` convolutions keyed "N.weight" / "N.bias"
    (a "features." prefix is dropped, other parts ignored)."""
    state = {k[len("features."):] if k.startswith("features.") else k: v for k, v in read_weights(path).items()}
    return {k: v for k, v in state.items() if k.split(".")[0].isdigit()}


def _strip_module(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors")
    state = {}
    for k, v in obj.items():
        while k.startswith("module."):  # DataParallel-wrapped saves
            k = k[len("module.") :]
        state[k] = v
    return state


def convert_official(sources: list[Path], opts: ConvertOptions) -> ConvertResult:
    """Official file(s) -> a gantrans checkpoint, by the converter `opts.source` names or, when it is None,
    the first registered converter that recognises the first file's keys."""
    convs = registry.converters()
    if opts.source is None:
        obj = _read_object(sources[0])
        found = [c for c in convs.values() if c.recognises(obj)]
        if not found:
            raise UsageError(f"{sources[0].name}: no converter recognises its keys; name one with --from ({', '.join(convs)})")
        opts.source = found[0].name
        notes = [f"{sources[0].name}: recognised as --from {opts.source}"]
    elif opts.source not in convs:
        raise UsageError(f"--from must be one of {', '.join(convs)}")
    else:
        notes = []
    conv = convs[opts.source]
    conv.check_domains(opts.domains)
    if opts.size is None:
        opts.size = conv.default_size
    result = conv.convert(list(sources), opts)
    result.inferred[:0] = notes
    return result


def two_domains(opts: ConvertOptions) -> list[str]:
    """The two domain names of a two-domain model (default A, B; their count was checked by the converter)."""
    return list(opts.domains or ("A", "B"))


def _read_object(path: Path) -> Any:
    """The unpickled object of an official file, for converter detection (weights_only: no code runs)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path} needs arbitrary code to load (it is not a plain state dict); gantrans never "
            f"executes pickled code, so it is refused ({str(e).splitlines()[0][:200]})"
        ) from None
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read as a PyTorch file ({e})") from None


def file_sha256(src: Path) -> str:
    return hashlib.sha256(src.read_bytes()).hexdigest()


def drop_stale(state: dict[str, torch.Tensor], expected: set[str]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Remove norm buffers the network does not have: the instance-norm running stats of pre-0.4
    PyTorch files (what the official loaders patch away, e.g. MUNIT's `pytorch03_to_pytorch04`);
    every other key must match exactly."""
    stale = [k for k in state if k not in expected and re.search(r"\.(running_mean|running_var|num_batches_tracked)$", k)]
    return {k: v for k, v in state.items() if k not in stale}, ([f"dropped {len(stale)} stale instance-norm buffers (pre-0.4 PyTorch)"] if stale else [])
