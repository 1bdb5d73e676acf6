"""`--codec device`: JPEGs decoded (a batch per call) and encoded by torchvision.io on the model's device.

On the CPU the device codec is libjpeg-turbo like Pillow's, so its outputs must match the host path's; on CUDA
(nvJPEG) within a small tolerance. What the device codec does not take goes the host path, and a JPEG no
decoder reads fails alone, with the host path's message.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny
from PIL import Image
from typer.testing import CliRunner

import gantrans
from gantrans.cli.main import app
from gantrans.engine.batch import BatchOptions, translate_items
from gantrans.io.images import collect_inputs, decode, open_image
from gantrans.io.jpeg import decode_jpegs, orient, peek_jpeg


def noisy(w: int, h: int, seed: int) -> np.ndarray:
    """A gradient with noise: any wrong turn or flip of it is far from the right one."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, np.full((h, w), 128.0)], -1)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


def jpeg_bytes(arr: np.ndarray, mode: str = "RGB", orientation: int = 1) -> bytes:
    img = Image.fromarray(arr).convert(mode)
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_as_pillow(orientation: int):
    data = jpeg_bytes(noisy(40, 24, orientation), orientation=orientation)
    j = peek_jpeg(data, None)
    assert j is not None and j.orientation == orientation
    (t,) = decode_jpegs([j], "cpu", 3)
    img, _ = open_image(data, None)  # Pillow, EXIF-transposed
    want = decode(img, 3).pixels
    got = t.permute(1, 2, 0).numpy()
    assert j.size == img.size and got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).mean() < 0.5


def test_orient_turns_a_tensor_as_exif_says():
    t = torch.arange(6).reshape(1, 2, 3)  # [[0 1 2], [3 4 5]]
    assert orient(t, 6).tolist() == [[[3, 0], [4, 1], [5, 2]]]  # 90° clockwise
    assert orient(t, 8).tolist() == [[[2, 5], [1, 4], [0, 3]]]  # 90° counter-clockwise
    assert orient(t, 1) is t


def test_what_the_device_codec_leaves_to_the_host(tmp_path: Path):
    arr = noisy(32, 32, 0)
    buf = io.BytesIO()
    Image.fromarray(arr).convert("CMYK").save(buf, format="JPEG")
    assert peek_jpeg(buf.getvalue(), None) is None  # CMYK
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    assert peek_jpeg(buf.getvalue(), None) is None  # not a JPEG
    assert peek_jpeg(jpeg_bytes(arr), 32 * 32 - 1) is None  # over --max-pixels: the host path says so
    assert peek_jpeg(tmp_path / "missing.jpg", None) is None  # the host path reports it
    assert peek_jpeg(jpeg_bytes(arr, "L"), None) is not None  # greyscale: decoded as RGB, as the host does


def make_inputs(root: Path) -> None:
    root.mkdir()
    (root / "a.jpg").write_bytes(jpeg_bytes(noisy(32, 32, 1)))
    (root / "b.jpg").write_bytes(jpeg_bytes(noisy(40, 24, 2), orientation=6))  # turned: 24x40 once shown
    (root / "c.jpg").write_bytes(jpeg_bytes(noisy(32, 32, 3), "L"))
    (root / "d.jpg").write_bytes(jpeg_bytes(noisy(30, 28, 4)))  # another size in the same padded bucket
    Image.fromarray(noisy(32, 32, 5)).convert("CMYK").save(root / "e.jpg")  # the host path's
    Image.fromarray(noisy(32, 32, 6)).save(root / "f.png")
    whole = jpeg_bytes(noisy(32, 32, 7))
    (root / "g.jpg").write_bytes(whole[: len(whole) // 2])  # truncated: no decoder reads it


def make_masks(src: Path, masks: Path, empty: str = "") -> None:
    """A hole in each of make_inputs' images (its shown size), none in `empty`'s."""
    masks.mkdir()
    for p in src.iterdir():
        w, h = (24, 40) if p.stem == "b" else (30, 28) if p.stem == "d" else (32, 32)
        m = np.zeros((h, w), np.uint8)
        if p.stem != empty:
            m[6:16, 8:20] = 255
        Image.fromarray(m).save(masks / f"{p.stem}.png")


def run(model, src: Path, out: Path, codec: str, batch: int = 4):
    results = []
    opts = BatchOptions(batch_size=batch, codec=codec, workers=2)
    summary = translate_items(model, collect_inputs([str(src)], exclude=out), out, opts, on_result=results.append)
    return summary, {Path(r.input).name: r for r in results}


def compare(out_h: Path, out_d: Path, tolerance: float) -> None:
    names = sorted(p.name for p in out_h.iterdir())
    assert names == sorted(p.name for p in out_d.iterdir())
    for name in names:
        a = np.asarray(Image.open(out_h / name).convert("RGB"), dtype=np.int16)
        b = np.asarray(Image.open(out_d / name).convert("RGB"), dtype=np.int16)
        assert a.shape == b.shape, name
        assert np.abs(a - b).mean() <= tolerance, (name, np.abs(a - b).mean())


@pytest.mark.parametrize("batch", [1, 4])
def test_device_codec_on_the_cpu_matches_the_host_path(tmp_path: Path, batch: int, monkeypatch):
    model = tiny("resnet_6blocks")
    src = tmp_path / "in"
    make_inputs(src)
    s_h, r_h = run(model, src, tmp_path / "host", "host", batch)
    seen: list[int] = []

    threads: set[str] = set()

    def spy(inputs, device, channels):
        seen.append(len(inputs))
        threads.add(threading.current_thread().name)
        return decode_jpegs(inputs, device, channels)

    monkeypatch.setattr("gantrans.engine.devcodec.decode_jpegs", spy)
    s_d, r_d = run(model, src, tmp_path / "device", "device", batch)
    # a, b, c, d and the truncated g on the device, e (CMYK) and f (PNG) on the host. Batch 4: a, c and g (one padded
    # size) in one call, which g fails, then each alone; b and d alone (sizes of their own)
    assert sorted(seen) == ([1] * 5 if batch == 1 else [1, 1, 1, 1, 1, 3])
    assert all(t.startswith("stage") for t in threads), threads  # decoded a group ahead, beside the model's work
    assert (s_h.ok, s_h.failed) == (s_d.ok, s_d.failed) == (6, 1)
    assert r_d["g.jpg"].status == "failed" and r_d["g.jpg"].message == r_h["g.jpg"].message
    assert r_d["g.jpg"].message.startswith("cannot decode image (image file is truncated")
    assert r_d["b.jpg"].size == (24, 40)
    compare(tmp_path / "host", tmp_path / "device", 0.5)


def test_device_codec_cli(tmp_path: Path, model_path: Path):
    src = tmp_path / "in"
    make_inputs(src)
    r = CliRunner().invoke(app, ["translate", str(src), "-m", str(model_path), "-o", str(tmp_path / "out"), "--codec", "device",
                                 "--ext", "jpg", "--device", "cpu"])
    assert r.exit_code == 1, r.output  # the truncated one
    assert "JPEG codec on the device" in r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg"]
    r = CliRunner().invoke(app, ["translate", str(src), "-m", str(model_path), "-o", str(tmp_path / "o2"), "--codec", "gpu"])
    assert r.exit_code == 2 and "--codec must be one of host, device, got 'gpu'" in r.stderr


def test_device_codec_upscale_with_outscale(tmp_path: Path):
    from gantrans.engine.pipeline import run_pipeline
    from gantrans.engine.upscale import UpscaleTask

    model = gantrans.build("rrdbnet", scale=2, num_feat=8, num_block=1, num_grow_ch=4, device="cpu", domains=("LR", "HR"), seed=1)
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jpg").write_bytes(jpeg_bytes(noisy(16, 12, 0)))
    for codec, outscale in (("host", 3.0), ("device", 3.0), ("host", None), ("device", None)):
        opts = BatchOptions(batch_size=2, codec=codec)
        out = tmp_path / f"{codec}{outscale}"
        s = run_pipeline(UpscaleTask(model, opts, outscale), collect_inputs([str(src)]), out, opts.output())
        assert s.ok == 1
    assert Image.open(tmp_path / "device3.0" / "a.jpg").size == (48, 36)
    compare(tmp_path / "host3.0", tmp_path / "device3.0", 0.5)
    compare(tmp_path / "hostNone", tmp_path / "deviceNone", 0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (nvJPEG)")
def test_device_codec_on_cuda_matches_the_host_path(tmp_path: Path):
    model = tiny("resnet_6blocks")
    src = tmp_path / "in"
    make_inputs(src)
    model_cpu = run(model, src, tmp_path / "host", "host")
    path = tmp_path / "m.safetensors"
    model.save(path)
    cuda = gantrans.load(str(path), device="cuda", precision="fp32")
    s_d, r_d = run(cuda, src, tmp_path / "device", "device")
    assert (model_cpu[0].ok, model_cpu[0].failed) == (s_d.ok, s_d.failed) == (6, 1)
    compare(tmp_path / "host", tmp_path / "device", 2.0)  # nvJPEG's decoder and encoder differ a little from libjpeg's


def test_device_codec_inpaint_matches_the_host_path(tmp_path: Path, monkeypatch):
    """Masks on the host, images decoded and completed on the device: the same outputs as the host path on the CPU,
    known pixels as decoded, the empty mask and the truncated JPEG handled as there."""
    from gantrans.engine.inpaint import InpaintOptions, InpaintTask
    from gantrans.engine.pipeline import run_pipeline

    model = gantrans.build("gated_inpaint", cnum=8, domains=("image", "completed"), device="cpu", seed=2)
    src, masks = tmp_path / "in", tmp_path / "masks"
    make_inputs(src)
    make_masks(src, masks, empty="c")
    seen: list[int] = []

    def spy(inputs, device, channels):
        seen.append(len(inputs))
        return decode_jpegs(inputs, device, channels)

    monkeypatch.setattr("gantrans.engine.devcodec.decode_jpegs", spy)
    runs = {}
    for codec in ("host", "device"):
        opts = BatchOptions(batch_size=4, codec=codec)
        results: list = []
        s = run_pipeline(InpaintTask(model, opts, InpaintOptions(mask=masks)), collect_inputs([str(src)]), tmp_path / codec,
                         opts.output(), on_result=results.append)  # fmt: skip
        runs[codec] = (s.ok, s.failed, {Path(r.input).name: (r.status, r.message, r.notes) for r in results})
    assert runs["host"] == runs["device"] and runs["device"][:2] == (6, 1)
    assert runs["device"][2]["c.jpg"][2] == ["the mask is empty: nothing to fill"]
    assert sorted(seen) == [1, 1, 1, 1, 1, 3]  # a, c, g (32x32) in one call, which g fails; b and d alone
    compare(tmp_path / "host", tmp_path / "device", 0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (nvJPEG)")
def test_device_codec_inpaint_on_cuda(tmp_path: Path):
    from gantrans.engine.inpaint import InpaintOptions, InpaintTask
    from gantrans.engine.pipeline import run_pipeline

    path = tmp_path / "m.safetensors"
    gantrans.build("gated_inpaint", cnum=8, domains=("image", "completed"), device="cpu", seed=2).save(path)
    src, masks = tmp_path / "in", tmp_path / "masks"
    make_inputs(src)
    make_masks(src, masks)
    for codec, device in (("host", "cpu"), ("device", "cuda")):
        model = gantrans.load(str(path), device=device, precision="fp32")
        opts = BatchOptions(batch_size=4, codec=codec)
        s = run_pipeline(InpaintTask(model, opts, InpaintOptions(mask=masks)), collect_inputs([str(src)]), tmp_path / codec, opts.output())
        assert (s.ok, s.failed) == (6, 1)
    compare(tmp_path / "host", tmp_path / "device", 2.0)
