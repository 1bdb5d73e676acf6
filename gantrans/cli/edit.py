"""`gantrans edit`: switch attributes of images with a StarGAN model."""

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


def edit(
    inputs: Annotated[Optional[list[str]], typer.Argument(help="Image files, folders (recursive) or globs.", show_default=False)] = None,
    output: Annotated[Optional[str], Opt("--output", "-o", help="Output folder: {stem}_Blond_Hair-1_Male-0.png, ...")] = None,
    model: ModelOpt = None,
    sets: Annotated[Optional[list[str]], Opt("--set", help="NAME=1|0|toggle for an attribute, GROUP=NAME for an exclusive group (repeatable, combined).")] = None,
    source: Annotated[Optional[list[str]], Opt("--source", help="The input's current NAME=VALUE / GROUP=NAME (default: predicted by the model's classifier).")] = None,
    all_changes: Annotated[bool, Opt("--all", help="The StarGAN strip: every single-attribute change, as files and as one {stem}_grid.png.")] = False,
    list_attrs: Annotated[bool, Opt("--list-attrs", help="Print the model's attributes and groups, then exit.")] = False,
    batch_size: BatchOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    size: Annotated[Optional[int], Opt("--size", min=0, help="Resize the shorter side to N first (default: the model's training size; 0 keeps the input size).")] = None,
    ext: Annotated[str, Opt("--ext", help="png | jpg | webp.")] = "png",
    overwrite: Annotated[bool, Opt("--overwrite", help="Replace existing outputs (default: skip them).")] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Edit attributes of images with a StarGAN model; attributes not set keep the input's value.

    Examples:\n
      gantrans edit --list-attrs -m person_emoji_stargan\n
      gantrans edit face.png -m person_emoji_stargan -o out --set tone=tone_5 --set gender=gender_woman\n
      gantrans edit faces/ -m celeba.safetensors -o out --set Blond_Hair=1 --set Male=toggle --source hair=Black_Hair\n
      gantrans edit face.png -m person_emoji_stargan -o out --all
    """
    with handle_errors():
        import gantrans
        from gantrans.engine.edit import Editor, edit_producer
        from gantrans.io.hub import resolve

        path = resolve(model)
        t = gantrans.load(str(path), device=device, precision=precision)
        require(t, "edit", path.name, "use gantrans translate or style-sample")
        ed = Editor(t)
        if list_attrs:
            print(f"{path.name}: {len(ed.schema.attrs)} attributes" + (", classifier stored" if ed.classifier is not None else ", no classifier (use --source)"))
            print("\n".join(ed.schema.describe()))
            raise typer.Exit(EXIT_OK)
        if not inputs:
            fail("no inputs given")
        if output is None:
            fail("missing -o/--output folder")
        if not sets and not all_changes:
            fail("nothing to do: give --set NAME=VALUE (repeatable) or --all (see --list-attrs)")
        if sets and all_changes:
            fail("--all makes every single change itself; give --set or --all, not both")
        ops = ed.schema.parse(sets or [])
        given = ed.schema.parse_source(source or [])

        from gantrans.engine.batch import collect_inputs, default_batch_size
        from gantrans.engine.multi import MultiOptions, run_multi

        outdir = Path(output)
        items = collect_inputs(inputs, exclude=outdir)
        if not items:
            fail("no image files found in the given inputs")
        train_size = t.checkpoint.preprocess.get("size")
        size = train_size if size is None else (size or None)
        opts = MultiOptions(ext=ext, overwrite=overwrite, grid=all_changes, files=True, size=size)
        bs = batch_size or default_batch_size(t.device)
        opts.group = bs
        if not quiet:
            print(f"gantrans: {path.name} ({t.arch}) {t.describe()}", file=sys.stderr)
        t0 = time.perf_counter()
        produce = edit_producer(ed, ops, given, all_changes, bs)
        summary = run_multi(items, outdir, opts, lambda img, sz, _: t.prepare(img, sz), produce, reporter(json_out, quiet, str(t.device)))
        if not quiet or summary.failed:
            print(summary_line("wrote", summary, time.perf_counter() - t0), file=sys.stderr)
        raise typer.Exit(EXIT_FAILED if summary.failed else EXIT_OK)
