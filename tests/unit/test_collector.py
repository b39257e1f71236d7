"""The collector relaxed for a sync: started far less often while one runs, as usual after, and
still started when garbage cycles pile up meanwhile."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from app.adapters.ports import EventsPageWrite
from app.collector import RELAXED_THRESHOLD, collector_relaxed
from app.errors import StorageUnavailable
from tests.unit.calbot import ACCOUNT, CAL, Calbot, at, meeting


@pytest.fixture(autouse=True)
def usual_thresholds() -> Iterator[tuple[int, int, int]]:
    """Python's own thresholds around each test, whatever an earlier test left."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_relaxed_while_inside_and_as_before_after(usual_thresholds: tuple[int, ...]) -> None:
    with collector_relaxed():
        assert gc.get_threshold() == (RELAXED_THRESHOLD, 10, 10)
    assert gc.get_threshold() == usual_thresholds


def test_as_before_after_an_error(usual_thresholds: tuple[int, ...]) -> None:
    with pytest.raises(RuntimeError), collector_relaxed():
        raise RuntimeError("the sync failed")
    assert gc.get_threshold() == usual_thresholds


def test_a_higher_threshold_set_by_the_operator_is_kept() -> None:
    gc.set_threshold(500_000, 10, 10)
    with collector_relaxed():
        assert gc.get_threshold()[0] == 500_000
    assert gc.get_threshold() == (500_000, 10, 10)


async def test_overlapping_syncs_restore_only_when_the_last_ends(
    usual_thresholds: tuple[int, ...],
) -> None:
    first_in, second_in, first_may_end = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def first() -> None:
        with collector_relaxed():
            first_in.set()
            await first_may_end.wait()

    async def second() -> tuple[int, ...]:
        await first_in.wait()
        with collector_relaxed():
            second_in.set()
            first_may_end.set()
            await asyncio.sleep(0.01)  # the first ends meanwhile
            return gc.get_threshold()

    task = asyncio.create_task(first())
    during = await second()
    await task
    assert during[0] == RELAXED_THRESHOLD  # still relaxed after the first ended
    assert gc.get_threshold() == usual_thresholds


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_garbage_cycles_made_meanwhile_are_still_collected() -> None:
    gc.collect()
    collections: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            collections.append(info["generation"])

    gc.callbacks.append(count)
    try:
        with collector_relaxed():
            for _ in range(RELAXED_THRESHOLD // 10):
                _Cycle()  # freed only by the collector
            assert collections == []  # far fewer than the threshold: not yet
            for _ in range(2 * RELAXED_THRESHOLD):
                _Cycle()
            assert collections, "the collector never ran with the cycles past the threshold"
    finally:
        gc.callbacks.remove(count)
    assert sum(isinstance(o, _Cycle) for o in gc.get_objects()) < RELAXED_THRESHOLD + 100


async def test_a_sync_runs_relaxed_and_restores_even_when_it_fails(
    calbot: Calbot, usual_thresholds: tuple[int, ...]
) -> None:
    calbot.google.page_size = 2
    for n in range(1, 6):
        calbot.google.put_event(CAL, meeting(f"m{n}", at(n), at(n + 1)))
    await calbot.connect()
    seen: list[int] = []
    events = calbot.stores.events
    write_page = events.apply_events_page

    async def apply_events_page(account_id: str, page: EventsPageWrite) -> None:
        seen.append(gc.get_threshold()[0])
        if len(seen) == 2:
            raise StorageUnavailable()
        await write_page(account_id, page)

    events.apply_events_page = apply_events_page  # type: ignore[method-assign]

    with pytest.raises(StorageUnavailable):
        await calbot.sync.sync_calendar(ACCOUNT, CAL)

    assert seen == [RELAXED_THRESHOLD, RELAXED_THRESHOLD]
    assert gc.get_threshold() == usual_thresholds
