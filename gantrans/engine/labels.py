"""StarGAN label vectors from names: attribute edits (`NAME=1|0|toggle`, `GROUP=NAME`), exclusive
groups, multi-dataset masks, and the single-attribute changes of the StarGAN strip."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gantrans.errors import UsageError

SELDOM = 50  # a value on fewer training images than this was seen on few subjects: `edit` warns


class LabelError(UsageError):
    """An edit names an unknown attribute/group/value, or needed values are missing."""


@dataclass(frozen=True)
class Attr:
    name: str
    dataset: int  # which dataset of the schema
    index: int  # position in the joint label vector
    group: str | None  # exclusive group, or None for an independent binary attribute


class LabelSchema:
    """The label layout of a StarGAN checkpoint (its `labels` metadata)."""

    def __init__(self, meta: dict) -> None:
        if not meta or not meta.get("datasets"):
            raise LabelError("this model has no attribute list (labels metadata); was it trained or converted with labels?")
        self.datasets = [d["name"] for d in meta["datasets"]]
        self.mask = bool(meta.get("mask", len(self.datasets) > 1))
        self.attrs: dict[str, Attr] = {}
        self.groups: dict[str, list[str]] = {}
        self.n_attrs = 0
        self.images: list[int | None] = [d.get("images") for d in meta["datasets"]]  # training images (None: unknown)
        self.counts: dict[str, int] = {a: int(n) for d in meta["datasets"] for a, n in d.get("counts", {}).items()}
        for di, d in enumerate(meta["datasets"]):
            member = {a: g for g, ms in d.get("groups", {}).items() for a in ms}
            for a in d["attrs"]:
                if a in self.attrs:
                    raise LabelError(f"attribute {a} appears in two datasets")
                self.attrs[a] = Attr(a, di, self.n_attrs, member.get(a))
                self.n_attrs += 1
            for g, ms in d.get("groups", {}).items():
                self.groups[g] = list(ms)
        self.dim = self.n_attrs + (len(self.datasets) if self.mask else 0)

    def dataset_attrs(self, ds: int) -> list[str]:
        return [a.name for a in self.attrs.values() if a.dataset == ds]

    def describe(self) -> list[str]:
        """Groups and attributes; with the training counts stored, each value's number of images."""
        lines = []
        for di, name in enumerate(self.datasets):
            n_all = self.images[di]
            if len(self.datasets) > 1 or n_all is not None:
                lines.append(f"dataset {name}" + (f" ({n_all} training images)" if n_all is not None else "") + ":")

            def seen(a: str, value: str = "1") -> str:
                on = self.counts.get(a)
                return "" if on is None or n_all is None else f" ({on if value == '1' else n_all - on})"

            grouped = {a for g, ms in self.groups.items() for a in ms if self.attrs[ms[0]].dataset == di}
            for g, ms in self.groups.items():
                if self.attrs[ms[0]].dataset == di:
                    lines.append(f"  group {g}: {' | '.join(m + seen(m) for m in ms)}")
            for a in self.dataset_attrs(di):
                if a not in grouped:
                    lines.append(f"  attribute {a}: 0{seen(a, '0')} | 1{seen(a)}")
        return lines

    def seldom(self, wanted: list[tuple[str, str]], limit: int = SELDOM) -> list[str]:
        """Warnings for requested values (attr, "1"|"0"|"toggle") that fewer than `limit` training images
        carried: the model saw them on few subjects, so edits of other subjects are extrapolations."""
        out: list[str] = []
        for a, v in wanted:
            n_all, on = self.images[self.attrs[a].dataset], self.counts.get(a)
            if n_all is None or on is None:
                continue  # a converted model: its training data is unknown
            for value, n in (("1", on), ("0", n_all - on)):
                if v in (value, "toggle") and n < limit:
                    name = a if self.attrs[a].group else f"{a}={value}"
                    msg = (f"{name} was on only {n} of the model's {n_all} training images: on subjects unlike those, "
                           "the edit is outside what the model saw and may come out broken")  # fmt: skip
                    out.append(msg)
        return out

    # -- parsing -----------------------------------------------------------------------------
    def parse(self, specs: list[str]) -> list[tuple[str, str]]:
        """["Blond_Hair=1", "hair=Black_Hair", "Male=toggle"] -> [(attr, "1"|"0"|"toggle")], checked."""
        ops: list[tuple[str, str]] = []
        for spec in specs:
            key, eq, value = spec.partition("=")
            key, value = key.strip(), value.strip()
            if not eq or not key or not value:
                raise LabelError(f"--set {spec!r}: expected NAME=1|0|toggle or GROUP=NAME")
            if key in self.groups:
                if value not in self.groups[key]:
                    raise LabelError(f"--set {spec}: {value!r} is not in group {key} ({', '.join(self.groups[key])})")
                ops.append((value, "1"))
            elif key in self.attrs:
                if value not in ("1", "0", "toggle"):
                    raise LabelError(f"--set {spec}: the value must be 1, 0 or toggle")
                if self.attrs[key].group and value != "1":
                    g = self.attrs[key].group
                    raise LabelError(f"--set {spec}: {key} is in the exclusive group {g}; pick a member: --set {g}=NAME")
                ops.append((key, value))
            else:
                known = sorted(self.groups) + sorted(self.attrs)
                raise LabelError(f"--set {spec}: no attribute or group named {key!r}; known: {', '.join(known)}")
        return ops

    def parse_source(self, specs: list[str]) -> dict[str, float]:
        """--source NAME=VALUE / GROUP=NAME -> {attr: 0/1} for the input's current attributes."""
        out: dict[str, float] = {}
        for a, v in self.parse(specs):
            if v == "toggle":
                raise LabelError("--source values are 1, 0 or a group member, not toggle")
            group = self.attrs[a].group
            if group:
                for m in self.groups[group]:
                    out[m] = 0.0
            out[a] = float(v)
        return out

    # -- vectors -----------------------------------------------------------------------------
    def dataset_of(self, ops: list[tuple[str, str]]) -> int:
        sets = {self.attrs[a].dataset for a, _ in ops}
        if len(sets) > 1:
            raise LabelError("one edit can only change attributes of one dataset: " + ", ".join(self.datasets[d] for d in sorted(sets)))
        return sets.pop() if sets else 0

    def target(self, current: torch.Tensor, ops: list[tuple[str, str]], ds: int | None = None) -> torch.Tensor:
        """current (n_attrs,) 0/1 values of the input -> the full target label (dim,), with mask."""
        ds = self.dataset_of(ops) if ds is None else ds
        t = current.clone().float()
        for a, v in ops:
            at = self.attrs[a]
            if at.group:
                for m in self.groups[at.group]:
                    t[self.attrs[m].index] = 0.0
                t[at.index] = 1.0
            else:
                t[at.index] = 1.0 - t[at.index] if v == "toggle" else float(v)
        out = torch.zeros(self.dim)
        own = [self.attrs[a].index for a in self.dataset_attrs(ds)]
        out[own] = t[own]  # other datasets' parts are zero, as in training
        if self.mask:
            out[self.n_attrs + ds] = 1.0
        return out

    def single_changes(self, current: torch.Tensor, ds: int = 0) -> list[list[tuple[str, str]]]:
        """The StarGAN strip: each other member of each group, and each binary attribute flipped."""
        changes = []
        done_groups = set()
        for a in self.dataset_attrs(ds):
            at = self.attrs[a]
            if at.group:
                if at.group in done_groups:
                    continue
                done_groups.add(at.group)
                changes += [[(m, "1")] for m in self.groups[at.group] if current[self.attrs[m].index] < 0.5]
            else:
                changes.append([(a, "toggle")])
        return changes

    def from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Classifier logits (B, n_attrs) -> 0/1 attributes: argmax within groups, sigmoid > 0.5 otherwise."""
        out = (logits > 0).float()
        for ms in self.groups.values():
            idx = [self.attrs[m].index for m in ms]
            sub = torch.zeros_like(logits[:, idx])
            sub[torch.arange(logits.shape[0]), logits[:, idx].argmax(1)] = 1.0
            out[:, idx] = sub
        return out

    def read(self, current: torch.Tensor) -> dict[str, str]:
        """(n_attrs,) 0/1 values -> {group: its member that is on, attribute: "0" | "1"} (for display)."""
        out = {g: next((m for m in ms if current[self.attrs[m].index] >= 0.5), "") for g, ms in self.groups.items()}
        grouped = {a for ms in self.groups.values() for a in ms}
        out.update({a: str(int(round(float(current[at.index])))) for a, at in self.attrs.items() if a not in grouped})
        return out

    def name_changes(self, current: torch.Tensor, target: torch.Tensor) -> str:
        """"Blond_Hair-1_Male-0": the attributes whose value changes (group members switched on)."""
        parts = []
        for a, at in self.attrs.items():
            old, new = float(current[at.index]), float(target[at.index])
            if round(old) != round(new) and (at.group is None or new >= 0.5):
                parts.append(f"{a}-{int(round(new))}")
        return "_".join(parts) or "same"
