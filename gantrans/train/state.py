"""Run-directory files: atomic JSON/PNG/state writes, metrics, RNG capture, distributed helpers."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from gantrans.errors import UsageError
from gantrans.io.atomic import atomic_target, write_bytes_atomic

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
MODEL_FILE = "model.safetensors"
STATE_FILE = "train_state.pt"
UNREADABLE_FILE = "unreadable.jsonl"  # images that failed to decode during training (appended by loaders)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    write_bytes_atomic(path, data)


def atomic_torch_save(obj: Any, path: Path) -> None:
    with atomic_target(path) as tmp:
        torch.save(obj, tmp)


def versions() -> dict[str, str]:
    from gantrans import __version__

    return {"gantrans": __version__, "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform()}


def write_config(run: Path, config: dict[str, Any], extra: dict[str, Any]) -> None:
    body = {"config": config, "versions": versions(), **extra}
    atomic_write_bytes(run / CONFIG_FILE, (json.dumps(body, indent=2, sort_keys=True) + "\n").encode())


def read_state(path: Path, device: Any = "cpu") -> dict[str, Any]:
    """A training state file, or one CheckpointError line saying what is wrong with it."""
    import pickle

    from gantrans.io.checkpoint import CheckpointError

    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():  # torch's advisory about pickle protocols: the error below says it all
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path} needs arbitrary code to load; gantrans never executes pickled code ({str(e).splitlines()[0][:160]})") from None
    except Exception as e:  # truncated zip, bad magic, ...
        raise CheckpointError(f"{path} is damaged or truncated ({str(e).splitlines()[0][:160]})") from None
    if not isinstance(state, dict) or not {"step", "nets"} <= set(state):
        raise CheckpointError(f"{path} is not a gantrans training state (no step/nets)")
    return state


def record_unreadable(run: Path) -> int:
    """Fold the loaders' decode failures into config.json (`unreadable_in_training`: count and files)."""
    log = run / UNREADABLE_FILE
    if not log.exists():
        return 0
    paths: dict[str, str] = {}
    for line in log.read_text().splitlines():
        try:
            row = json.loads(line)
            paths[row["path"]] = row["error"]
        except (ValueError, KeyError, TypeError):  # a line cut by a kill
            continue
    body = json.loads((run / CONFIG_FILE).read_text())
    if body.get("unreadable_in_training", {}).get("files") != paths:
        body["unreadable_in_training"] = {"count": len(paths), "files": paths}
        atomic_write_bytes(run / CONFIG_FILE, (json.dumps(body, indent=2, sort_keys=True) + "\n").encode())
    return len(paths)


def read_config(run: Path) -> dict[str, Any]:
    path = run / CONFIG_FILE
    if not path.is_file():
        raise UsageError(f"{run} is not a gantrans run directory (no {CONFIG_FILE})")
    try:
        return json.loads(path.read_text())["config"]
    except (ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{path}: not a valid run config ({e})") from None


def append_metrics(run: Path, row: dict[str, Any]) -> None:
    with open(run / METRICS_FILE, "a") as f:
        f.write(json.dumps(row) + "\n")


def truncate_metrics(run: Path, step: int) -> None:
    """On resume, drop lines logged after the step being resumed from (they will be logged again)."""
    path = run / METRICS_FILE
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except (json.JSONDecodeError, AttributeError):  # a line cut short by a killed process
            continue
    atomic_write_bytes(path, ("\n".join(keep) + "\n" if keep else "").encode())


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    # a state file loaded onto a GPU brings these to it; generators take their state as CPU bytes only
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def rank_state_file(rank: int) -> str:
    return STATE_FILE if rank == 0 else f"train_state.rank{rank}.pt"


def digest(modules: dict[str, torch.nn.Module]) -> str:
    h = hashlib.sha256()
    for name in sorted(modules):
        for key, t in sorted(modules[name].state_dict().items()):
            h.update(f"{name}.{key}".encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


# -- distributed --------------------------------------------------------------------------------
def dist_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) when not distributed."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


def _allreduce_mean(tensors: list[torch.Tensor], world: int) -> None:
    """Average `tensors` in place over ranks, through one flat buffer (one collective call)."""
    if world <= 1 or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for t in tensors:
        t.copy_(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()


def allreduce_grads(params: list[torch.nn.Parameter], world: int) -> None:
    """Average gradients over ranks."""
    _allreduce_mean([p.grad for p in params if p.grad is not None], world)


def average_buffers(modules: list[torch.nn.Module], world: int) -> None:
    """Average floating-point buffers (batch-norm running stats) over ranks."""
    _allreduce_mean([b for m in modules for b in m.buffers() if b.is_floating_point()], world)


def broadcast_modules(modules: list[torch.nn.Module]) -> None:
    for m in modules:
        for t in list(m.parameters()) + list(m.buffers()):
            dist.broadcast(t.data, 0)
