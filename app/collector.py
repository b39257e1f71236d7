"""Python's cyclic garbage collector held off around allocation-heavy synchronous work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector held off for a stretch of synchronous work.

    Decoding or mapping a page of a sync allocates tens of thousands of objects, and each 700
    allocations start a collection; the page's objects, alive throughout, are walked again and
    again and promoted until full collections walk the whole heap (the profile of a 10k-event
    full sync: a third of its time in the collector, and decoding a page took 30 to 200 ms
    depending on when a full collection fell in it). None of this work makes reference cycles,
    so nothing is left for the collector to find; it runs as usual after. Only around code that
    never awaits, or awaits only to let the event loop turn (`asyncio.sleep(0)`), never for
    I/O: the pause lasts as long as the work, not as long as a wait.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
