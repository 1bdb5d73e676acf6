"""One recipe per trainable model: its networks, one training step, sample rows, inference checkpoint.

The training loop (`trainer.py`) is model-agnostic: resume, AMP, multi-process, logging and saving
work the same for every recipe. Recipes register themselves here by model name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import nn

from gantrans.errors import UsageError

if TYPE_CHECKING:
    from gantrans.io.checkpoint import Checkpoint
    from gantrans.train.config import TrainConfig
    from gantrans.train.trainer import _Trainer


@dataclass(frozen=True)
class Recipe:
    # cfg -> (generators, discriminators), each {name: module}
    build: Callable[["TrainConfig"], tuple[dict[str, nn.Module], dict[str, nn.Module]]]
    # (trainer, batch on the device) -> losses
    step: Callable[["_Trainer", dict[str, torch.Tensor]], dict[str, float]]
    # (trainer, fixed samples on the device) -> rows of a sample grid, each (n, C, H, W) in [-1, 1]
    sample_rows: Callable[["_Trainer", dict[str, torch.Tensor]], list[torch.Tensor]]
    # (trainer, step, dataset) -> inference checkpoint (CPU copies)
    checkpoint: Callable[["_Trainer", int, str], "Checkpoint"]
    data: str = "pairs"  # "pairs": batches {"A", "B"}; "labels": {"image", "label", ...}; "images": {"A"}


RECIPES: dict[str, Recipe] = {}


def register(name: str, recipe: Recipe) -> None:
    RECIPES[name] = recipe


def get_recipe(model: str) -> Recipe:
    from gantrans.train import cyclegan, munit, stargan, wct  # noqa: F401 - registers the recipes

    try:
        return RECIPES[model]
    except KeyError:
        raise UsageError(f"no training recipe for {model!r}; known: {', '.join(sorted(RECIPES))}") from None


def cpu_copy(net: nn.Module, fresh: nn.Module) -> nn.Module:
    """`fresh` (plain layers, CPU) loaded with `net`'s weights: what goes into an inference checkpoint."""
    fresh.load_state_dict({k: v.detach().cpu() for k, v in net.state_dict().items()}, strict=True)
    return fresh


def provenance(tr: "_Trainer", step: int, dataset: str) -> dict[str, Any]:
    return {"trained_by": "gantrans train", "model": tr.cfg.model, "steps": step, "dataset": dataset}
