"""`--io-processes`: the process pool behind decoding and encoding survives a worker that dies."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from gantrans.io.procs import IOProcesses, WorkerDied


def die(code: int) -> int:  # top level: spawned workers import it
    os._exit(code)


def double(x: int) -> int:
    return 2 * x


def test_a_dead_worker_fails_its_call_only_and_the_pool_restarts():
    procs = IOProcesses(2)
    try:
        assert procs.call(double, 21) == 42
        with pytest.raises(WorkerDied, match="its worker process ended abruptly"):
            procs.call(die, 3)
        assert procs.call(double, 5) == 10  # a fresh pool
        with ThreadPoolExecutor(4) as threads:  # callers from several threads, as the pipeline's
            assert list(threads.map(lambda v: procs.call(double, v), range(8))) == [2 * v for v in range(8)]
    finally:
        procs.close()


def test_no_processes_runs_in_the_caller():
    procs = IOProcesses(0)
    assert procs.pool is None and procs.call(double, 4) == 8
