"""Model references: paths, run directories, bundled names, and hf:// against a local cache."""

from __future__ import annotations

import shutil

import pytest

import gantrans
from gantrans.io.hub import ModelNotFoundError, parse_hf, resolve

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def make_cache(home, model_path, repo="acme/horse2zebra", filename="model.safetensors"):
    """The layout huggingface_hub itself writes: refs/main -> snapshots/<commit>/<file>."""
    root = home / "hub" / f"models--{repo.replace('/', '--')}"
    snap = root / "snapshots" / COMMIT / filename
    snap.parent.mkdir(parents=True)
    shutil.copy(model_path, snap)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(COMMIT)
    return snap


@pytest.fixture
def offline_home(tmp_path, monkeypatch):
    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


def test_hf_reference_from_local_cache(offline_home, model_path):
    snap = make_cache(offline_home, model_path)
    assert resolve("hf://acme/horse2zebra") == snap
    assert resolve(f"hf://acme/horse2zebra@{COMMIT}") == snap
    assert resolve("hf://acme/horse2zebra/model.safetensors@main") == snap
    m = gantrans.load("hf://acme/horse2zebra", device="cpu")
    assert m.directions == ["a2b", "b2a"]


def test_hf_missing_offline_says_so(offline_home, model_path):
    make_cache(offline_home, model_path)
    with pytest.raises(ModelNotFoundError, match="not in the local Hugging Face cache .* HF_HUB_OFFLINE is set"):
        resolve("hf://acme/other")
    with pytest.raises(ModelNotFoundError, match="not in the local Hugging Face cache"):
        resolve("hf://acme/horse2zebra/other.safetensors")


@pytest.mark.parametrize(
    "ref",
    ["hf://acme", "hf://acme/../etc", "hf://acme/repo/../../x", "hf://acme/repo//x", "hf://../x/y", "hf://acme/repo@../x"],
)
def test_hf_references_are_validated(ref):
    with pytest.raises(ModelNotFoundError):
        parse_hf(ref)


def test_parse_hf():
    assert parse_hf("hf://a/b") == ("a/b", "model.safetensors", None)
    assert parse_hf("hf://a/b/sub/m.safetensors@v1.0") == ("a/b", "sub/m.safetensors", "v1.0")


def test_paths_run_dirs_and_bundled_names(tmp_path, monkeypatch, model_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(model_path, run / "model.safetensors")
    assert resolve(run) == run / "model.safetensors"
    assert resolve(str(model_path)) == model_path
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy(model_path, weights / "zebra.safetensors")
    monkeypatch.setenv("GANTRANS_WEIGHTS", str(weights))
    assert resolve("zebra") == weights / "zebra.safetensors"
    with pytest.raises(ModelNotFoundError, match=r"bundled: .*zebra"):
        resolve("giraffe")


def test_download_command_and_offline_flag(tmp_path, monkeypatch, model_path):
    from typer.testing import CliRunner

    from gantrans.cli.main import app

    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    snap = make_cache(home, model_path)
    r = CliRunner().invoke(app, ["--offline", "download", "hf://acme/horse2zebra", "hf://acme/missing", "noto2emojione"])
    assert r.exit_code == 2  # not found: the same code translate gives for this reference
    lines = r.stdout.splitlines()
    assert lines[0] == str(snap) and lines[1].endswith("noto2emojione.safetensors")
    assert "error: hf://acme/missing: " in r.stderr and "HF_HUB_OFFLINE is set" in r.stderr
    assert r.stderr.count("hf://acme/missing") == 1  # named once
    img = tmp_path / "a.png"
    __import__("PIL.Image").Image.new("RGB", (8, 8)).save(img)
    r = CliRunner().invoke(app, ["--offline", "translate", str(img), "-m", "hf://acme/missing", "-o", str(tmp_path / "o")])
    assert r.exit_code == 2
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"  # what --offline did


def test_unreachable_hub_fails_at_once(tmp_path, model_path):
    """No network (here: a closed local port as the endpoint): one line, within seconds, no retry loop."""
    import os
    import subprocess
    import sys
    import time

    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": "http://127.0.0.1:9"}
    env.pop("HF_HUB_OFFLINE", None)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "gantrans", "download", "hf://acme/nothing"], capture_output=True, text=True, env=env, timeout=120)
    assert time.perf_counter() - t0 < 30  # the client alone retried for ~25 s before
    assert r.returncode == 2
    assert "the Hub cannot be reached (127.0.0.1: " in r.stderr and "Retry" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_model_name_too_long_is_not_found(tmp_path):
    from typer.testing import CliRunner

    from gantrans.cli.main import app

    img = tmp_path / "a.png"
    __import__("PIL.Image").Image.new("RGB", (8, 8)).save(img)
    r = CliRunner().invoke(app, ["translate", str(img), "-m", "x" * 300, "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "not found" in r.stderr
