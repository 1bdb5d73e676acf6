"""`gantrans serve` without a browser: the model cache's limits and locking, and each tab's job giving the same
files as the command line it prints (run through the CLI here), bad uploads giving messages."""

from __future__ import annotations

import shlex
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from serve_models import make_images, make_models
from typer.testing import CliRunner

from gantrans.cli.main import app
from gantrans.engine.cache import ModelCache
from gantrans.errors import UsageError
from gantrans.web.catalog import Catalog
from gantrans.web.jobs import JobError, Jobs

runner = CliRunner()


# -- the cache --------------------------------------------------------------------------------------------
def test_cache_evicts_least_recently_used_by_count_and_by_bytes():
    c = ModelCache(max_models=2, max_bytes=250)
    for k in "ab":
        c.get(k, lambda k=k: (k.upper(), 100))
    c.get("a", lambda: ("never", 0))  # a is now the most recent
    c.get("c", lambda: ("C", 100))
    assert c.keys() == ["a", "c"] and c.loads == 3
    c.get("d", lambda: ("D", 200))  # 100 + 200 > 250: c (older) and a leave, the newest always stays
    assert c.keys() == ["d"] and c.nbytes == 200
    with pytest.raises(RuntimeError):
        c.get("e", lambda: (_ for _ in ()).throw(RuntimeError("broken file")))
    assert c.keys() == ["d"]  # a failed load is not kept
    with pytest.raises(UsageError):
        ModelCache(max_models=0)


def test_cache_load_blocks_neither_other_models_nor_loads_twice():
    c = ModelCache(max_models=4)
    c.get("ready", lambda: ("R", 1))
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow() -> tuple[str, int]:
        calls.append(1)
        started.set()
        release.wait(30)
        return "S", 1

    got: list[str] = []
    t1 = threading.Thread(target=lambda: got.append(c.get("slow", slow)))
    t1.start()
    assert started.wait(30)
    assert c.get("ready", lambda: ("never", 0)) == "R"  # answered while "slow" is still loading
    t2 = threading.Thread(target=lambda: got.append(c.get("slow", slow)))  # waits for the same load
    t2.start()
    release.set()
    t1.join(30)
    t2.join(30)
    assert got == ["S", "S"] and calls == [1]


# -- the jobs -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    models = make_models(root / "models")
    images = make_images(root / "img")
    refs = [str(p) for p in models.values()]
    cat = Catalog(refs, device="cpu", bundled=False, hf_cache=False)
    jobs = Jobs(cat, root / "work")
    yield models, images, jobs
    jobs.close()


def _cli_same(r, images: dict, tmp_path: Path, monkeypatch) -> None:
    """Run the job's printed command in a folder holding its input files; each output must be pixel-equal."""
    work = tmp_path / "cli"
    work.mkdir(parents=True)
    for p in images.values():
        shutil.copy(p, work / p.name)
    monkeypatch.chdir(work)
    args = shlex.split(r.command)
    assert args[0] == "gantrans"
    # the job ran with this process's thread count; the command's own choice depends on the machine's load
    # (other gantrans processes), and a different count changes float reduction order: pin it
    res = runner.invoke(app, [*args[1:], "--device", "cpu", "--threads", str(torch.get_num_threads())])
    assert res.exit_code == 0, res.output
    for _, path in r.outputs:
        cli = work / "out" / path.name
        assert cli.is_file(), (path.name, sorted(p.name for p in (work / "out").iterdir()))
        assert np.array_equal(np.asarray(Image.open(cli)), np.asarray(Image.open(path))), path.name


def test_translate_job_equals_its_command(served, tmp_path, monkeypatch):
    models, images, jobs = served
    r = jobs.translate(str(models["translate"]), images["photo"], "b2a")
    assert r.command.startswith(f"gantrans translate photo.png -m {models['translate']} -o out -d b2a")
    assert Image.open(r.first).size == (36, 40)
    _cli_same(r, images, tmp_path, monkeypatch)


def test_munit_jobs_equal_their_commands(served, tmp_path, monkeypatch):
    models, images, jobs = served
    r = jobs.style_sample(str(models["munit"]), images["photo"], seeds=[3, 5])
    assert [lbl for lbl, _ in r.outputs] == ["s0003", "s0005"]
    _cli_same(r, images, tmp_path / "a", monkeypatch)
    w = jobs.style_sample(str(models["munit"]), images["photo"], walk=(1, 2), steps=4)
    assert len(w.outputs) == 4 and "--interpolate --seeds 1,2 --steps 4" in w.command
    _cli_same(w, images, tmp_path / "b", monkeypatch)
    t = jobs.translate(str(models["munit"]), images["photo"], seed=7)
    assert "--seed 7" in t.command
    _cli_same(t, images, tmp_path / "c", monkeypatch)


def test_edit_jobs_equal_their_commands(served, tmp_path, monkeypatch):
    models, images, jobs = served
    sg = str(models["stargan"])
    assert jobs.edit_controls(sg, images["photo"]) == [("x", ["1", "0", "toggle"], ""), ("y", ["1", "0", "toggle"], "")]
    r = jobs.edit(sg, images["photo"], ["x=1", "y=0"])
    _cli_same(r, images, tmp_path / "a", monkeypatch)
    assert [n.split(":")[0] for n in r.notes] == ["x=1 was on only 10 of the model's 100 training images", "y=0 was on only 30 of the model's 100 training images"]
    assert jobs.edit(sg, images["photo"], ["x=0", "y=1"]).notes == []  # 90 and 70 images: no warning, as `gantrans edit`
    with pytest.raises(JobError, match="nothing to change"):
        jobs.edit(sg, images["photo"], [])
    lat = str(models["latent"])
    assert [c[0] for c in jobs.edit_controls(lat)] == ["big"]
    r = jobs.edit(lat, images["photo"], ["big=1"], strength=1.5)
    assert "--strength 1.5 --invert encoder" in r.command
    _cli_same(r, images, tmp_path / "b", monkeypatch)


def test_restoration_and_stylize_jobs_equal_their_commands(served, tmp_path, monkeypatch):
    models, images, jobs = served
    r = jobs.upscale(str(models["upscale"]), images["photo"], tile=16)
    assert Image.open(r.first).size == (144, 160)
    _cli_same(r, images, tmp_path / "a", monkeypatch)
    r = jobs.inpaint(str(models["inpaint"]), images["photo"], images["mask"])
    a, b = np.asarray(Image.open(r.first)), np.asarray(Image.open(images["photo"]))
    hole = np.asarray(Image.open(images["mask"])) > 0
    assert np.array_equal(a[~hole], b[~hole]) and not np.array_equal(a[hole], b[hole])
    _cli_same(r, images, tmp_path / "b", monkeypatch)
    r = jobs.stylize(str(models["stylize"]), images["photo"], images["style"], smooth="none")
    _cli_same(r, images, tmp_path / "c", monkeypatch)


def test_sample_job_equals_its_command(served, tmp_path, monkeypatch):
    models, images, jobs = served
    lat = str(models["latent"])
    assert ("z0", "dim", 1) in jobs.sample_codes(lat)
    r = jobs.sample(lat, seed=4, vary="z1", steps=3)
    assert [lbl for lbl, _ in r.outputs] == ["seed4_z1_grid", "seed4_z1_00", "seed4_z1_01", "seed4_z1_02"]
    _cli_same(r, images, tmp_path, monkeypatch)


def test_painted_layers_become_the_mask(served):
    models, images, jobs = served
    layer = np.zeros((40, 36, 4), np.uint8)
    layer[5:9, 5:30] = (255, 0, 255, 255)
    p = jobs.workdir / "layer.png"
    Image.fromarray(layer).save(p)
    mask = jobs.painted_mask([str(p)])
    assert np.array_equal(np.asarray(Image.open(mask)) > 0, layer[..., 3] > 0)
    with pytest.raises(JobError, match="paint the hole"):
        jobs.painted_mask([])


def test_bad_uploads_and_references_give_messages(served):
    models, images, jobs = served
    with pytest.raises(JobError, match="bad.png: not a recognised image file"):
        jobs.translate(str(models["translate"]), images["bad"])
    with pytest.raises(JobError, match="upload an image first"):
        jobs.upscale(str(models["upscale"]), None)
    with pytest.raises(JobError, match="no model '/etc/passwd' on this server"):
        jobs.translate("/etc/passwd", images["photo"])
    with pytest.raises(JobError, match="does not serve upscale"):
        jobs.upscale(str(models["translate"]), images["photo"])
    with pytest.raises(JobError, match="mask: "):
        jobs.inpaint(str(models["inpaint"]), images["photo"], images["bad"])
    small = jobs.workdir / "big.png"
    Image.new("RGB", (300, 300)).save(small)
    strict = Jobs(jobs.catalog, jobs.workdir / "strict", max_pixels=10_000)
    with pytest.raises(JobError, match="pixels"):
        strict.translate(str(models["translate"]), small)


def test_catalog_offers_bundled_operator_and_cached_hf_models(tmp_path, monkeypatch, model_path):
    from test_hub import make_cache

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    make_cache(tmp_path / "hf", model_path, repo="acme/tiny")
    cat = Catalog([str(model_path), str(tmp_path / "missing.safetensors")], device="cpu")
    assert cat.for_command("translate")[:2] == [str(model_path), "noto2emojione"]  # the operator's first, then the default
    assert "hf://acme/tiny" in cat.for_command("translate") and "sr_photo_x4" in cat.for_command("upscale")
    assert len(cat.skipped) == 1 and "missing.safetensors" in cat.skipped[0]
    assert cat.load("hf://acme/tiny", "translate") is cat.load("hf://acme/tiny", "translate")  # cached


@pytest.mark.parametrize("sig,code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_server_warns_off_loopback_and_cleans_up_when_stopped(sig, code, tmp_path):
    import os
    import signal
    import socket
    import subprocess
    import sys

    pytest.importorskip("gradio", reason="the ui extra is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "gantrans", "serve", "--no-bundled", "-m", "sr_photo_x4", "--port", str(port), "--host", "0.0.0.0", "--device", "cpu"]
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "GRADIO_ANALYTICS_ENABLED": "False"}
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    assert p.stdout is not None
    for line in p.stdout:  # the server's own line, not a sleep
        if "Running on" in line:
            break
    p.send_signal(getattr(signal, sig))
    _, err = p.communicate(timeout=120)
    assert p.returncode == code, err
    assert "warning: listening on 0.0.0.0" in err
    work = err.split("outputs in ")[1].split(" ")[0]
    assert not os.path.exists(work)


def test_serve_without_the_ui_extra_says_how_to_get_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gradio", None)  # as if gradio were not installed
    r = runner.invoke(app, ["serve", "--device", "cpu"])
    assert r.exit_code == 2 and "gantrans serve needs the ui extra: pip install 'gantrans[ui]'" in r.stderr
