"""`gantrans inpaint`: fill holes in files, folders, globs or stdin (DeepFill v2 models)."""

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
    fail,
    gather_inputs,
    handle_errors,
    read_specs,
    require,
    run_notes,
    run_task,
    use_threads,
)

Opt = typer.Option


def inpaint(
    inputs: Annotated[Optional[list[str]], typer.Argument(help="Image files, folders (recursive), globs, or - for stdin.", show_default=False)] = None,
    output: Annotated[Optional[str], Opt("--output", "-o", help="Output folder (mirrors input folders), or - for PNG bytes on stdout.")] = None,
    model: ModelOpt = None,
    mask: Annotated[Optional[Path], Opt("--mask", help="One mask for every input, or a folder of masks matched by relative path or stem (img.png or img_mask.png); white (non-zero) = hole.", show_default=False)] = None,
    mask_from_alpha: Annotated[bool, Opt("--mask-from-alpha", help="The input's transparent pixels (alpha < 128) are the hole; the output is opaque.")] = False,
    dilate: Annotated[int, Opt("--dilate", min=0, help="Grow every mask by N pixels.")] = 0,
    hd_strategy: Annotated[str, Opt("--hd-strategy", help="Images larger than --crop-trigger: crop (the box around the hole + margin) | resize (the whole image at --resize-limit) | original.")] = "crop",
    crop_trigger: Annotated[int, Opt("--crop-trigger", min=16, help="Longer side above which --hd-strategy applies (contextual attention memory grows with the 4th power of the side).")] = 512,
    crop_margin: Annotated[int, Opt("--crop-margin", min=0, help="Context around the hole for --hd-strategy crop (pixels).")] = 128,
    resize_limit: Annotated[int, Opt("--resize-limit", min=16, help="Longer side the model runs at when a hole's box (crop) or the image (resize) is larger.")] = 512,
    blend: Annotated[str, Opt("--blend", help="How a fill meets the known pixels: model (the checkpoint's setting; the bundled model: poisson) | poisson (seamless cloning: the fill shifted by a harmonic correction, no seam) | none (as generated, the official DeepFill v2).")] = "model",
    from_list: Annotated[Optional[str], Opt("--from-list", help="Read input paths from FILE, one per line (- for stdin; blank lines and # lines skipped).")] = None,
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
    """Fill the holes of images (white in the mask) with an inpainting model; every pixel outside the hole is kept
    exactly.

    IOPaint's flags: --image -> INPUTS, --mask -> --mask, --output -> -o, hd_strategy Crop/Resize/Original ->
    --hd-strategy crop|resize|original, hd_strategy_crop_margin -> --crop-margin, hd_strategy_crop_trigger_size
    -> --crop-trigger, hd_strategy_resize_limit -> --resize-limit.

    Examples:\n
      gantrans inpaint photo.jpg --mask mask.png -o out\n
      gantrans inpaint photos/ --mask masks/ -o out --dilate 4\n
      gantrans inpaint cut.png --mask-from-alpha -o - > filled.png
    """
    with handle_errors():
        specs, listed, to_stdout = read_specs(inputs, from_list, output)
        use_threads(threads)
        from gantrans.engine.batch import BatchOptions
        from gantrans.engine.inpaint import InpaintOptions, InpaintTask
        from gantrans.engine.pipeline import default_batch_size

        iopts = InpaintOptions(mask=mask, mask_from_alpha=mask_from_alpha, dilate=dilate, hd_strategy=hd_strategy,
                               crop_trigger=crop_trigger, crop_margin=crop_margin, resize_limit=resize_limit)  # fmt: skip
        opts = BatchOptions(batch_size=batch_size or 1, suffix=suffix, ext=ext, overwrite=overwrite, workers=workers, io_processes=io_processes, max_pixels=max_pixels, codec=codec)
        outdir = None if to_stdout else Path(str(output))
        items = gather_inputs(specs, listed, outdir)

        import gantrans
        from gantrans.io.checkpoint import OptionError
        from gantrans.io.hub import resolve

        if blend not in ("model", "poisson", "none"):
            fail("--blend must be model, poisson or none")
        path = resolve(model, "inpaint")
        try:
            t = gantrans.load(str(path), device=device, precision=precision, config=None if blend == "model" else {"blend": blend})
        except OptionError as e:
            fail(f"--blend: {e}")
        require(t, "inpaint", path.name)
        t.self_ensemble(tta)
        if batch_size is None:
            opts.batch_size = default_batch_size(t.device)
        if not quiet:
            print(f"gantrans: {path.name} ({t.arch}) {t.describe()}" + run_notes(codec, tta), file=sys.stderr)
        run_task(InpaintTask(t, opts, iopts), items, outdir, opts.output(), verb="inpainted", device=str(t.device), json_out=json_out,
                 quiet=quiet, sink=sys.stdout.buffer if to_stdout else None)  # fmt: skip
