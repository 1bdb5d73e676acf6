"""A bounded cache of loaded models for long-running front ends (`gantrans serve`).

Least recently used models leave first once the cache holds more than `max_models` models or more than
`max_bytes` of weights (a checkpoint's file size stands for the memory its weights take). Loading happens
outside the cache's lock: a request for a model already loaded never waits for another model's load, and
two requests for the same model share one load.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future
from typing import Any, Callable, Hashable

from gantrans.errors import UsageError

Loader = Callable[[], tuple[Any, int]]  # -> (model, bytes it takes)


class ModelCache:
    def __init__(self, max_models: int = 3, max_bytes: int | None = None) -> None:
        if max_models < 1:
            raise UsageError("--max-models must be >= 1")
        self.max_models, self.max_bytes = max_models, max_bytes
        self._lock = threading.Lock()
        self._models: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()  # oldest use first
        self._loading: dict[Hashable, Future] = {}
        self.loads = 0  # how many loads ran (tests, logs)

    def get(self, key: Hashable, load: Loader) -> Any:
        """The model of `key`, loaded by `load` on first use (a failed load raises here and is not kept)."""
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key][0]
            fut = self._loading.get(key)
            owner = fut is None
            if fut is None:
                fut = self._loading[key] = Future()
        if not owner:
            return fut.result()[0]  # another request is loading it
        try:
            entry = load()
        except BaseException as e:
            with self._lock:
                del self._loading[key]
            fut.set_exception(e)
            raise
        with self._lock:
            del self._loading[key]
            self._models[key] = entry
            self._evict()
            self.loads += 1
        fut.set_result(entry)
        return entry[0]

    def _evict(self) -> None:
        """Drop the least recently used models beyond the limits (never the newest: one model always fits)."""
        while len(self._models) > 1 and (len(self._models) > self.max_models or (self.max_bytes is not None and self.nbytes > self.max_bytes)):
            self._models.popitem(last=False)

    @property
    def nbytes(self) -> int:
        return sum(n for _, n in self._models.values())

    def keys(self) -> list[Hashable]:
        """Loaded keys, least recently used first."""
        with self._lock:
            return list(self._models)
