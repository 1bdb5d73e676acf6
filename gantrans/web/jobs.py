"""What each tab of `gantrans serve` does, without the page: one uploaded image through the same task, options
and pipeline as the CLI command (so the same decoding limits, notes and naming), into a fresh folder of the
server's work area, with the command line that gives the same files.

Nothing here imports the UI library: the page (gantrans.web.app) only collects values and shows results, and
tests call these functions directly to compare with the CLI.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Sequence

from gantrans.engine.pipeline import ItemResult, OutputOptions, Task, run_pipeline
from gantrans.errors import GantransError
from gantrans.io.images import DEFAULT_MAX_PIXELS, InputItem
from gantrans.web.catalog import Catalog

KEEP = "keep"  # an edit control left as the input is


class JobError(Exception):
    """A message for the page (a bad upload, an impossible option): shown to the user, never a traceback."""


@dataclass
class Result:
    outputs: list[tuple[str, Path]]  # (label, file): one per output, in the CLI's order
    command: str  # the gantrans command line that writes the same files
    notes: list[str] = field(default_factory=list)

    @property
    def first(self) -> Path:
        return self.outputs[0][1]


def _q(s: str | Path) -> str:
    return shlex.quote(str(s))


def _name(upload: str | Path | None) -> str:
    """An upload as the command line names it: its file name, quoted."""
    return _q(Path(str(upload)).name) if upload else "IMAGE"


@contextmanager
def _said(prefix: str = "") -> Iterator[None]:
    """What a user can cause (a bad option, an unreadable file) becomes a JobError with its message."""
    try:
        yield
    except (GantransError, OSError, ValueError) as e:
        raise JobError(f"{prefix}{e}") from None


def _stem(upload: Path) -> str:
    return upload.stem or "image"


class Jobs:
    """The tabs' actions over one Catalog; outputs go to per-request folders under `workdir`, removed after
    `keep_s` seconds (the page has copied them by then) and all together by close()."""

    def __init__(self, catalog: Catalog, workdir: Path | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS, keep_s: float = 3600) -> None:
        self.catalog, self.max_pixels, self.keep_s = catalog, max_pixels, keep_s
        self.workdir = Path(tempfile.mkdtemp(prefix="gantrans-serve-")) if workdir is None else workdir
        self.workdir.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _folder(self) -> Path:
        now = time.time()
        for old in self.workdir.glob("req-*"):
            try:
                if now - old.stat().st_mtime > self.keep_s:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:
                pass
        return Path(tempfile.mkdtemp(prefix="req-", dir=self.workdir))

    def _entry(self, ref: str, command: str) -> Any:
        with _said():
            return self.catalog.entry(ref, command)

    def _load(self, ref: str, command: str) -> Any:
        with _said():
            return self.catalog.load(ref, command)

    def run(self, task: Task, upload: str | Path | None, opts: OutputOptions, what: str = "image") -> tuple[list[tuple[str, Path]], list[str]]:
        """`task` on one uploaded file, as `gantrans CMD FILE -o DIR` would run it -> ([(tag, output)], notes)."""
        if not upload:
            raise JobError(f"upload an {what} first")
        src = Path(upload)
        stem = _stem(src)
        out = self._folder()
        results: list[ItemResult] = []
        with _said():
            run_pipeline(task, [InputItem(src, PurePosixPath(stem))], out, opts, on_result=results.append)
        bad = [r for r in results if r.status != "ok"]
        if bad or not results:
            why = bad[0].message if bad else "no output"
            raise JobError(f"{src.name}: {why}")
        outputs = []
        for r in results:
            p = Path(str(r.output))
            tag = p.stem[len(stem) + 1 :] if p.stem.startswith(stem + "_") else ""
            outputs.append((tag or "result", p))
        return outputs, [n for r in results for n in r.notes]

    # -- translate ---------------------------------------------------------------------------------------
    def translate(self, ref: str, image: str | Path | None, direction: str = "a2b", seed: int = 0, style_from: str | Path | None = None) -> Result:
        from gantrans.engine.batch import BatchOptions, TranslateTask

        t = self._load(ref, "translate")
        opts = BatchOptions(direction=direction, workers=0, max_pixels=self.max_pixels)
        with _said():
            t.generator(direction)
            opts.cond_for = t.family.item_conds(t, direction, seed, str(style_from) if style_from else None)
        outs, notes = self.run(TranslateTask(t, opts), image, opts.output())
        cmd = f"gantrans translate {_name(image)} -m {_q(ref)} -o out"
        cmd += f" -d {direction}" if direction != "a2b" else ""
        if opts.cond_for is not None:
            cmd += f" --style-from {_name(style_from)}" if style_from else f" --seed {seed}"
        return Result(outs, cmd, notes)

    # -- style-sample ------------------------------------------------------------------------------------
    def style_sample(self, ref: str, image: str | Path | None, direction: str = "a2b", seeds: Sequence[int] = (0, 1, 2, 3),
                     style_from: str | Path | None = None, walk: tuple[int, int] | None = None, steps: int = 9) -> Result:  # fmt: skip
        """Styles by seed (a gallery), the style of a reference image, or a walk between two seeds' styles."""
        from gantrans.engine.styles import StyleTask, plan_styles

        t = self._load(ref, "style-sample")
        with _said():
            t.generator(direction)
            if style_from:
                plan = plan_styles(t, direction, style_from=[str(style_from)])
            elif walk is not None:
                plan = plan_styles(t, direction, seeds=list(walk), walk=True, steps=steps)
            else:
                plan = plan_styles(t, direction, seeds=list(seeds))
        outs, notes = self.run(StyleTask(t, plan, direction), image, OutputOptions(ext="png", workers=0, max_pixels=self.max_pixels))
        cmd = f"gantrans style-sample {_name(image)} -m {_q(ref)} -o out" + (f" -d {direction}" if direction != "a2b" else "")
        if style_from:
            cmd += f" --style-from {_name(style_from)}"
        elif walk is not None:
            cmd += f" --interpolate --seeds {walk[0]},{walk[1]} --steps {steps}"
        else:
            cmd += f" --seeds {','.join(str(s) for s in seeds)}"
        return Result(outs, cmd, notes)

    # -- edit --------------------------------------------------------------------------------------------
    def edit_controls(self, ref: str, image: str | Path | None = None) -> list[tuple[str, list[str], str]]:
        """One control per attribute group / attribute: (name, choices after "keep", the input's current value
        read by the stored classifier, or "")."""
        e, m = self._entry(ref, "edit"), self._load(ref, "edit")
        if e.role == "sampler":
            from gantrans.engine.latent_edit import attr_names

            return [(n, ["1", "0", "toggle"], "") for n in attr_names(m.checkpoint)]
        from gantrans.engine.edit import Editor

        ed = Editor(m)
        current: dict[str, str] = {}
        if image and ed.classifier is not None:
            current = self._read_attrs(ed, Path(image))
        sch = ed.schema
        grouped = {a for ms in sch.groups.values() for a in ms}
        controls = [(g, list(ms), current.get(g, "")) for g, ms in sch.groups.items()]
        controls += [(a, ["1", "0", "toggle"], current.get(a, "")) for a in sch.attrs if a not in grouped]
        return controls

    def _read_attrs(self, ed: Any, image: Path) -> dict[str, str]:
        import numpy as np
        import torch

        from gantrans.io.images import open_image

        try:
            img, _ = open_image(image, self.max_pixels)
            d = ed.t.prepare(img, ed.t.checkpoint.preprocess.get("size"), "a2b", self.max_pixels)
        except (GantransError, OSError, ValueError):  # an unreadable upload: no current values (the run says why)
            return {}
        x = torch.from_numpy(np.ascontiguousarray(d.pixels)).permute(2, 0, 1)[None]
        return ed.schema.read(ed.predict(x)[0])

    def edit(self, ref: str, image: str | Path | None, sets: Sequence[str], strength: float = 1.0, invert: str | None = None,
             steps: int = 100, seed: int = 0) -> Result:  # fmt: skip
        e, m = self._entry(ref, "edit"), self._load(ref, "edit")
        if not sets:
            raise JobError("nothing to change: set at least one attribute")
        cmd = f"gantrans edit {_name(image)} -m {_q(ref)} -o out" + "".join(f" --set {_q(s)}" for s in sets)
        seldom: list[str] = []
        with _said():
            if e.role == "sampler":
                from gantrans.engine.latent_edit import LatentEditor, LatentEditTask, attr_names, parse_edits

                ed = LatentEditor(m, invert, steps, strength, seed)
                task: Task = LatentEditTask(ed, parse_edits(m, list(sets)), attr_names(m.checkpoint))
                cmd += f" --strength {strength:g} --invert {ed.invert}" + (f" --steps {steps} --seed {seed}" if ed.invert != "encoder" else "")
            else:
                from gantrans.engine.edit import Editor, EditTask

                ed2 = Editor(m)
                task = EditTask(ed2, ed2.schema.parse(list(sets)), {}, False, m.checkpoint.preprocess.get("size"))
                seldom = task.seldom()  # the warnings `gantrans edit` prints for values seen on few images
        outs, notes = self.run(task, image, OutputOptions(ext="png", workers=0, max_pixels=self.max_pixels))
        return Result(outs, cmd, seldom + notes)

    # -- stylize -----------------------------------------------------------------------------------------
    def stylize(self, ref: str, content: str | Path | None, style: str | Path | None, smooth: str = "auto", alpha: float = 1.0) -> Result:
        from gantrans.engine.stylize import StylizeOptions, StylizeTask, load_styles

        s = self._load(ref, "stylize")
        if not style:
            raise JobError("upload a style image")
        with _said("style image: "):
            opts = StylizeOptions(alpha=alpha, smooth=smooth)
            styles = load_styles(s, [str(style)], None, opts)
        outs, notes = self.run(StylizeTask(s, styles, opts, None, True, 1), content, OutputOptions(ext="png", workers=0, max_pixels=self.max_pixels), "content image")
        cmd = f"gantrans stylize {_name(content)} --style {_name(style)} -m {_q(ref)} -o out --smooth {smooth}"
        cmd += f" --alpha {alpha:g}" if alpha != 1.0 else ""
        return Result(outs, cmd, notes)

    # -- upscale -----------------------------------------------------------------------------------------
    def upscale(self, ref: str, image: str | Path | None, outscale: float | None = None, tile: int | None = None) -> Result:
        from gantrans.engine.batch import BatchOptions
        from gantrans.engine.upscale import UpscaleTask

        t = self._load(ref, "upscale")
        with _said():
            opts = BatchOptions(tile=tile or None, workers=0, max_pixels=self.max_pixels, ext="png")
            task = UpscaleTask(t, opts, outscale or None)
        outs, notes = self.run(task, image, opts.output())
        cmd = f"gantrans upscale {_name(image)} -m {_q(ref)} -o out --ext png"
        cmd += (f" --outscale {outscale:g}" if outscale else "") + (f" --tile {tile}" if tile else "")
        return Result(outs, cmd, notes)

    # -- inpaint -----------------------------------------------------------------------------------------
    def inpaint(self, ref: str, image: str | Path | None, mask: str | Path | None, dilate: int = 0, hd_strategy: str = "crop") -> Result:
        from gantrans.engine.batch import BatchOptions
        from gantrans.engine.inpaint import InpaintOptions, InpaintTask

        t = self._load(ref, "inpaint")
        if not mask:
            raise JobError("paint the hole on the image (or upload a mask)")
        with _said("mask: "):
            iopts = InpaintOptions(mask=Path(mask), dilate=dilate, hd_strategy=hd_strategy)
            opts = BatchOptions(workers=0, max_pixels=self.max_pixels, ext="png")
            task = InpaintTask(t, opts, iopts)
            task.check()
        outs, notes = self.run(task, image, opts.output())
        cmd = f"gantrans inpaint {_name(image)} --mask {_name(mask)} -m {_q(ref)} -o out --ext png"
        cmd += (f" --dilate {dilate}" if dilate else "") + (f" --hd-strategy {hd_strategy}" if hd_strategy != "crop" else "")
        return Result(outs, cmd, notes)

    def painted_mask(self, layers: Sequence[str | bytes]) -> Path:
        """The union of painted pixels (alpha > 0) of the editor's layers, as a mask file for inpaint."""
        import numpy as np
        from PIL import Image

        from gantrans.io.images import open_image

        hole: np.ndarray | None = None
        for layer in layers:
            with _said("the painted mask could not be read: "):
                img, _ = open_image(Path(layer) if isinstance(layer, str) else layer, self.max_pixels)
            a = np.asarray(img.getchannel("A")) > 0 if "A" in img.getbands() else np.asarray(img.convert("L")) > 0
            hole = a if hole is None or hole.shape != a.shape else hole | a
        if hole is None or not hole.any():
            raise JobError("paint the hole on the image (or upload a mask)")
        path = self._folder() / "painted_mask.png"
        Image.fromarray(hole.astype(np.uint8) * 255).save(path)
        return path

    # -- sample ------------------------------------------------------------------------------------------
    def sample_codes(self, ref: str) -> list[tuple[str, str, int]]:
        """(name, kind, size) of the codes a walk can vary: InfoGAN codes, then the first latent dimensions."""
        m = self._load(ref, "sample")
        return [(c.name, c.kind, c.size) for c in m.codes] + [(f"z{i}", "dim", 1) for i in range(min(m.code_dim, 8))]

    def sample(self, ref: str, seed: int = 0, vary: str | None = None, lo: float = -2.0, hi: float = 2.0, steps: int = 9) -> Result:
        """One seed's image, or (vary) the walk of one code for that seed, as `gantrans sample` writes them."""
        from gantrans.engine.latent import sample_jobs, write_samples

        m = self._load(ref, "sample")
        out = self._folder()
        with _said():
            jobs = sample_jobs(m, n=1, seed=seed, vary=vary, lo=lo, hi=hi, steps=steps)
            written = write_samples(m, jobs, out, seed, 1, grid=vary is not None)
        outputs = [(p.stem, p) for p in written if not p.stem.endswith("_grid")]
        grids = [(p.stem, p) for p in written if p.stem.endswith("_grid")]
        cmd = f"gantrans sample -m {_q(ref)} -o out -n 1 --seed {seed}"
        if vary:
            cmd += f" --vary {vary} --range {lo:g}:{hi:g} --steps {steps} --grid"
        return Result(grids + outputs, cmd)
