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
    strength: Annotated[Optional[float], Opt("--strength", help="Latent models: how far to move along each attribute vector (1 = to the requested value).", show_default=False)] = None,
    invert: Annotated[Optional[str], Opt("--invert", help="Latent models: image -> code by encoder | optimize | both (default: encoder if the model has one).", show_default=False)] = None,
    steps: Annotated[int, Opt("--steps", min=1, help="Latent models: optimisation steps of --invert optimize|both.")] = 100,
    seed: Annotated[int, Opt("--seed", help="Latent models: seed of the starting codes of --invert optimize.")] = 0,
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
    """Edit attributes of images with a StarGAN model, or a latent model's attribute vectors (VAE-GAN, BiGAN,
    InfoGAN: the image is encoded, its code moved from each attribute's current value to the requested one, and
    decoded); attributes not set keep the input's value.

    Examples:\n
      gantrans edit --list-attrs -m person_emoji_stargan\n
      gantrans edit face.png -m person_emoji_stargan -o out --set tone=tone_5 --set gender=gender_woman\n
      gantrans edit faces/ -m celeba.safetensors -o out --set Blond_Hair=1 --set Male=toggle --source hair=Black_Hair\n
      gantrans edit face.png -m person_emoji_stargan -o out --all\n
      gantrans edit face.png -m vaegan.safetensors -o out --set smile=1 --strength 1.5 --invert both
    """
    with handle_errors():
        use_threads(threads)
        import gantrans
        from gantrans import registry
        from gantrans.engine.edit import Editor, EditTask
        from gantrans.io.checkpoint import read_metadata
        from gantrans.io.hub import resolve

        path = resolve(model, "edit")
        if path.suffix.lower() == ".safetensors" and registry.family_of(read_metadata(path)["arch"]).role == "sampler":
            _latent(inputs, output, path, sets, list_attrs, strength, invert, steps, seed, device, precision, ext, overwrite, json_out, quiet)
            return
        latent_only = [n for n, v in (("--strength", strength), ("--invert", invert), ("--steps", steps if steps != 100 else None), ("--seed", seed or None)) if v is not None]
        if latent_only:
            fail(f"{', '.join(latent_only)} apply to latent models (VAE-GAN, BiGAN, InfoGAN); {path.name} is a StarGAN model")
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
        for msg in task.seldom():
            print(f"gantrans: warning: {msg}", file=sys.stderr)
        run_task(task, items, outdir, opts, verb="wrote", device=str(t.device), json_out=json_out, quiet=quiet)


def _latent(inputs: Optional[list[str]], output: Optional[str], path: Path, sets: Optional[list[str]], list_attrs: bool,
            strength: Optional[float], invert: Optional[str], steps: int, seed: int, device: str, precision: str, ext: str,
            overwrite: bool, json_out: bool, quiet: bool) -> None:  # fmt: skip
    """`edit` with a latent model: attribute vectors instead of StarGAN labels."""
    from gantrans.engine.latent import load_latent
    from gantrans.engine.latent_edit import LatentEditor, LatentEditTask, attr_names, parse_edits
    from gantrans.engine.pipeline import OutputOptions

    m = load_latent(str(path), device, precision)
    names = attr_names(m.checkpoint)
    if list_attrs:
        print(f"{path.name}: {len(names)} attribute vector(s)" + (": " + ", ".join(names) if names else " (add one with gantrans attributes)"))
        raise typer.Exit(EXIT_OK)
    if not inputs:
        fail("no inputs given")
    if output is None:
        fail("missing -o/--output folder")
    if not sets:
        fail("nothing to do: give --set NAME=VALUE (repeatable; see --list-attrs)")
    edits = parse_edits(m, sets)
    ed = LatentEditor(m, invert, steps, 1.0 if strength is None else strength, seed)
    outdir = Path(output)
    items = find_inputs(inputs, outdir)
    if not quiet:
        print(f"gantrans: {path.name} (latent {m.checkpoint.provenance['latent'].get('recipe')}, invert {ed.invert}) {m.describe()}", file=sys.stderr)
    run_task(LatentEditTask(ed, edits, names), items, outdir, OutputOptions(ext=ext, overwrite=overwrite, files=True), verb="wrote",
             device=str(m.device), json_out=json_out, quiet=quiet)  # fmt: skip
