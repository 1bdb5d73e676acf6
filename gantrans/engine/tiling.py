"""Tiled translation with memory bounded by the tile size, not the image.

The image stays in its decoded form (uint8, or float32 for >8-bit sources); each tile is cut from it,
padded by index (the same bottom/right reflection `models.layers.pad_to` gives the whole image), run, and blended
into a buffer one band of tiles high. When a band is done, the rows no later band touches are final:
they are divided by their blend weights and handed on (written as uint8 by the caller), and only the
overlap is carried to the next band. Beyond the input and the output, memory is a band buffer
((C + 1) x tile x padded width floats) and one tile. Summation order per pixel is the same as
accumulating the whole image, so results are identical.

Instance/layer norms use whole-image statistics from one untiled pass over the image downscaled to at
most `stats_size` a side (tilestats.py); for images whose float copy would pass 64 MB (and that are more
than twice that size) the downscale starts with an integer box reduction of the decoded pixels, so no
full-size float copy is made (their statistics then differ slightly from a direct downscale).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from gantrans.engine.tilestats import NormStats

if TYPE_CHECKING:
    from gantrans.engine.translator import Translator


FLOAT_COPY_BUDGET = 64 << 20  # bytes: below this a full-size float copy for the statistics pass is fine


def ramp(length: int, overlap: int, lead: bool, trail: bool) -> torch.Tensor:
    """1-D blend weights: rising over `overlap` at a shared leading edge, falling at a trailing one."""
    w = torch.ones(length)
    if overlap > 0:
        r = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
        if lead:
            w[:overlap] = torch.minimum(w[:overlap], r)
        if trail:
            w[-overlap:] = torch.minimum(w[-overlap:], r.flip(0))
    return w


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def pad_index(n: int, m: int) -> np.ndarray:
    """Source index of each of `m` positions when `n` are padded at the end as `pad_to` does
    (reflection without the edge, in rounds when the pad exceeds the size; one element: replicated)."""
    idx = np.arange(n)
    while len(idx) < m:
        p = min(m - len(idx), len(idx) - 1)
        if p <= 0:
            return np.concatenate([idx, np.full(m - len(idx), idx[-1])])
        idx = np.concatenate([idx, idx[-2::-1][:p]])
    return idx


def to_float(pixels: np.ndarray) -> torch.Tensor:
    """(H, W, C) uint8 or float32 in [0, 1] -> (1, C, H, W) float32 in [0, 1]."""
    arr = np.ascontiguousarray(pixels)
    t = torch.from_numpy(arr if arr.flags.writeable else arr.copy()).permute(2, 0, 1)[None]
    return t.float() / 255.0 if t.dtype == torch.uint8 else t.float()


def stats_image(pixels: np.ndarray, stats_size: int) -> torch.Tensor:
    """The image at most `stats_size` a side, as the untiled statistics pass sees it (bilinear, antialiased)."""
    h, w = pixels.shape[:2]
    scale = min(1.0, stats_size / max(h, w))
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    k = int(max(h, w) // (2 * stats_size))
    if k >= 2 and pixels.dtype == np.uint8 and pixels.nbytes * 4 > FLOAT_COPY_BUDGET:
        pixels = box_reduce(pixels, k)  # no full-size float copy
    x = to_float(pixels)
    if scale == 1.0:
        return x
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


def box_reduce(pixels: np.ndarray, k: int) -> np.ndarray:
    """(H, W, C) uint8 -> (H // k, W // k, C) uint8 means of k x k blocks, a few rows of blocks at a time."""
    h, w, c = pixels.shape
    hk, wk = h // k, w // k
    out = np.empty((hk, wk, c), np.uint8)
    step = max(1, (16 << 20) // (k * w * c * 4))  # block rows per chunk: ~16 MB of float32
    for r in range(0, hk, step):
        n = min(step, hk - r)
        block = pixels[r * k : (r + n) * k, : wk * k].astype(np.float32).reshape(n, k, wk, k, c)
        out[r : r + n] = np.round(block.mean(axis=(1, 3))).astype(np.uint8)
    return out


@torch.inference_mode()
def tiled_rows(
    t: "Translator", pixels: np.ndarray, direction: str, tile: int, overlap: int = 32,
    cond: torch.Tensor | None = None, stats_size: int = 1024,
) -> Iterator[tuple[int, torch.Tensor]]:  # fmt: skip
    """(H, W, C) decoded pixels -> finished output rows, in order: (first row, (out, n, W*s) float32 on the CPU),
    s = the model's scale (1 for translation)."""
    tile = -(-max(tile, t.multiple) // t.multiple) * t.multiple
    overlap = max(0, min(overlap, tile // 2))
    h, w = pixels.shape[:2]
    norms = NormStats(t.generator(direction))
    if norms and stats_size:
        with norms.record():
            t.run(stats_image(pixels, stats_size), direction, cond, postprocess=False)  # only the statistics are kept
    hp, wp = t.padded(h), t.padded(w)
    rows, cols = pad_index(h, hp), pad_index(w, wp)
    ys, xs = tile_starts(hp, tile, overlap), tile_starts(wp, tile, overlap)
    th, tw = min(tile, hp), min(tile, wp)
    c_out, s = t.channels(direction)[1], t.scale  # super-resolution: every output length is x s
    carry: tuple[torch.Tensor, torch.Tensor] | None = None  # rows of the last band the next one also covers
    with norms.frozen() if (norms and stats_size) else contextlib.nullcontext():
        for bi, y0 in enumerate(ys):
            acc = torch.zeros(c_out, th * s, wp * s)  # (out, th*s, Wp*s) blended outputs of this band
            weight = torch.zeros(th * s, wp * s)
            if carry is not None:
                n = carry[1].shape[0]
                acc[:, :n] += carry[0]
                weight[:n] += carry[1]
            wy = ramp(th * s, overlap * s, y0 > 0, y0 + th < hp)
            band = pixels[rows[y0 : y0 + th]]  # (th, W, C): one band of source rows, padded rows included
            for x0 in xs:
                wx = ramp(tw * s, overlap * s, x0 > 0, x0 + tw < wp)
                out = t.run(to_float(band[:, cols[x0 : x0 + tw]]), direction, cond).cpu()[0]  # (out, th*s, tw*s)
                wt = wy[:, None] * wx[None, :]
                acc[:, :, x0 * s : (x0 + tw) * s] += out * wt
                weight[:, x0 * s : (x0 + tw) * s] += wt
            done = ((ys[bi + 1] - y0) if bi + 1 < len(ys) else th) * s  # output rows no later band touches
            carry = (acc[:, done:].clone(), weight[done:].clone()) if done < th * s else None
            last = min(y0 * s + done, h * s)
            if last > y0 * s:
                yield y0 * s, (acc[:, : last - y0 * s] / weight[: last - y0 * s])[..., : w * s]


@torch.inference_mode()
def padcrop_rows(
    t: "Translator", pixels: np.ndarray, direction: str, tile: int, pad: int = 10, cond: torch.Tensor | None = None,
) -> Iterator[tuple[int, torch.Tensor]]:  # fmt: skip
    """Real-ESRGAN's tiling for local models (no global statistics): each tile x tile core is run with
    `pad` pixels of real neighbourhood around it (clipped at the image border), and only the core of the
    output is kept, so with `pad` at least the receptive radius the result equals the untiled one.
    Cores and pads are multiples of the model's pad multiple (a pixel-unshuffling model groups pixels).
    Yields finished output rows as `tiled_rows` does."""
    m = t.multiple
    tile = -(-max(tile, m) // m) * m
    pad = -(-pad // m) * m
    h, w = pixels.shape[:2]
    s, c_out = t.scale, t.channels(direction)[1]
    for y0 in range(0, h, tile):
        y1 = min(h, y0 + tile)
        band = torch.empty(c_out, (y1 - y0) * s, w * s)  # (out, core rows * s, W * s)
        ya, yb = max(0, y0 - pad), min(h, y1 + pad)
        for x0 in range(0, w, tile):
            x1 = min(w, x0 + tile)
            xa, xb = max(0, x0 - pad), min(w, x1 + pad)
            out = t.run(to_float(pixels[ya:yb, xa:xb]), direction, cond).cpu()[0]  # (out, (yb-ya)*s, (xb-xa)*s)
            band[:, :, x0 * s : x1 * s] = out[:, (y0 - ya) * s : (y1 - ya) * s, (x0 - xa) * s : (x1 - xa) * s]
        yield y0 * s, band


def output_rows(
    t: "Translator", pixels: np.ndarray, direction: str, tile: int, overlap: int = 32,
    cond: torch.Tensor | None = None, stats_size: int = 1024,
) -> Iterator[tuple[int, torch.Tensor]]:  # fmt: skip
    """Finished output rows by the family's tiling: pad-and-crop for local models, blended tiles otherwise."""
    if t.family.tiling == "padcrop":
        return padcrop_rows(t, pixels, direction, tile, overlap, cond)
    return tiled_rows(t, pixels, direction, tile, overlap, cond, stats_size)


def run_tiled_uint8(
    t: "Translator", pixels: np.ndarray, direction: str, tile: int, overlap: int = 32,
    cond: torch.Tensor | None = None, stats_size: int = 1024,
) -> np.ndarray:  # fmt: skip
    """(H, W, C) decoded pixels -> (H, W, out) uint8, tile by tile (memory: input + output + one band)."""
    h, w = pixels.shape[:2]
    out = np.empty((h * t.scale, w * t.scale, t.channels(direction)[1]), np.uint8)
    for y0, block in output_rows(t, pixels, direction, tile, overlap, cond, stats_size):
        out[y0 : y0 + block.shape[1]] = (block * 255.0).round_().to(torch.uint8).permute(1, 2, 0).numpy()
    return out
