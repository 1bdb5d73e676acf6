"""StarGAN attribute editing: the input's current attributes (given, or predicted by the classifier
stored in the checkpoint), target labels from edits, and the task of `gantrans edit`."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gantrans.engine.labels import LabelError, LabelSchema
from gantrans.engine.pipeline import Output, Task, Work
from gantrans.engine.translator import Translator, to_uint8
from gantrans.io.images import Decoded, InputItem
from gantrans.registry import require


class Editor:
    """A StarGAN Translator with its label schema and (optional) attribute classifier."""

    def __init__(self, t: Translator) -> None:
        require(t.arch, "edit", t.arch)
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


class EditTask(Task):
    """Per input the requested edit (tag: the changes made), or (strip_all) every single-attribute change."""

    def __init__(self, ed: Editor, ops: list[tuple[str, str]], given: dict[str, float], strip_all: bool = False,
                 size: int | None = None, batch_size: int = 1) -> None:
        self.ed, self.ops, self.given, self.strip_all, self.size = ed, ops, given, strip_all, size
        self.batch_size = self.group = max(1, batch_size)
        self.ds = ed.schema.dataset_of(ops) if ops else 0

    def seldom(self) -> list[str]:
        """Warnings for the requested values the model saw on few training images (`LabelSchema.seldom`);
        the strip requests every value its single changes can reach."""
        sch = self.ed.schema
        strip = sch.single_changes(torch.zeros(sch.n_attrs), self.ds) if self.strip_all else [self.ops]
        return sch.seldom([op for change in strip for op in change])

    def prepare(self, image: Image.Image, item: InputItem) -> Decoded:
        return self.ed.t.prepare(image, self.size, "a2b", self.max_pixels)

    def produce(self, works: Sequence[Work]) -> list[list[Output]]:
        sch, bs = self.ed.schema, self.batch_size
        x = torch.from_numpy(np.stack([w.decoded.pixels for w in works])).permute(0, 3, 1, 2)  # type: ignore[union-attr]  # (N, C, H, W)
        cur = self.ed.current(x, self.given, self.ops, self.ds)
        jobs: list[tuple[int, str, torch.Tensor]] = []  # (input, tag, target label)
        for i in range(len(works)):
            changes = sch.single_changes(cur[i], self.ds) if self.strip_all else [self.ops]
            for change in changes:
                trg = sch.target(cur[i], change, self.ds)
                jobs.append((i, sch.name_changes(cur[i], trg), trg))
        outs: list[list[Output]] = [[] for _ in works]
        for start in range(0, len(jobs), bs):
            chunk = jobs[start : start + bs]
            y = to_uint8(self.ed.t.run(x[[i for i, _, _ in chunk]], "a2b", torch.stack([c for _, _, c in chunk])))
            for (i, tag, _), arr in zip(chunk, y):
                outs[i].append((tag, arr))
        return outs
