"""Nothing silently lost or left behind: every input path is an item, non-images are counted, FIFOs are
never opened, `-o` must be a folder, and temp files of killed runs are cleaned up."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from gantrans.cli.main import app
from gantrans.io.images import NOT_REGULAR

runner = CliRunner()


def img(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)
    return path


def garbage_idat_png() -> bytes:
    """A PNG whose chunks and CRCs are valid but whose image data is not zlib: verify() passes, load() fails."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 24, 20, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"not zlib data at all" * 4) + chunk(b"IEND", b"")


def translate(*args: str):
    return runner.invoke(app, ["translate", *args, "--device", "cpu"])


def test_output_that_is_a_file_is_a_usage_error(model_path, tmp_path):
    src = img(tmp_path / "a.png")
    (tmp_path / "out.txt").write_text("not a folder")
    r = translate(str(src), "-m", str(model_path), "-o", str(tmp_path / "out.txt"))
    assert r.exit_code == 2
    assert f"-o {tmp_path / 'out.txt'} exists and is not a folder" in r.stderr
    assert (tmp_path / "out.txt").read_text() == "not a folder"


def test_links_to_one_file_are_separate_inputs_and_repeats_are_reported(model_path, tmp_path):
    d = tmp_path / "in"
    src = img(d / "a.png")
    (d / "link.png").symlink_to(src)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{d / 'a.png'}\n{d / 'link.png'}\n{d / 'a.png'}\n")
    r = translate("--from-list", str(listing), "-m", str(model_path), "-o", str(tmp_path / "out"), "--json")
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    # skips are reported at once, translations as they finish
    assert sorted((Path(x["input"]).name, x["status"], x.get("message")) for x in rows) == [
        ("a.png", "ok", None), ("a.png", "skipped", "listed more than once"), ("link.png", "ok", None)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "link.png"]
    assert "translated 2, skipped 1 (1 duplicate), failed 0" in r.stderr


def test_linked_subfolders_are_followed_and_loops_reported(model_path, tmp_path):
    d = tmp_path / "in"
    img(d / "top.png")
    img(tmp_path / "elsewhere" / "deep.png", 1)
    (d / "linked").symlink_to(tmp_path / "elsewhere")
    (d / "loop").symlink_to(d)  # a link back to the input folder itself
    (d / "notes.txt").write_text("x")
    (d / "data.csv").write_text("x")
    r = translate(str(d), "-m", str(model_path), "-o", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    out = tmp_path / "out"
    assert (out / "top.png").exists() and (out / "linked" / "deep.png").exists()
    assert "translated 2, skipped 1 (1 link loop), failed 0, ignored 2 non-image files" in r.stderr
    assert not (out / "loop").exists()


def test_fifo_with_an_image_suffix_is_an_error_and_never_blocks(model_path, tmp_path):
    d = tmp_path / "in"
    img(d / "a.png")
    os.mkfifo(d / "pipe.png")
    # a subprocess with a timeout: opening the FIFO would block for ever
    r = subprocess.run([sys.executable, "-m", "gantrans", "translate", str(d), "-m", str(model_path), "-o", str(tmp_path / "out"),
                        "--device", "cpu"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 1, r.stderr
    assert f"error: {d / 'pipe.png'}: {NOT_REGULAR}" in r.stderr
    assert (tmp_path / "out" / "a.png").exists() and not (tmp_path / "out" / "pipe.png").exists()


def test_stale_temp_files_of_killed_runs_are_removed(model_path, tmp_path):
    src = img(tmp_path / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    stale = out / f".a.png.{dead}-k3j2h1.tmp"  # left by a writer that is gone
    live = out / f".b.png.{os.getpid()}-x9y8z7.tmp"  # a live writer's (this test process)
    foreign = out / ".c.png.tmp"  # not our naming: never touched
    for p in (stale, live, foreign):
        p.write_bytes(b"partial")
        os.utime(p, (time.time() - 3600, time.time() - 3600))
    r = translate(str(src), "-m", str(model_path), "-o", str(out))
    assert r.exit_code == 0, r.output
    assert not stale.exists() and live.exists() and foreign.exists()
    assert "note: removed 1 temp file(s) left by an interrupted earlier run" in r.stderr


def test_kill_during_a_translate_batch_then_rerun_leaves_no_temp_files(model_path, tmp_path):
    """kill -9 mid-batch (timed by the first output appearing), then a rerun: complete outputs only."""
    d = tmp_path / "in"
    for i in range(40):
        img(d / f"{i:02d}.png", i)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "gantrans", "translate", str(d), "-m", str(model_path), "-o", str(out), "--device", "cpu", "-q"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline and not (out.exists() and any(p.suffix == ".png" for p in out.iterdir())):
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"{i:02d}.png" for i in range(40)]  # no .tmp left


def test_training_decode_failures_are_named_and_counted(tmp_path):
    from gantrans.train.config import resolve_config
    from gantrans.train.trainer import train

    root = tmp_path / "data"
    for side in ("trainA", "trainB"):
        for i in range(3):
            img(root / side / f"{i}.png", i)
    jpg = root / "trainA" / "bad.png"
    jpg.write_bytes(garbage_idat_png())  # passes the open-time check (chunk CRCs), fails to decode
    cfg = resolve_config("cyclegan", None, {
        "dataset": str(root), "output": str(tmp_path / "run"), "steps": 8, "crop_size": 16, "load_size": 16, "ngf": 4,
        "ndf": 4, "n_layers_D": 1, "netG": "resnet_6blocks", "workers": 0, "device": "cpu", "save_every": 8,
        "sample_every": 100, "log_every": 8})  # fmt: skip
    train(cfg)
    body = json.loads((tmp_path / "run" / "config.json").read_text())
    assert body["skipped"] == []  # not caught at open time ...
    assert body["unreadable_in_training"]["count"] == 1  # ... but named and counted when it failed
    assert list(body["unreadable_in_training"]["files"]) == [str(jpg)]


def test_resume_errors_are_one_line_and_change_nothing(tmp_path):
    from gantrans.errors import UsageError
    from gantrans.io.checkpoint import CheckpointError
    from gantrans.train.config import resolve_config
    from gantrans.train.trainer import train

    root = tmp_path / "data"
    for side in ("trainA", "trainB"):
        for i in range(2):
            img(root / side / f"{i}.png", i)
    run = tmp_path / "run"
    values = {"dataset": str(root), "output": str(run), "steps": 4, "crop_size": 16, "load_size": 16, "ngf": 4,
              "ndf": 4, "n_layers_D": 1, "netG": "resnet_6blocks", "workers": 0, "device": "cpu", "save_every": 2}  # fmt: skip
    train(resolve_config("cyclegan", None, values))
    state = run / "train_state.pt"
    good, config = state.read_bytes(), (run / "config.json").read_bytes()
    with pytest.raises(UsageError, match="--steps 2 is below the run's current step 4"):
        train(resolve_config("cyclegan", None, {**values, "steps": 2}), resume=True)
    assert (run / "config.json").read_bytes() == config
    for data, message in ((good[: len(good) // 2], "is damaged or truncated"), (b"", "is empty")):
        state.write_bytes(data)
        with pytest.raises(CheckpointError, match=message):
            train(resolve_config("cyclegan", None, {**values, "steps": 6}), resume=True)
    # a state of another run (other widths): the differences in one message, not PyTorch's dump
    other = tmp_path / "other"
    train(resolve_config("cyclegan", None, {**values, "output": str(other), "ngf": 8}))
    state.write_bytes((other / "train_state.pt").read_bytes())
    with pytest.raises(CheckpointError, match=r"mis-shaped keys") as e:
        train(resolve_config("cyclegan", None, {**values, "steps": 6}), resume=True)
    assert str(e.value).count("\n") == 0
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    state.write_bytes(pickle.dumps({"step": 1, "nets": Evil()}))
    with pytest.raises(CheckpointError, match="needs arbitrary code to load; gantrans never executes pickled code"):
        train(resolve_config("cyclegan", None, {**values, "steps": 6}), resume=True)
    state.unlink()  # as a kill between the first model save and the first state save leaves it
    with pytest.raises(UsageError, match="no train_state.pt .* start it again without --resume"):
        train(resolve_config("cyclegan", None, {**values, "steps": 6}), resume=True)
    train(resolve_config("cyclegan", None, values))  # which works
    assert torch.load(state, weights_only=True)["step"] == 4


def test_pixel_limit_holds_for_containers_and_resizing(model_path, tmp_path):
    """An ICO whose directory says 256x256 but whose embedded PNG is 3000x3000, and --size upscaling,
    are both held to --max-pixels (before: decoded / resized without limit)."""
    import io

    big = io.BytesIO()
    Image.new("RGB", (3000, 3000)).save(big, "PNG")
    png = big.getvalue()
    ico = struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 22) + png
    d = tmp_path / "in"
    d.mkdir()
    (d / "bomb.ico").write_bytes(ico)
    img(d / "small.png")
    r = translate(str(d), "-m", str(model_path), "-o", str(tmp_path / "o"), "--max-pixels", "1000000")
    assert r.exit_code == 1
    assert f"error: {d / 'bomb.ico'}: image " in r.stderr and "over the limit of 1000000" in r.stderr
    assert (tmp_path / "o" / "small.png").exists()
    r = translate(str(d / "small.png"), "-m", str(model_path), "-o", str(tmp_path / "o2"), "--size", "5000", "--max-pixels", "1000000")
    assert r.exit_code == 1 and "resizing to 6000x5000 = 30000000 pixels is over the limit of 1000000" in r.stderr


def test_pillow_warnings_become_one_note(model_path, tmp_path):
    """A corrupt EXIF block: Pillow warns; the user sees one `note:` line, not a Python warning."""
    src = tmp_path / "exif.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate
    Image.new("RGB", (24, 16), (200, 10, 10)).save(src, exif=exif.tobytes())
    data = bytearray(src.read_bytes())
    at = data.find(b"MM\x00*") if b"MM\x00*" in data else data.find(b"II*\x00")
    data[at + 4 : at + 8] = b"\xff\xff\xff\x00"  # IFD offset far past the block
    src.write_bytes(bytes(data))
    r = translate(str(src), "-m", str(model_path), "-o", str(tmp_path / "o"))
    assert r.exit_code == 0, r.output
    assert f"note: {src}: Corrupt EXIF data." in r.stderr  # pytest swallows Python warnings: check the note itself
    assert "Warning" not in r.stderr and "warnings.warn" not in r.stderr
    assert (tmp_path / "o" / "exif.jpg").exists()
