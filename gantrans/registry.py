"""The one registry: model families, and through them architectures, training recipes and converters.

Every module in `gantrans.families` is imported on first use (found by listing the package, not by a
hand-kept list) and registers its family object with `register_family`. A family names its architectures,
the model modules that define them (imported only when a network is built, so listing names stays free
of torch), its training recipes and its converters. Architectures register their `ArchSpec` from their
model module (`gantrans.models.registry.register`), into `ARCHS` here.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gantrans.families.base import Converter, Family
    from gantrans.models.registry import ArchSpec

FAMILIES: dict[str, "Family"] = {}
ARCHS: dict[str, "ArchSpec"] = {}
_discovered = False
_models_loaded = False


def register_family(family: "Family") -> "Family":
    """Register a family object (once); its architecture, recipe and converter names must be new."""
    if family.name in FAMILIES:
        raise ValueError(f"family {family.name!r} is registered twice")
    for other in FAMILIES.values():
        for kind, mine, theirs in (
            ("architecture", family.archs + family.aux_archs, other.archs + other.aux_archs),
            ("recipe", tuple(family.recipes), tuple(other.recipes)),
            ("converter", tuple(family.converters), tuple(other.converters)),
        ):
            clash = set(mine) & set(theirs)
            if clash:
                raise ValueError(f"{kind} {', '.join(sorted(clash))} registered by families {other.name!r} and {family.name!r}")
    FAMILIES[family.name] = family
    return family


def discover() -> None:
    """Import every family module of `gantrans.families` (cheap: family modules do not import torch)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    import gantrans.families as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.name.startswith("_") and info.name != "base":
            importlib.import_module(f"{pkg.__name__}.{info.name}")


def load_models() -> None:
    """Import every family's model modules, which register their architectures."""
    global _models_loaded
    if _models_loaded:
        return
    discover()
    for fam in FAMILIES.values():
        for mod in fam.model_modules:
            importlib.import_module(mod)
    _models_loaded = True


def families() -> list["Family"]:
    discover()
    return list(FAMILIES.values())


def family_of(arch: str) -> "Family":
    """The family that owns architecture `arch` (a generator/stylizer or an auxiliary network)."""
    discover()
    for fam in FAMILIES.values():
        if arch in fam.archs or arch in fam.aux_archs:
            return fam
    raise KeyError(f"unknown architecture {arch!r}; known: {', '.join(arch_names())}")


def arch_names() -> list[str]:
    discover()
    return sorted(a for f in FAMILIES.values() for a in f.archs + f.aux_archs)


def recipe_names() -> list[str]:
    discover()
    return [r for f in FAMILIES.values() for r in f.recipes]


def recipe_family(name: str) -> "Family":
    from gantrans.errors import UsageError

    discover()
    for fam in FAMILIES.values():
        if name in fam.recipes:
            return fam
    raise UsageError(f"no training recipe {name!r}; known: {', '.join(recipe_names())}")


def recipe_class(name: str) -> Any:
    """The recipe class registered under `name` (its module is imported now)."""
    ref = recipe_family(name).recipes[name]
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def converters() -> dict[str, "Converter"]:
    discover()
    return {n: c for f in FAMILIES.values() for n, c in f.converters.items()}


def commands_of(command: str) -> list["Family"]:
    """The families that serve a CLI command (translate, style-sample, edit, stylize)."""
    return [f for f in families() if command in f.commands]


def titles(command: str) -> str:
    """"MUNIT", "CycleGAN/pix2pix, MUNIT or UNIT": the kinds of model a command takes, for messages."""
    names = [f.title for f in commands_of(command)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def require(arch: str, command: str, name: str) -> None:
    """UsageError unless the model `name` (of `arch`) serves `command`; the hint names commands that take it."""
    from gantrans.errors import UsageError

    fam = family_of(arch)
    if command not in fam.commands:
        takes = ", ".join(f"gantrans {c}" for c in sorted(fam.commands))
        raise UsageError(f"{command} needs a {titles(command)} model; {name} is {arch} (use it with {takes})")
