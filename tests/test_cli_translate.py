"""`gantrans translate` end to end: files, exit codes, stdout/stderr, pipelines."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from gantrans.cli.main import app

runner = CliRunner()


def run(*args, input=None):
    return runner.invoke(app, ["translate", *map(str, args)], input=input)


def make_folder(root: Path) -> dict[str, tuple[int, int]]:
    """Mixed sizes and modes, one corrupt file; returns relative output name -> expected size."""
    rng = np.random.default_rng(0)
    (root / "sub").mkdir(parents=True)

    def img(size, mode="RGB"):
        return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)

    img((64, 48)).save(root / "a.png")
    img((33, 17), "RGBA").save(root / "sub" / "b.png")
    img((50, 50), "L").save(root / "c.jpg")
    img((40, 30), "CMYK").save(root / "d.jpg")
    img((31, 70)).save(root / "e.webp")
    img((64, 48)).save(root / "f.bmp")
    (root / "bad.png").write_bytes(b"this is not an image")
    (root / "notes.txt").write_text("not an image, not an image suffix: ignored in folders")
    return {"a.png": (64, 48), "sub/b.png": (33, 17), "c.jpg": (50, 50), "d.jpg": (40, 30), "e.webp": (31, 70), "f.png": (64, 48)}


def listing(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_folder_with_a_corrupt_file(tmp_path, model_path):
    expected = make_folder(tmp_path / "in")
    r = run(tmp_path / "in", "-m", model_path, "-o", tmp_path / "out", "-b", "3", "--device", "cpu")
    assert r.exit_code == 1, r.output
    assert f"error: {tmp_path / 'in' / 'bad.png'}: not a recognised image file" in r.stderr
    assert "translated 6, skipped 0 (existing), failed 1" in r.stderr
    assert "device=cpu precision=fp32" in r.stderr
    assert listing(tmp_path / "out") == set(expected)  # no temp or partial files
    for name, size in expected.items():
        assert Image.open(tmp_path / "out" / name).size == size
    assert Image.open(tmp_path / "out" / "sub" / "b.png").mode == "RGBA"
    assert sorted(r.stdout.split()) == sorted(str(tmp_path / "out" / n) for n in expected)


def test_skip_existing_overwrite_and_json(tmp_path, model_path):
    make_folder(tmp_path / "in")
    (tmp_path / "in" / "bad.png").unlink()
    assert run(tmp_path / "in", "-m", model_path, "-o", tmp_path / "out").exit_code == 0
    before = (tmp_path / "out" / "a.png").stat().st_mtime_ns
    r = run(tmp_path / "in", "-m", model_path, "-o", tmp_path / "out", "--json")
    assert r.exit_code == 0
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert {row["status"] for row in rows} == {"skipped"} and len(rows) == 6
    assert (tmp_path / "out" / "a.png").stat().st_mtime_ns == before
    r = run(tmp_path / "in" / "a.png", "-m", model_path, "-o", tmp_path / "out", "--json", "--overwrite", "--suffix", "_x", "--ext", "jpg")
    row = json.loads(r.stdout)
    assert row["status"] == "ok" and row["output"].endswith("a_x.jpg") and row["size"] == [64, 48] and row["device"] == "cpu"
    assert row["ms"] > 0


def test_io_processes_write_the_same_files(tmp_path, model_path):
    """Decoding and encoding in worker processes: the same bytes, the same per-file failure, the same skips."""
    expected = make_folder(tmp_path / "in")
    threads = run(tmp_path / "in", "-m", model_path, "-o", tmp_path / "threads", "-b", "3", "--device", "cpu")
    procs = run(tmp_path / "in", "-m", model_path, "-o", tmp_path / "procs", "-b", "3", "--device", "cpu", "--io-processes", "2")
    assert procs.exit_code == threads.exit_code == 1, procs.output
    assert f"error: {tmp_path / 'in' / 'bad.png'}: not a recognised image file" in procs.stderr
    assert listing(tmp_path / "procs") == listing(tmp_path / "threads") == set(expected)
    for name in expected:
        assert (tmp_path / "procs" / name).read_bytes() == (tmp_path / "threads" / name).read_bytes(), name
    again = run(tmp_path / "in", "-m", model_path, "-o", tmp_path / "procs", "--device", "cpu", "--io-processes", "2")
    assert "translated 0, skipped 6 (existing), failed 1" in again.stderr
    src = (tmp_path / "in" / "a.png").read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "gantrans", "translate", "-", "-m", str(model_path), "-o", "-", "--io-processes", "1"],
        input=src, capture_output=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == (tmp_path / "threads" / "a.png").read_bytes()


def test_stdin_to_stdout_pipeline(tmp_path, model_path):
    src = tmp_path / "x.png"
    Image.new("RGB", (21, 13), (10, 100, 200)).save(src)
    proc = subprocess.run(
        [sys.executable, "-m", "gantrans", "translate", "-", "-m", str(model_path), "-o", "-"],
        input=src.read_bytes(), capture_output=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    out = Image.open(io.BytesIO(proc.stdout))
    assert out.format == "PNG" and out.size == (21, 13)


def test_globs_lists_and_output_inside_input(tmp_path, model_path):
    make_folder(tmp_path / "in")
    out = tmp_path / "in" / "out"
    r = run(tmp_path / "in", "-m", model_path, "-o", out)
    assert r.exit_code == 1
    r = run(tmp_path / "in", "-m", model_path, "-o", out)  # outputs are not re-read as inputs
    assert "translated 0, skipped 6 (existing), failed 1" in r.stderr
    lst = tmp_path / "list.txt"
    lst.write_text(f"{tmp_path / 'in' / 'a.png'}\n\n{tmp_path / 'in' / 'c.jpg'}\n")
    r = run("--from-list", lst, "-m", model_path, "-o", tmp_path / "o2")
    assert r.exit_code == 0 and listing(tmp_path / "o2") == {"a.png", "c.jpg"}
    r = run(str(tmp_path / "in" / "*.jpg"), "-m", model_path, "-o", tmp_path / "o3")
    assert r.exit_code == 0 and listing(tmp_path / "o3") == {"c.jpg", "d.jpg"}
    r = run(str(tmp_path / "in" / "*.gif"), "-m", model_path, "-o", tmp_path / "o4")
    assert r.exit_code == 1 and "no files match this pattern" in r.stderr


def test_missing_input_and_collisions(tmp_path, model_path):
    make_folder(tmp_path / "in")
    (tmp_path / "in2").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "in2" / "a.png")
    r = run(tmp_path / "in" / "a.png", tmp_path / "in2" / "a.png", tmp_path / "nope.png", "-m", model_path, "-o", tmp_path / "out")
    assert r.exit_code == 1
    assert "nope.png: no such file or directory" in r.stderr
    assert "output name collides with that of" in r.stderr
    assert listing(tmp_path / "out") == {"a.png"}


def test_never_overwrites_its_input(tmp_path, model_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    before = (tmp_path / "a.png").read_bytes()
    r = run(tmp_path / "a.png", "-m", model_path, "-o", tmp_path, "--overwrite")
    assert r.exit_code == 1 and "output would overwrite the input" in r.stderr
    assert (tmp_path / "a.png").read_bytes() == before


@pytest.mark.parametrize(
    "args,message",
    [
        (["-m", "no-such-model"], "model 'no-such-model' not found"),
        (["--device", "cuda:7"], "CUDA is not available"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--precision", "fp16", "--device", "cpu"], "fp16 is not supported on CPU"),
        (["--ext", "gif"], "--ext must be one of"),
        (["--io-processes", "2", "--workers", "0"], "--io-processes needs --workers >= 1"),
        (["--tta", "x4"], "--tta 'x4': use one of none, hflip, dihedral"),
        (["--smooth", "median"], "--smooth 'median': use one of auto, none, guided"),
        (["--smooth-radius", "3"], "--smooth-radius/--smooth-eps/--smooth-threshold set the guided filter, which is off here (--smooth auto); add --smooth guided"),
        (["--smooth", "none", "--smooth-threshold", "0.1"], "which is off here (--smooth none)"),
        (["--smooth", "guided", "--smooth-eps", "0"], "guided smoothing needs a radius >= 1, eps > 0 and a threshold >= 0"),
    ],
)
def test_usage_errors_exit_2(tmp_path, model_path, args, message):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    base = ["-m", str(model_path)] if "-m" not in args else []
    r = run(tmp_path / "a.png", "-o", tmp_path / "out", *base, *args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "out").exists()


def test_wrong_direction_for_one_way_model(tmp_path, one_way_model):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    r = run(tmp_path / "a.png", "-m", one_way_model, "-o", tmp_path / "out", "--direction", "b2a")
    assert r.exit_code == 2 and "no b2a generator (G_B); it translates a2b only" in r.stderr


def test_pth_is_refused_with_a_hint(tmp_path):
    (tmp_path / "latest_net_G.pth").write_bytes(b"\x80\x04K\x01.")
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    r = run(tmp_path / "a.png", "-m", tmp_path / "latest_net_G.pth", "-o", tmp_path / "out")
    assert r.exit_code == 1 and "gantrans convert" in r.stderr and "Traceback" not in r.output


def test_tiles_from_the_cli(tmp_path, model_path):
    Image.new("RGB", (100, 60), (1, 2, 3)).save(tmp_path / "big.png")
    r = run(tmp_path / "big.png", "-m", model_path, "-o", tmp_path / "out", "--tile", "32", "--tile-overlap", "8")
    assert r.exit_code == 0 and Image.open(tmp_path / "out" / "big.png").size == (100, 60)


def test_self_ensemble_from_the_cli(tmp_path, model_path):
    """--tta hflip writes the mean of the image's and its mirror's outputs, and says so on stderr."""
    import torch

    import gantrans

    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (24, 36, 3), dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "a.png")
    r = run(tmp_path / "a.png", "-m", model_path, "-o", tmp_path / "out", "--tta", "hflip", "--device", "cpu")
    assert r.exit_code == 0 and "self-ensemble hflip" in r.stderr, r.output
    t = gantrans.load(str(model_path), device="cpu")
    x = torch.from_numpy(a).permute(2, 0, 1)[None]
    want = (t.run(x) + t.run(x.flip(-1)).flip(-1)) / 2 * 255  # 24 x 36: multiples of 4, so no padding
    got = torch.from_numpy(np.array(Image.open(tmp_path / "out" / "a.png"))).permute(2, 0, 1)[None].float()
    assert (got - want).abs().max() <= 0.51
    assert (got - t.run(x) * 255).abs().mean() > 1  # not the plain output


def test_smoothing_named_by_the_model_is_applied_unless_turned_off(tmp_path):
    """A model whose header names guided smoothing gets it by default (and says so); --smooth none gives the plain
    output; --smooth guided --smooth-radius overrides the model's radius."""
    import torch
    from helpers import tiny

    import gantrans

    t = tiny()
    t.checkpoint.postprocess = {"smooth": "guided", "radius": 2, "eps": 0.01}
    model = t.save(tmp_path / "smooth.safetensors")
    a = np.random.default_rng(5).integers(0, 256, (20, 28, 3), dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "a.png")
    x = torch.from_numpy(a).permute(2, 0, 1)[None]
    u = gantrans.load(str(model), device="cpu")
    outputs = {}
    for name, flags, smoothing in (("auto", [], (2, 0.01, 0.0)), ("none", ["--smooth", "none"], None),
                                   ("r1", ["--smooth", "guided", "--smooth-radius", "1", "--smooth-threshold", "0.05"], (1, 0.01, 0.05))):
        r = run(tmp_path / "a.png", "-m", model, "-o", tmp_path / name, "--device", "cpu", *flags)
        assert r.exit_code == 0, r.output
        assert ("guided smoothing" in r.stderr) == (smoothing is not None)
        got = np.array(Image.open(tmp_path / name / "a.png")).astype(np.float32)
        want = (u.smooth("guided", *smoothing) if smoothing else u.smooth("none")).run(x)[0].permute(1, 2, 0).numpy() * 255
        assert np.abs(got - want).max() <= 0.51, name
        outputs[name] = got
    assert "guided smoothing (radius 2, eps 0.01)" in run(tmp_path / "a.png", "-m", model, "-o", tmp_path / "again", "--device", "cpu").stderr
    assert np.abs(outputs["auto"] - outputs["none"]).mean() > 1 and np.abs(outputs["auto"] - outputs["r1"]).mean() > 0.2


def test_help_does_not_import_torch():
    code = (
        "import sys; sys.argv=['gantrans','translate','--help']\n"
        "from gantrans.cli.main import main\n"
        "try: main()\nexcept SystemExit: pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    assert "--tile-overlap" in proc.stdout


def test_shards_translate_every_input_exactly_once(model_path, tmp_path):
    import subprocess
    import sys

    src = tmp_path / "in"
    src.mkdir()
    for i in range(7):
        Image.new("RGB", (16 + i, 12), (i * 30, 50, 90)).save(src / f"{i}.png")
    seen = []
    for i in range(3):
        r = runner.invoke(app, ["translate", str(src), "-m", str(model_path), "-o", str(tmp_path / "out"), "--shard", f"{i}/3", "--device", "cpu"])
        assert r.exit_code == 0, r.output
        seen += r.stdout.split()
    assert sorted(seen) == sorted(str(tmp_path / "out" / f"{i}.png") for i in range(7))
    r = runner.invoke(app, ["translate", str(src), "-m", str(model_path), "-o", str(tmp_path / "x"), "--shard", "3/3"])
    assert r.exit_code == 2 and "expected I/N" in r.output
    # two torchrun processes (RANK/WORLD_SIZE) over one folder: each image once, none twice
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "gantrans", "translate",
           str(src), "-m", str(model_path), "-o", str(tmp_path / "tr"), "--device", "cpu", "--json"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["output"] for r in rows) == sorted(str(tmp_path / "tr" / f"{i}.png") for i in range(7))
    assert all(r["status"] == "ok" for r in rows)


def test_result_lines_from_parallel_processes_never_interleave():
    """torchrun shards share one stdout pipe, unbuffered: each result line must go out in one write."""
    import os
    import subprocess
    import sys

    code = "from gantrans.cli.common import emit\nfor i in range(2000): emit('{\"n\": %d, \"pad\": \"%s\"}' % (i, 'x' * 200))"
    r, w = os.pipe()
    procs = [subprocess.Popen([sys.executable, "-u", "-c", code], stdout=w) for _ in range(2)]
    os.close(w)
    with os.fdopen(r) as f:
        lines = f.read().splitlines()
    for p in procs:
        p.wait()
    assert len(lines) == 4000 and all(json.loads(line)["pad"] == "x" * 200 for line in lines)
