"""Python's cyclic garbage collector held off around allocation-heavy work: a sync."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["RELAXED_THRESHOLD", "collector_relaxed"]

# The collector's first threshold while a sync runs: net new container objects (allocations
# less deallocations) before a collection, instead of Python's 700. A 10k-event full sync keeps
# well under it (its pages die by reference count once stored); garbage cycles made meanwhile
# by anything else are still collected once this many have piled up.
RELAXED_THRESHOLD = 100_000

_relaxed = 0  # stretches in `collector_relaxed` now (syncs of several calendars overlap)
_thresholds = gc.get_threshold()  # what they restore when the last ends


@contextmanager
def collector_relaxed() -> Iterator[None]:
    """The collector started far less often for a stretch that awaits I/O (a sync).

    Decoding and mapping a page of 2,500 events makes some 50,000 objects, alive until the page
    is stored; with Python's thresholds a collection starts every 700 of them, walks the page's
    objects again and again and promotes them until full collections walk the whole heap (the
    first profile of a 10k-event full sync: a third of its time in the collector). Pausing the
    collector around decoding and mapping, as calbot first did, only moved the work: once it
    resumed, the first collections walked every object of the page still alive (collector
    callbacks: 11 or 12 collections of the youngest generation and one of the next, 20 to 25 ms
    of the event loop thread's CPU). All of those objects die by reference count once their
    page is stored; with the first threshold at `RELAXED_THRESHOLD`, such a sync runs one
    collection (3.5 ms) or none. Unlike a pause, the collector still runs if that many objects
    pile up, whatever made them, so a long sync beside other work cannot grow memory without
    bound.

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
