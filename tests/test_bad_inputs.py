"""A corpus of bad inputs, generated here, run through `translate` in one batch with good images:
each bad item gets one `error: PATH: reason` line (or a note), every good image is still written,
no partial or temp file is left, and the exit code is 1."""

from __future__ import annotations

import errno
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import gantrans.io.atomic as atomic_mod
import gantrans.io.images as images_mod
from gantrans.cli.main import app

runner = CliRunner()


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header declaring a huge image, with almost no data behind it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def noise(size, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)


def build_corpus(root: Path) -> tuple[dict[str, tuple[int, int]], dict[str, str], dict[str, str]]:
    """Returns (good output name -> size, bad input name -> message part, input name -> note part)."""
    root.mkdir()
    good: dict[str, tuple[int, int]] = {}
    bad: dict[str, str] = {}
    notes: dict[str, str] = {}
    noise((40, 30)).save(root / "good1.png")
    good["good1.png"] = (40, 30)
    noise((17, 33)).save(root / "good2.jpg")
    good["good2.jpg"] = (17, 33)
    (root / "empty.png").write_bytes(b"")
    bad["empty.png"] = "not a recognised image file"
    data = png_bytes(noise((64, 64)))
    (root / "truncated.png").write_bytes(data[: len(data) // 2])
    bad["truncated.png"] = "cannot decode image"
    buf = io.BytesIO()
    noise((64, 64)).save(buf, "JPEG")
    (root / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    bad["truncated.jpg"] = "cannot decode image"
    (root / "text.png").write_text("just some text, not a picture\n")
    bad["text.png"] = "not a recognised image file"
    crc = bytearray(png_bytes(noise((20, 20))))
    crc[33 + 8 + 4] ^= 0xFF  # a byte inside the first IDAT chunk: its CRC no longer matches
    (root / "badcrc.png").write_bytes(bytes(crc))
    bad["badcrc.png"] = "cannot decode image"
    (root / "bomb.png").write_bytes(bomb_png(100_000, 100_000))
    bad["bomb.png"] = "image is 100000x100000 = 10000000000 pixels, over the limit of 178956970"
    frames = [noise((12, 10), seed=i).convert("P") for i in range(3)]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:])
    good["anim.png"] = (12, 10)
    notes["anim.gif"] = "has 3 frames; using the first"
    pages = [noise((14, 9), seed=i) for i in range(2)]
    pages[0].save(root / "pages.tif", save_all=True, append_images=pages[1:])
    good["pages.png"] = (14, 9)
    notes["pages.tif"] = "has 2 frames; using the first"
    Image.fromarray(np.linspace(0, 65535, 30 * 20).reshape(20, 30).astype(np.uint16)).save(root / "grey16.png")
    good["grey16.png"] = (30, 20)
    noise((21, 19), "CMYK").save(root / "cmyk.jpg")
    good["cmyk.jpg"] = (21, 19)
    pal = noise((15, 15)).convert("P")
    pal.info["transparency"] = 0
    pal.save(root / "palette.png", transparency=0)
    good["palette.png"] = (15, 15)
    noise((11, 13), "LA").save(root / "la.png")
    good["la.png"] = (11, 13)
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        noise((30, 20), seed=o).save(root / f"exif{o}.jpg", exif=exif.tobytes())
        good[f"exif{o}.jpg"] = (20, 30) if o >= 5 else (30, 20)
    noise((1, 1)).save(root / "one.png")
    good["one.png"] = (1, 1)
    noise((3, 100000)).save(root / "tall.png")
    good["tall.png"] = (3, 100000)
    (root / "x.png").mkdir()  # a directory with an image name: walked, never read as an image
    noise((9, 9)).save(root / "x.png" / "inner.png")
    good["x.png/inner.png"] = (9, 9)
    (root / "dangling.png").symlink_to(root / "does-not-exist.png")
    bad["dangling.png"] = "broken symbolic link"
    noise((10, 12)).save(root / "unreadable.png")
    bad["unreadable.png"] = "Permission denied"
    noise((8, 8)).save(root / "with space é.png")
    good["with space é.png"] = (8, 8)
    weird = os.fsdecode(b"latin1-\xe9.png")
    noise((7, 6)).save(root / weird)
    good[weird] = (7, 6)
    return good, bad, notes


def test_bad_input_corpus(tmp_path, model_path, monkeypatch):
    good, bad, notes = build_corpus(tmp_path / "in")
    unreadable = tmp_path / "in" / "unreadable.png"
    if os.geteuid() == 0:  # root ignores file modes: make opening this one path fail as it would for a user
        real_open = images_mod.Image.open

        def guarded_open(fp, *a, **k):
            if isinstance(fp, (str, os.PathLike)) and Path(fp) == unreadable:
                raise PermissionError(errno.EACCES, "Permission denied", str(fp))
            return real_open(fp, *a, **k)

        monkeypatch.setattr(images_mod.Image, "open", guarded_open)
    else:
        unreadable.chmod(0)
    out = tmp_path / "in" / "out"  # the output folder inside the input folder
    r = runner.invoke(app, ["translate", str(tmp_path / "in"), "-m", str(model_path), "-o", str(out), "--device", "cpu", "-b", "4"])
    assert r.exit_code == 1, r.output
    for name, message in bad.items():
        line = f"error: {tmp_path / 'in' / name}: "
        assert any(ln.startswith(line) and message in ln for ln in r.stderr.splitlines()), (name, r.stderr)
    for name, note in notes.items():
        assert r.stderr.count(f"note: {tmp_path / 'in' / name}: {note}") == 1
    written = {p.relative_to(out).as_posix(): p for p in out.rglob("*") if p.is_file()}
    assert set(written) == set(good), set(written) ^ set(good)  # nothing partial, no temp files
    for name, size in good.items():
        assert Image.open(written[name]).size == size, name
    assert f"translated {len(good)}, skipped 0 (existing), failed {len(bad)}" in r.stderr
    # outputs are never re-read as inputs: a second run only skips
    r = runner.invoke(app, ["translate", str(tmp_path / "in"), "-m", str(model_path), "-o", str(out), "--device", "cpu"])
    assert f"translated 0, skipped {len(good)} (existing), failed {len(bad)}" in r.stderr


def test_pixel_limit_is_configurable(tmp_path, model_path):
    noise((40, 30)).save(tmp_path / "a.png")
    r = runner.invoke(app, ["translate", str(tmp_path / "a.png"), "-m", str(model_path), "-o", str(tmp_path / "o"), "--max-pixels", "1000"])
    assert r.exit_code == 1 and "1200 pixels, over the limit of 1000 (raise it with --max-pixels)" in r.stderr


def _inputs(root: Path, n: int) -> list[str]:
    root.mkdir()
    for i in range(n):
        noise((16, 12), seed=i).save(root / f"{i}.png")
    return [str(root / f"{i}.png") for i in range(n)]


def test_disk_full_mid_batch(tmp_path, model_path, monkeypatch):
    inputs = _inputs(tmp_path / "in", 5)
    calls = {"n": 0}

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2])  # part of the file reaches the disk, then it is full
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):  # flush, fileno, ...: the real file's
            return getattr(self.f, name)

    def fake_open(path, *a, **k):
        calls["n"] += 1
        f = open(path, *a, **k)
        return FullDisk(f) if calls["n"] > 2 else f

    monkeypatch.setattr(images_mod, "open", fake_open, raising=False)  # outputs are encoded straight into their file
    out = tmp_path / "out"
    r = runner.invoke(app, ["translate", *inputs, "-m", str(model_path), "-o", str(out), "--workers", "0", "--device", "cpu"])
    assert r.exit_code == 1
    assert r.stderr.count("No space left on device") == 3
    assert sorted(p.name for p in out.iterdir()) == ["0.png", "1.png"]  # the good ones, complete; no temp files
    for p in out.iterdir():
        Image.open(p).load()


def test_read_only_output_folder(tmp_path, model_path, monkeypatch):
    inputs = _inputs(tmp_path / "in", 2)
    out = tmp_path / "ro"
    out.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: refuse creating files in this folder as the OS would
        real_mkstemp = atomic_mod.tempfile.mkstemp

        def mkstemp(*a, dir=None, **k):
            if dir is not None and Path(dir) == out:
                raise PermissionError(errno.EACCES, "Permission denied", str(out))
            return real_mkstemp(*a, dir=dir, **k)

        monkeypatch.setattr(atomic_mod.tempfile, "mkstemp", mkstemp)
    else:
        out.chmod(0o555)
    r = runner.invoke(app, ["translate", *inputs, "-m", str(model_path), "-o", str(out), "--device", "cpu"])
    assert r.exit_code == 1
    assert r.stderr.count(f"Permission denied: {out}") == 2
    assert list(out.iterdir()) == []


def test_concurrent_writers_never_leave_partial_files(tmp_path, model_path):
    import subprocess
    import sys

    inputs = _inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    for extra in ([], ["--overwrite"]):  # racing to create, and racing to replace
        cmd = [sys.executable, "-m", "gantrans", "translate", *inputs, "-m", str(model_path), "-o", str(out), "--device", "cpu", *extra]
        procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        assert all(code == 0 for code, _ in results), results  # a file the other process wrote first is "skipped"
        assert sorted(p.name for p in out.iterdir()) == [f"{i}.png" for i in range(6)]
        for p in out.iterdir():
            assert Image.open(p).size == (16, 12)


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "d", "--arch", "cyclegan", "-o", "o", "--set", "lambda_A"], "--set 'lambda_A': expected NAME=VALUE"),
        (["train", "d", "--arch", "cyclegan", "-o", "o", "--set", "bogus=1", "--dry-run"], "unknown setting 'bogus'"),
        (["train", "d", "--arch", "stylegan", "-o", "o", "--dry-run"], "--arch must be one of cyclegan, pix2pix"),
        (["train", "d", "--arch", "cyclegan", "-o", "o", "--compile", "--compile-mode", "fast", "--dry-run"], "compile_mode must be one of default, reduce-overhead"),
        (["train", "d", "--arch", "cyclegan", "-o", "o", "--device", "cuda:3", "--steps", "1"], "CUDA is not available"),
        (["convert", "x.pth", "-o", "y.safetensors", "--from", "cyclegan", "--domains", "onlyone"], "--domains takes two names"),
    ],
)
def test_bad_command_lines_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d" / "trainA").mkdir(parents=True)
    (tmp_path / "d" / "trainB").mkdir()
    noise((8, 8)).save(tmp_path / "d" / "trainA" / "a.png")
    noise((8, 8)).save(tmp_path / "d" / "trainB" / "b.png")
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr and "Traceback" not in r.output


def test_tracebacks_only_with_debug(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "m.safetensors"
    bad.write_bytes(b"\x00" * 20)
    cmd = [sys.executable, "-m", "gantrans", "info", str(bad)]
    quiet = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert quiet.returncode == 1 and quiet.stderr.count("\n") == 1 and "not a valid safetensors file" in quiet.stderr
    loud = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**os.environ, "GANTRANS_DEBUG": "1"})
    assert "Traceback" in loud.stderr
