"""The response cache of ``external_api`` blocks with ``cache_seconds``."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any


class ResponseCache:
    """Parsed JSON responses by request, for ``cache_seconds``, least recent out.

    One cache serves the whole process. The total size of the cached
    response bodies is bounded by ``max_bytes``.
    """

    def __init__(self, max_entries: int = 1000, max_bytes: int = 32 * 1024 * 1024):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.entries: OrderedDict[str, tuple[float, Any, int]] = OrderedDict()
        self.size = 0

    def get(self, key: str) -> Any | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        expires, document, _size = entry
        if expires <= time.monotonic():
            self._remove(key)
            return None
        self.entries.move_to_end(key)
        return document

    def put(self, key: str, document: Any, size: int, seconds: float) -> None:
        if size > self.max_bytes:
            return
        if key in self.entries:
            self._remove(key)
        self.entries[key] = (time.monotonic() + seconds, document, size)
        self.size += size
        while len(self.entries) > self.max_entries or self.size > self.max_bytes:
            self._remove(next(iter(self.entries)))

    def clear(self) -> None:
        self.entries.clear()
        self.size = 0

    def _remove(self, key: str) -> None:
        _expires, _document, size = self.entries.pop(key)
        self.size -= size
