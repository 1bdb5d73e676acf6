"""`gantrans stylize`: closed-form photorealistic (PhotoWCT) or artistic (WCT) style transfer."""

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
    summary_line,
)  # fmt: skip
from gantrans.errors import UsageError

Opt = typer.Option
SEG_EXTS = (".png", ".pgm", ".bmp", ".tif", ".tiff", ".gif", ".jpg", ".jpeg", ".webp")


def find_seg(seg: Path, rel, single: bool) -> Path:
    """The label map of one content item: SEG itself (one content input) or SEG/<rel>.<ext>."""
    if seg.is_file():
        if not single:
            raise UsageError(f"--content-seg {seg} is one file but there are several content images; give a folder of maps named like the images")
        return seg
    for ext in SEG_EXTS:
        cand = seg.joinpath(*rel.parent.parts, rel.name + ext)
        if cand.is_file():
            return cand
    raise UsageError(f"no label map for it in {seg} (looked for {rel.name}.png/.pgm/...)")


def stylize(
    inputs: Annotated[list[str], typer.Argument(help="Content images: files, folders (recursive) or globs.", show_default=False)],
    style: Annotated[Optional[list[str]], Opt("--style", "-s", help="Style image (repeatable: one output per style).")] = None,
    output: Annotated[Optional[str], Opt("--output", "-o", help="Output folder: {stem}_{style stem}.png")] = None,
    model: ModelOpt = None,
    alpha: Annotated[float, Opt("--alpha", min=0.0, max=1.0, help="Style strength: 1 full style, 0 the content's own features.")] = 1.0,
    content_seg: Annotated[Optional[str], Opt("--content-seg", help="Label map of the content (a file for one image, or a folder of maps named like the images).")] = None,
    style_seg: Annotated[Optional[list[str]], Opt("--style-seg", help="Label map of each --style, in order: regions transfer label to label.")] = None,
    smooth: Annotated[str, Opt("--smooth", help="auto (fast for PhotoWCT, none for WCT) | none | fast (guided filter) | exact (matting propagation).")] = "auto",
    max_size: Annotated[int, Opt("--max-size", min=0, help="Work with the longer side at most N pixels, upsample the result back (0: full size).")] = 960,
    beta: Annotated[float, Opt("--beta", help="--smooth exact: propagation strength (official 0.9999).")] = 0.9999,
    batch_size: BatchOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    ext: Annotated[str, Opt("--ext", help="png | jpg | webp.")] = "png",
    overwrite: Annotated[bool, Opt("--overwrite", help="Replace existing outputs (default: skip them).")] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Give content photos the look of a style photo (PhotoWCT/WCT: no training on the style).

    Needs a WCT/PhotoWCT model, e.g. FastPhotoStyle's photo_wct.pth converted with
    `gantrans convert photo_wct.pth --from photowct -o photowct.safetensors`.

    Examples:\n
      gantrans stylize photo.jpg -s sunset.jpg -m photowct.safetensors -o out\n
      gantrans stylize photos/ -s night.jpg -s snow.jpg -m photowct.safetensors -o out --smooth exact\n
      gantrans stylize in.png -s ref.png --content-seg in_seg.png --style-seg ref_seg.png -m photowct.safetensors -o out
    """
    with handle_errors():
        if output is None:
            fail("missing -o/--output folder")
        if not style:
            fail("missing --style image")
        if style_seg and len(style_seg) != len(style):
            fail(f"give one --style-seg per --style ({len(style)} styles, {len(style_seg)} label maps)")
        if style_seg and not content_seg:
            fail("--style-seg needs --content-seg (the content's label map)")
        if content_seg and not style_seg:
            fail("--content-seg needs --style-seg (the style's label map)")
        from gantrans.engine.batch import collect_inputs
        from gantrans.engine.multi import MultiOptions, run_multi
        from gantrans.engine.stylize import (
            ContentDecoded,
            StylizeOptions,
            load_labels,
            stylizer,
        )
        from gantrans.io.images import decode, open_image

        opts = StylizeOptions(alpha=alpha, smooth=smooth, max_size=max_size or None, beta=beta)
        outdir = Path(output)
        items = collect_inputs(inputs, exclude=outdir)
        if not items:
            fail("no image files found in the given inputs")
        for p in [*style, *(style_seg or []), *([content_seg] if content_seg else [])]:
            if not Path(p).exists():
                fail(f"{p}: no such file or directory")

        from gantrans.io.hub import resolve

        path = resolve(model)
        s = stylizer(str(path), device=device, precision=precision)
        styles = []
        for i, ref in enumerate(style):
            img, _ = open_image(Path(ref))
            seg = load_labels(style_seg[i], img.size) if style_seg else None
            name = Path(ref).stem if [Path(r).stem for r in style].count(Path(ref).stem) == 1 else f"{Path(ref).stem}-{i + 1}"
            styles.append(s.prepare_style(img, seg, name, opts.max_size))
        if not quiet:
            print(f"gantrans: {path.name} ({s.arch}, smooth {s.smooth_mode(opts)}) {s.describe()}", file=sys.stderr)

        seg_root = Path(content_seg) if content_seg else None

        def prepare(img, _size, item) -> ContentDecoded:
            d = decode(img, 3)
            seg = load_labels(find_seg(seg_root, item.rel, len(items) == 1), img.size) if seg_root else None
            return ContentDecoded(d.pixels, d.alpha, d.notes, seg=seg)

        def produce(group):
            outs = [[] for _ in group]
            for st in styles:
                arrays = s.stylize_arrays([d.pixels for d in group], st, opts, [d.seg for d in group])
                for k, arr in enumerate(arrays):
                    outs[k].append((st.name, arr))
            return outs

        bs = batch_size or (1 if s.device.type == "cpu" else 16)
        mopts = MultiOptions(ext=ext, overwrite=overwrite, group=bs)
        t0 = time.perf_counter()
        summary = run_multi(items, outdir, mopts, prepare, produce, reporter(json_out, quiet, str(s.device)))
        if not quiet or summary.failed:
            print(summary_line("wrote", summary, time.perf_counter() - t0), file=sys.stderr)
        raise typer.Exit(EXIT_FAILED if summary.failed else EXIT_OK)
