"""Architectures: name -> config dataclass + builder, registered by the model module that defines them.

The entries live in the one registry (`gantrans.registry.ARCHS`); the family that owns an architecture
names it and its model module. Checkpoints store the architecture name and the config as JSON; loading
looks the name up here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from gantrans.errors import UsageError
from gantrans.registry import ARCHS, load_models


@dataclass(frozen=True)
class ArchSpec:
    """How to build one architecture.

    role: "generator" (translates images; usable by `translate`) or "discriminator".
    pad_multiple: the spatial multiple an input must have for this config (e.g. 4 for ResNet).
    min_size: the smallest side it accepts (instance norm needs > 1 pixel at the bottleneck);
        None means pad_multiple.
    """

    name: str
    config_cls: type
    build: Callable[[Any], nn.Module]
    role: str
    pad_multiple: Callable[[Any], int]
    defaults: dict[str, Any]
    description: str = ""
    min_size: Callable[[Any], int] | None = None

    def padded_size(self, config: Any, n: int) -> int:
        """The side length an input side of `n` pixels is padded to."""
        m = self.pad_multiple(config)
        floor = self.min_size(config) if self.min_size else m
        return max(-(-n // m) * m, floor)


def register(spec: ArchSpec) -> ArchSpec:
    if spec.name in ARCHS:
        raise ValueError(f"architecture {spec.name!r} is registered twice")
    ARCHS[spec.name] = spec
    return spec


def get_spec(name: str) -> ArchSpec:
    load_models()
    try:
        return ARCHS[name]
    except KeyError:
        raise KeyError(
            f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHS))}"
        ) from None


def list_archs(role: str | None = None) -> list[str]:
    load_models()
    return sorted(n for n, s in ARCHS.items() if role is None or s.role == role)


def make_config(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """Config for `name`: the architecture's defaults, then `overrides`. Unknown keys are errors."""
    spec = get_spec(name)
    fields = {f.name for f in dataclasses.fields(spec.config_cls)}
    values = dict(spec.defaults)
    for key, value in (overrides or {}).items():
        if key not in fields:
            raise UsageError(
                f"{name}: unknown config field {key!r}; fields: {', '.join(sorted(fields))}"
            )
        values[key] = value
    return spec.config_cls(**values)


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def build_network(name: str, config: Any | None = None) -> nn.Module:
    spec = get_spec(name)
    if config is None:
        config = make_config(name)
    if not isinstance(config, spec.config_cls):
        raise TypeError(f"{name} needs a {spec.config_cls.__name__}, got {type(config).__name__}")
    return spec.build(config)
