"""`gantrans style-sample`: many styles of each input with a MUNIT model (seeds or reference images)."""

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
    SizeOpt,
    ThreadsOpt,
    fail,
    find_inputs,
    handle_errors,
    require,
    run_task,
    use_threads,
)  # fmt: skip

Opt = typer.Option


def style_sample(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders (recursive) or globs.", show_default=False)],
    output: Annotated[Optional[str], Opt("--output", "-o", help="Output folder: {stem}_s0042.png, {stem}_ref-NAME.png, ...")] = None,
    model: ModelOpt = None,
    direction: Annotated[str, Opt("--direction", "-d", help="a2b or b2a.")] = "a2b",
    num_styles: Annotated[int, Opt("--num-styles", "-n", min=1, help="Random styles per input (seeds S .. S+K-1).")] = 8,
    seeds: Annotated[Optional[str], Opt("--seeds", help="Explicit style seeds, e.g. 0-7,42 (the same for every input).")] = None,
    seed: Annotated[int, Opt("--seed", help="First seed for -n.")] = 0,
    style_from: Annotated[Optional[list[str]], Opt("--style-from", help="Reference image of the target domain (repeatable): one output per reference.")] = None,
    synchronized: Annotated[bool, Opt("--synchronized", help="The same K styles for every input (default: each input its own seeds).")] = False,
    grid: Annotated[bool, Opt("--grid", help="One PNG per input: the input, then its outputs, side by side.")] = False,
    interpolate: Annotated[bool, Opt("--interpolate", help="Walk between two styles (two seeds or two --style-from images).")] = False,
    steps: Annotated[int, Opt("--steps", min=2, help="Images along an --interpolate walk.")] = 8,
    batch_size: BatchOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    size: SizeOpt = None,
    ext: ExtOpt = "png",
    overwrite: OverwriteOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Sample many translations of each input with a MUNIT model: random styles by seed, or the styles of reference images.

    A seed gives the same style code on any device (drawn on the CPU), so reruns give identical files.

    Examples:\n
      gantrans style-sample shoe.png -m munit.safetensors -o out -n 8\n
      gantrans style-sample edges/ -m munit.safetensors -o out --seeds 0-3,42 --synchronized --grid\n
      gantrans style-sample A.png -m glyphs_munit -o out --style-from ref1.png --style-from ref2.png\n
      gantrans style-sample A.png -m glyphs_munit -o out --interpolate --seeds 1,2 --steps 10
    """
    with handle_errors():
        use_threads(threads)
        if output is None:
            fail("missing -o/--output folder")
        from gantrans.engine.pipeline import OutputOptions, default_batch_size
        from gantrans.engine.styles import StyleTask, parse_seeds, plan_styles

        opts = OutputOptions(ext=ext, overwrite=overwrite, grid=grid, files=not grid)
        outdir = Path(output)
        items = find_inputs(inputs, outdir)
        seed_list = parse_seeds(seeds) if seeds else None
        if style_from and seed_list:
            fail("give --seeds or --style-from, not both")

        import gantrans
        from gantrans.io.hub import resolve

        path = resolve(model, "style-sample")
        t = gantrans.load(str(path), device=device, precision=precision)
        require(t, "style-sample", path.name)
        t.generator(direction)
        if not quiet:
            print(f"gantrans: {path.name} ({t.arch}, {direction}) {t.describe()}", file=sys.stderr)
        plan = plan_styles(t, direction, num_styles, seed_list, seed, style_from, synchronized, interpolate, steps)
        task = StyleTask(t, plan, direction, size, batch_size or default_batch_size(t.device))
        run_task(task, items, outdir, opts, verb="wrote", device=str(t.device), json_out=json_out, quiet=quiet)
