"""`gantrans export`: a model's generator as ONNX (pre/post-processing included, dynamic batch and size)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from gantrans.cli.common import JsonOpt, ModelOpt, QuietOpt, fail, handle_errors


def export(
    model: ModelOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The .onnx file to write.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="onnx.")] = "onnx",
    direction: Annotated[str, typer.Option("--direction", "-d", help="a2b or b2a.")] = "a2b",
    opset: Annotated[int, typer.Option("--opset", min=13, help="ONNX opset.")] = 17,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Compare with PyTorch through onnxruntime when it is installed.")] = True,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Export a generator to ONNX (pre/post-processing included, dynamic batch and size).

    Input `image` (B, C, H, W) in [0, 1] (H, W multiples of the model's
    multiple), plus `style` (MUNIT) or `label` (StarGAN); output in [0, 1].

    Example:\n
      gantrans export -m glyphs_munit -o glyphs_munit.onnx
    """
    with handle_errors():
        if fmt != "onnx":
            fail(f"--format {fmt!r}: only onnx is supported")
        if output is None:
            fail("missing -o/--output file")
        if output.exists() and not overwrite:
            fail(f"{output} exists (use --overwrite)")
        import gantrans
        from gantrans.engine.export import export_onnx, verify_onnx
        from gantrans.io.hub import resolve

        path = resolve(model)
        t = gantrans.load(str(path), device="cpu", precision="fp32")
        t.generator(direction)
        post = t.checkpoint.postprocess
        t.smooth("none")  # the graph is the generator; the guided filter (a 3x3 solve per pixel) stays outside it
        info = export_onnx(t, output, direction, opset)
        if post:
            info["postprocess_not_included"] = post
        if check:
            info["max_abs_diff_vs_pytorch"] = verify_onnx(t, output, direction)
        if json_out:
            print(json.dumps({"output": str(output), **info}))
        else:
            if not quiet:
                diff = info.get("max_abs_diff_vs_pytorch")
                checked = "not checked (onnxruntime not installed)" if diff is None else f"max |onnx - pytorch| = {diff:.2e}"
                print(f"exported {path.name} ({t.arch}, {direction}) inputs {info['inputs']}; {checked}", file=sys.stderr)
                if post:
                    print(f"note: the model's post-processing {json.dumps(post)} is not part of the graph (its output is `translate --smooth none`'s)", file=sys.stderr)
            print(output)
