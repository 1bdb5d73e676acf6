"""gantrans's errors: one base class; the CLI maps `UsageError` (and only it) to exit code 2.

Each subclass keeps `ValueError` (or `LookupError`) as a second base, so code written against the older
built-in exceptions still catches them. A plain `ValueError` from inside the engine is an internal error,
not a usage error (exit 1).
"""

from __future__ import annotations


class GantransError(Exception):
    """Base class of every error gantrans raises on purpose; its message is meant for users."""


class UsageError(GantransError, ValueError):
    """The request cannot be carried out as asked (bad option, wrong model kind, missing input): exit 2."""


class DataError(GantransError, ValueError):
    """A file's contents are unusable (checkpoint, image, dataset, labels): exit 1."""
