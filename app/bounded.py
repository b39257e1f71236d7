"""Process memory that stays bounded however many accounts, calendars or credentials pass.

A long-running calbot sees keys come and go (accounts connect, reconnect with new tokens,
disconnect); state kept per key must not outlive its use. Two shapes cover it: a cache capped in
entries (least recently used dropped first), and per-key locks that exist only while a task
holds or waits for them. Plain Python, no I/O: adapters and services both use it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """A mapping of at most `max_entries`; adding past that drops the least recently used."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("a bounded cache holds at least one entry")
        self.max_entries = max_entries
        self._entries: OrderedDict[K, V] = OrderedDict()
        self.peek: Callable[[K], V | None] = self._entries.get
        """The value, its place in the order left as it is; None when absent. The dict's own
        `get` (no Python frame): for loops over a thousand rows a request. Entries read only
        by `peek` leave first, as in a queue."""

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value, now the most recently used; None when absent."""
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)

    def drop_where(self, stale: Callable[[V], bool]) -> None:
        """Forget every entry whose value is stale (an expired token, an old secret)."""
        for key in [key for key, value in self._entries.items() if stale(value)]:
            del self._entries[key]


@dataclass(slots=True)
class _Held:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class KeyedLocks(Generic[K]):
    """One asyncio lock per key, kept only while some task holds it or waits for it.

    A lock is forgotten when its last user leaves, never while a waiter is being woken: users
    are counted from before they wait until after they release, so two tasks of one key always
    share one lock.
    """

    def __init__(self) -> None:
        self._held: dict[K, _Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    @asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        held = self._held.setdefault(key, _Held())
        held.users += 1
        try:
            async with held.lock:
                yield
        finally:
            held.users -= 1
            if held.users == 0:
                del self._held[key]
