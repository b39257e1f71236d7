"""Driving a race deterministically: hold one writer between its read and its write.

    bots = Paused(calbot.stores.bots, "update_bot")
    reconciler = BotReconciler(bots=bots, ...)        # this writer goes through the gate
    task = asyncio.create_task(reconciler.after_sync(ACCOUNT, outcome))
    await bots.reached()                              # it has read, and is about to write
    await calbot.scheduling.update_bot(...)           # the other writer runs in between
    bots.release()
    await task

`Paused` stands in for any port object: every attribute is the wrapped object's, except the
named async method, whose first call (or `nth`) waits at the gate before it runs. Nothing of
calbot is patched: the paused object is handed to the service under test like any store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

REACH_TIMEOUT = 5.0  # seconds of real time: a writer that never gets there fails the test


class Paused:
    def __init__(self, inner: Any, method: str, *, nth: int = 1) -> None:
        self._inner = inner
        self._method = method
        self._nth = nth
        self.calls = 0
        self._reached = asyncio.Event()
        self._released = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name != self._method:
            return attribute
        return self._gated(attribute)

    def _gated(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def gated(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == self._nth:
                self._reached.set()
                await self._released.wait()
            return await method(*args, **kwargs)

        return gated

    async def reached(self) -> None:
        """Wait until the paused call has arrived at the gate."""
        await asyncio.wait_for(self._reached.wait(), REACH_TIMEOUT)

    def release(self) -> None:
        """Let the paused call (and every later one) through."""
        self._released.set()
