"""A sync maps each page while the page before is being written: the writes themselves still
come one at a time, in Google's order, and a failed write stops the sync where it failed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.adapters.ports import EventsPageWrite, SeriesOverride
from app.domain import OccurrenceOverride
from app.errors import StorageUnavailable
from app.services.series_refresh import merged_overrides
from app.services.sync import _settled
from tests.unit.calbot import ACCOUNT, CAL, Calbot, at, event_ids, google_time, meeting


def _slow_writes(
    calbot: Calbot, log: list[str], *, failing_page: int | None = None, turns: int = 5
) -> None:
    """Each page write takes `turns` turns of the event loop (as a database thread does) and
    logs when it starts and ends; the write of `failing_page` fails half-way."""
    events = calbot.stores.events
    write_page = events.apply_events_page
    written = 0

    async def apply_events_page(account_id: str, page: EventsPageWrite) -> None:
        nonlocal written
        written += 1
        number = written
        log.append(f"write {number} starts")
        for _ in range(turns):
            await asyncio.sleep(0)
        if number == failing_page:
            log.append(f"write {number} fails")
            raise StorageUnavailable()
        await write_page(account_id, page)
        log.append(f"write {number} ends")

    events.apply_events_page = apply_events_page  # type: ignore[method-assign]


async def test_pages_are_written_one_at_a_time_in_order_and_progress_follows(
    calbot: Calbot,
) -> None:
    calbot.google.page_size = 2
    for n in range(1, 6):
        calbot.google.put_event(CAL, meeting(f"m{n}", at(n), at(n + 1)))
    await calbot.connect()
    log: list[str] = []
    _slow_writes(calbot, log)

    outcome = await calbot.sync.sync_calendar(
        ACCOUNT, CAL, on_page=lambda pages, items: log.append(f"told {pages} pages {items} items")
    )

    assert log == [
        "write 1 starts",
        "write 1 ends",
        "told 1 pages 2 items",
        "write 2 starts",
        "write 2 ends",
        "told 2 pages 4 items",
        "write 3 starts",
        "write 3 ends",
        "told 3 pages 5 items",
    ]
    assert (outcome.pages, outcome.items) == (3, 5)
    assert outcome.upserted_ids == event_ids("m1", "m2", "m3", "m4", "m5")
    state = await calbot.stores.events.get_sync_state(ACCOUNT, CAL)
    assert state is not None
    assert state.sync_token is not None


async def test_a_failed_page_write_stops_the_sync_before_any_later_page(calbot: Calbot) -> None:
    calbot.google.page_size = 2
    for n in range(1, 6):
        calbot.google.put_event(CAL, meeting(f"m{n}", at(n), at(n + 1)))
    await calbot.connect()
    log: list[str] = []
    _slow_writes(calbot, log, failing_page=2)

    with pytest.raises(StorageUnavailable):
        await calbot.sync.sync_calendar(ACCOUNT, CAL)

    assert log == ["write 1 starts", "write 1 ends", "write 2 starts", "write 2 fails"]
    rows = await calbot.stores.events.list_events(ACCOUNT, CAL)
    assert [row.event.google_event_id for row in rows] == ["m1", "m2"]
    state = await calbot.stores.events.get_sync_state(ACCOUNT, CAL)
    assert state is None or state.sync_token is None  # the run never completed


async def test_a_page_write_never_outlives_its_sync_even_when_cancelled_twice() -> None:
    """Cancelled while it waits for the write under way, and cancelled again (a cancel scope
    cancels at every await), the sync still returns only once that write is done: its lock
    and lease are released after, so no later sync's write can be overtaken by this one."""
    log: list[str] = []

    async def write() -> None:
        for _ in range(20):
            await asyncio.sleep(0)
        log.append("write done")

    writing = asyncio.ensure_future(asyncio.shield(write()))

    async def sync_ending() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            try:
                await _settled(writing)
            finally:
                log.append("sync ended")

    sync = asyncio.create_task(sync_ending())
    await asyncio.sleep(0)
    for _ in range(2):
        sync.cancel()
        await asyncio.sleep(0)
    with pytest.raises(asyncio.CancelledError):
        await sync
    assert log == ["write done", "sync ended"]


def _exception(series_id: str, original: float, start: float) -> dict[str, Any]:
    """Google's item for one occurrence of a series moved from `original` to `start`."""
    return {
        "id": f"{series_id}_{original}",
        "recurringEventId": series_id,
        "originalStartTime": google_time(at(original)),
        "start": google_time(at(start)),
        "end": google_time(at(start + 1)),
    }


async def test_exceptions_find_their_series_across_pages_while_the_page_before_is_written(
    calbot: Calbot,
) -> None:
    # Three pages, written slowly so that each page is mapped and its series' next occurrences
    # worked out while the page before is still being written: a series whose moved occurrence
    # comes a page before it, and one whose moved occurrence comes two pages after it.
    calbot.google.page_size = 500
    weekly: dict[str, Any] = {"recurrence": ["RRULE:FREQ=WEEKLY"]}
    items: list[dict[str, Any]] = [meeting(f"m{n}", at(n + 10), at(n + 11)) for n in range(1300)]
    items[5] = _exception("late", 1, 3)  # its series comes in the next page
    items[600] = meeting("late", at(1), at(2), **weekly)
    items[6] = meeting("early", at(1), at(2), **weekly)
    items[1100] = _exception("early", 1, 5)  # two pages after its series
    for item in items:
        calbot.google.put_event(CAL, item)
    await calbot.connect()
    log: list[str] = []
    _slow_writes(calbot, log, turns=50)  # longer than mapping the next page

    outcome = await calbot.sync.sync_calendar(
        ACCOUNT, CAL, on_page=lambda pages, items: log.append(f"told {pages} pages {items} items")
    )

    assert log == [
        "write 1 starts",
        "write 1 ends",
        "told 1 pages 500 items",
        "write 2 starts",
        "write 2 ends",
        "told 2 pages 1000 items",
        "write 3 starts",
        "write 3 ends",
        "told 3 pages 1300 items",
    ]
    assert (outcome.pages, outcome.items, outcome.changed_series) == (3, 1300, {"late", "early"})
    for series_id, moved_to in (("late", 3), ("early", 5)):
        series = await calbot.stores.events.get_event(ACCOUNT, await calbot.event_id(series_id))
        assert series is not None
        assert (series.next_occurrence_start, series.next_occurrence_end) == (
            at(moved_to),
            at(moved_to + 1),
        )
    assert len(await calbot.stores.events.list_events(ACCOUNT, CAL)) == 1298


async def test_exceptions_of_a_series_deleted_by_the_page_before_are_not_used(
    calbot: Calbot,
) -> None:
    events = calbot.stores.events
    await events.apply_events_page(
        ACCOUNT,
        EventsPageWrite(
            calendar_id=CAL,
            upserts=[],
            overrides=[
                SeriesOverride("s1", OccurrenceOverride(original_start=at(1), cancelled=True))
            ],
            cancelled_google_ids=[],
            full_sync=False,
            generation=1,
            sync_token=None,
            synced_at=at(0),
        ),
    )

    kept = await merged_overrides(events, ACCOUNT, CAL, {"s1"}, [])
    dropped = await merged_overrides(events, ACCOUNT, CAL, {"s1"}, [], deleted=["s1"])

    assert [o.original_start for o in kept["s1"]] == [at(1)]
    assert dropped == {}
