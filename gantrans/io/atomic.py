"""Atomic file writes: write to a temp file in the target's folder, then rename into place."""

from __future__ import annotations

import os
import re
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_STARTED = time.time()  # files older than this were not written by this process
# .NAME.PID-RANDOM.tmp: the writer's pid tells a stale temp file (its writer is gone) from a live one
_TEMP = re.compile(r"^\..+\.(\d+)-[A-Za-z0-9_]+\.tmp$")

_UMASK = os.umask(0)  # read once (the only way to read it), restored at once
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK  # what open() would give a new file; mkstemp alone gives 0600


@contextmanager
def atomic_target(path: Path, overwrite: bool = True) -> Iterator[str]:
    """Yields a temp path beside `path`; on success it becomes `path`, on any failure it is removed.

    Without `overwrite`, an existing `path` is kept and FileExistsError is raised (link() refuses
    to replace, so a concurrent writer is never clobbered).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    try:
        try:
            yield tmp
        except OSError as e:  # e.g. a full disk while writing: name the file meant, not the temp file
            if e.errno is None:
                raise
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        os.chmod(tmp, FILE_MODE)  # writers that recreate the file (safetensors) would leave mkstemp's 0600
        if overwrite:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise FileExistsError(f"{path} exists (use --overwrite)") from None
        except OSError:  # a filesystem without hard links
            if path.exists():
                raise FileExistsError(f"{path} exists (use --overwrite)") from None
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes_atomic(path: Path, data: bytes, overwrite: bool = True) -> None:
    """`data` into `path` atomically (flushed to disk before the rename)."""
    with atomic_target(path, overwrite) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def clean_stale(folder: Path) -> int:
    """Remove temp files of our naming left by killed writers: older than this process, and their writer's
    pid no longer alive. Returns how many were removed."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for e in entries:
        m = _TEMP.match(e.name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            if e.stat(follow_symlinks=False).st_mtime < _STARTED and not _alive(int(m.group(1))):
                os.unlink(e.path)
                removed += 1
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    return removed
