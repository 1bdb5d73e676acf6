"""Convert official weights into self-describing gantrans checkpoints, through the converters the families register.

Official files are read by `gantrans.io.weights` (weights_only: a file that would need arbitrary code is
refused, never executed). Each family's converter infers the architecture from
the key set and shapes; flags override it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gantrans import registry
from gantrans.errors import UsageError
from gantrans.io.checkpoint import Checkpoint
from gantrans.io.weights import read_object


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


def convert_official(sources: list[Path], opts: ConvertOptions) -> ConvertResult:
    """Official file(s) -> a gantrans checkpoint, by the converter `opts.source` names or, when it is None,
    the first registered converter that recognises the first file's keys."""
    convs = registry.converters()
    if opts.source is None:
        obj = read_object(sources[0], mmap=True)  # the keys only: weights stay on disk
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


def drop_stale(state: dict[str, torch.Tensor], expected: set[str]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Remove norm buffers the network does not have: the instance-norm running stats of pre-0.4
    PyTorch files (what the official loaders patch away, e.g. MUNIT's `pytorch03_to_pytorch04`);
    every other key must match exactly."""
    stale = [k for k in state if k not in expected and re.search(r"\.(running_mean|running_var|num_batches_tracked)$", k)]
    return {k: v for k, v in state.items() if k not in stale}, ([f"dropped {len(stale)} stale instance-norm buffers (pre-0.4 PyTorch)"] if stale else [])
