"""`gantrans stylize`: closed-form photorealistic (PhotoWCT) or artistic (WCT) style transfer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from gantrans.cli.common import (
    BatchOpt,
    DeviceOpt,
    ExtOpt,
    JsonOpt,
    ModelOpt,
    OverwriteOpt,
    PrecisionOpt,
    QuietOpt,
    ThreadsOpt,
    fail,
    find_inputs,
    handle_errors,
    run_task,
    use_threads,
)  # fmt: skip

Opt = typer.Option
def stylize(
    inputs: Annotated[list[str], typer.Argument(help="Content images: files, folders (recursive) or globs.", show_default=False)],
    style: Annotated[Optional[list[str]], Opt("--style", "-s", help="Style image (repeatable: one output per style).")] = None,
    output: Annotated[Optional[str], Opt("--output", "-o", help="Output folder: {stem}_{style stem}.png")] = None,
    model: ModelOpt = None,
    alpha: Annotated[float, Opt("--alpha", min=0.0, max=1.0, help="Style strength: 1 full style, 0 the content's own features.")] = 1.0,
    content_seg: Annotated[Optional[str], Opt("--content-seg", help="Label map of the content (a file for one image, or a folder of maps named like the images).")] = None,
    style_seg: Annotated[Optional[list[str]], Opt("--style-seg", help="Label map of each --style, in order: regions transfer label to label.")] = None,
    smooth: Annotated[str, Opt("--smooth", help="auto (fast for PhotoWCT, none for WCT) | none | fast (guided filter) | exact (matting propagation).")] = "auto",
    max_size: Annotated[int, Opt("--max-size", min=0, help="Work with the longer side at most N pixels, upsample the result back (0: full size).")] = 960,
    beta: Annotated[float, Opt("--beta", help="--smooth exact: propagation strength (official 0.9999).")] = 0.9999,
    batch_size: BatchOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    ext: ExtOpt = "png",
    overwrite: OverwriteOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Give content photos the look of a style photo (PhotoWCT/WCT: no training on the style).

    Needs a WCT/PhotoWCT model, e.g. FastPhotoStyle's photo_wct.pth converted with
    `gantrans convert photo_wct.pth --from photowct -o photowct.safetensors`.

    Examples:\n
      gantrans stylize photo.jpg -s sunset.jpg -m photowct.safetensors -o out\n
      gantrans stylize photos/ -s night.jpg -s snow.jpg -m photowct.safetensors -o out --smooth exact\n
      gantrans stylize in.png -s ref.png --content-seg in_seg.png --style-seg ref_seg.png -m photowct.safetensors -o out
    """
    with handle_errors():
        use_threads(threads)
        if output is None:
            fail("missing -o/--output folder")
        if not style:
            fail("missing --style image")
        if style_seg and len(style_seg) != len(style):
            fail(f"give one --style-seg per --style ({len(style)} styles, {len(style_seg)} label maps)")
        if style_seg and not content_seg:
            fail("--style-seg needs --content-seg (the content's label map)")
        if content_seg and not style_seg:
            fail("--content-seg needs --style-seg (the style's label map)")
        from gantrans.engine.pipeline import OutputOptions, default_batch_size
        from gantrans.engine.stylize import StylizeOptions, StylizeTask, load_styles, stylizer

        opts = StylizeOptions(alpha=alpha, smooth=smooth, max_size=max_size or None, beta=beta)
        out_opts = OutputOptions(ext=ext, overwrite=overwrite)
        outdir = Path(output)
        items = find_inputs(inputs, outdir)
        for p in [*style, *(style_seg or []), *([content_seg] if content_seg else [])]:
            if not Path(p).exists():
                fail(f"{p}: no such file or directory")

        from gantrans.io.hub import resolve

        path = resolve(model, "stylize")
        s = stylizer(str(path), device=device, precision=precision)
        styles = load_styles(s, style, style_seg, opts)
        if not quiet:
            print(f"gantrans: {path.name} ({s.arch}, smooth {s.smooth_mode(opts)}) {s.describe()}", file=sys.stderr)
        task = StylizeTask(s, styles, opts, Path(content_seg) if content_seg else None, len(items) == 1, batch_size or default_batch_size(s.device))
        run_task(task, items, outdir, out_opts, verb="wrote", device=str(s.device), json_out=json_out, quiet=quiet)
