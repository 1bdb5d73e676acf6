"""Model references resolve here, and only here: a path, a bundled name, or hf://org/repo."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from gantrans.errors import UsageError

HF_SCHEME = "hf://"
DEFAULT_FILENAME = "model.safetensors"
# The model `translate` uses when -m is not given (trained by gantrans, shipped in weights/).
DEFAULT_MODEL = "noto2emojione"
# the bundled model a command uses without -m (a command missing here needs -m)
COMMAND_DEFAULTS = {"translate": DEFAULT_MODEL, "export": DEFAULT_MODEL, "info": DEFAULT_MODEL,
                    "style-sample": "glyphs_munit", "edit": "person_emoji_stargan", "upscale": "sr_photo_x4",
                    "inpaint": "inpaint_photo", "sample": "glyphs_infogan"}  # fmt: skip
_REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")


class ModelNotFoundError(UsageError, LookupError):
    """A model reference names nothing that can be loaded; the message has a hint."""


def weights_dirs() -> list[Path]:
    """Where bundled models live: $GANTRANS_WEIGHTS, the source checkout, the installed data dir."""
    dirs = []
    if os.environ.get("GANTRANS_WEIGHTS"):
        dirs.append(Path(os.environ["GANTRANS_WEIGHTS"]))
    dirs.append(Path(__file__).resolve().parents[2] / "weights")
    dirs.append(Path(sys.prefix) / "share" / "gantrans" / "weights")
    return [d for d in dirs if d.is_dir()]


def bundled_models() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in weights_dirs():
        for f in sorted(d.glob("*.safetensors")):
            found.setdefault(f.stem, f)
    return found


def parse_hf(ref: str) -> tuple[str, str, str | None]:
    """'hf://org/repo[/path/file][@rev]' -> (repo_id, filename, revision), validated."""
    body = ref[len(HF_SCHEME) :]
    revision = None
    if "@" in body:
        body, revision = body.rsplit("@", 1)
        if not _REVISION.match(revision) or ".." in revision:
            raise ModelNotFoundError(f"bad revision {revision!r} in {ref!r}")
    parts = body.split("/")
    if len(parts) < 2 or not all(_REPO_PART.match(p) for p in parts[:2]):
        raise ModelNotFoundError(f"bad hub reference {ref!r}; expected hf://org/repo[/file][@revision]")
    file_parts = parts[2:]
    if any(p in ("", ".", "..") or "\\" in p for p in file_parts):
        raise ModelNotFoundError(f"bad file path in {ref!r}: no empty, '.' or '..' parts allowed")
    return "/".join(parts[:2]), "/".join(file_parts) or DEFAULT_FILENAME, revision


def _hf_cache_dir() -> Path:
    # Read at call time (huggingface_hub reads these once, at import).
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface"
    )
    return Path(home) / "hub"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _unreachable(timeout: float = 3.0) -> str | None:
    """Why the Hub endpoint cannot be reached (DNS or TCP, within `timeout`), or None when it can."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        return f"{host}: {e.strerror or e}"
    return None


def resolve_hf(ref: str, offline: bool | None = None) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    repo_id, filename, revision = parse_hf(ref)
    offline = _offline() if offline is None else offline
    unreachable = None if offline else _unreachable()
    if unreachable:  # fail at once from the cache, instead of the client's ~25 s of connection retries
        offline = True
    cache = _hf_cache_dir()
    try:
        local = hf_hub_download(
            repo_id, filename, revision=revision, cache_dir=str(cache), local_files_only=offline
        )
    except LocalEntryNotFoundError:
        raise ModelNotFoundError(
            f"{ref}: not in the local Hugging Face cache ({cache})"
            + (f" and the Hub cannot be reached ({unreachable})" if unreachable else " and HF_HUB_OFFLINE is set" if offline else " and the Hub cannot be reached")
            + "; download it on a connected machine into the same HF_HOME"
        ) from None
    except (HfHubHTTPError, OSError, ValueError) as e:
        raise ModelNotFoundError(f"{ref}: {e}") from None
    path = Path(local)
    # Snapshot files are links into blobs/; both must stay inside the cache.
    if not str(path.resolve()).startswith(str(cache.resolve()) + os.sep):
        raise ModelNotFoundError(f"{ref}: resolved outside the cache ({path}); refusing")
    return path


def resolve(ref: str | os.PathLike | None, command: str = "translate") -> Path:
    """Map a model reference to a local file: hf://, then an existing path, then a bundled name.
    No reference: the bundled model of `command`'s kind (COMMAND_DEFAULTS), if there is one."""
    if ref is None:
        if command not in COMMAND_DEFAULTS:
            raise ModelNotFoundError(f"{command} needs a model: pass -m PATH|NAME|hf://org/repo")
        ref = COMMAND_DEFAULTS[command]
        if ref not in bundled_models():
            raise ModelNotFoundError(
                f"no model given and the default model of {command} ({ref}) is not bundled; pass -m PATH|NAME|hf://org/repo"
            )
    ref = os.fspath(ref)
    if ref.startswith(HF_SCHEME):
        return resolve_hf(ref)
    path = Path(ref).expanduser()
    try:
        if path.is_dir() and (path / DEFAULT_FILENAME).is_file():
            return path / DEFAULT_FILENAME
        if path.is_file():
            return path
    except OSError:  # e.g. a name too long for the file system: not a path, so maybe a bundled name
        pass
    bundled = bundled_models()
    if ref in bundled:
        return bundled[ref]
    names = ", ".join(sorted(bundled)) or "none"
    raise ModelNotFoundError(
        f"model {ref!r} not found: not a file, not a run directory with {DEFAULT_FILENAME}, "
        f"and not a bundled model (bundled: {names}); hub models are hf://org/repo"
    )
