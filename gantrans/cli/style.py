"""`gantrans style-sample`: many styles of each input with a MUNIT model (seeds or reference images)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from gantrans.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    BatchOpt,
    DeviceOpt,
    JsonOpt,
    ModelOpt,
    PrecisionOpt,
    QuietOpt,
    fail,
    handle_errors,
    reporter,
    require,
    summary_line,
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
    size: Annotated[Optional[int], Opt("--size", min=1, help="Resize the shorter side to N first.")] = None,
    ext: Annotated[str, Opt("--ext", help="png | jpg | webp.")] = "png",
    overwrite: Annotated[bool, Opt("--overwrite", help="Replace existing outputs (default: skip them).")] = False,
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
        if output is None:
            fail("missing -o/--output folder")
        from gantrans.engine.batch import collect_inputs, default_batch_size
        from gantrans.engine.multi import MultiOptions, run_multi
        from gantrans.engine.styles import (
            Style,
            parse_seeds,
            reference_styles,
            seed_styles,
            style_producer,
        )
        from gantrans.engine.styles import interpolate as walk

        opts = MultiOptions(ext=ext, overwrite=overwrite, grid=grid, files=not grid, size=size)
        outdir = Path(output)
        items = collect_inputs(inputs, exclude=outdir)
        if not items:
            fail("no image files found in the given inputs")
        seed_list = parse_seeds(seeds) if seeds else None
        if style_from and seed_list:
            fail("give --seeds or --style-from, not both")

        import gantrans
        from gantrans.io.hub import resolve

        path = resolve(model)
        t = gantrans.load(str(path), device=device, precision=precision)
        require(t, "style-sample", path.name, "use gantrans translate")
        t.generator(direction)
        if not quiet:
            print(f"gantrans: {path.name} ({t.arch}, {direction}) {t.describe()}", file=sys.stderr)

        if style_from:
            shared: list[Style] | None = reference_styles(t, style_from, direction)
        elif seed_list is not None:
            shared = seed_styles(t, seed_list)
        elif synchronized or interpolate:
            shared = seed_styles(t, range(seed, seed + (2 if interpolate else num_styles)))
        else:
            shared = None  # input i: seeds seed + i*K ... seed + i*K + K-1
        if interpolate:
            if shared is None or len(shared) != 2:
                fail("--interpolate walks between exactly two styles: --seeds A,B or two --style-from images")
            shared = walk(shared[0], shared[1], steps)

        def styles_for(i: int) -> list[Style]:
            return shared if shared is not None else seed_styles(t, range(seed + i * num_styles, seed + (i + 1) * num_styles))

        k = len(shared) if shared is not None else num_styles
        bs = batch_size or default_batch_size(t.device)
        opts.group = max(1, bs // k)
        produce = style_producer(t, direction, styles_for, bs)
        t0 = time.perf_counter()
        summary = run_multi(items, outdir, opts, lambda img, sz, _: t.prepare(img, sz, direction), produce, reporter(json_out, quiet, str(t.device)))
        if not quiet or summary.failed:
            print(summary_line("wrote", summary, time.perf_counter() - t0), file=sys.stderr)
        raise typer.Exit(EXIT_FAILED if summary.failed else EXIT_OK)
