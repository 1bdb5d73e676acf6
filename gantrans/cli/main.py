"""The `gantrans` command."""

from __future__ import annotations

from typing import Annotated

import typer

from gantrans import __version__
from gantrans.cli.attributes import attributes
from gantrans.cli.convert import convert
from gantrans.cli.edit import edit
from gantrans.cli.evaluate import evaluate
from gantrans.cli.export import export
from gantrans.cli.inpaint import inpaint
from gantrans.cli.inspect import download, info, models
from gantrans.cli.sample import sample
from gantrans.cli.serve import serve
from gantrans.cli.style import style_sample
from gantrans.cli.stylize import stylize
from gantrans.cli.train import train
from gantrans.cli.translate import translate
from gantrans.cli.upscale import upscale

app = typer.Typer(
    name="gantrans",
    help="GAN image-to-image translation: translate folders of images, sample styles (MUNIT), edit attributes (StarGAN), photorealistic style transfer (PhotoWCT), upscale (ESRGAN), fill holes (DeepFill v2), train your own models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("translate", no_args_is_help=True)(translate)
app.command("upscale", no_args_is_help=True)(upscale)
app.command("inpaint", no_args_is_help=True)(inpaint)
app.command("style-sample", no_args_is_help=True)(style_sample)
app.command("sample", no_args_is_help=True)(sample)
app.command("edit", no_args_is_help=True)(edit)
app.command("attributes", no_args_is_help=True)(attributes)
app.command("stylize", no_args_is_help=True)(stylize)
app.command("train", no_args_is_help=True)(train)
app.command("convert", no_args_is_help=True)(convert)
app.command("info", no_args_is_help=True)(info)
app.command("models")(models)
app.command("download", no_args_is_help=True)(download)
app.command("export", no_args_is_help=True)(export)
app.command("eval", no_args_is_help=True)(evaluate)
app.command("serve")(serve)


def _version(value: bool) -> None:
    if value:
        print(f"gantrans {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
    offline: Annotated[bool, typer.Option("--offline", help="Never contact the model hub: hf:// models must be in the local cache (same as HF_HUB_OFFLINE=1).")] = False,
) -> None:
    """GAN image-to-image translation."""
    if offline:
        import os

        os.environ["HF_HUB_OFFLINE"] = "1"  # read by gantrans.io.hub at call time


def main() -> None:
    app()
