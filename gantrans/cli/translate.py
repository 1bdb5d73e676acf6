"""`gantrans translate`: files, folders, globs or stdin through a generator, at each image's own size."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from gantrans.cli.common import (
    BatchOpt,
    CodecOpt,
    DeviceOpt,
    ExtOpt,
    IOProcessesOpt,
    JsonOpt,
    MaxPixelsOpt,
    ModelOpt,
    OverwriteOpt,
    PrecisionOpt,
    QuietOpt,
    SizeOpt,
    ThreadsOpt,
    TTAOpt,
    WorkersOpt,
    fail,
    gather_inputs,
    handle_errors,
    read_specs,
    require,
    run_notes,
    run_task,
    use_threads,
)


def translate(
    inputs: Annotated[Optional[list[str]], typer.Argument(help="Image files, folders (recursive), globs, or - for stdin.", show_default=False)] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Output folder (mirrors input folders), or - for PNG bytes on stdout.")] = None,
    model: ModelOpt = None,
    from_list: Annotated[Optional[str], typer.Option("--from-list", help="Read input paths from FILE, one per line (- for stdin; blank lines and lines starting with # are skipped).")] = None,
    direction: Annotated[str, typer.Option("--direction", "-d", help="a2b (G_A) or b2a (G_B).")] = "a2b",
    batch_size: BatchOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    workers: WorkersOpt = 2,
    io_processes: IOProcessesOpt = 0,
    codec: CodecOpt = "host",
    tta: TTAOpt = "none",
    smooth: Annotated[str, typer.Option("--smooth", help="auto (the model's own post-processing, if its file names one) | none | guided (guided filter: the input guides the output, removing texture the generator adds where the input is flat).")] = "auto",
    smooth_radius: Annotated[Optional[int], typer.Option("--smooth-radius", min=1, help="--smooth guided: window radius in pixels (default: the model's, else 4).")] = None,
    smooth_eps: Annotated[Optional[float], typer.Option("--smooth-eps", help="--smooth guided: regularisation on [0, 1] values; larger keeps less of the generator's own edges (default: the model's, else 1e-3).")] = None,
    smooth_threshold: Annotated[Optional[float], typer.Option("--smooth-threshold", help="--smooth guided: departures of the output from the filtered one longer than this (RGB, [0, 1] values) are kept, less it, so edges the input lacks stay sharp; 0 = the plain filter (default: the model's, else 0).")] = None,
    threads: ThreadsOpt = None,
    size: SizeOpt = None,
    tile: Annotated[Optional[int], typer.Option("--tile", min=1, help="Process images larger than N pixels in N x N tiles (bounded memory).")] = None,
    tile_overlap: Annotated[int, typer.Option("--tile-overlap", min=0, help="Overlap between tiles, blended linearly.")] = 32,
    tile_stats: Annotated[int, typer.Option("--tile-stats-size", min=0, help="With --tile: instance-norm statistics from the whole image downscaled to N px a side (0: per tile).")] = 1024,
    suffix: Annotated[str, typer.Option("--suffix", help="Appended to each output's stem.")] = "",
    ext: ExtOpt = "auto",
    overwrite: OverwriteOpt = False,
    max_pixels: MaxPixelsOpt = 178_956_970,
    style_from: Annotated[Optional[str], typer.Option("--style-from", help="MUNIT: take the style from this image of the target domain.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="MUNIT: seed of each image's random style (drawn on the CPU: the same on any device).")] = 0,
    compile_: Annotated[bool, typer.Option("--compile", help="torch.compile the generator (first batch compiles; on CPU needs a C++ compiler).")] = False,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="Run convolutions in the NHWC layout (faster for some models and devices; see benchmarks).")] = False,
    shard: Annotated[Optional[str], typer.Option("--shard", help="I/N: process only shard I (0-based) of N of the inputs (under torchrun: RANK/WORLD_SIZE).")] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Translate images with a generator; each output has its input's size.

    MUNIT models get one random style per image (from --seed and the image's name), or the style of
    --style-from; for many styles per image use `gantrans style-sample`.

    Examples:\n
      gantrans translate photos/ -m horse2zebra.safetensors -o out/\n
      cat in.png | gantrans translate - -m model.safetensors -o - > out.png
    """
    with handle_errors():
        specs, listed, to_stdout = read_specs(inputs, from_list, output)
        use_threads(threads)
        from gantrans.engine.batch import BatchOptions, TranslateTask
        from gantrans.engine.pipeline import default_batch_size

        opts = BatchOptions(
            direction=direction, batch_size=batch_size or 1, size=size, tile=tile, tile_overlap=tile_overlap, tile_stats=tile_stats,
            suffix=suffix, ext=ext, overwrite=overwrite, workers=workers, io_processes=io_processes, max_pixels=max_pixels, codec=codec,
        )  # fmt: skip
        outdir = None if to_stdout else Path(str(output))
        items = gather_inputs(specs, listed, outdir)
        index, count = _shard(shard)
        if count > 1:
            from gantrans.io.images import shard_items

            items = shard_items(items, index, count)
            if device == "auto":
                device = _local_device()

        import gantrans
        from gantrans.io.hub import resolve

        path = resolve(model)
        translator = gantrans.load(str(path), device=device, precision=precision)
        require(translator, "translate", path.name)
        translator.generator(direction)
        translator.self_ensemble(tta)
        translator.smooth(smooth, smooth_radius, smooth_eps, smooth_threshold)
        if translator.smoothing is None and (smooth_radius, smooth_eps, smooth_threshold) != (None, None, None):
            fail(f"--smooth-radius/--smooth-eps/--smooth-threshold set the guided filter, which is off here (--smooth {smooth}); add --smooth guided")
        if channels_last:
            translator.channels_last()
        if compile_:
            translator.compile()
        opts.cond_for = translator.family.item_conds(translator, direction, seed, style_from)
        if batch_size is None:
            opts.batch_size = default_batch_size(translator.device)
        if not quiet:
            print(f"gantrans: {path.name} ({translator.arch}, {direction}) {translator.describe()}" + (" channels_last" if channels_last else "") + (" compiled" if compile_ else "") + run_notes(codec, tta, translator.smoothing), file=sys.stderr)
        run_task(TranslateTask(translator, opts), items, outdir, opts.output(), verb="translated", device=str(translator.device),
                 json_out=json_out, quiet=quiet, sink=sys.stdout.buffer if to_stdout else None)


def _shard(spec: str | None) -> tuple[int, int]:
    """--shard I/N, else torchrun's RANK/WORLD_SIZE, else (0, 1)."""

    if spec is None:
        return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    i, sep, n = spec.partition("/")
    if not sep or not i.isdigit() or not n.isdigit() or not 0 <= int(i) < int(n):
        fail(f"--shard {spec!r}: expected I/N with 0 <= I < N, e.g. 0/4")
    return int(i), int(n)


def _local_device() -> str:
    """Under torchrun each process takes its own GPU (LOCAL_RANK)."""

    import torch

    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0)) % torch.cuda.device_count()}"
    return "auto"
