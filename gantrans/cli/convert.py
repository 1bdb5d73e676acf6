"""`gantrans convert`: official CycleGAN/pix2pix, MUNIT/UNIT, StarGAN and PhotoWCT files -> one self-describing .safetensors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from gantrans import registry
from gantrans.cli.common import QuietOpt, fail, handle_errors

# choices and help come from the registered converters (family modules import no torch)
_CONVERTERS = registry.converters()


def convert(
    sources: Annotated[list[Path], typer.Argument(help="Official file(s): " + " | ".join(dict.fromkeys(c.files for c in _CONVERTERS.values())) + ".", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="The .safetensors file to write.")],
    source: Annotated[Optional[str], typer.Option("--from", help=" | ".join(_CONVERTERS) + " (default: recognised from the keys).", show_default=False)] = None,
    netG: Annotated[Optional[str], typer.Option("--netG", help="resnet_9blocks | resnet_6blocks | unet_256 | unet_128 (default: inferred).")] = None,
    norm: Annotated[Optional[str], typer.Option("--norm", help="instance | batch | none (default: inferred).")] = None,
    ngf: Annotated[Optional[int], typer.Option("--ngf", min=1, help="Default: inferred.")] = None,
    dropout: Annotated[Optional[bool], typer.Option("--dropout/--no-dropout", show_default=False, help="Default: inferred (ResNet) or the model's default.")] = None,
    domains: Annotated[Optional[str], typer.Option("--domains", help="Names of domains A and B, default A,B (StarGAN: the dataset's name).", show_default=False)] = None,
    attrs: Annotated[Optional[str], typer.Option("--attrs", help="StarGAN: label names in training order (default for 5 labels: the official CelebA set).")] = None,
    groups: Annotated[Optional[list[str]], typer.Option("--group", help="StarGAN: exclusive group, e.g. hair=Black_Hair,Blond_Hair,Brown_Hair (repeatable).")] = None,
    license: Annotated[Optional[str], typer.Option("--license", help="Licence recorded in the metadata, e.g. BSD-3-Clause.")] = None,
    image_size: Annotated[Optional[int], typer.Option("--image-size", min=1, help="Training image size recorded in the metadata (default 256; StarGAN 128, or the discriminator's).", show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Convert official checkpoints; the file is read with weights_only=True (no pickled code runs).

    Examples:\n
      gantrans convert horse2zebra.pth -o horse2zebra.safetensors --from cyclegan --domains horse,zebra\n
      gantrans convert edges2shoes.pt -o edges2shoes.safetensors --from munit --domains edges,shoes\n
      gantrans convert 200000-G.ckpt 200000-D.ckpt -o celeba.safetensors --from stargan --domains celeba\n
      gantrans convert PhotoWCTModels/photo_wct.pth -o photowct.safetensors --from photowct --license CC-BY-NC-SA-4.0
    """
    with handle_errors():
        names = tuple(d.strip() for d in domains.split(",")) if domains else None
        if source is not None:
            if source not in _CONVERTERS:
                fail(f"--from must be one of {', '.join(_CONVERTERS)}")
            _CONVERTERS[source].check_domains(names)
        if output.exists() and not overwrite:
            fail(f"{output} exists (use --overwrite)")
        for src in sources:
            if not src.is_file():
                fail(f"{src}: no such file")
        from gantrans.engine.convert import ConvertOptions, convert_official
        from gantrans.io.checkpoint import save_checkpoint
        from gantrans.train.labels import parse_groups

        opts = ConvertOptions(
            source=source, netG=netG, norm=norm, ngf=ngf, dropout=dropout, license=license, size=image_size,
            domains=names,
            attrs=attrs.split(",") if attrs else None, groups=parse_groups(groups) if groups else None,
        )  # fmt: skip
        result = convert_official(list(sources), opts)
        save_checkpoint(result.checkpoint, output)
        if not quiet:
            for note in result.inferred:
                print(f"inferred: {note}", file=sys.stderr)
            print(f"wrote {output} ({result.checkpoint.arch}, {', '.join(result.checkpoint.networks)})", file=sys.stderr)
        print(output)
