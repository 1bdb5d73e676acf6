"""Reading third-party weight files (official pickles, torchvision, safetensors) without running code.

Official files are pickles: they are read with `torch.load(weights_only=True)` only, so a file that
would need arbitrary code is refused, never executed.
"""

from __future__ import annotations

import hashlib
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from gantrans.io.checkpoint import CheckpointError


def read_object(path: Path, mmap: bool = False) -> Any:
    """The unpickled object of a file (weights_only: no code runs).

    `mmap`: tensors stay on disk (zip-format files), so looking at the keys costs no read of the weights.
    """
    try:
        try:
            with warnings.catch_warnings():  # torch's advisory about pickle protocols is not the user's business
                warnings.simplefilter("ignore", UserWarning)
                return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        except RuntimeError as e:
            if mmap and "mmap" in str(e):  # legacy (pre-1.6) format cannot be mapped: read it whole
                return torch.load(path, map_location="cpu", weights_only=True)
            raise
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path} needs arbitrary code to load (it is not a plain state dict); gantrans never "
            f"executes pickled code, so it is refused ({str(e).splitlines()[0][:200]})"
        ) from None
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read as a PyTorch file ({e})") from None


def read_official(path: Path, nested: bool = False) -> dict[str, Any]:
    """A state dict from an official file, without ever running pickled code.

    `nested`: the MUNIT/UNIT layout {"a": state, "b": state} is returned as is (prefixes cleaned).
    """
    obj = read_object(path)
    if nested:
        if not isinstance(obj, dict) or set(obj) != {"a", "b"} or not all(isinstance(v, dict) for v in obj.values()):
            raise CheckpointError(f"{path}: expected the MUNIT/UNIT generator layout {{'a': state_dict, 'b': state_dict}} (gen_*.pt)")
        return {d: strip_module(obj[d], path) for d in ("a", "b")}
    for key in ("params_ema", "params", "state_dict", "model", "net_G", "G"):  # common wrappers (BasicSR: EMA first)
        if isinstance(obj, dict) and isinstance(obj.get(key), dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            obj = obj[key]
    return strip_module(obj, path)


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


def strip_module(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """Check a state dict of tensors and drop DataParallel's `module.` prefixes."""
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors")
    state = {}
    for k, v in obj.items():
        while k.startswith("module."):  # DataParallel-wrapped saves
            k = k[len("module.") :]
        state[k] = v
    return state


def file_sha256(src: Path) -> str:
    h = hashlib.sha256()
    with open(src, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
