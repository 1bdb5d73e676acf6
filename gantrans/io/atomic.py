"""Atomic file writes: write to a temp file in the target's folder, then rename into place."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    try:
        yield tmp
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
