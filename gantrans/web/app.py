"""The page of `gantrans serve`: one tab per task whose models the server offers; each tab collects values,
calls gantrans.web.jobs (the CLI's tasks) and shows the result, its download and the equivalent command.

Errors a user can cause (a corrupt upload, a wrong mask, an impossible option) come back as a message in the
tab's status line; anything else is logged on the server's stderr and shown as a one-line message.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any, Callable

import gradio as gr

from gantrans.errors import UsageError
from gantrans.web.components import mask_painter, upload_image
from gantrans.web.jobs import KEEP, JobError, Jobs, Result

TABS = ("translate", "style-sample", "edit", "stylize", "upscale", "inpaint", "sample")
INTRO = "Each tab runs the same engine as the `gantrans` command shown under its result; outputs are kept for an hour."


def _ok(r: Result) -> str:
    notes = "".join(f"\n- {n}" for n in r.notes)
    return f"**Done.** Same result from the command line:\n\n```\n{r.command}\n```" + notes


def _guard(fn: Callable[..., Any], n_out: int) -> Callable[..., Any]:
    """Run a handler; a JobError (or any crash) becomes the status message, other outputs unchanged."""

    def run(*args: Any) -> Any:
        try:
            return fn(*args)
        except (JobError, UsageError) as e:
            msg = f"**Could not run:** {e}"
        except Exception as e:  # noqa: BLE001 - the server stays up and says what happened
            traceback.print_exc(file=sys.stderr)
            msg = f"**Error:** {type(e).__name__}: {e}"
        return tuple([gr.skip()] * (n_out - 1) + [msg])

    return run


def build_app(jobs: Jobs, title: str = "gantrans") -> gr.Blocks:
    cat = jobs.catalog
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(600, int(jobs.keep_s))) as demo:
        gr.Markdown(f"# {title}\n{INTRO}")
        for command in TABS:
            refs = cat.for_command(command)
            if refs:  # a task without a model on this server has no tab
                with gr.Tab(command, id=command):
                    TAB_BUILDERS[command](jobs, refs)
        if not any(cat.for_command(c) for c in TABS):
            gr.Markdown("No models: start the server with `-m MODEL` (a path, a bundled name or hf://org/repo).")
    return demo


def _model(refs: list[str], elem_id: str) -> gr.Dropdown:
    return gr.Dropdown(refs, value=refs[0], label="Model", elem_id=elem_id)


def _status(elem_id: str) -> gr.Markdown:
    return gr.Markdown(elem_id=elem_id)


# -- translate ------------------------------------------------------------------------------------------
def _translate_tab(jobs: Jobs, refs: list[str]) -> None:
    first = jobs.catalog.entries[refs[0]]
    with gr.Row():
        model = _model(refs, "translate-model")
        direction = gr.Radio(list(first.directions), value=first.directions[0], label="Direction", elem_id="translate-direction")
        seed = gr.Number(0, precision=0, label="Style seed (MUNIT)", elem_id="translate-seed")
    with gr.Row():
        image = upload_image(label="Input", elem_id="translate-input")
        style = upload_image(label="Style reference (MUNIT, optional)", elem_id="translate-style")
    run = gr.Button("Translate", variant="primary", elem_id="translate-run")
    view = gr.ImageSlider(label="Before / after", type="filepath", elem_id="translate-compare")
    out = gr.Image(type="filepath", label="Result", elem_id="translate-output", interactive=False, buttons=["download", "fullscreen"])
    status = _status("translate-status")

    def directions(ref: str) -> Any:
        d = list(jobs.catalog.entries[ref].directions)
        return gr.Radio(d, value=d[0])

    def go(ref: str, img: str | None, d: str, s: float, st: str | None) -> tuple[Any, Any, str]:
        r = jobs.translate(ref, img, d, int(s or 0), st)
        return (img, str(r.first)), str(r.first), _ok(r)

    model.change(directions, model, direction)
    run.click(_guard(go, 3), [model, image, direction, seed, style], [view, out, status])


# -- style-sample ---------------------------------------------------------------------------------------
def _style_tab(jobs: Jobs, refs: list[str]) -> None:
    with gr.Row():
        model = _model(refs, "style-model")
        mode = gr.Radio(["seeds", "reference", "interpolate"], value="seeds", label="Styles from", elem_id="style-mode")
    with gr.Row():
        seeds = gr.Textbox("0-7", label="Seeds (e.g. 0-7,42)", elem_id="style-seeds")
        walk = gr.Textbox("1,2", label="Interpolate between seeds A,B", elem_id="style-walk")
        steps = gr.Slider(2, 16, value=9, step=1, label="Interpolation steps", elem_id="style-steps")
    with gr.Row():
        image = upload_image(label="Input", elem_id="style-input")
        ref_img = upload_image(label="Reference style image", elem_id="style-reference")
    run = gr.Button("Sample styles", variant="primary", elem_id="style-run")
    gallery = gr.Gallery(label="Styles", columns=8, elem_id="style-gallery", type="filepath")
    pos = gr.Slider(0, 8, value=0, step=1, label="Position along the interpolation", elem_id="style-position")
    frame = gr.Image(type="filepath", label="Selected style", elem_id="style-output", interactive=False, buttons=["download", "fullscreen"])
    status = _status("style-status")
    frames = gr.State([])

    def go(ref: str, m: str, sd: str, wk: str, n: float, img: str | None, rimg: str | None) -> tuple[Any, ...]:
        from gantrans.engine.styles import parse_seeds

        try:
            if m == "reference":
                if not rimg:
                    raise JobError("upload a reference style image")
                r = jobs.style_sample(ref, img, style_from=rimg)
            elif m == "interpolate":
                ab = parse_seeds(wk)
                if len(ab) != 2:
                    raise JobError("interpolate between exactly two seeds: A,B")
                r = jobs.style_sample(ref, img, walk=(ab[0], ab[1]), steps=int(n))
            else:
                r = jobs.style_sample(ref, img, seeds=parse_seeds(sd))
        except UsageError as e:  # from parse_seeds
            raise JobError(str(e)) from None
        files = [str(p) for _, p in r.outputs]
        return [(f, lbl) for (lbl, _), f in zip(r.outputs, files)], files, gr.Slider(0, max(len(files) - 1, 1), value=0), files[0], _ok(r)

    def show(files: list[str], k: float) -> Any:
        return files[min(int(k), len(files) - 1)] if files else gr.skip()

    run.click(_guard(go, 5), [model, mode, seeds, walk, steps, image, ref_img], [gallery, frames, pos, frame, status])
    pos.change(show, [frames, pos], frame)


# -- edit -----------------------------------------------------------------------------------------------
def _edit_tab(jobs: Jobs, refs: list[str]) -> None:
    with gr.Row():
        model = _model(refs, "edit-model")
        strength = gr.Slider(0, 3, value=1, step=0.1, label="Strength (latent models)", elem_id="edit-strength")
        invert = gr.Radio(["auto", "encoder", "optimize", "both"], value="auto", label="Inversion (latent models)", elem_id="edit-invert")
    image = upload_image(label="Input", elem_id="edit-input")

    @gr.render(inputs=[model, image])
    def controls(ref: str, img: str | None) -> None:
        try:
            ctl = jobs.edit_controls(ref, img)
        except Exception as e:  # noqa: BLE001 - e.g. an unreadable model: say so in place of the controls
            gr.Markdown(f"**Could not read the model's attributes:** {e}")
            return
        if not ctl:
            gr.Markdown(f"{ref} stores no attribute vectors: add one with `gantrans attributes -m {ref} --add NAME --with DIR --without DIR -o NEW`"
                        " and serve NEW.")  # fmt: skip
            return
        boxes = []
        with gr.Row():
            for name, choices, now in ctl:
                label = f"{name} (now {now})" if now else name
                boxes.append(gr.Dropdown([KEEP, *choices], value=KEEP, label=label, elem_id=f"edit-set-{name}", min_width=120, interactive=True))
        run = gr.Button("Edit", variant="primary", elem_id="edit-run")

        def go(ref: str, img: str | None, s: float, inv: str, *values: str) -> tuple[Any, str]:
            sets = [f"{name}={v}" for (name, _, _), v in zip(ctl, values) if v and v != KEEP]
            r = jobs.edit(ref, img, sets, float(s), None if inv == "auto" else inv)
            return str(r.first), _ok(r)

        run.click(_guard(go, 2), [model, image, strength, invert, *boxes], [out, status])

    # the controls (and their button) render above these: `out` and `status` exist when the render runs
    out = gr.Image(type="filepath", label="Result", elem_id="edit-output", interactive=False, buttons=["download", "fullscreen"])
    status = _status("edit-status")


# -- stylize --------------------------------------------------------------------------------------------
def _stylize_tab(jobs: Jobs, refs: list[str]) -> None:
    from gantrans.engine.stylize import SMOOTH_MODES

    with gr.Row():
        model = _model(refs, "stylize-model")
        smooth = gr.Radio(list(SMOOTH_MODES), value="auto", label="Smoothing", elem_id="stylize-smooth")
        alpha = gr.Slider(0, 1, value=1, step=0.05, label="Style strength (alpha)", elem_id="stylize-alpha")
    with gr.Row():
        content = upload_image(label="Content photo", elem_id="stylize-content")
        style = upload_image(label="Style photo", elem_id="stylize-style")
    run = gr.Button("Stylize", variant="primary", elem_id="stylize-run")
    out = gr.Image(type="filepath", label="Result", elem_id="stylize-output", interactive=False, buttons=["download", "fullscreen"])
    status = _status("stylize-status")

    def go(ref: str, sm: str, a: float, c: str | None, s: str | None) -> tuple[Any, str]:
        r = jobs.stylize(ref, c, s, sm, float(a))
        return str(r.first), _ok(r)

    run.click(_guard(go, 2), [model, smooth, alpha, content, style], [out, status])


# -- upscale --------------------------------------------------------------------------------------------
def _upscale_tab(jobs: Jobs, refs: list[str]) -> None:
    with gr.Row():
        model = _model(refs, "upscale-model")
        outscale = gr.Number(0, label="Output scale (0: the model's)", elem_id="upscale-outscale")
        tile = gr.Number(0, precision=0, label="Tile (0: whole image)", elem_id="upscale-tile")
    image = upload_image(label="Input", elem_id="upscale-input")
    run = gr.Button("Upscale", variant="primary", elem_id="upscale-run")
    out = gr.Image(type="filepath", label="Result", elem_id="upscale-output", interactive=False, buttons=["download", "fullscreen"])
    status = _status("upscale-status")

    def go(ref: str, s: float, t: float, img: str | None) -> tuple[Any, str]:
        r = jobs.upscale(ref, img, float(s) or None, int(t or 0) or None)
        return str(r.first), _ok(r)

    run.click(_guard(go, 2), [model, outscale, tile, image], [out, status])


# -- inpaint --------------------------------------------------------------------------------------------
def _inpaint_tab(jobs: Jobs, refs: list[str]) -> None:
    from gantrans.engine.inpaint import HD_STRATEGIES

    with gr.Row():
        model = _model(refs, "inpaint-model")
        dilate = gr.Number(0, precision=0, label="Grow the hole by (px)", elem_id="inpaint-dilate")
        hd = gr.Radio(list(HD_STRATEGIES), value="crop", label="Large images", elem_id="inpaint-hd")
    with gr.Row():
        image = upload_image(label="Image", elem_id="inpaint-input")
        mask_file = upload_image(label="Mask (optional: white = hole)", elem_id="inpaint-mask")
    painter = mask_painter(label="Paint the hole (brush; eraser to undo)", layers=False, transforms=(), elem_id="inpaint-painter",
                          brush=gr.Brush(colors=["#ff00ff"], color_mode="fixed"))  # fmt: skip
    run = gr.Button("Fill the hole", variant="primary", elem_id="inpaint-run")
    with gr.Row():
        out = gr.Image(type="filepath", label="Result", elem_id="inpaint-output", interactive=False, buttons=["download", "fullscreen"])
        used = gr.Image(type="filepath", label="Mask used", elem_id="inpaint-mask-used", interactive=False, buttons=["download", "fullscreen"])
    status = _status("inpaint-status")

    def to_painter(img: str | None) -> Any:
        return {"background": img, "layers": [], "composite": img} if img else None

    def go(ref: str, d: float, h: str, img: str | None, mfile: str | None, painted: dict | None) -> tuple[Any, Any, str]:
        mask = mfile or (jobs.painted_mask(painted["layers"]) if painted and painted.get("layers") else None)
        r = jobs.inpaint(ref, img, mask, int(d or 0), h)
        return str(r.first), str(mask), _ok(r)

    image.change(to_painter, image, painter)
    run.click(_guard(go, 3), [model, dilate, hd, image, mask_file, painter], [out, used, status])


# -- sample ---------------------------------------------------------------------------------------------
def _sample_tab(jobs: Jobs, refs: list[str]) -> None:
    def codes(ref: str) -> list[str]:
        try:
            return ["none"] + [name for name, _, _ in jobs.sample_codes(ref)]
        except Exception:  # noqa: BLE001 - an unloadable model: the run says why
            return ["none"]

    with gr.Row():
        model = _model(refs, "sample-model")
        seed = gr.Number(0, precision=0, label="Seed", elem_id="sample-seed")
        vary = gr.Dropdown(codes(refs[0]), value="none", label="Walk a code", elem_id="sample-vary")
    with gr.Row():
        lo = gr.Number(-2, label="From", elem_id="sample-from")
        hi = gr.Number(2, label="To", elem_id="sample-to")
        steps = gr.Slider(2, 16, value=9, step=1, label="Steps", elem_id="sample-steps")
    run = gr.Button("Sample", variant="primary", elem_id="sample-run")
    grid = gr.Image(type="filepath", label="Walk", elem_id="sample-grid", interactive=False, buttons=["download", "fullscreen"])
    pos = gr.Slider(0, 8, value=0, step=1, label="Position along the walk", elem_id="sample-position")
    out = gr.Image(type="filepath", label="Sample", elem_id="sample-output", interactive=False, buttons=["download", "fullscreen"])
    status = _status("sample-status")
    frames = gr.State([])

    def go(ref: str, s: float, v: str, a: float, b: float, n: float) -> tuple[Any, ...]:
        r = jobs.sample(ref, int(s or 0), None if v == "none" else v, float(a), float(b), int(n))
        files = [str(p) for lbl, p in r.outputs if not lbl.endswith("_grid")]
        grids = [str(p) for lbl, p in r.outputs if lbl.endswith("_grid")]
        return (grids[0] if grids else None), files, gr.Slider(0, max(len(files) - 1, 1), value=0), files[0], _ok(r)

    def show(files: list[str], k: float) -> Any:
        return files[min(int(k), len(files) - 1)] if files else gr.skip()

    model.change(lambda ref: gr.Dropdown(codes(ref), value="none"), model, vary)
    run.click(_guard(go, 5), [model, seed, vary, lo, hi, steps], [grid, frames, pos, out, status])
    pos.change(show, [frames, pos], out)


TAB_BUILDERS: dict[str, Callable[[Jobs, list[str]], None]] = {
    "translate": _translate_tab, "style-sample": _style_tab, "edit": _edit_tab, "stylize": _stylize_tab,
    "upscale": _upscale_tab, "inpaint": _inpaint_tab, "sample": _sample_tab,
}  # fmt: skip
