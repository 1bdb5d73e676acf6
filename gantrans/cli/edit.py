"""`gantrans edit`: switch attributes of images with a StarGAN model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from gantrans.cli.common import (
    EXIT_OK,
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
    require,
    run_task,
    use_threads,
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
    threads: ThreadsOpt = None,
    size: Annotated[Optional[int], Opt("--size", min=0, help="Resize the shorter side to N first (default: the model's training size; 0 keeps the input size).")] = None,
    ext: ExtOpt = "png",
    overwrite: OverwriteOpt = False,
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
        use_threads(threads)
        import gantrans
        from gantrans.engine.edit import Editor, EditTask
        from gantrans.io.hub import resolve

        path = resolve(model, "edit")
        t = gantrans.load(str(path), device=device, precision=precision)
        require(t, "edit", path.name)
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

        from gantrans.engine.pipeline import OutputOptions, default_batch_size

        outdir = Path(output)
        items = find_inputs(inputs, outdir)
        train_size = t.checkpoint.preprocess.get("size")
        size = train_size if size is None else (size or None)
        opts = OutputOptions(ext=ext, overwrite=overwrite, grid=all_changes, files=True)
        if not quiet:
            print(f"gantrans: {path.name} ({t.arch}) {t.describe()}", file=sys.stderr)
        task = EditTask(ed, ops, given, all_changes, size, batch_size or default_batch_size(t.device))
        run_task(task, items, outdir, opts, verb="wrote", device=str(t.device), json_out=json_out, quiet=quiet)
