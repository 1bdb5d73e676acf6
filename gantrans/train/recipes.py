"""Training recipes: one object per run, driving a public training context.

A recipe class (registered by its family, see `gantrans.registry`) declares its options dataclass
(`Options`, validated with the run's settings), its defaults and its data kind; an instance builds the
networks, makes one training step, the sample rows and the inference checkpoint. The training loop
(`trainer.py`) is recipe-agnostic: resume, AMP, multi-process, logging and saving work the same for all.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import torch
import torch.distributed as dist
from torch import nn

from gantrans.train import state as S

if TYPE_CHECKING:
    from gantrans.io.checkpoint import Checkpoint
    from gantrans.train.config import TrainConfig
    from gantrans.train.data import Layout, Transform


class NonFiniteLoss(RuntimeError):
    """A loss became NaN/Inf under nan_policy=stop; nothing was saved after the last good checkpoint."""


@dataclass
class TrainContext:
    """What a recipe's step sees: the networks, optimizers, device, precision and the step index.

    G / D: generator and discriminator networks by name; opt_G / opt_D their Adam optimizers over the
    trainable parameters (opt_D is None for recipes without a discriminator); `step` is the 0-based
    index of the step being made; `info` logs a line (stderr of rank 0)."""

    cfg: "TrainConfig"
    device: torch.device
    dtype: torch.dtype
    world: int
    G: dict[str, nn.Module]
    D: dict[str, nn.Module]
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer | None
    g_params: list[nn.Parameter]
    d_params: list[nn.Parameter]
    scaler: torch.amp.GradScaler
    info: Callable[[str], None] = lambda _m: None
    step: int = 0
    skipped: int = 0  # updates skipped for non-finite losses (nan_policy=skip)
    # nan_policy=stop: the 1-based step of the first non-finite loss (-1: none), kept on the device so that a
    # step needs no host sync; the loop reads it (`first_nonfinite`) before it logs, samples or saves
    nonfinite_at: torch.Tensor | None = None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        from gantrans.engine.device import autocast

        return autocast(self.device, self.dtype)

    @staticmethod
    def requires_grad(nets: dict[str, nn.Module], flag: bool) -> None:
        for net in nets.values():
            net.requires_grad_(flag)

    def step_opt(self, loss: torch.Tensor, params: list[nn.Parameter], opt: torch.optim.Optimizer | None) -> None:
        """Backward (with loss scaling), all-reduce the gradients across ranks, optimizer step; a NaN/Inf
        loss stops the run (noted on the device, raised by the loop at its next log/sample/save: nothing
        made after it is written) or skips this update (nan_policy=skip: one host sync per update)."""
        assert opt is not None
        if self.cfg.nan_policy == "stop":
            if self.nonfinite_at is None:
                self.nonfinite_at = torch.full((), -1, dtype=torch.long, device=loss.device)
            bad = ~torch.isfinite(loss.detach()) & (self.nonfinite_at < 0)
            self.nonfinite_at = torch.where(bad, self.step + 1, self.nonfinite_at)
        else:
            finite = torch.isfinite(loss.detach()).float().view(1)
            if self.world > 1:  # all ranks must take the same branch
                dist.all_reduce(finite, op=dist.ReduceOp.MIN)
            if finite.item() < 1:
                self.skipped += 1  # skip this update; the other optimizer still steps
                return
        self.scaler.scale(loss).backward()
        S.allreduce_grads(params, self.world)
        self.scaler.step(opt)

    def first_nonfinite(self) -> int | None:
        """The step whose loss first became NaN/Inf on any rank (nan_policy=stop), else None. Syncs."""
        if self.nonfinite_at is None:
            return None
        at = self.nonfinite_at.clone().view(1)
        if self.world > 1:
            at = torch.where(at < 0, torch.iinfo(torch.long).max, at)
            dist.all_reduce(at, op=dist.ReduceOp.MIN)
            at = torch.where(at == torch.iinfo(torch.long).max, -1, at)
        step = int(at.item())
        return step if step >= 0 else None


@dataclass
class Options:
    """Base of the recipes' option dataclasses."""

    def validate(self, cfg: "TrainConfig") -> None:
        """Raise UsageError on settings this recipe cannot train with."""


class Recipe:
    """Base class of the training recipes (one instance per run)."""

    Options: ClassVar[type] = Options
    defaults: ClassVar[dict[str, Any]] = {}  # run and option defaults of this recipe (the official ones)
    data: ClassVar[str] = "pairs"  # "pairs": batches {"A", "B"}; "labels": {"image", "label", "ds"}; "images": {"A"}
    host_keys: ClassVar[frozenset[str]] = frozenset()  # batch entries the step reads on the host: not moved to the device

    def __init__(self, cfg: "TrainConfig") -> None:
        self.cfg = cfg
        self.opts: Any = cfg.options

    # -- data ----------------------------------------------------------------------------------------
    def open_data(self, info: Callable[[str], None]) -> dict[str, Any]:
        """Find the dataset (`cfg.dataset`); returns its summary for config.json."""
        from gantrans.train.data import detect

        self.layout = layout = detect(self.cfg.dataset, self.cfg.phase, images=self.data == "images")
        if layout.skipped:
            info(f"skipped {len(layout.skipped)} unreadable image(s)")
        self.check_data(layout, info)
        return {"dataset_layout": layout.kind, "images": [len(layout.a), len(layout.b)], "skipped": [str(p) for p in layout.skipped]}

    def check_data(self, layout: "Layout", info: Callable[[str], None]) -> None:
        """Refuse (UsageError) or note a dataset layout this recipe does not expect."""

    def transform(self) -> "Transform":
        """The run's resize/crop/flip (data.Transform) from its preprocess settings."""
        from gantrans.train.data import Transform

        c = self.cfg
        return Transform(c.preprocess, c.load_size, c.crop_size, c.flip)

    def stream(self) -> torch.utils.data.Dataset:
        """The sample stream: item i is a function of (seed, i) (see data.StreamDataset)."""
        from gantrans.train.data import StreamDataset

        c = self.cfg
        return StreamDataset(self.layout, self.transform(), c.seed, c.input_nc, c.output_nc, self.swap)

    def samples(self) -> dict[str, torch.Tensor]:
        """Fixed inputs of the sample grids."""
        from gantrans.train.data import fixed_samples

        return fixed_samples(self.layout, self.cfg.crop_size, self.cfg.input_nc, self.cfg.output_nc, self.swap)

    @property
    def swap(self) -> bool:
        """Feed the dataset's B side as the input (pix2pix --direction b2a)."""
        return False

    # -- networks ------------------------------------------------------------------------------------
    def build(self) -> tuple[dict[str, nn.Module], dict[str, nn.Module]]:
        """(generators, discriminators), each {name: module}, freshly initialised (the global RNG is seeded)."""
        raise NotImplementedError

    def setup(self, ctx: TrainContext) -> None:
        """After networks and optimizers exist (image pools, perceptual networks, ...)."""

    def step(self, ctx: TrainContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One training step on a batch on the device -> losses."""
        raise NotImplementedError

    def compile_units(self, ctx: TrainContext) -> list[tuple[nn.Module, str]]:
        """(module, method) pairs that `--compile` compiles: by default every network's forward; recipes
        whose step calls other entry points name those."""
        return [(net, "forward") for k, net in {**ctx.G, **ctx.D}.items() if not k.endswith(EMA)]  # averages: samples only

    def sample_rows(self, ctx: TrainContext, samples: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Rows of a sample grid, each (n, C, H, W) in [-1, 1]."""
        raise NotImplementedError

    def checkpoint(self, ctx: TrainContext, step: int, dataset: str) -> "Checkpoint":
        """The inference checkpoint (CPU copies with plain layers)."""
        raise NotImplementedError

    # -- per-rank state (e.g. image pools) -----------------------------------------------------------
    def rank_state(self) -> dict[str, Any]:
        return {}

    def load_rank_state(self, state: dict[str, Any]) -> None:
        pass

    def provenance(self, step: int, dataset: str) -> dict[str, Any]:
        return {"trained_by": "gantrans train", "model": self.cfg.model, "steps": step, "dataset": dataset}


@dataclass
class GANOptions(Options):
    """Options every adversarial recipe has."""

    gan_mode: str = "lsgan"

    def validate(self, cfg: "TrainConfig") -> None:
        from gantrans.train.config import GAN_MODES, check

        check(self.gan_mode in GAN_MODES, f"gan_mode must be one of {', '.join(GAN_MODES)}")


def cpu_copy(net: nn.Module, fresh: nn.Module) -> nn.Module:
    """`fresh` (plain layers, CPU) loaded with `net`'s weights: what goes into an inference checkpoint."""
    fresh.load_state_dict({k: v.detach().cpu() for k, v in net.state_dict().items()}, strict=True)
    return fresh


# -- generators' moving averages (`--set ema=DECAY`): network `{name}_ema` beside `name`, untrained, saved with the
# training state; where it exists it is what the sample grids draw with and what the model file holds
EMA = "_ema"


def add_averages(G: dict[str, nn.Module], decay: float) -> dict[str, nn.Module]:
    """`G` with an untrained copy `{name}_ema` of each generator when `decay` > 0."""
    if decay > 0:
        for k in list(G):
            G[k + EMA] = copy.deepcopy(G[k]).requires_grad_(False)
    return G


def live(G: dict[str, nn.Module]) -> list[str]:
    """The trained generators' names (not their averages)."""
    return [k for k in G if not k.endswith(EMA)]


def averaged(G: dict[str, nn.Module], name: str) -> nn.Module:
    """The generator the samples and the model file use: its average if there is one."""
    return G.get(name + EMA, G[name])


@torch.no_grad()
def restart_averages(G: dict[str, nn.Module]) -> None:
    """Averages equal to their generators (the trainer's step after --init-from has loaded these)."""
    for k in live(G):
        if k + EMA in G:
            G[k + EMA].load_state_dict(G[k].state_dict())


@torch.no_grad()
def update_averages(G: dict[str, nn.Module], decay: float) -> None:
    """BasicSR's model_ema after each step: parameters averaged with `decay`; buffers (BN statistics) copied."""
    for k in live(G):
        if k + EMA in G:
            for pe, p in zip(G[k + EMA].parameters(), G[k].parameters()):
                pe.mul_(decay).add_(p.detach(), alpha=1 - decay)
            for be, b in zip(G[k + EMA].buffers(), G[k].buffers()):
                be.copy_(b)


def list_field(default: list[str] | None = None) -> Any:
    return field(default_factory=lambda: list(default or []))
