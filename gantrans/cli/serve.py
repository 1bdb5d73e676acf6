"""`gantrans serve`: a local web page (Gradio) over the same engine as the other commands."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer

from gantrans.cli.common import EXIT_OK, DeviceOpt, MaxPixelsOpt, PrecisionOpt, ThreadsOpt, fail, handle_errors, use_threads

Opt = typer.Option


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # through the finally blocks: the server closes, the temp folder goes


def serve(
    models: Annotated[Optional[list[str]], Opt("--model", "-m", help="Model to offer (repeatable): a path, bundled name or hf://org/repo; bundled models and cached hf:// models are offered too.", show_default=False)] = None,
    host: Annotated[str, Opt("--host", help="Address to listen on (other than loopback: anyone who can reach it can use the page).")] = "127.0.0.1",
    port: Annotated[int, Opt("--port", min=1, max=65535, help="Port.")] = 7860,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    max_pixels: MaxPixelsOpt = 50_000_000,
    max_upload_mb: Annotated[int, Opt("--max-upload-mb", min=1, help="Refuse uploads larger than this many megabytes.")] = 100,
    max_models: Annotated[int, Opt("--max-models", min=1, help="Models kept loaded at once (least recently used leaves first).")] = 3,
    max_model_mb: Annotated[int, Opt("--max-model-mb", min=0, help="Weights kept loaded at once, in megabytes (0: no limit but --max-models).")] = 4096,
    queue: Annotated[int, Opt("--queue", min=1, help="Requests waiting at most; more are turned away with a message.")] = 16,
    concurrency: Annotated[int, Opt("--concurrency", min=1, help="Requests running at once.")] = 2,
    bundled: Annotated[bool, Opt("--bundled/--no-bundled", help="Offer the bundled models.")] = True,
) -> None:
    """Serve a web page with a tab per task (translate, style-sample, edit, stylize, upscale, inpaint, sample).

    Needs the ui extra: pip install 'gantrans[ui]'. Uploads only: the page never reads or writes other server
    files; outputs live in a temporary folder removed when the server stops.

    Examples:\n
      gantrans serve\n
      gantrans serve -m horse2zebra.safetensors -m hf://org/munit-shoes --port 8080
    """
    with handle_errors():
        use_threads(threads)
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        from gantrans.engine.device import describe, resolve_device, resolve_precision

        dev = resolve_device(device)  # an explicit request that cannot be met fails now, with its hint
        chosen = describe(dev, resolve_precision(precision, dev))
        work = Path(tempfile.mkdtemp(prefix="gantrans-serve-"))
        os.environ["GRADIO_TEMP_DIR"] = str(work / "gradio")  # read when gradio is imported: its upload cache goes with ours
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
        try:
            import gradio  # noqa: F401
        except ImportError:
            shutil.rmtree(work, ignore_errors=True)
            fail("gantrans serve needs the ui extra: pip install 'gantrans[ui]'")
        from gantrans.web.app import build_app
        from gantrans.web.catalog import Catalog
        from gantrans.web.jobs import Jobs

        try:
            cat = Catalog(models or [], device, precision, max_models, max_model_mb * 2**20 or None, bundled=bundled)
            for why in cat.skipped:
                print(f"gantrans: not offered: {why}", file=sys.stderr)
            if models and not any(m in cat.entries for m in models):
                fail("none of the -m models could be read (see above)")
            jobs = Jobs(cat, work / "jobs", max_pixels)
            demo = build_app(jobs)
            demo.queue(max_size=queue, default_concurrency_limit=concurrency)
            if not loopback:
                print(f"gantrans: warning: listening on {host}: anyone who can reach this address can use the page and this machine's compute", file=sys.stderr)
            print(f"gantrans: {len(cat.entries)} model(s) on {chosen}; outputs in {work} (removed on exit)", file=sys.stderr)
            signal.signal(signal.SIGTERM, _terminated)
            demo.launch(server_name=host, server_port=port, max_file_size=max_upload_mb * 2**20, show_error=False, quiet=False,
                        footer_links=[], inbrowser=False, prevent_thread_lock=True)  # fmt: skip
            try:
                threading.Event().wait()  # until Ctrl-C (exit 130; Gradio's own wait would swallow it) or SIGTERM (143)
            finally:
                demo.close()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        raise typer.Exit(EXIT_OK)
