"""CPU thread policy of a gantrans process, chosen deliberately (not left to OpenMP's defaults).

Two things make PyTorch collapse on a busy machine: OpenMP workers that spin while they wait (they
burn the cores that other processes, and our own decode/encode threads, need), and intra-op pools
sized to every core of the host whatever the process may use or shares. So each command:

- sets `OMP_WAIT_POLICY=PASSIVE` before torch loads, unless the user set a policy;
- uses `--threads N`, else `OMP_NUM_THREADS`, else the cores this process may run on
  (`os.sched_getaffinity`) divided among the torchrun processes on this host (`LOCAL_WORLD_SIZE`);
- uses one inter-op thread (gantrans runs no inter-op parallel work).

This module imports torch only inside `apply`, so the CLI can call `set_wait_policy` before torch loads.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from gantrans.errors import UsageError

log = logging.getLogger("gantrans")


@dataclass(frozen=True)
class ThreadPlan:
    intra: int  # torch intra-op threads
    interop: int
    wait_policy: str  # OMP_WAIT_POLICY in effect
    source: str  # where `intra` came from

    def describe(self) -> str:
        return f"{self.intra} thread{'s' if self.intra != 1 else ''} ({self.source}), OMP_WAIT_POLICY={self.wait_policy}"


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask; a container's cpuset), not the host's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS / Windows
        return max(1, os.cpu_count() or 1)


def local_processes() -> int:
    """Processes of this job on this host: torchrun's LOCAL_WORLD_SIZE (1 outside torchrun)."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


def set_wait_policy() -> str:
    """PASSIVE unless the user chose a policy; effective only before torch (libgomp) loads."""
    return os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def plan(threads: int | None = None) -> ThreadPlan:
    if threads is not None and threads < 1:
        raise UsageError("--threads must be >= 1")
    policy = os.environ.get("OMP_WAIT_POLICY", "(OpenMP default)")
    if threads is not None:
        return ThreadPlan(threads, 1, policy, "--threads")
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) >= 1:
        return ThreadPlan(int(env), 1, policy, "OMP_NUM_THREADS")
    cores, procs = usable_cores(), local_processes()
    source = f"{cores} usable cores" + (f" / {procs} local processes" if procs > 1 else "")
    return ThreadPlan(max(1, cores // procs), 1, policy, source)


def apply(threads: int | None = None) -> ThreadPlan:
    """Set the wait policy (if torch has not loaded yet) and torch's thread counts; returns the plan."""
    set_wait_policy()
    p = plan(threads)
    import torch

    torch.set_num_threads(p.intra)
    try:
        torch.set_num_interop_threads(p.interop)
    except RuntimeError:  # only settable before the first inter-op work (e.g. a second call in one process)
        pass
    log.debug("gantrans: %s", p.describe())
    return p
