"""`gantrans sample`: images from a latent model's prior (VAE-GAN, BiGAN, InfoGAN), code walks, interpolations."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from gantrans.cli.common import (
    EXIT_OK,
    DeviceOpt,
    JsonOpt,
    ModelOpt,
    OverwriteOpt,
    PrecisionOpt,
    QuietOpt,
    ThreadsOpt,
    fail,
    handle_errors,
    use_threads,
)

Opt = typer.Option


def sample(
    output: Annotated[str, Opt("--output", "-o", help="Output folder.")],
    model: ModelOpt = None,
    n: Annotated[int, Opt("--num", "-n", min=1, help="How many images (seeds SEED .. SEED+N-1).")] = 8,
    seed: Annotated[int, Opt("--seed", help="First seed; each image's code comes from its own seed (drawn on the CPU: the same on any device).")] = 0,
    vary: Annotated[Optional[str], Opt("--vary", help="Walk one code for each seed: an InfoGAN code c1, c2, ... or a latent dimension zN.", show_default=False)] = None,
    value_range: Annotated[str, Opt("--range", help="--vary: from:to for a continuous code or dimension.")] = "-2:2",
    steps: Annotated[int, Opt("--steps", min=2, help="--vary / --interpolate: images per walk.")] = 9,
    interpolate: Annotated[Optional[str], Opt("--interpolate", help="A,B: walk linearly from the code of seed A to that of seed B, or between two images' codes (IMAGE_A,IMAGE_B; models with an encoder).", show_default=False)] = None,
    grid: Annotated[bool, Opt("--grid", help="Also write each walk (or all samples) as one strip.")] = False,
    ext: Annotated[str, Opt("--ext", help="png | jpg | webp.")] = "png",
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Draw images from a latent model (VAE-GAN, BiGAN, InfoGAN): seeded samples, walks of one code, interpolations.

    Examples:\n
      gantrans sample -m glyphs_infogan -o out -n 16 --seed 0\n
      gantrans sample -m glyphs_infogan -o out --vary c2 --range -2:2 --steps 9 --grid\n
      gantrans sample -m run/ -o out --interpolate 3,7 --steps 8 --grid
    """
    with handle_errors():
        use_threads(threads)
        if ext not in ("png", "jpg", "jpeg", "webp"):
            fail("--ext must be png, jpg or webp")
        if vary and interpolate:
            fail("--vary and --interpolate exclude each other")
        try:
            lo, hi = (float(v) for v in value_range.split(":"))
        except ValueError:
            fail(f"--range {value_range!r}: expected FROM:TO, e.g. -2:2")
        pair: tuple[str, str] | None = None
        if interpolate:
            parts = interpolate.split(",")
            if len(parts) != 2 or not all(parts):
                fail(f"--interpolate {interpolate!r}: expected two seeds A,B or two images A.png,B.png")
            pair = (parts[0], parts[1])
        import numpy as np
        import torch

        from gantrans.engine.latent import load_latent
        from gantrans.engine.pipeline import strip
        from gantrans.io.images import SAVE_FORMATS, save_atomic, show_path, to_pil

        m = load_latent(model or "", device, precision) if model else fail("sample needs a model: -m PATH|NAME|hf://org/repo")
        if not quiet:
            codes = ", ".join(f"{c.name} ({c.kind}{':' + str(c.size) if c.kind == 'cat' else ''})" for c in m.codes)
            print(f"gantrans: {m.checkpoint.provenance['latent'].get('recipe', 'latent')} model, {m.size}x{m.size}, prior {m.prior}"
                  + (f", codes {codes}" if codes else "") + f"; {m.describe()}", file=sys.stderr)  # fmt: skip
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        fmt = SAVE_FORMATS[ext]
        jobs: list[tuple[str, torch.Tensor]] = []  # (name stem, codes (k, code_dim)) per output group
        if pair is not None:
            if all(p.lstrip("-").isdigit() for p in pair):
                za, zb = m.draw(int(pair[0])), m.draw(int(pair[1]))
                stem = f"interp_{pair[0]}_{pair[1]}"
            else:  # two images: their codes (the encoder's; the posterior mean of a VAE-GAN)
                from gantrans.engine.latent_edit import fit
                from gantrans.io.images import open_image

                imgs = np.stack([fit(open_image(Path(p))[0], m.size, m.checkpoint.config.img_ch) for p in pair])
                za, zb = m.encode(imgs)
                stem = f"interp_{Path(pair[0]).stem}_{Path(pair[1]).stem}"
            jobs.append((stem, m.interpolate(za, zb, steps)))
        elif vary:
            code = m.code(vary)
            values = list(range(code.size)) if code.kind == "cat" else torch.linspace(lo, hi, steps).tolist()
            if code.kind == "cat" and not quiet:
                print(f"note: {code.name} is categorical: one image per category (0..{code.size - 1}); --range and --steps do not apply", file=sys.stderr)
            jobs += [(f"seed{s}_{code.name}", m.vary(m.draw(s), code, values)) for s in range(seed, seed + n)]
        else:
            jobs.append(("", torch.stack([m.draw(s) for s in range(seed, seed + n)])))
        failed = 0
        for stem, z in jobs:
            images = m.decode(z)
            names = [f"seed{seed + i}" for i in range(len(images))] if not stem else [f"{stem}_{k:02d}" for k in range(len(images))]
            if grid:
                images_out = [*zip(names, images), (f"{stem or f'seeds{seed}-{seed + n - 1}'}_grid", strip(list(images)))]
            else:
                images_out = list(zip(names, images))
            for name, arr in images_out:
                path = out / f"{name}.{'png' if name.endswith('_grid') else ext}"
                try:
                    save_atomic(path, to_pil(arr, None), "PNG" if name.endswith("_grid") else fmt, overwrite)
                except FileExistsError:
                    failed += 1
                    print(f"{show_path(path)}: exists (use --overwrite)", file=sys.stderr)
                    continue
                print(json.dumps({"output": str(path), "status": "ok"}) if json_out else str(path))
        if failed:
            raise typer.Exit(1)
        raise typer.Exit(EXIT_OK)
