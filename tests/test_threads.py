"""The thread policy every compute command applies (gantrans.engine.threads)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from gantrans.cli.main import app
from gantrans.engine import threads
from gantrans.errors import UsageError


@pytest.fixture
def clean_env(monkeypatch):
    for k in ("OMP_NUM_THREADS", "LOCAL_WORLD_SIZE", "OMP_WAIT_POLICY"):
        monkeypatch.delenv(k, raising=False)
    return monkeypatch


def test_default_is_the_usable_cores(clean_env):
    clean_env.setattr(threads, "usable_cores", lambda: 6)
    p = threads.plan()
    assert (p.intra, p.interop) == (6, 1) and p.source == "6 usable cores"


def test_torchrun_processes_on_one_host_share_the_cores(clean_env):
    clean_env.setattr(threads, "usable_cores", lambda: 8)
    clean_env.setenv("LOCAL_WORLD_SIZE", "4")
    assert threads.plan().intra == 2
    clean_env.setenv("LOCAL_WORLD_SIZE", "16")
    assert threads.plan().intra == 1  # never 0


def test_explicit_settings_win(clean_env):
    clean_env.setattr(threads, "usable_cores", lambda: 8)
    clean_env.setenv("OMP_NUM_THREADS", "3")
    assert (threads.plan().intra, threads.plan().source) == (3, "OMP_NUM_THREADS")
    assert (threads.plan(5).intra, threads.plan(5).source) == (5, "--threads")
    with pytest.raises(UsageError, match="--threads must be >= 1"):
        threads.plan(0)


def test_wait_policy_passive_unless_the_user_chose(clean_env):
    assert threads.set_wait_policy() == "PASSIVE"
    clean_env.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert threads.set_wait_policy() == "ACTIVE"


def test_usable_cores_follow_the_affinity_mask():
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no affinity masks on this platform")
    assert threads.usable_cores() == len(os.sched_getaffinity(0))


def test_apply_sets_torch_threads(clean_env):
    before = torch.get_num_threads()
    try:
        assert threads.apply(1).intra == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_cli_applies_threads_before_torch_loads(tmp_path, model_path):
    """A fresh process: the policy is in place when torch loads, and the thread count is the one asked for."""
    code = (
        "import sys, torch\n"
        "from gantrans.cli.main import app\n"
        "try:\n"
        "    app(['translate', sys.argv[1], '-m', sys.argv[2], '-o', sys.argv[3], '--threads', '1', '-q'])\n"
        "except SystemExit as e:\n"
        "    import os; print(e.code, torch.get_num_threads(), os.environ.get('OMP_WAIT_POLICY'))\n"
    )
    from PIL import Image

    Image.new("RGB", (16, 16), (10, 200, 30)).save(tmp_path / "in.png")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "in.png"), str(model_path), str(tmp_path / "out")],
                       capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert r.stdout.splitlines()[-1].split() == ["0", "1", "PASSIVE"], r.stderr
    assert (tmp_path / "out" / "in.png").exists()


def test_debug_shows_the_choice(tmp_path, model_path, monkeypatch):
    from PIL import Image

    Image.new("RGB", (16, 16)).save(tmp_path / "in.png")
    monkeypatch.setenv("GANTRANS_DEBUG", "1")
    before = torch.get_num_threads()
    try:
        r = CliRunner().invoke(app, ["translate", str(tmp_path / "in.png"), "-m", str(model_path), "-o", str(tmp_path / "o"), "--threads", "2"])
    finally:
        torch.set_num_threads(before)
    assert r.exit_code == 0, r.output
    assert "gantrans: 2 threads (--threads), OMP_WAIT_POLICY=" in r.stderr


def test_adaptive_pool_leaves_busy_cores_to_other_processes(clean_env):
    clean_env.setattr(threads, "usable_cores", lambda: 4)
    load = {"other": 1.3}
    clean_env.setattr(threads.LoadMonitor, "other_load", lambda self: load["other"])
    p = threads.plan(adaptive=True)
    assert p.intra == 3 and "1 busy with other processes" in p.source
    before = torch.get_num_threads()
    try:
        p = threads.apply(passive=False)
        assert p.intra == 3
        assert "OMP_WAIT_POLICY" not in os.environ  # train/eval keep OpenMP's default policy
        assert threads.readapt() is None  # outside `adapting` (a library call of train()): never
        with threads.adapting(p):
            threads._ADAPT["t"] = 0  # as if 15 s had passed
            load["other"] = 3.6  # more load arrived: one thread left
            assert threads.readapt() == 1 and torch.get_num_threads() == 1
            threads._ADAPT["t"] = 0
            load["other"] = 0.0  # the others finished
            assert threads.readapt() == 4 and torch.get_num_threads() == 4
            assert threads.readapt() is None  # not again within 15 s
        assert not threads._ADAPT
        with threads.adapting(threads.apply(2, passive=False)):  # --threads: never adapted
            assert not threads._ADAPT and threads.readapt() is None
    finally:
        threads._ADAPT.clear()
        torch.set_num_threads(before)


def test_load_monitor_sees_a_busy_process():
    """The cores' worth other processes used, times the window, covers at least the CPU time a busy child used
    in it: waits on the child's own CPU clock (an event), not on a fixed sleep that a loaded machine stretches."""
    if not os.path.exists("/proc/stat") or not hasattr(os, "sched_getaffinity"):
        pytest.skip("needs Linux /proc")
    import time

    hz = os.sysconf("SC_CLK_TCK")

    def cpu_seconds(pid: int) -> float:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / hz  # utime + stime

    mon = threads.LoadMonitor()
    assert mon.last is not None
    start = mon.last[0]
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        deadline = time.monotonic() + 120
        while cpu_seconds(busy.pid) < 0.5:  # poll for the event: the child has used half a CPU-second
            assert time.monotonic() < deadline, "the busy child got no CPU time in 2 minutes"
            time.sleep(0.05)
        other = mon.other_load()
        window = mon.last[0] - start
    finally:
        busy.kill()
        busy.wait()
    assert other is not None and other * window >= 0.5 - 4 / hz  # /proc/stat's per-core jiffies lag a few ticks
