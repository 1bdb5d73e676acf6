"""The training loop for every recipe: resumable to the bit, AMP, multi-process via torchrun.

`train(cfg)` is a plain function: progress goes to callbacks, nothing is printed. Everything a step
depends on — networks, optimizers, GradScaler, image pools, RNG states and the step itself — is in
the training state, and the data a step sees is a function of (seed, step), so a run stopped at step
k and resumed ends exactly where an uninterrupted run ends.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.utils._pytree import tree_map

from gantrans import registry
from gantrans.engine import threads
from gantrans.engine.device import resolve_device, resolve_precision
from gantrans.errors import UsageError
from gantrans.io.checkpoint import Checkpoint, CheckpointError, load_strict, save_checkpoint
from gantrans.models import cpuconv
from gantrans.train import state as S
from gantrans.train.config import TrainConfig
from gantrans.train.data import make_loader
from gantrans.train.recipes import NonFiniteLoss, Recipe, TrainContext, restart_averages

__all__ = ["Interrupted", "NonFiniteLoss", "TrainResult", "Trainer", "lr_factor", "train"]

# settings that may change when resuming (everything else is fixed by the run)
RESUMABLE = {"steps", "device", "precision", "workers", "save_every", "sample_every", "log_every", "tensorboard", "channels_last", "nan_policy", "compile", "compile_mode"}


class Interrupted(Exception):
    """Training stopped on request (Ctrl-C); the state at `step` was saved."""

    def __init__(self, step: int) -> None:
        super().__init__(f"interrupted at step {step}; state saved")
        self.step = step


@dataclass
class TrainResult:
    run: Path
    step: int
    model: Path | None


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """Learning-rate multiplier for 0-based `step` (a function of the step: nothing to restore)."""
    if cfg.lr_policy == "constant":
        return 1.0
    if cfg.lr_policy == "step":
        return cfg.lr_gamma ** (step // cfg.lr_decay_every)
    if cfg.lr_policy == "multistep":  # BasicSR's MultiStepLR: milestones count finished steps
        return cfg.lr_gamma ** sum(1 for m in cfg.lr_milestones if step >= m)
    if cfg.lr_policy == "cosine":
        return 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
    start = int(cfg.lr_decay_start * cfg.steps)  # linear: constant, then linearly to 0 (official form)
    return 1.0 - max(0, step - start) / float(cfg.steps - start + 1)


class Trainer:
    """A run's recipe and its training context (networks, optimizers, scaler) on a device."""

    def __init__(self, recipe: Recipe, device: torch.device, dtype: torch.dtype, world: int, info: Callable[[str], None], resume: bool = False) -> None:
        self.recipe = recipe
        cfg = recipe.cfg
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        G, D = self.recipe.build()
        # SyncBatchNorm runs on GPUs only; on CPUs (gloo) running stats are averaged after each step
        batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for net in (*G.values(), *D.values()) for m in net.modules())
        self.avg_bn_stats = world > 1 and batch_norm and device.type != "cuda"
        if world > 1 and batch_norm and device.type == "cuda":
            G = {k: nn.SyncBatchNorm.convert_sync_batchnorm(v) for k, v in G.items()}
            D = {k: nn.SyncBatchNorm.convert_sync_batchnorm(v) for k, v in D.items()}
        if cfg.init_from and not resume:  # a resumed run's weights come from its state (the source may be gone)
            _init_from({**G, **D}, cfg.init_from, info)
            restart_averages(G)  # the generators' moving averages start from the loaded weights
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        for net in G.values():
            cpuconv.accelerate(net)  # its no-grad passes (fakes for D, sample grids) take the CPU fast paths
        for net in itertools.chain(G.values(), D.values()):
            net.to(device, memory_format=fmt).train()  # type: ignore[call-overload]
        if world > 1:
            S.broadcast_modules([*G.values(), *D.values()])
        betas, wd = (cfg.beta1, cfg.beta2), cfg.weight_decay
        # CUDA: one fused kernel per optimizer step, and GradScaler hands it the inf check (no host sync)
        self.fused = device.type == "cuda"
        # frozen parts (a WCT decoder's encoder) stay out of the optimizer
        g_params = [p for net in G.values() for p in net.parameters() if p.requires_grad]
        d_params = [p for net in D.values() for p in net.parameters()]
        self.ctx = TrainContext(
            cfg=cfg, device=device, dtype=dtype, world=world, G=G, D=D,
            opt_G=torch.optim.Adam(g_params, lr=cfg.lr, betas=betas, weight_decay=wd, fused=self.fused or None),
            # recipes without a discriminator (wct-decoder) have no D optimizer
            opt_D=torch.optim.Adam(d_params, lr=cfg.lr, betas=betas, weight_decay=wd, fused=self.fused or None) if d_params else None,
            g_params=g_params, d_params=d_params, scaler=torch.amp.GradScaler(device.type, enabled=dtype == torch.float16), info=info,
        )  # fmt: skip
        self.recipe.setup(self.ctx)
        self.graphs = False  # compiled with CUDA graphs (compile mode reduce-overhead / max-autotune on CUDA)
        if cfg.compile:
            self.compile(cfg.compile_mode, info)

    def compile(self, mode: str, info: Callable[[str], None]) -> None:
        """torch.compile the recipe's compile units in place (parameter names unchanged), or say why not."""
        why = compile_unavailable(self.ctx.device)
        if why:
            info(f"--compile: torch.compile cannot be used here ({why}); training without it")
            return
        self.graphs = mode in CUDA_GRAPH_MODES and self.ctx.device.type == "cuda"
        for net, method in self.recipe.compile_units(self.ctx):
            if self.graphs:  # forward too: the copy must wrap the compiled call, which net.compile() keeps private
                setattr(net, method, own_outputs(torch.compile(getattr(net, method), mode=mode)))
            elif method == "forward":
                net.compile(mode=mode)
            else:  # an entry point the recipe calls directly (MUNIT's encode/decode, DeepFill's stages)
                setattr(net, method, torch.compile(getattr(net, method), mode=mode))
        info(f"--compile: torch.compile mode {mode}; the first steps compile")

    def step(self, batch: dict[str, torch.Tensor], lr: float, index: int = 0) -> dict[str, torch.Tensor]:
        """One training step (0-based `index`: StarGAN updates G every n_critic steps)."""
        ctx = self.ctx
        ctx.step = index
        if self.graphs:  # a new iteration: the graphs may reuse their memory (no output of an earlier step is kept)
            torch.compiler.cudagraph_mark_step_begin()
        for opt in (o for o in (ctx.opt_G, ctx.opt_D) if o is not None):
            for group in opt.param_groups:
                group["lr"] = lr
        fmt = torch.channels_last if ctx.cfg.channels_last else torch.contiguous_format
        host = self.recipe.host_keys
        batch = {
            k: v if k in host else v.to(ctx.device, non_blocking=True).contiguous(memory_format=fmt) if v.ndim == 4 else v.to(ctx.device)
            for k, v in batch.items()
        }  # fmt: skip
        out = self.recipe.step(ctx, batch)
        ctx.scaler.update()
        if self.avg_bn_stats:
            S.average_buffers([*ctx.G.values(), *ctx.D.values()], ctx.world)
        return out

    # -- state -----------------------------------------------------------------------------
    def shared_state(self, step: int) -> dict[str, Any]:
        ctx = self.ctx
        return {
            "step": step,
            "nets": {k: v.state_dict() for k, v in {**ctx.G, **ctx.D}.items()},
            "opt_G": ctx.opt_G.state_dict(),
            "opt_D": ctx.opt_D.state_dict() if ctx.opt_D is not None else None,
            "scaler": ctx.scaler.state_dict(),
        }

    def rank_state(self) -> dict[str, Any]:
        return {**self.recipe.rank_state(), "rng": S.rng_state(self.ctx.device)}

    def load(self, shared: dict[str, Any], rank: dict[str, Any] | None) -> int:
        ctx = self.ctx
        try:
            for k, net in {**ctx.G, **ctx.D}.items():
                load_strict(net, shared["nets"][k], f"train_state.pt [{k}]")
        except (KeyError, TypeError) as e:
            raise CheckpointError(f"train_state.pt does not hold this run's networks (no {e}); was it copied from another run?") from None
        try:
            ctx.opt_G.load_state_dict(shared["opt_G"])
            if ctx.opt_D is not None:
                ctx.opt_D.load_state_dict(shared["opt_D"])
        except (KeyError, ValueError) as e:
            raise CheckpointError(f"train_state.pt: optimizer state does not match this run ({e})") from None
        for opt in (o for o in (ctx.opt_G, ctx.opt_D) if o is not None):
            _set_fused(opt, self.fused)  # a run resumed on another kind of device
        ctx.scaler.load_state_dict(shared["scaler"])
        if rank is not None:
            self.recipe.load_rank_state(rank)
            S.set_rng_state(rank["rng"], ctx.device)
        return int(shared["step"])

    @torch.no_grad()
    def sample_grid(self, samples: dict[str, torch.Tensor]) -> bytes:
        from torchvision.utils import make_grid

        from gantrans.io.images import encode, to_pil

        ctx = self.ctx
        nets = list(ctx.G.values())
        for net in nets:
            net.eval()
        samples = {k: v.to(ctx.device) for k, v in samples.items()}
        with ctx.autocast():
            rows = [r.float() for r in self.recipe.sample_rows(ctx, samples)]
        for net in nets:
            net.train()
        rows = [r if r.shape[1] == 3 else r.repeat(1, 3, 1, 1) for r in rows]
        grid = make_grid(torch.cat(rows).float().cpu() * 0.5 + 0.5, nrow=rows[0].shape[0], padding=2, pad_value=1.0)
        arr = (grid.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        return encode(to_pil(arr, None), "png")

    def inference_checkpoint(self, step: int, dataset: str) -> Checkpoint:
        # building the CPU copies draws initial weights: keep that off the training RNG stream
        with torch.random.fork_rng(devices=[]):
            return self.recipe.checkpoint(self.ctx, step, dataset)


CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


def own_outputs(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with its output tensors copied. Outputs of a CUDA-graph replay live in the graph's memory, which its
    next replay overwrites: CycleGAN calls G_B for its identity term after making fake_A, and the image pools
    keep fakes across steps (seen on an H200: "accessing tensor output of CUDAGraphs that has been overwritten")."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return tree_map(lambda t: t.clone() if isinstance(t, torch.Tensor) else t, fn(*args, **kwargs))

    return call


def _set_fused(opt: torch.optim.Optimizer, fused: bool) -> None:
    """Switch a loaded Adam to fused (CUDA) or back. A state saved unfused keeps its step counters on the host,
    where the fused kernel cannot read them: they move to their parameter's device."""
    for group in opt.param_groups:
        group["fused"] = fused or None
        for p in group["params"] if fused else ():
            st = opt.state.get(p, {})
            if "step" in st and st["step"].device != p.device:
                st["step"] = st["step"].to(p.device, torch.float32)


def compile_unavailable(device: torch.device) -> str:
    """'' when torch.compile works on `device` (a tiny function compiled and run), else the reason."""
    try:
        f = torch.compile(lambda x: torch.relu(x) * 2 + 1, dynamic=False)
        ok = bool((f(torch.full((4,), -1.0, device=device)) == 1).all())
        return "" if ok else "a compiled test function gave a wrong result"
    except Exception as e:  # no C++ compiler / Triton, an unsupported Python, ...
        return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def _init_from(nets: dict[str, nn.Module], ref: str, info: Callable[[str], None]) -> None:
    """Weights of every network the checkpoint holds under the same name. Every stored tensor must find
    its place (same name and shape); parameters the checkpoint lacks (a head the run's configuration
    adds, e.g. StarGAN's attention) keep their initial values, and the run says which."""
    from gantrans.io.checkpoint import load_checkpoint
    from gantrans.io.hub import resolve

    ck = load_checkpoint(resolve(ref))
    found = [k for k in nets if k in ck.networks]
    if not found:
        raise UsageError(f"init_from {ref}: it holds {', '.join(ck.networks)}, none of {', '.join(nets)}")
    for k in found:
        sd = {n: v.to(torch.float32) if v.is_floating_point() else v for n, v in ck.networks[k].state_dict().items()}
        own = nets[k].state_dict()
        extra = [n for n in sd if n not in own or own[n].shape != sd[n].shape]
        if extra:
            raise UsageError(f"init_from {ref}: network {k}'s {', '.join(extra[:4])} have no place (or another shape) in this run's {k}")
        missing = [n for n in own if n not in sd]
        nets[k].load_state_dict(sd, strict=not missing)
        if missing:
            info(f"init_from: {k}'s {', '.join(missing)} are not in {ref}; they start from their initial values")


def train(
    cfg: TrainConfig,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    on_info: Callable[[str], None] | None = None,
    should_stop: Callable[[int], bool] | None = None,
) -> TrainResult:
    """Train (or resume) a run in `cfg.output`. Raises Interrupted after saving if `should_stop` says so."""
    own_group = S.dist_env()[1] > 1 and not dist.is_initialized()
    try:
        return _train(cfg, resume, on_log, on_info, should_stop)
    finally:
        # a process group left to the interpreter's exit can abort it ("terminate called without an
        # active exception", seen under torchrun): take it down here -- together, since a rank that tears
        # its gloo pairs down while the other still uses them aborts the same way (1 run in ~8 without)
        if own_group and dist.is_initialized():
            with contextlib.suppress(Exception):  # a failed peer must not hide the original error
                dist.barrier()
            dist.destroy_process_group()


def _train(
    cfg: TrainConfig,
    resume: bool,
    on_log: Callable[[dict[str, Any]], None] | None,
    on_info: Callable[[str], None] | None,
    should_stop: Callable[[int], bool] | None,
) -> TrainResult:
    info = on_info or (lambda _m: None)
    rank, world, local_rank = S.dist_env()
    device = resolve_device(cfg.device)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    dtype = resolve_precision(cfg.precision, device) if cfg.precision != "auto" else torch.float32
    run = Path(cfg.output)
    recipe: Recipe = registry.recipe_class(cfg.model)(cfg)
    layout_info = recipe.open_data(info)  # dataset errors before any network is built
    tr = Trainer(recipe, device, dtype, world, info, resume)
    start = 0
    if resume and not (run / S.STATE_FILE).exists():
        # e.g. killed inside its first save (the model is written before the state): nothing to continue from
        raise UsageError(f"{run} has no {S.STATE_FILE} (the run stopped before its first save completed); "
                         f"start it again without --resume (same -o)")
    if resume:
        shared = S.read_state(run / S.STATE_FILE, device)
        rank_file = run / S.rank_state_file(rank)
        rank_st = shared.get("rank0") if rank == 0 else (torch.load(rank_file, map_location="cpu", weights_only=True) if rank_file.exists() else None)
        if rank_st is None:
            info(f"rank {rank}: no saved pool/RNG state for this rank; starting them fresh")
        start = tr.load(shared, rank_st)
        if start > cfg.steps:  # before config.json is rewritten: a refused resume changes nothing
            raise UsageError(f"--steps {cfg.steps} is below the run's current step {start}; give a larger --steps to train further")
        info(f"resumed {run} at step {start}")
    else:
        torch.manual_seed(cfg.seed * 1000 + rank + 1)  # per-rank stream for dropout and the like
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        S.write_config(run, cfg.to_dict(), {**layout_info, "world_size": world})
        if not resume:
            (run / S.UNREADABLE_FILE).unlink(missing_ok=True)
        S.truncate_metrics(run, start)  # rows of steps after the state (or of a run killed before its first save)
        for tmp in run.rglob(".*.tmp"):  # left by a process killed while saving
            tmp.unlink()
    # Pinned host buffers were measured to slow small GAN batches down (allocation stalls): not used.
    stream = recipe.stream()
    stream.failure_log = run / S.UNREADABLE_FILE  # type: ignore[attr-defined]
    loader = make_loader(stream, start, cfg.steps, cfg.batch_size, rank, world, cfg.workers, pin=False)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed training shapes: let cuDNN pick its fastest kernels
    samples = recipe.samples() if rank == 0 else None
    writer = _tensorboard(run, info) if (cfg.tensorboard and rank == 0) else None

    def save(step: int) -> Path | None:
        rank_st = tr.rank_state()
        if rank == 0:
            shared = tr.shared_state(step)
            shared["rank0"] = rank_st
            # the model first: wherever a kill lands, a run with a state also has a loadable model (at the
            # state's step or later), and a run killed in its first save has no state and starts afresh
            save_checkpoint(tr.inference_checkpoint(step, str(cfg.dataset)), run / S.MODEL_FILE)
            S.atomic_torch_save(shared, run / S.STATE_FILE)
            S.record_unreadable(run)
        else:
            S.atomic_torch_save(rank_st, run / S.rank_state_file(rank))
        if world > 1:
            dist.barrier()
        return run / S.MODEL_FILE

    step, count, t0 = start, 0, time.perf_counter()
    sums: dict[str, torch.Tensor] = {}  # on the device: a step makes no host sync for its losses
    counts: dict[str, int] = {}
    model_path = None

    def check_finite() -> None:
        bad = tr.ctx.first_nonfinite()
        if bad is not None:
            last = int(torch.load(run / S.STATE_FILE, weights_only=True)["step"]) if (run / S.STATE_FILE).exists() else None
            raise NonFiniteLoss(
                f"a loss became NaN or Inf at step {bad}; stopped without saving"
                + (f", the last good checkpoint (step {last}) is kept" if last is not None else "")
                + ". Lower --lr, use --precision fp32, or --set nan_policy=skip"
            )

    for batch in loader:
        losses = tr.step(batch, cfg.lr * lr_factor(cfg, step), step)
        step += 1
        threads.readapt()  # other processes started or stopped: resize the intra-op pool (CLI runs only)
        for k, v in losses.items():
            v = v.detach().float()
            sums[k] = sums[k] + v if k in sums else v
            counts[k] = counts.get(k, 0) + 1  # StarGAN's G losses exist on every n_critic-th step only
        count += 1
        stop = should_stop is not None and should_stop(step)
        if world > 1:  # every rank must stop at the same step, or the next all-reduce hangs
            flag = torch.tensor([int(stop)], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        log_now, sample_now = step % cfg.log_every == 0 or step == cfg.steps, step % cfg.sample_every == 0
        save_now = step % cfg.save_every == 0 or step == cfg.steps or (stop and step < cfg.steps)
        if log_now or sample_now or save_now:
            check_finite()  # nothing made after a NaN is logged, drawn or saved
        if rank == 0 and log_now:
            dt = time.perf_counter() - t0
            means = dict(zip(sums, (torch.stack(list(sums.values())).cpu() if sums else torch.zeros(0)).tolist()))  # one sync
            row = {"step": step, "lr": cfg.lr * lr_factor(cfg, step - 1), **{k: round(v / counts[k], 6) for k, v in means.items()}, "it_s": round(count / dt, 4), "time": round(time.time(), 3)}
            if tr.ctx.skipped:
                row["skipped_updates"] = tr.ctx.skipped
            S.append_metrics(run, row)
            if writer is not None:
                for k, v in row.items():
                    if k not in ("step", "time"):
                        writer.add_scalar(k, v, step)
            if on_log:
                on_log({**row, "total": cfg.steps})
            sums, counts, count, t0 = {}, {}, 0, time.perf_counter()
        if rank == 0 and samples is not None and sample_now:
            S.atomic_write_bytes(run / "samples" / f"step_{step:07d}.png", tr.sample_grid(samples))
        if save_now:
            model_path = save(step)
        if stop and step < cfg.steps:
            raise Interrupted(step)
    if world > 1:
        digests: list[Any] = [None] * world
        dist.all_gather_object(digests, S.digest({**tr.ctx.G, **tr.ctx.D}))
        if rank == 0:
            S.atomic_write_bytes(run / "ranks.json", (json.dumps({"digests": digests, "in_sync": len(set(digests)) == 1}) + "\n").encode())
    if writer is not None:
        writer.close()
    return TrainResult(run, step, model_path)


def _tensorboard(run: Path, info: Callable[[str], None]) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        info("tensorboard is not installed; --tensorboard ignored (pip install tensorboard)")
        return None
    return SummaryWriter(str(run / "tensorboard"))


