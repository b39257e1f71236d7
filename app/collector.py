"""Python's cyclic garbage collector held off around allocation-heavy work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["RELAXED_THRESHOLD", "collector_paused", "collector_relaxed"]

# The collector's first threshold while a sync runs: net new container objects (allocations
# less deallocations) before a collection, instead of Python's 700. A 10k-event full sync keeps
# well under it (its pages die by reference count once stored); garbage cycles made meanwhile
# by anything else are still collected once this many have piled up.
RELAXED_THRESHOLD = 100_000

_relaxed = 0  # stretches in `collector_relaxed` now (syncs of several calendars overlap)
_thresholds = gc.get_threshold()  # what they restore when the last ends


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


@contextmanager
def collector_relaxed() -> Iterator[None]:
    """The collector started far less often for a stretch that awaits I/O (a sync).

    Pausing a sync's decoding and mapping (`collector_paused`) only moved the work: once it
    resumed, the first collections walked every object the page had made and that was still
    alive (the decoded items, the events mapped from them), and promoted them to be walked
    again (profile of a 10k-event full sync, collector callbacks: 11 or 12 collections of the
    youngest generation and one of the next, 20 to 25 ms of the event loop thread's CPU). All
    of those objects die by reference count once their page is stored; with the first
    threshold at `RELAXED_THRESHOLD`, such a sync runs one collection (3.5 ms) or none. Unlike
    a pause, the collector still runs if that many objects pile up, whatever made them, so a
    long sync beside other work cannot grow memory without bound.

    Only the event loop's thread enters it (the collector's thresholds are the process's).
    """
    global _relaxed, _thresholds
    if _relaxed == 0:
        _thresholds = gc.get_threshold()
        gc.set_threshold(max(RELAXED_THRESHOLD, _thresholds[0]), *_thresholds[1:])
    _relaxed += 1
    try:
        yield
    finally:
        _relaxed -= 1
        if _relaxed == 0:
            gc.set_threshold(*_thresholds)
