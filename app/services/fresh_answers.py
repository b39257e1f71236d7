"""Answers kept in memory for as long as they are provably what the store would give again.

A listing read twice with nothing committed in between, and before any of its series' next
occurrence has ended, is the same answer: recomputing it (reading a thousand rows, encoding
them) is pure cost. An answer is kept with the backend's change stamp taken *before* it was
read and the instant it stops being true by the clock alone; it is given again only while the
stamp is unchanged and that instant has not come. Any commit, by this process or another (a
sync, a bot launched, a key revoked by the CLI), moves the stamp and retires every answer at
once. A backend that cannot tell (stamp None) has nothing kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from app.adapters.ports import ChangeStamp, Clock

V = TypeVar("V")

ANSWER_BYTES = 32 * 1024 * 1024
"""At most this many bytes of answers kept per process (64 pages of 1,000 events)."""


@dataclass(frozen=True, slots=True)
class Kept(Generic[V]):
    """An answer as kept: the stamp it was read at, until when the clock keeps it true."""

    stamp: Hashable
    until: datetime | None
    value: V
    size: int


class FreshAnswers(Generic[V]):
    """A bounded map of answers, each valid while the store's stamp is the one it was read at
    and the clock is before its `until`; least recently used dropped first past `max_bytes`."""

    def __init__(self, stamp: ChangeStamp, clock: Clock, *, max_bytes: int = ANSWER_BYTES) -> None:
        self._stamp = stamp
        self._clock = clock
        self._max_bytes = max_bytes
        self._bytes = 0
        self._kept: OrderedDict[Hashable, Kept[V]] = OrderedDict()

    def stamp(self) -> Hashable | None:
        """Take before reading what an answer is made of; hand it to `keep` afterwards."""
        return self._stamp()

    def get(self, key: Hashable) -> Kept[V] | None:
        """The kept answer for `key` if it is still true, else None (and it is forgotten)."""
        kept = self._kept.get(key)
        if kept is None:
            return None
        if kept.stamp != self._stamp() or (
            kept.until is not None and self._clock.now() >= kept.until
        ):
            self._forget(key)
            return None
        self._kept.move_to_end(key)
        return kept

    def keep(
        self, key: Hashable, stamp: Hashable | None, until: datetime | None, value: V, size: int
    ) -> None:
        """Keep `value` (about `size` bytes), read at `stamp`, true until `until` (None: until
        the store changes). Nothing is kept when the backend gave no stamp."""
        if stamp is None or size > self._max_bytes:
            return
        self._forget(key)
        self._kept[key] = Kept(stamp, until, value, size)
        self._bytes += size
        while self._bytes > self._max_bytes:
            _, dropped = self._kept.popitem(last=False)
            self._bytes -= dropped.size

    def __len__(self) -> int:
        return len(self._kept)

    def _forget(self, key: Hashable) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self._bytes -= kept.size
