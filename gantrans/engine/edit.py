"""StarGAN attribute editing: the input's current attributes (given, or predicted by the classifier
stored in the checkpoint), target labels from edits, and the producer for `gantrans edit`."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from gantrans.engine.labels import LabelError, LabelSchema
from gantrans.engine.multi import Producer
from gantrans.engine.translator import Translator, to_uint8
from gantrans.errors import UsageError
from gantrans.io.images import Decoded
from gantrans.registry import titles


class Editor:
    """A StarGAN Translator with its label schema and (optional) attribute classifier."""

    def __init__(self, t: Translator) -> None:
        if "edit" not in t.family.commands:
            raise UsageError(f"editing attributes needs a {titles('edit')} model; this is {t.arch}")
        self.t = t
        self.schema = LabelSchema(t.checkpoint.labels)
        self.classifier = t.checkpoint.networks.get("D")  # its auxiliary classification head

    @torch.inference_mode()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) uint8 -> (N, n_attrs) 0/1, from the discriminator's classifier at its image size."""
        if self.classifier is None:
            raise LabelError("this model stores no attribute classifier")
        size: int = self.classifier.config.image_size  # type: ignore[union-attr,assignment]
        x = x.to(self.t.device).float() / 255.0
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
        _, logits = self.classifier(self.t.normalize(x))
        return self.schema.from_logits(logits.float().cpu())

    def missing(self, given: dict[str, float], ops: list[tuple[str, str]], ds: int) -> list[str]:
        """Groups/attributes of dataset `ds` whose current value is needed but neither given nor edited."""
        set_groups = {self.schema.attrs[a].group for a, _ in ops if self.schema.attrs[a].group}
        set_plain = {a for a, v in ops if not self.schema.attrs[a].group and v != "toggle"}
        out = []
        for g, ms in self.schema.groups.items():
            if self.schema.attrs[ms[0]].dataset == ds and g not in set_groups and not any(given.get(m) == 1.0 for m in ms):
                out.append(f"{g} (group)")
        for a in self.schema.dataset_attrs(ds):
            if not self.schema.attrs[a].group and a not in set_plain and a not in given:
                out.append(a)
        return out

    def current(self, x: torch.Tensor, given: dict[str, float], ops: list[tuple[str, str]], ds: int) -> torch.Tensor:
        """(N, n_attrs) current values: --source values over classifier predictions."""
        n = x.shape[0]
        if self.classifier is not None:
            cur = self.predict(x).clone()  # a normal tensor (predict runs in inference mode)
        else:
            need = self.missing(given, ops, ds)
            if need:
                raise LabelError(
                    "the input's current value is needed for: " + ", ".join(need)
                    + "; give it with --source NAME=VALUE (or GROUP=NAME): this model stores no attribute classifier"
                )
            cur = torch.zeros(n, self.schema.n_attrs)
        for a, v in given.items():
            cur[:, self.schema.attrs[a].index] = v
        return cur


def edit_producer(ed: Editor, ops: list[tuple[str, str]], given: dict[str, float], strip_all: bool, batch_size: int) -> Producer:
    """Producer for run_multi: per input the requested edit, or (strip_all) every single-attribute change."""
    sch = ed.schema
    ds = sch.dataset_of(ops) if ops else 0

    def produce(decoded: Sequence[Decoded]) -> list[list[tuple[str, np.ndarray]]]:
        x = torch.from_numpy(np.stack([d.pixels for d in decoded])).permute(0, 3, 1, 2)  # (N, C, H, W)
        cur = ed.current(x, given, ops, ds)
        jobs: list[tuple[int, str, torch.Tensor]] = []  # (input, tag, target label)
        for i in range(len(decoded)):
            changes = sch.single_changes(cur[i], ds) if strip_all else [ops]
            for change in changes:
                trg = sch.target(cur[i], change, ds)
                jobs.append((i, sch.name_changes(cur[i], trg), trg))
        outs: list[list[tuple[str, np.ndarray]]] = [[] for _ in decoded]
        for start in range(0, len(jobs), max(1, batch_size)):
            chunk = jobs[start : start + batch_size]
            y = to_uint8(ed.t.run(x[[i for i, _, _ in chunk]], "a2b", torch.stack([c for _, _, c in chunk])))
            for (i, tag, _), arr in zip(chunk, y):
                outs[i].append((tag, arr))
        return outs

    return produce
