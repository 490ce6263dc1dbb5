"""A small per-process cache whose entries live a fixed number of seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    """Values by key, each kept for `ttl` seconds, at most `size` of them.

    Meant for what a viral petition's visitors all ask for: a process asks the database about
    one key at most once per TTL however many read it. A miss is not locked: two threads that
    miss at once both load, which costs a query, never a wrong answer.
    """

    def __init__(self, ttl: float, size: int = 10_000) -> None:
        """Keep up to `size` keys for `ttl` seconds each (0: keep nothing)."""
        self.ttl = ttl
        self.size = size
        self.lock = threading.Lock()
        self.entries: dict[str, tuple[float, V]] = {}

    def get(self, key: str, load: Callable[[str], V]) -> V:
        """The cached value of the key, or load(key) when missing or stale."""
        now = time.monotonic()
        entry = self.entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = load(key)
        if self.ttl > 0:
            with self.lock:
                if len(self.entries) >= self.size:
                    self.entries.clear()  # crude but bounded; the next requests refill what is hot
                self.entries[key] = (now + self.ttl, value)
        return value
