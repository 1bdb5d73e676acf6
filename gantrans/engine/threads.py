"""CPU thread policy of a gantrans process, chosen deliberately (not left to OpenMP's defaults).

PyTorch collapses on a busy machine when its intra-op pool has a thread per core: every parallel
region waits for its slowest thread, and a thread that shares its core with another process makes all
of them wait (spinning while they do). Measured on 2 cores (benchmarks/RESULTS.md, "Contention"): a
small CycleGAN trained at 7.0 it/s alone but 1.9 it/s beside one busy loop (fair share: 4.7).

- Batch commands (translate, style-sample, edit, stylize) run decode/encode threads beside the model:
  `OMP_WAIT_POLICY=PASSIVE` (set before torch loads, unless the user set a policy), so idle compute
  threads sleep instead of spinning on the cores those threads need.
- Long single-stream commands (train, eval) keep OpenMP's default wait policy (PASSIVE halves a small
  model's training speed on an idle machine: every parallel region pays a wake-up) and instead size the
  pool to the cores that are free: usable cores minus the load other processes put on them, measured
  over 0.1 s at start and again every 15 s while training (`LoadMonitor`).
- Threads: `--threads N`, else `OMP_NUM_THREADS` (then never adapted), else the cores this process may
  run on (`os.sched_getaffinity`) divided among the torchrun processes on this host
  (`LOCAL_WORLD_SIZE`); one inter-op thread (gantrans runs no inter-op parallel work).

This module imports torch only inside `apply`, so the CLI can call `set_wait_policy` before torch loads.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

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


def _cpu_jiffies(cores: set[int]) -> int | None:
    """Busy clock ticks of `cores` since boot (Linux /proc/stat), or None where there is no /proc."""
    try:
        lines = open("/proc/stat").read().splitlines()
    except OSError:
        return None
    busy = 0
    for line in lines:
        name, *vals = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
            v = [int(x) for x in vals[:8]]
            busy += sum(v) - v[3] - v[4]  # all but idle and iowait
    return busy


def _own_jiffies() -> int:
    fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime of every thread of this process


class LoadMonitor:
    """How many usable cores other processes keep busy, averaged since the previous sample."""

    def __init__(self) -> None:
        try:
            self.cores = set(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            self.cores = set()
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.last = self._read()

    def _read(self) -> tuple[float, int, int] | None:
        busy = _cpu_jiffies(self.cores) if self.cores else None
        if busy is None:
            return None
        try:
            return time.monotonic(), busy, _own_jiffies()
        except (OSError, IndexError, ValueError):
            return None

    def other_load(self) -> float | None:
        """Cores' worth of other processes' work since the last call (None: not measurable here)."""
        now = self._read()
        if now is None or self.last is None or now[0] <= self.last[0]:
            self.last = now
            return None
        dt = now[0] - self.last[0]
        other = ((now[1] - self.last[1]) - (now[2] - self.last[2])) / self.hz / dt
        self.last = now
        return max(0.0, other)


def free_cores(monitor: LoadMonitor, cores: int) -> int:
    """Cores left to us: `cores` minus other processes' load (rounded; at least 1)."""
    other = monitor.other_load()
    return cores if other is None else max(1, min(cores, round(cores - other)))


def plan(threads: int | None = None, adaptive: bool = False) -> ThreadPlan:
    if threads is not None and threads < 1:
        raise UsageError("--threads must be >= 1")
    policy = os.environ.get("OMP_WAIT_POLICY", "(OpenMP default)")
    if threads is not None:
        return ThreadPlan(threads, 1, policy, "--threads")
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) >= 1:
        return ThreadPlan(int(env), 1, policy, "OMP_NUM_THREADS")
    cores, procs = usable_cores(), local_processes()
    share = max(1, cores // procs)
    source = f"{cores} usable cores" + (f" / {procs} local processes" if procs > 1 else "")
    if adaptive:
        mon = LoadMonitor()
        time.sleep(0.1)
        free = free_cores(mon, share)
        if free < share:
            source += f", {share - free} busy with other processes"
        share = free
    return ThreadPlan(share, 1, policy, source)


def apply(threads: int | None = None, passive: bool = True) -> ThreadPlan:
    """Set the wait policy (batch commands; if torch has not loaded yet) and torch's thread counts.

    `passive=False` (train, eval): OpenMP's default wait policy and a pool sized to the free cores."""
    if passive:
        set_wait_policy()
    p = plan(threads, adaptive=not passive)
    import torch

    torch.set_num_threads(p.intra)
    try:
        torch.set_num_interop_threads(p.interop)
    except RuntimeError:  # only settable before the first inter-op work (e.g. a second call in one process)
        pass
    log.debug("gantrans: %s", p.describe())
    return p


_ADAPT: dict = {}  # while `adapting` is active: monitor, share, current, t


@contextmanager
def adapting(p: ThreadPlan) -> Iterator[None]:
    """While active, `readapt` resizes the pool to the free cores (a plan from --threads or
    OMP_NUM_THREADS is the user's and stays). Thread counts change float reduction order: pin --threads
    for bit-identical reruns."""
    if p.source not in ("--threads", "OMP_NUM_THREADS"):
        share = max(1, usable_cores() // local_processes())
        _ADAPT.update(monitor=LoadMonitor(), share=share, current=p.intra, t=time.monotonic())
    try:
        yield
    finally:
        _ADAPT.clear()


def readapt(every: float = 15.0) -> int | None:
    """Resize the pool to the cores now free (at most every `every` s; only inside `adapting`).
    Returns the new thread count when it changed."""
    st = _ADAPT
    if not st or time.monotonic() - st["t"] < every:
        return None
    st["t"] = time.monotonic()
    n = free_cores(st["monitor"], st["share"])
    if n == st["current"]:
        return None
    import torch

    torch.set_num_threads(n)
    st["current"] = n
    log.debug("gantrans: %d thread%s (other processes' load changed)", n, "s" if n != 1 else "")
    return n
