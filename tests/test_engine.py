"""Translator engine: exact input size, modes, batching, tiling, padding, directions."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny
from PIL import Image

import gantrans
from gantrans.engine.translator import DirectionError, pad_to
from gantrans.errors import UsageError
from gantrans.io.images import ImageError, open_image


def noise(size, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    w, h = size
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Image.fromarray(arr).convert(mode)


def test_output_matches_the_generator_forward():
    m = tiny()
    img = noise((32, 24))
    out = np.asarray(m.translate(img), dtype=np.float32)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        y = m.generator("a2b")((x - 0.5) / 0.5)
    ref = ((y[0].permute(1, 2, 0).numpy() + 1) / 2 * 255).round()
    assert np.abs(out - ref).max() <= 1


@pytest.mark.parametrize("arch", ["resnet_6blocks", "unet_128"])
def test_any_size_comes_back_unchanged(arch):
    m = tiny(arch)
    for size in [(1, 1), (3, 5), (37, 23), (130, 64), (64, 130)]:
        assert m.translate(noise(size)).size == size


def test_modes():
    m = tiny()
    rgba = noise((20, 10), "RGBA")
    rgba.putalpha(Image.fromarray(np.full((10, 20), 77, np.uint8)))
    out = m.translate(rgba)
    assert out.mode == "RGBA" and np.all(np.asarray(out)[..., 3] == 77)
    la = noise((20, 10), "LA")
    assert m.translate(la).mode == "RGBA"
    pal = noise((20, 10)).convert("P")
    pal.info["transparency"] = 0
    assert m.translate(pal).mode == "RGBA"
    assert m.translate(noise((20, 10), "CMYK")).mode == "RGB"
    assert m.translate(noise((20, 10), "L")).mode == "RGB"
    sixteen = Image.fromarray(np.linspace(0, 65535, 200).reshape(10, 20).astype(np.uint16))
    out16 = m.translate(sixteen)
    assert out16.mode == "RGB" and out16.size == (20, 10)


def test_single_channel_model():
    m = tiny(input_nc=1, output_nc=1)
    out = m.translate(noise((21, 13)))
    assert out.mode == "L" and out.size == (21, 13)


def test_batched_equals_one_by_one():
    m = tiny()
    imgs = [noise((24, 24), seed=i) for i in range(3)] + [noise((22, 23), seed=9)]  # same padded size
    batched = m.translate(imgs, batch_size=4)
    for img, b in zip(imgs, batched):
        single = m.translate(img)
        assert np.abs(np.asarray(single, dtype=int) - np.asarray(b, dtype=int)).max() <= 1


def test_resize_shorter_side():
    m = tiny()
    assert m.translate(noise((40, 20)), size=10).size == (20, 10)


def test_tiles_match_untiled_where_receptive_field_fits():
    # norm=none and few blocks: a small receptive field, so blended tiles must reproduce the whole
    m = tiny(norm="none", n_blocks=0)
    img = noise((96, 80))
    whole = np.asarray(m.translate(img), dtype=int)
    tiled = np.asarray(m.translate(img, tile=48, tile_overlap=24), dtype=int)
    assert tiled.shape == whole.shape
    assert np.abs(whole - tiled).mean() < 0.5
    big_tile = np.asarray(m.translate(img, tile=512), dtype=int)
    assert np.abs(whole - big_tile).max() <= 1


def test_pad_to_reflects_and_handles_tiny_images():
    x = torch.arange(6.0).view(1, 1, 2, 3)
    y = pad_to(x, 4, 8)
    assert y.shape == (1, 1, 4, 8)
    assert torch.equal(y[..., :2, :3], x)
    assert y[0, 0, 0, 3] == x[0, 0, 0, 1]  # reflection, not edge replication
    one = pad_to(torch.ones(1, 3, 1, 1), 4, 4)
    assert one.shape == (1, 3, 4, 4) and torch.all(one == 1)


def test_direction_errors():
    m = tiny(directions=("a2b",))
    with pytest.raises(DirectionError, match="no b2a generator"):
        m.translate(noise((8, 8)), direction="b2a")
    with pytest.raises(DirectionError, match="unknown direction"):
        m.translate(noise((8, 8)), direction="sideways")


# EXIF orientation -> the transpose that makes the stored pixels upright (EXIF 2.3, tag 0x0112)
UPRIGHT = {
    1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}  # fmt: skip


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied(orientation):
    img = noise((30, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, "PNG", exif=exif.tobytes())  # lossless, so pixels can be compared exactly
    opened, _ = open_image(buf.getvalue())
    expected = img if UPRIGHT[orientation] is None else img.transpose(UPRIGHT[orientation])
    assert opened.size == expected.size
    assert np.array_equal(np.asarray(opened), np.asarray(expected))


def test_pixel_limit_and_animation_note():
    buf = io.BytesIO()
    noise((100, 100)).save(buf, "PNG")
    with pytest.raises(ImageError, match="over the limit of 5000"):
        open_image(buf.getvalue(), max_pixels=5000)
    gif = io.BytesIO()
    frames = [noise((8, 8), seed=i).convert("P") for i in range(3)]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    _, notes = open_image(gif.getvalue())
    assert notes == ["has 3 frames; using the first"]


def test_tiles_use_whole_image_norm_statistics():
    """Instance norm: tiles normalised with whole-image statistics agree with the untiled run."""
    import os

    m = gantrans.load("noto2emojione", device="cpu")
    root = Path(__file__).resolve().parents[1] / "examples" / "emoji"
    tiles = [np.asarray(Image.open(root / f).convert("RGB").resize((96, 96))) for f in sorted(os.listdir(root))[:4]]
    big = Image.fromarray(np.concatenate([np.concatenate(tiles[:2], 1), np.concatenate(tiles[2:], 1)], 0))  # 192x192
    whole = np.asarray(m.translate(big), dtype=float)
    exact = np.asarray(m.translate(big, tile=96, tile_overlap=32), dtype=float)  # stats at full size (<= 1024)
    per_tile = np.asarray(m.translate(big, tile=96, tile_overlap=32, tile_stats=0), dtype=float)
    assert np.abs(exact - whole).mean() <= 0.5, np.abs(exact - whole).mean()
    assert np.abs(per_tile - whole).mean() > 4 * np.abs(exact - whole).mean()


def test_fast_paths_match_the_plain_path():
    """bf16 autocast (CPU) and channels_last give the fp32 result within stated tolerances."""
    root = Path(__file__).resolve().parents[1] / "examples" / "emoji"
    imgs = [Image.open(p).convert("RGB") for p in sorted(root.glob("*.png"))[:3]]
    ref = [np.asarray(o, dtype=float) for o in gantrans.load("noto2emojione", device="cpu", precision="fp32").translate(imgs)]
    bf16 = gantrans.load("noto2emojione", device="cpu", precision="bf16")
    assert bf16.dtype == torch.bfloat16
    diff = np.concatenate([np.abs(np.asarray(o, dtype=float) - r).ravel() for o, r in zip(bf16.translate(imgs), ref)])
    assert diff.mean() <= 1.0, diff.mean()  # stated tolerance: mean <= 1 level (uint8)
    cl = gantrans.load("noto2emojione", device="cpu", precision="fp32").channels_last()  # translate --channels-last
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in cl.generator("a2b").parameters() if p.ndim == 4)
    diff = np.concatenate([np.abs(np.asarray(o, dtype=float) - r).ravel() for o, r in zip(cl.translate(imgs), ref)])
    assert diff.max() <= 1.0


@pytest.mark.slow
def test_compiled_generator_matches_the_plain_path():
    """--compile (torch.compile, dynamic shapes) gives the eager result; two sizes share one compilation."""
    plain = tiny("resnet_6blocks")
    compiled = tiny("resnet_6blocks").compile()
    for side in (40, 56):
        x = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(side))
        assert torch.allclose(compiled.run(x), plain.run(x), atol=1e-4)


@pytest.mark.parametrize("arch", ["resnet_6blocks", "unet_128"])
def test_self_ensemble_averages_the_turned_outputs(arch):
    """--tta: hflip = mean of the plain and the mirrored pass; dihedral = mean over the 4 turns x mirror; any size."""
    from gantrans.engine.translator import TTA_MODES, turn, turn_back

    t = tiny(arch)
    side = t.padded(32)  # a multiple of the generator's: no padding, so the passes can be turned outside
    x = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(1))
    for mode in ("hflip", "dihedral"):
        want = torch.stack([turn_back(t.self_ensemble("none").run(turn(x, k, m)), k, m) for k, m in TTA_MODES[mode]]).mean(0)
        got = t.self_ensemble(mode).run(x)
        assert torch.allclose(got, want, atol=1e-5), mode
        assert (got - t.self_ensemble("none").run(x)).abs().mean() > 1e-3  # not the plain pass
    t.self_ensemble("dihedral")
    for h, w in ((5, 9), (37, 23)):  # padded, non-square: turned passes come back at the input's size
        assert t.run(torch.rand(1, 3, h, w)).shape == (1, 3, h, w)
    with pytest.raises(UsageError, match="use one of none, hflip, dihedral"):
        t.self_ensemble("x8")


def test_self_ensemble_of_an_upscaler_turns_the_larger_output_back():
    from gantrans.engine.translator import TTA_MODES, turn, turn_back

    t = gantrans.build("srvgg_compact", device="cpu", num_feat=8, num_conv=3, domains=("LR", "HR"), seed=1)
    with torch.no_grad():  # outputs inside [0, 1]: run() clamps, and the ensemble averages before clamping
        for p in t.generator("a2b").parameters():
            p.mul_(0.5)
    x = torch.rand(1, 3, 12, 20, generator=torch.Generator().manual_seed(2)) * 0.5 + 0.25  # non-square: turned 20 x 12
    want = torch.stack([turn_back(t.run(turn(x, k, m)), k, m) for k, m in TTA_MODES["dihedral"]]).mean(0)
    got = t.self_ensemble("dihedral").run(x)
    assert got.shape == (1, 3, 48, 80) and torch.allclose(got, want, atol=1e-5)


def test_guided_smoothing_filters_each_output_with_its_input():
    """--smooth guided = the colour-guided filter of the plain output, the input as guide; it removes texture the
    generator draws where the input is flat."""
    from gantrans.engine.smooth import guided_filter

    t = tiny("resnet_6blocks")
    x = torch.rand(2, 3, 22, 30, generator=torch.Generator().manual_seed(4))  # padded to 24 x 32 inside
    x[:, :, :, :15] = torch.tensor([0.9, 0.6, 0.2]).view(1, 3, 1, 1)  # a flat left half
    plain = t.run(x)
    got = t.smooth("guided", 2, 1e-2).run(x)
    assert (t.smoothing.radius, t.smoothing.eps, t.smoothing.threshold) == (2, 1e-2, 0.0) and got.shape == plain.shape
    assert torch.allclose(got, guided_filter(x, plain, 2, 1e-2).float(), atol=1e-6)
    flat = (slice(None), slice(None), slice(4, -4), slice(4, 11))  # inside the flat half, away from its edge
    assert got[flat].std() < 0.5 * plain[flat].std()  # the generator's texture on a flat input, mostly gone
    assert torch.equal(t.smooth("none").run(x), plain) and t.smoothing is None
    u = torch.randint(0, 256, (1, 3, 22, 30), dtype=torch.uint8)  # uint8 input: the guide is scaled to [0, 1] too
    assert torch.allclose(t.smooth("guided", 2, 1e-2).run(u), guided_filter(u / 255.0, t.smooth("none").run(u), 2, 1e-2).float(), atol=1e-6)


def test_smoothing_threshold_keeps_large_departures_sharp():
    """threshold T: the filtered output plus the part of each pixel's departure from it beyond T (RGB length), so
    a strong edge the input lacks survives (less T) while weak texture goes as with the plain filter."""
    from gantrans.engine.smooth import GuidedSmoothing, guided_filter

    guide = torch.full((1, 3, 16, 16), 0.8)  # a flat input: the filter can keep no edge of the output
    y = torch.full((1, 3, 16, 16), 0.5)
    y[..., :, 8:] = 0.1  # an edge the generator drew (0.4 per channel)
    y += 0.01 * torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))  # weak texture
    q = guided_filter(guide, y, 3, 1e-3).float()
    sharp = GuidedSmoothing(3, 1e-3, threshold=0.05)(guide, y)
    d = y - q
    length = d.norm(dim=1, keepdim=True)
    assert torch.allclose(sharp, q + d * (length - 0.05).clamp(min=0) / length, atol=1e-6)
    assert torch.equal(GuidedSmoothing(3, 1e-3)(guide, y), q)
    edge = (sharp[..., 7] - sharp[..., 8]).mean()
    assert edge > 0.3 and (q[..., 7] - q[..., 8]).mean() < 0.1  # kept sharp vs spread by the plain filter
    assert sharp[..., :, :2].std() < 0.5 * y[..., :, :2].std()  # the texture beyond the filter's reach (2 x radius) of the edge is gone


def test_tiled_smoothing_runs_once_per_tile_not_on_the_statistics_pass(monkeypatch):
    from gantrans.engine.smooth import GuidedSmoothing

    calls = []
    real = GuidedSmoothing.__call__
    monkeypatch.setattr(GuidedSmoothing, "__call__", lambda self, g, y: calls.append(tuple(y.shape)) or real(self, g, y))
    t = tiny().smooth("guided", 2, 1e-2)
    out = t.run_tiled(torch.rand(1, 3, 40, 24), "a2b", tile=24, overlap=8, stats_size=64)
    assert out.shape == (1, 3, 40, 24) and calls == [(1, 3, 24, 24), (1, 3, 24, 24)]  # two tiles, no statistics pass


def test_guided_smoothing_refuses_what_it_cannot_do():
    with pytest.raises(UsageError, match="use one of auto, none, guided"):
        tiny().smooth("median")
    with pytest.raises(UsageError, match="radius >= 1, eps > 0 and a threshold >= 0"):
        tiny().smooth("guided", 0)
    with pytest.raises(UsageError, match="radius >= 1, eps > 0 and a threshold >= 0"):
        tiny().smooth("guided", threshold=-0.1)
    with pytest.raises(UsageError, match="needs RGB input and output; this resnet_6blocks model maps 1 -> 1"):
        tiny(input_nc=1, output_nc=1).smooth("guided")
    sr = gantrans.build("srvgg_compact", device="cpu", num_feat=8, num_conv=3, domains=("LR", "HR"), seed=1)
    with pytest.raises(UsageError, match="upscales x4"):
        sr.smooth("guided")


def test_a_checkpoint_can_name_its_own_smoothing(tmp_path):
    """`postprocess` in the header: applied on load (auto), overridable, off with none; kept by save."""
    from gantrans.engine.smooth import GuidedSmoothing

    t = tiny()
    t.checkpoint.postprocess = {"smooth": "guided", "radius": 3, "eps": 0.01}
    path = t.save(tmp_path / "m.safetensors")
    u = gantrans.load(str(path), device="cpu")
    assert u.smoothing == GuidedSmoothing(3, 0.01) and u.checkpoint.postprocess == t.checkpoint.postprocess
    assert u.smooth("auto", radius=1).smoothing == GuidedSmoothing(1, 0.01)
    assert u.smooth("none").smoothing is None and tiny().smoothing is None  # no postprocess: off by default


def test_turn_back_inverts_turn():
    from gantrans.engine.translator import TTA_MODES, turn, turn_back

    x = torch.arange(2 * 3 * 5, dtype=torch.float32).view(1, 2, 3, 5)
    for k, m in TTA_MODES["dihedral"]:
        assert torch.equal(turn_back(turn(x, k, m), k, m), x)
    assert len({tuple(turn(x, k, m).flatten().tolist()) for k, m in TTA_MODES["dihedral"]}) == 8  # eight distinct


def test_tile_padding_by_index_matches_pad_to():
    """Tiles are cut from the unpadded image by index: the same pixels as padding the whole image."""
    import torch

    from gantrans.engine.tiling import pad_index
    from gantrans.engine.translator import pad_to

    for n, m in ((5, 8), (3, 16), (1, 4), (7, 7), (2, 9)):
        x = torch.arange(n, dtype=torch.float32)[None, None, None, :]
        padded = pad_to(x, 1, m)[0, 0, 0].long().numpy()
        assert (padded == pad_index(n, m)).all(), (n, m)


def test_tiled_rows_stream_the_whole_image_once(model_path):
    """Bands hand on every output row exactly once, in order, whatever the tile/overlap/size."""
    import gantrans
    from gantrans.engine.tiling import tiled_rows

    m = gantrans.load(str(model_path), device="cpu")
    rng = np.random.default_rng(0)
    for h, w, tile, ov in ((101, 67, 32, 8), (64, 200, 48, 24), (33, 33, 16, 0)):
        pix = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        got = [(y0, b.shape[1]) for y0, b in tiled_rows(m, pix, "a2b", tile, ov)]
        assert got[0][0] == 0 and all(a[0] + a[1] == b[0] for a, b in zip(got, got[1:])) and got[-1][0] + got[-1][1] == h
