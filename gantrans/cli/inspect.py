"""`gantrans info`, `models`, `download`: what a checkpoint holds, which models are bundled, pre-fetching."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from gantrans.cli.common import JsonOpt, handle_errors


def info(
    model: Annotated[str, typer.Argument(help="Checkpoint path, run directory, bundled name, or hf://org/repo.")],
    json_out: JsonOpt = False,
) -> None:
    """Describe a checkpoint from its header: architecture, config, networks, domains, provenance."""
    with handle_errors():
        from safetensors import safe_open

        from gantrans.io.checkpoint import read_metadata
        from gantrans.io.hub import resolve

        path = resolve(model)
        meta = read_metadata(path)
        with safe_open(str(path), framework="pt") as f:
            params = {k: f.get_slice(k).get_shape() for k in f.keys()}
        counts: dict[str, int] = {}
        for key, shape in params.items():
            n = 1
            for d in shape:
                n *= d
            counts[key.split(".", 1)[0]] = counts.get(key.split(".", 1)[0], 0) + n
        row = {
            "path": str(path),
            "arch": meta["arch"],
            "config": json.loads(meta["config"]),
            "networks": {k: counts.get(k, 0) for k in [*json.loads(meta["networks"]), *json.loads(meta.get("aux", "{}"))]},
            "aux": {k: v["arch"] for k, v in json.loads(meta.get("aux", "{}")).items()},
            "labels": json.loads(meta.get("labels", "{}")),
            "domains": json.loads(meta.get("domains", '["A", "B"]')),
            "preprocess": json.loads(meta.get("preprocess", "{}")),
            "postprocess": json.loads(meta.get("postprocess", "{}")),
            "gantrans_version": meta.get("gantrans_version"),
            "format_version": meta["format_version"],
            "provenance": json.loads(meta.get("provenance", "{}")),
            "license": meta.get("license"),
        }
        if json_out:
            print(json.dumps(row))
            return
        print(f"{row['path']}\n  arch        {row['arch']}")
        print("  config      " + ", ".join(f"{k}={v}" for k, v in row["config"].items()))
        dirs = {"G_A": "a2b", "G_B": "b2a"}
        print("  networks    " + ", ".join(f"{k}{' (' + dirs[k] + ')' if k in dirs else ''}: {n:,} values" for k, n in row["networks"].items()))
        if row["aux"]:
            print("  aux         " + ", ".join(f"{k}: {a}" for k, a in row["aux"].items()))
        print(f"  domains     {' -> '.join(row['domains'])}")
        for ds in row["labels"].get("datasets", []):
            grouped = {a for ms in ds.get("groups", {}).values() for a in ms}
            parts = [f"{g}={'|'.join(ms)}" for g, ms in ds.get("groups", {}).items()] + [a for a in ds["attrs"] if a not in grouped]
            print(f"  labels      {ds['name']}: " + "; ".join(parts))
        print(f"  preprocess  {row['preprocess']}")
        if row["postprocess"]:
            print(f"  postprocess {row['postprocess']} (translate --smooth auto applies it; --smooth none turns it off)")
        print(f"  written by  gantrans {row['gantrans_version']} (format {row['format_version']})")
        if row["license"]:
            print(f"  license     {row['license']}")
        if row["provenance"]:
            print(f"  provenance  {json.dumps(row['provenance'])}")


def models(json_out: JsonOpt = False) -> None:
    """List the bundled models (weights/), usable by name with -m."""
    with handle_errors():
        from gantrans.io.checkpoint import read_metadata
        from gantrans.io.hub import COMMAND_DEFAULTS, DEFAULT_MODEL, bundled_models

        for name, path in sorted(bundled_models().items()):
            meta = read_metadata(path)
            labels = json.loads(meta.get("labels", "{}"))
            row = {"name": name, "path": str(path), "arch": meta["arch"], "domains": json.loads(meta.get("domains", "[]")),
                   "attributes": [a for d in labels.get("datasets", []) for a in d["attrs"]],
                   "size_mb": round(path.stat().st_size / 2**20, 1), "license": meta.get("license"),
                   "default": name == DEFAULT_MODEL, "default_for": sorted(c for c, m in COMMAND_DEFAULTS.items() if m == name), "card": str(path.with_suffix(".md")) if path.with_suffix(".md").exists() else None}  # fmt: skip
            if json_out:
                print(json.dumps(row))
            else:
                star = f" (default of {', '.join(row['default_for'])})" if row["default_for"] else ""
                what = f"{len(row['attributes'])} attributes" if row["attributes"] else " -> ".join(row["domains"])
                print(f"{name}{star}  {row['arch']}  {what}  {row['size_mb']} MB  {row['card'] or path}")


def download(
    refs: Annotated[list[str], typer.Argument(help="Model references to fetch into the Hugging Face cache: hf://org/repo[/file][@rev] (paths and bundled names are checked).", show_default=False)],
    json_out: JsonOpt = False,
) -> None:
    """Pre-fetch hub models into the local cache before going offline; prints each local path.

    Honours HF_HOME and HF_HUB_OFFLINE.
    """
    import sys

    from gantrans.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE

    with handle_errors():
        from gantrans.io.checkpoint import CheckpointError, read_metadata
        from gantrans.io.hub import ModelNotFoundError, resolve

        failed = 0
        code = EXIT_OK
        for ref in refs:
            try:
                path = resolve(ref)
                meta = read_metadata(path)
            except (ModelNotFoundError, CheckpointError) as e:
                failed += 1
                # the same exit code as translate gives for this reference: 2 not found, 1 damaged
                code = max(code, EXIT_USAGE if isinstance(e, ModelNotFoundError) else EXIT_FAILED)
                print(f"error: {e}", file=sys.stderr)  # the message names the reference
                if json_out:
                    print(json.dumps({"ref": ref, "status": "failed", "message": str(e)}))
                continue
            if json_out:
                print(json.dumps({"ref": ref, "status": "ok", "path": str(path), "arch": meta["arch"], "bytes": path.stat().st_size}))
            else:
                print(path)
        raise typer.Exit(code)
