"""`gantrans convert`: official CycleGAN/pix2pix .pth generators -> one self-describing .safetensors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from gantrans.cli.common import QuietOpt, fail, handle_errors


def convert(
    sources: Annotated[list[Path], typer.Argument(help="Official generator file(s): latest_net_G.pth, or latest_net_G_A.pth and latest_net_G_B.pth.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="The .safetensors file to write.")],
    source: Annotated[str, typer.Option("--from", help="cyclegan | pix2pix (munit, unit, stargan: not yet).")] = "cyclegan",
    netG: Annotated[Optional[str], typer.Option("--netG", help="resnet_9blocks | resnet_6blocks | unet_256 | unet_128 (default: inferred).")] = None,
    norm: Annotated[Optional[str], typer.Option("--norm", help="instance | batch | none (default: inferred).")] = None,
    ngf: Annotated[Optional[int], typer.Option("--ngf", min=1, help="Default: inferred.")] = None,
    dropout: Annotated[Optional[bool], typer.Option("--dropout/--no-dropout", show_default=False, help="Default: inferred (ResNet) or the model's default.")] = None,
    domains: Annotated[str, typer.Option("--domains", help="Names of domains A and B.")] = "A,B",
    license: Annotated[Optional[str], typer.Option("--license", help="Licence recorded in the metadata, e.g. BSD-3-Clause.")] = None,
    image_size: Annotated[int, typer.Option("--image-size", min=1, help="Training image size recorded in the metadata.")] = 256,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Convert official checkpoints; the file is read with weights_only=True (no pickled code runs).

    Example:\n
      gantrans convert horse2zebra.pth -o horse2zebra.safetensors --from cyclegan --domains horse,zebra
    """
    with handle_errors():
        names = [d.strip() for d in domains.split(",")]
        if len(names) != 2 or not all(names):
            fail("--domains takes two names: A,B")
        if output.exists() and not overwrite:
            fail(f"{output} exists (use --overwrite)")
        for src in sources:
            if not src.is_file():
                fail(f"{src}: no such file")
        from gantrans.engine.convert import ConvertOptions, convert_official
        from gantrans.io.checkpoint import save_checkpoint

        opts = ConvertOptions(source=source, netG=netG, norm=norm, ngf=ngf, dropout=dropout, domains=(names[0], names[1]), license=license, size=image_size)
        result = convert_official(list(sources), opts)
        save_checkpoint(result.checkpoint, output)
        if not quiet:
            for note in result.inferred:
                print(f"inferred: {note}", file=sys.stderr)
            print(f"wrote {output} ({result.checkpoint.arch}, {', '.join(result.checkpoint.networks)})", file=sys.stderr)
        print(output)
