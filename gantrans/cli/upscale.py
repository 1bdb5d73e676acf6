"""`gantrans upscale`: super-resolution of files, folders, globs or stdin (ESRGAN / Real-ESRGAN models)."""

from __future__ import annotations

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
    ThreadsOpt,
    TTAOpt,
    WorkersOpt,
    gather_inputs,
    handle_errors,
    read_specs,
    require,
    run_notes,
    run_task,
    use_threads,
)

Opt = typer.Option


def upscale(
    inputs: Annotated[Optional[list[str]], typer.Argument(help="Image files, folders (recursive), globs, or - for stdin.", show_default=False)] = None,
    output: Annotated[Optional[str], Opt("--output", "-o", help="Output folder (mirrors input folders), or - for PNG bytes on stdout.")] = None,
    model: ModelOpt = None,
    from_list: Annotated[Optional[str], Opt("--from-list", help="Read input paths from FILE, one per line (- for stdin; blank lines and # lines skipped).")] = None,
    outscale: Annotated[Optional[float], Opt("--outscale", "-s", help="Final scale, any number (resized after the model, Lanczos; default: the model's scale).", show_default=False)] = None,
    tile: Annotated[Optional[int], Opt("--tile", "-t", min=1, help="Run images larger than N input pixels in N x N tiles (bounded memory).")] = None,
    tile_pad: Annotated[int, Opt("--tile-pad", min=0, help="Overlap between tiles (input pixels), blended.")] = 10,
    alpha_upsampler: Annotated[str, Opt("--alpha-upsampler", help="model (the alpha runs through the model as a grey image, Real-ESRGAN's default) | bicubic.")] = "model",
    suffix: Annotated[str, Opt("--suffix", help="Appended to each output's stem.")] = "",
    ext: ExtOpt = "auto",
    overwrite: OverwriteOpt = False,
    batch_size: BatchOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    workers: WorkersOpt = 2,
    io_processes: IOProcessesOpt = 0,
    codec: CodecOpt = "host",
    tta: TTAOpt = "none",
    threads: ThreadsOpt = None,
    max_pixels: MaxPixelsOpt = 178_956_970,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Upscale images with a super-resolution model (ESRGAN, Real-ESRGAN; convert official .pth files with
    `gantrans convert`); each output is the input's size times the model's scale (or --outscale).

    Real-ESRGAN's flags: -s/--outscale, -t/--tile, --tile_pad -> --tile-pad, --suffix, --ext, --fp32 ->
    --precision fp32.

    Examples:\n
      gantrans convert RealESRGAN_x4plus.pth -o x4plus.safetensors\n
      gantrans upscale photos/ -m x4plus.safetensors -o big/ --tile 256\n
      gantrans upscale in.jpg -m x4plus.safetensors -o out -s 2
    """
    with handle_errors():
        specs, listed, to_stdout = read_specs(inputs, from_list, output)
        use_threads(threads)
        from gantrans.engine.batch import BatchOptions
        from gantrans.engine.pipeline import default_batch_size
        from gantrans.engine.upscale import UpscaleTask

        opts = BatchOptions(batch_size=batch_size or 1, tile=tile, tile_overlap=tile_pad, suffix=suffix, ext=ext,
                            overwrite=overwrite, workers=workers, io_processes=io_processes, max_pixels=max_pixels, codec=codec)  # fmt: skip
        outdir = None if to_stdout else Path(str(output))
        items = gather_inputs(specs, listed, outdir)

        import gantrans
        from gantrans.io.hub import resolve

        path = resolve(model, "upscale")
        t = gantrans.load(str(path), device=device, precision=precision)
        require(t, "upscale", path.name)
        t.self_ensemble(tta)
        if batch_size is None:
            opts.batch_size = default_batch_size(t.device)
        task = UpscaleTask(t, opts, outscale, alpha_upsampler)
        if not quiet:
            print(f"gantrans: {path.name} ({t.arch}, x{t.scale}) {t.describe()}" + run_notes(codec, tta), file=sys.stderr)
        run_task(task, items, outdir, opts.output(), verb="upscaled", device=str(t.device), json_out=json_out, quiet=quiet,
                 sink=sys.stdout.buffer if to_stdout else None)  # fmt: skip
