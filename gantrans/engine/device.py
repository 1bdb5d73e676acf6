"""Device and precision policy: auto picks cuda -> mps -> cpu; impossible requests are errors."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import torch

from gantrans.errors import UsageError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceError(UsageError):
    """A requested device or precision cannot be had here; the message has a hint."""


def resolve_device(spec: str = "auto") -> torch.device:
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if m:
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {spec}: CUDA is not available here (use --device cpu or auto)")
        index = int(m.group(1) or torch.cuda.current_device())
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) (cuda:0..cuda:{torch.cuda.device_count() - 1})"
            )
        return torch.device("cuda", index)
    if spec == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise DeviceError("--device mps: MPS is not available here (use --device cpu or auto)")
        return torch.device("mps")
    raise DeviceError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps")


def resolve_precision(spec: str, device: torch.device) -> torch.dtype:
    """auto: fp16 on CUDA, fp32 elsewhere. fp16 on CPU is refused (slow, often unsupported)."""
    spec = (spec or "auto").strip().lower()
    if spec not in PRECISIONS:
        raise DeviceError(f"unknown precision {spec!r}; use {', '.join(PRECISIONS)}")
    if spec == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if spec == "fp16" and device.type == "cpu":
        raise DeviceError("--precision fp16 is not supported on CPU; use bf16 or fp32")
    if spec == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError("--precision bf16: this GPU has no bf16 support; use fp16")
    return _DTYPES[spec]


def precision_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in _DTYPES.items()}[dtype]


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision at `dtype` on `device` (nothing for fp32): the one rule for inference and training."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def describe(device: torch.device, dtype: torch.dtype) -> str:
    name = str(device)
    if device.type == "cuda":
        name += f" ({torch.cuda.get_device_name(device)})"
    note = ""
    if device.type == "cpu" and dtype == torch.bfloat16:
        from gantrans.models.cpuconv import bf16_native

        note = "" if bf16_native() else " (this CPU has no bf16 instructions: emulated, slower than fp32)"
    return f"device={name} precision={precision_name(dtype)}{note}"
