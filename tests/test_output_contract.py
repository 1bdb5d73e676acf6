"""What scripts read: stdout has one line per output (odd names quoted, exact in JSON), -q silences
stderr only, JSON rows have one shape, files get the umask's mode, --from-list reads any bytes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from gantrans.cli.main import app

runner = CliRunner()


def img(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 20, 3), dtype=np.uint8)).save(path)
    return path


def translate(*args: str):
    return runner.invoke(app, ["translate", *args, "--device", "cpu"])


def test_quiet_keeps_stdout_and_json_rows_have_one_shape(model_path, tmp_path):
    d = tmp_path / "in"
    img(d / "a.png")
    (d / "bad.png").write_bytes(b"junk")
    r = translate(str(d), "-m", str(model_path), "-o", str(tmp_path / "o"), "-q")
    assert r.exit_code == 1
    assert r.stdout.splitlines() == [str(tmp_path / "o" / "a.png")]  # -q silences stderr only
    assert "error: " in r.stderr and "gantrans: " not in r.stderr  # no device line, notes or progress
    r = translate(str(d), "-m", str(model_path), "-o", str(tmp_path / "o"), "--json")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert {tuple(sorted(x)) for x in rows} == {("device", "input", "message", "ms", "output", "size", "status")}
    assert {x["status"]: x["message"] for x in rows} == {"skipped": "exists (use --overwrite)", "failed": "not a recognised image file"}
    r = translate(str(d / "a.png"), "-m", str(model_path), "-o", str(tmp_path / "o2"), "--json")
    assert json.loads(r.stdout)["message"] is None


def test_odd_names_one_line_each(model_path, tmp_path):
    d = tmp_path / "in"
    nl = img(d / "new\nline.png")
    raw = os.fsencode(str(d)) + b"/caf\xe9.png"  # Latin-1 bytes: not UTF-8
    os.rename(img(d / "tmp.png"), raw)
    r = translate(str(d), "-m", str(model_path), "-o", str(tmp_path / "o"))
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith('"') for line in lines)  # quoted as JSON strings
    outs = {os.fsencode(json.loads(line)) for line in lines}
    assert outs == {os.fsencode(str(tmp_path / "o" / "new\nline.png")), os.fsencode(str(tmp_path / "o")) + b"/caf\xe9.png"}
    assert all(os.path.exists(p) for p in outs)
    r = translate(str(d), "-m", str(model_path), "-o", str(tmp_path / "j"), "--json")
    exact = {os.fsencode(json.loads(line)["input"]) for line in r.stdout.splitlines()}
    assert exact == {os.fsencode(str(nl)), raw}


def test_files_get_the_umask_mode(model_path, tmp_path):
    from gantrans.io.atomic import FILE_MODE

    src = img(tmp_path / "a.png")
    r = translate(str(src), "-m", str(model_path), "-o", str(tmp_path / "o"))
    assert r.exit_code == 0
    import gantrans

    gantrans.load(str(model_path), device="cpu").save(tmp_path / "m.safetensors")
    for p in (tmp_path / "o" / "a.png", tmp_path / "m.safetensors"):
        assert stat.S_IMODE(p.stat().st_mode) == FILE_MODE


def test_from_list_bytes_comments_and_line_numbers(model_path, tmp_path):
    d = tmp_path / "in"
    img(d / "a.png")
    raw = os.fsencode(str(d)) + b"/x\xff.png"
    os.rename(img(d / "t.png"), raw)
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"# inputs\n" + os.fsencode(str(d / "a.png")) + b"\n\n" + raw + b"\n" + os.fsencode(str(d / "missing.png")) + b"\n")
    r = translate("--from-list", str(listing), "-m", str(model_path), "-o", str(tmp_path / "o"))
    assert r.exit_code == 1
    assert "missing.png: no such file or directory (--from-list line 5)" in r.stderr
    assert (tmp_path / "o" / "a.png").exists() and os.path.exists(os.fsencode(str(tmp_path / "o")) + b"/x\xff.png")
    assert "translated 2, skipped 0 (existing), failed 1" in r.stderr


def test_wrong_kind_of_model_is_exit_2_everywhere_with_a_hint(model_path, tmp_path):
    src = img(tmp_path / "a.png")
    for cmd in (["stylize", str(src), "-s", str(src)], ["edit", str(src), "--set", "x=1"], ["style-sample", str(src)]):
        r = runner.invoke(app, [*cmd, "-m", str(model_path), "-o", str(tmp_path / "o"), "--device", "cpu"])
        assert r.exit_code == 2, (cmd, r.output)
        assert f"{model_path.name} is resnet_6blocks (use it with gantrans export, gantrans translate)" in r.stderr
    r = runner.invoke(app, ["translate", str(src), "-m", "person_emoji_stargan", "-o", str(tmp_path / "o"), "--device", "cpu"])
    assert r.exit_code == 2 and "use it with gantrans edit, gantrans export" in r.stderr


def test_commands_default_to_the_bundled_model_of_their_kind(tmp_path):
    src = img(tmp_path / "a.png")
    r = runner.invoke(app, ["style-sample", str(src), "-o", str(tmp_path / "s"), "--seeds", "1", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "glyphs_munit" in r.stderr and (tmp_path / "s" / "a_s0001.png").exists()
    r = runner.invoke(app, ["stylize", str(src), "-s", str(src), "-o", str(tmp_path / "t")])
    assert r.exit_code == 2 and "stylize needs a model: pass -m" in r.stderr


def test_config_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("steps = [unclosed\n")
    r = runner.invoke(app, ["train", str(tmp_path), "--arch", "cyclegan", "-o", str(tmp_path / "r"), "-c", str(bad), "--dry-run"])
    assert r.exit_code == 2 and f"{bad}: not valid TOML" in r.stderr
