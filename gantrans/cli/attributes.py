"""`gantrans attributes`: add an attribute vector to a latent model from two folders of examples."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from gantrans.cli.common import EXIT_OK, DeviceOpt, OverwriteOpt, QuietOpt, fail, handle_errors

Opt = typer.Option


def attributes(
    model: Annotated[str, Opt("--model", "-m", help="A latent model with an encoder (VAE-GAN, BiGAN): path, bundled name or hf://.")],
    add: Annotated[Optional[str], Opt("--add", help="Name of the attribute to add (or replace).", show_default=False)] = None,
    with_dir: Annotated[Optional[str], Opt("--with", help="Folder of images that have the attribute.", show_default=False)] = None,
    without_dir: Annotated[Optional[str], Opt("--without", help="Folder of images that do not.", show_default=False)] = None,
    output: Annotated[Optional[str], Opt("--output", "-o", help="The new model file (.safetensors).", show_default=False)] = None,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
) -> None:
    """Store an attribute vector in a latent model: mean code of the --with images minus that of the --without
    images (and where both groups lie on it), so `gantrans edit --set NAME=1` can move any image's code along it.

    Examples:\n
      gantrans attributes -m vaegan.safetensors --add smile --with smiling/ --without neutral/ -o vaegan_smile.safetensors\n
      gantrans edit face.png -m vaegan_smile.safetensors -o out --set smile=1
    """
    with handle_errors():
        if not (add and with_dir and without_dir and output):
            fail("give --add NAME --with DIR --without DIR -o NEW_MODEL")
        if not add.replace("_", "").replace("-", "").isalnum():
            fail(f"--add {add!r}: use letters, digits, _ and -")
        out = Path(output)
        if out.exists() and not overwrite:
            fail(f"{out} exists (use --overwrite)")
        from gantrans.engine.latent import load_latent
        from gantrans.engine.latent_edit import add_attribute, attribute_vector, load_folder
        from gantrans.io.checkpoint import save_checkpoint

        m = load_latent(model, device, "fp32")
        ch = m.checkpoint.config.img_ch
        yes, no = load_folder(with_dir, m.size, ch), load_folder(without_dir, m.size, ch)
        v, low, high = attribute_vector(m, yes, no)
        save_checkpoint(add_attribute(m.checkpoint, add, v, low, high), out)
        if not quiet:
            print(f"{add}: {len(yes)} with, {len(no)} without; |vector| {float(v.norm()):.3f}, groups {high - low:.3f} apart along it", file=sys.stderr)
        print(out)
        raise typer.Exit(EXIT_OK)
