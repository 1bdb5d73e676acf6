"""The models a `gantrans serve` page offers: bundled ones, the operator's `-m` references, and `hf://` models in
the local Hugging Face cache; each read once (header only) to learn which commands it serves, then loaded on
first use through a bounded ModelCache.

Only these references can be used from the page: a request naming anything else is refused, so no request
makes the server open a path of its choosing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gantrans.engine.cache import ModelCache
from gantrans.errors import UsageError


@dataclass(frozen=True)
class Entry:
    ref: str  # what the page and the equivalent command line call it (bundled name, path as given, hf://...)
    path: Path
    arch: str
    role: str  # the family's role: translator, upscaler, inpainter, stylizer, sampler
    commands: frozenset[str]
    nbytes: int
    directions: tuple[str, ...]  # translation directions the checkpoint holds
    domains: tuple[str, ...]


def _entry(ref: str, path: Path) -> Entry:
    from gantrans import registry
    from gantrans.io.checkpoint import read_metadata

    meta = read_metadata(path)
    fam = registry.family_of(meta["arch"])
    networks = json.loads(meta.get("networks", "[]"))
    domains = tuple(json.loads(meta.get("domains", "[]")) or ())
    return Entry(ref, path, meta["arch"], fam.role, fam.commands, path.stat().st_size, tuple(fam.directions(networks)), domains)


def cached_hf_models() -> list[str]:
    """`hf://org/repo` for each model repository in the local Hugging Face cache holding a model.safetensors."""
    try:
        from huggingface_hub import scan_cache_dir

        from gantrans.io.hub import _hf_cache_dir

        info = scan_cache_dir(_hf_cache_dir())  # HF_HOME / HF_HUB_CACHE as they are now
    except Exception:  # noqa: BLE001 - no cache (or an unreadable one) simply offers nothing
        return []
    out = []
    for repo in info.repos:
        if repo.repo_type == "model" and any(f.file_name == "model.safetensors" for rev in repo.revisions for f in rev.files):
            out.append(f"hf://{repo.repo_id}")
    return sorted(out)


class Catalog:
    """The page's models by reference, and a cache of the loaded ones."""

    def __init__(self, refs: list[str] | None = None, device: str = "auto", precision: str = "auto", max_models: int = 3,
                 max_bytes: int | None = None, bundled: bool = True, hf_cache: bool = True) -> None:  # fmt: skip
        from gantrans.io.hub import bundled_models, resolve

        self.device, self.precision = device, precision
        self.cache = ModelCache(max_models, max_bytes)
        self.entries: dict[str, Entry] = {}
        self.skipped: list[str] = []  # "ref: why" for models that could not be offered
        self.operator = set(refs or [])
        candidates: list[tuple[str, Path | None]] = [(r, None) for r in refs or []]
        if bundled:
            candidates += sorted(bundled_models().items())
        if hf_cache:
            candidates += [(r, None) for r in cached_hf_models()]
        for ref, path in candidates:
            if ref in self.entries:
                continue
            try:
                self.entries[ref] = _entry(ref, path if path is not None else resolve(ref))
            except Exception as e:  # noqa: BLE001 - one unreadable model leaves the others on the page
                self.skipped.append(f"{ref}: {e}")

    def for_command(self, command: str) -> list[str]:
        """References of the models serving `command`: the operator's first, then the command's default."""
        from gantrans.io.hub import COMMAND_DEFAULTS

        refs = [r for r, e in self.entries.items() if command in e.commands]
        default = COMMAND_DEFAULTS.get(command)
        if default in refs:
            refs.remove(default)
            refs.insert(len([r for r in refs if r in self.operator]), default)
        return refs

    def entry(self, ref: str | None, command: str) -> Entry:
        if not ref or ref not in self.entries:
            raise UsageError(f"no model {ref!r} on this server" + (f"; choose one of {', '.join(self.for_command(command))}" if self.for_command(command) else ""))
        e = self.entries[ref]
        if command not in e.commands:
            raise UsageError(f"{ref} ({e.arch}) does not serve {command}; it serves {', '.join(sorted(e.commands))}")
        return e

    def load(self, ref: str, command: str) -> Any:
        """The loaded model of `ref` for `command` (Translator, Stylizer or LatentModel, by the family's role)."""
        e = self.entry(ref, command)

        def load() -> tuple[Any, int]:
            p = str(e.path)
            if e.role == "sampler":
                from gantrans.engine.latent import load_latent

                return load_latent(p, self.device, self.precision), e.nbytes
            if e.role == "stylizer":
                from gantrans.engine.stylize import stylizer

                return stylizer(p, self.device, self.precision), e.nbytes
            import gantrans

            return gantrans.load(p, self.device, self.precision), e.nbytes

        return self.cache.get(e.ref, load)
