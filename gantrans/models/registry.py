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
    if overrides is not None and not isinstance(overrides, dict):
        raise UsageError(f"{name}: the config must be an object of fields, got {type(overrides).__name__}")
    defaults = _defaults(spec)
    values = dict(spec.defaults)
    for key, value in (overrides or {}).items():
        if key not in defaults:
            raise UsageError(
                f"{name}: unknown config field {key!r}; fields: {', '.join(sorted(defaults))}"
            )
        _check_type(name, key, value, defaults[key])
        values[key] = value
    return spec.config_cls(**values)


def _defaults(spec: ArchSpec) -> dict[str, Any]:
    """Each config field's default (spec defaults over the dataclass's), or MISSING."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(spec.config_cls):
        out[f.name] = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)  # fmt: skip
    out.update(spec.defaults)
    return out


def _check_type(name: str, key: str, value: Any, default: Any) -> None:
    """A value of the default's kind: an int field takes no bool or float, a bool field only a bool."""
    if default is dataclasses.MISSING or default is None or value is None:
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
    else:
        return
    if not ok:
        raise UsageError(f"{name}: config field {key!r} must be a {type(default).__name__}, got {value!r}")


def check_plausible(name: str, config: Any) -> None:
    """Refuse integer sizes far beyond anything trained (a damaged or hostile header would otherwise build
    gigabytes of modules before any shape check): at most max(64, 16 x the default) per field, or the field's
    own `metadata["max"]` (a size whose default is 0, like a code length)."""
    defaults = _defaults(get_spec(name))
    for f in dataclasses.fields(config):
        v, d = getattr(config, f.name), defaults.get(f.name)
        if isinstance(v, int) and not isinstance(v, bool) and isinstance(d, int) and not isinstance(d, bool):
            limit = int(f.metadata.get("max", max(64, 16 * d)))
            if v > limit or v < 0:
                raise UsageError(f"{name}: config field {f.name}={v} is implausible (expected 0..{limit})")


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def build_network(name: str, config: Any | None = None) -> nn.Module:
    spec = get_spec(name)
    if config is None:
        config = make_config(name)
    if not isinstance(config, spec.config_cls):
        raise TypeError(f"{name} needs a {spec.config_cls.__name__}, got {type(config).__name__}")
    return spec.build(config)
