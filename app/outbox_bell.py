"""An in-process signal rung after a write that added outbox messages has committed, so this
process's webhook dispatcher starts at once instead of at its next poll. (Other replicas'
writes are found by that poll.) Rung by the storage backends, never by services: a writer only
appends its messages in its own write (`app.adapters.ports.outbox`)."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar


class OutboxBell:
    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener` (quick, non-blocking: it sets an event) on every ring."""
        self._listeners.append(listener)

    def ring(self) -> None:
        for listener in self._listeners:
            listener()


outbox_appended: ContextVar[bool] = ContextVar("outbox_appended", default=False)
"""Set by the SQLite in-transaction helpers; read after the COMMIT by `Database.transaction`
(same task) or `Database.write_in_thread` (same call in the writer's thread), so the flag
travels from one to the other and no further."""
