"""Shared CLI pieces: option aliases, the stderr console, and error -> exit code mapping."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Iterator, NoReturn, Optional

import typer
from rich.console import Console

err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Checkpoint path, run directory, bundled name, or hf://org/repo[/file][@rev]."),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N | mps.")]
PrecisionOpt = Annotated[str, typer.Option("--precision", help="auto | fp32 | bf16 | fp16 (auto: fp16 on CUDA, fp32 elsewhere).")]
BatchOpt = Annotated[Optional[int], typer.Option("--batch-size", "-b", min=1, help="Images per forward pass (default: 1 on CPU, 16 on GPU).", show_default=False)]
WorkersOpt = Annotated[int, typer.Option("--workers", min=0, help="Threads decoding/encoding in parallel with compute (0: inline).")]
IOProcessesOpt = Annotated[int, typer.Option("--io-processes", min=0, help="Decode/encode in N processes instead of in the --workers threads (for fast GPUs, where the host's Python is the limit).")]
CodecOpt = Annotated[str, typer.Option("--codec", help="host: Pillow decodes and encodes. device: JPEG inputs are decoded, a batch at a time, and JPEG outputs encoded on the model's device (nvJPEG on CUDA); other formats, resized and tiled (or hd-strategy) images stay on the host.")]
TTAOpt = Annotated[str, typer.Option("--tta", help="Self-ensemble: none; hflip (each image also run mirrored, the two outputs averaged: 2x the time, less generator texture); dihedral (4 quarter turns x mirror: 8x).")]


def run_notes(codec: str, tta: str, smoothing: Any = None) -> str:
    """The --codec/--tta/--smooth part of the device line printed before a run (`smoothing`: a GuidedSmoothing)."""
    return ((" JPEG codec on the device" if codec == "device" else "") + (f" self-ensemble {tta}" if tta != "none" else "")
            + (f" guided smoothing ({smoothing.describe()})" if smoothing is not None else ""))


JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per item on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors on stderr.")]
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads for compute (default: OMP_NUM_THREADS, else the cores this process may use, divided among torchrun processes on this host).", show_default=False)]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs (default: skip them).")]
ExtOpt = Annotated[str, typer.Option("--ext", help="auto (keep png/jpg/webp, else png) | png | jpg | webp.")]
SizeOpt = Annotated[Optional[int], typer.Option("--size", min=1, help="Resize the shorter side to N first (default: keep the input size).", show_default=False)]
MaxPixelsOpt = Annotated[int, typer.Option("--max-pixels", min=1, help="Refuse images declaring more pixels than this.")]


def reporter(json_out: bool, quiet: bool, device: str, to_stdout: bool = False):
    """on_result callback shared by the batch commands: errors and notes to stderr (-q: errors only);
    output paths, or one JSON object per output, to stdout (whatever -q says)."""
    import json

    from gantrans.io.images import needs_quoting, show_path

    def on_result(r) -> None:  # r: gantrans.engine.pipeline.ItemResult
        if r.status == "failed":
            print(f"error: {show_path(r.input)}: {r.message}", file=sys.stderr)
        elif not quiet:
            for note in r.notes:
                print(f"note: {show_path(r.input)}: {note}", file=sys.stderr)
        if json_out and not to_stdout:
            # ensure_ascii: undecodable bytes travel as \udcXX escapes (os.fsencode of the decoded string
            # gives the exact name back); every row has the same keys
            row = {"input": r.input, "output": r.output, "status": r.status, "message": r.message, "size": r.size, "ms": r.ms, "device": device}
            emit(json.dumps(row))
        elif r.status == "ok" and not to_stdout:
            # a name with a newline or non-UTF-8 bytes is written as a JSON string, so each line is one output
            emit(json.dumps(r.output) if needs_quoting(r.output) else r.output)

    return on_result


def read_specs(inputs: list[str] | None, from_list: str | None, output: str | None) -> tuple[list[str], dict[str, int], bool]:
    """Input specs from the arguments and --from-list (any bytes; blank and # lines skipped), each listed
    path's line number, and whether the output is stdout (`-o -`); usage errors for what cannot work."""
    specs = list(inputs or [])
    listed: dict[str, int] = {}  # path -> its line in --from-list, for error messages
    if from_list is not None:
        try:
            data = sys.stdin.buffer.read() if from_list == "-" else Path(from_list).read_bytes()
        except OSError as e:
            fail(f"--from-list {from_list}: {e.strerror}")
        for n, raw in enumerate(data.splitlines(), 1):
            line = os.fsdecode(raw).strip()  # any bytes: undecodable ones kept as the OS path bytes
            if line and not line.startswith("#"):
                specs.append(line)
                listed.setdefault(str(Path(line)), n)
    if not specs:
        fail("no inputs given (pass files, folders, globs, - or --from-list)")
    if "-" in specs and from_list == "-":
        fail("stdin cannot hold both an image (-) and the --from-list")
    if output is None:
        fail("missing -o/--output: an output folder, or - for stdout")
    to_stdout = output == "-"
    if to_stdout and (len(specs) != 1 or (specs[0] != "-" and not Path(specs[0]).is_file())):
        fail("-o - writes one image to stdout: give exactly one input file or -")
    return specs, listed, to_stdout


def gather_inputs(specs: list[str], listed: dict[str, int], outdir: Path | None) -> list:
    """find_inputs with stdin read for `-`, and --from-list line numbers on the paths that fail."""
    items = find_inputs(specs, outdir, sys.stdin.buffer.read() if "-" in specs else None)
    for it in items:
        if it.error and it.source is not None and str(it.source) in listed:
            it.error += f" (--from-list line {listed[str(it.source)]})"
    return items


def find_inputs(specs: list[str], outdir: Path | None, stdin: bytes | None = None) -> list:
    """Input items of files/folders/globs/-, the output folder excluded; none found is a usage error."""
    from gantrans.io.images import collect_inputs
    from gantrans.io.images import show_path as show

    if outdir is not None and outdir.exists() and not outdir.is_dir():
        fail(f"-o {show(outdir)} exists and is not a folder")
    items = collect_inputs(specs, exclude=outdir, stdin=stdin)
    if not items:
        fail("no image files found in the given inputs")
    return items


def run_task(task, items: list, outdir: Path | None, opts, *, verb: str, device: str, json_out: bool, quiet: bool, sink=None) -> NoReturn:
    """Run a pipeline task with the shared reporting (results on stdout, progress on a TTY, a summary line)
    and exit 0, or 1 when any output failed."""
    from gantrans.engine.pipeline import run_pipeline

    report = reporter(json_out, quiet, device, sink is not None)
    progress = None
    if err.is_terminal and not quiet and not json_out:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        progress = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True)
        bar = progress.add_task(verb, total=len(items))
    seen: set[str] = set()

    def on_result(r) -> None:
        report(r)
        if progress is not None and r.input not in seen:  # the bar counts inputs, not outputs
            seen.add(r.input)
            progress.advance(bar)

    t0 = time.perf_counter()
    try:
        if progress is not None:
            progress.start()
        summary = run_pipeline(task, items, outdir, opts, sink=sink, on_result=on_result)
    finally:
        if progress is not None:
            progress.stop()
    if summary.cleaned and not quiet:
        print(f"note: removed {summary.cleaned} temp file(s) left by an interrupted earlier run", file=sys.stderr)
    if not quiet or summary.failed:
        print(summary_line(verb, summary, time.perf_counter() - t0), file=sys.stderr)
    raise typer.Exit(EXIT_FAILED if summary.failed else EXIT_OK)


def emit(line: str, stream=None) -> None:
    """One result line in one write: processes sharing a pipe (torchrun shards) never interleave mid-line
    (print() writes the text and the newline separately, which unbuffered streams pass on as two writes)."""
    stream = stream or sys.stdout
    stream.write(line + "\n")
    stream.flush()


def summary_line(verb: str, summary, seconds: float) -> str:
    kinds = summary.skip_kinds
    why = "existing" if set(kinds) <= {"existing"} else ", ".join(f"{n} {k}" for k, n in kinds.items())
    line = f"{verb} {summary.ok}, skipped {summary.skipped} ({why}), failed {summary.failed}"
    if summary.ignored:
        line += f", ignored {summary.ignored} non-image file{'s' if summary.ignored != 1 else ''}"
    return line + f" in {seconds:.1f} s"


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True) if err.is_terminal else print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def require(model, command: str, name: str) -> None:
    """Usage error (exit 2) unless the loaded model's family serves `command`."""
    from gantrans.registry import require as check

    check(model.arch, command, name)


def use_threads(threads: int | None, passive: bool = True):
    """Apply the thread policy (gantrans.engine.threads) before torch loads; shown with GANTRANS_DEBUG=1.
    passive: batch commands (decode/encode threads beside the model); False: train, eval (adaptive pool)."""
    from gantrans.engine.threads import apply

    p = apply(threads, passive)
    if debug():
        print(f"gantrans: {p.describe()}", file=sys.stderr)
    return p


def debug() -> bool:
    return os.environ.get("GANTRANS_DEBUG", "") not in ("", "0")


@contextmanager
def handle_errors() -> Iterator[None]:
    """Known failures become one line on stderr and an exit code; GANTRANS_DEBUG=1 shows tracebacks."""
    try:
        yield
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as e:
        if debug():
            raise
        # gantrans's own errors carry a message meant for users; only usage errors exit 2
        from gantrans.errors import GantransError, UsageError

        if isinstance(e, UsageError):
            fail(str(e), EXIT_USAGE)
        if isinstance(e, GantransError):
            fail(str(e), EXIT_FAILED)
        if isinstance(e, OSError) and e.strerror:  # a full disk, a read-only folder: what, and where
            from gantrans.io.images import show_path

            fail(f"{e.strerror.lower()}" + (f": {show_path(e.filename)}" if e.filename else ""), EXIT_FAILED)
        fail(f"{type(e).__name__}: {e} (set GANTRANS_DEBUG=1 for a traceback)", EXIT_FAILED)
