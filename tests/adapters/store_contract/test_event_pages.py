"""EventStore.list_events_page: a calendar's events a keyset page at a time, by (start, id)."""

from __future__ import annotations

from app.adapters.ports import EventRow, Stores
from app.domain import AutoScheduleMode, Event, ScheduleStatus
from tests.adapters.store_contract.builders import (
    ACCOUNT,
    CAL,
    OTHER,
    TEAM,
    WEEKLY,
    at,
    bot,
    event,
    page,
    synced,
)


def _position(row: EventRow) -> tuple:  # type: ignore[type-arg]
    return (row.event.start_time, row.event.event_id)


async def _all_pages(stores: Stores, limit: int, calendar_id: str = CAL) -> list[list[Event]]:
    pages: list[list[Event]] = []
    after = None
    while True:
        rows = await stores.events.list_events_page(ACCOUNT, calendar_id, after=after, limit=limit)
        if not rows:
            return pages
        pages.append([row.event for row in rows])
        after = _position(rows[-1])


async def test_pages_follow_start_then_event_id_and_end_after_the_last_event(
    stores: Stores,
) -> None:
    series = event("series", at(-100), recurrence=WEEKLY)
    ties = [event(f"tie-{n}", at(2)) for n in range(5)]
    late, early = event("late", at(3)), event("early", at(1))
    await synced(stores.events, late, *ties, early, series)
    expected = [series, early, *sorted(ties, key=lambda e: e.event_id), late]

    for limit in (1, 2, 3, 8, 100):
        pages = await _all_pages(stores, limit)
        assert [e for chosen in pages for e in chosen] == expected, limit
        assert all(len(chosen) == limit for chosen in pages[:-1])

    last = expected[-1]
    assert (
        await stores.events.list_events_page(
            ACCOUNT, CAL, after=(last.start_time, last.event_id), limit=10
        )
        == []
    )
    beyond = await stores.events.list_events_page(ACCOUNT, CAL, after=(at(1000), ""), limit=10)
    assert beyond == []


async def test_a_page_starts_strictly_after_its_cursor_even_within_a_tie(stores: Stores) -> None:
    ties = sorted([event(f"tie-{n}", at(2)) for n in range(4)], key=lambda e: e.event_id)
    await synced(stores.events, *ties)

    rows = await stores.events.list_events_page(
        ACCOUNT, CAL, after=(ties[1].start_time, ties[1].event_id), limit=10
    )
    assert [row.event for row in rows] == ties[2:]
    # A cursor between two stored positions: the page starts at the next one.
    rows = await stores.events.list_events_page(ACCOUNT, CAL, after=(at(1.5), "zzz"), limit=1)
    assert [row.event for row in rows] == ties[:1]


async def test_a_page_holds_only_the_calendars_own_events_with_their_pending_bots(
    stores: Stores,
) -> None:
    mine, other_calendar = event("mine", at(1)), event("team", at(0), calendar_id=TEAM)
    other_account = event("theirs", at(0), account_id=OTHER)
    await synced(stores.events, mine)
    await synced(stores.events, other_calendar, calendar_id=TEAM)
    await synced(stores.events, other_account, account_id=OTHER)
    await stores.bots.insert_or_update_pending_bot(bot(mine, bot_id="bot_mine"))

    rows = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)

    assert [(row.event, row.bot_join_status) for row in rows] == [(mine, True)]
    team = await stores.events.list_events_page(ACCOUNT, TEAM, after=None, limit=10)
    assert [row.event for row in team] == [other_calendar]
    assert await stores.events.list_events_page(OTHER, TEAM, after=None, limit=10) == []


async def test_a_page_sees_an_event_moved_by_a_later_sync(stores: Stores) -> None:
    first, second = event("first", at(1)), event("second", at(2))
    await synced(stores.events, first, second)
    assert [
        r.event for r in await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=1)
    ] == [first]

    moved = event("first", at(3))
    await stores.events.apply_events_page(ACCOUNT, page(moved, generation=1))

    rows = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)
    assert [row.event for row in rows] == [second, moved]


async def test_a_page_read_again_shows_what_was_written_since(stores: Stores) -> None:
    series = event("series", at(-100), recurrence=WEEKLY)
    await synced(stores.events, series)
    [before] = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)

    await stores.events.set_next_occurrences(ACCOUNT, [(series.event_id, at(68), at(68.5))])
    await stores.events.set_schedule_status(ACCOUNT, series.event_id, ScheduleStatus.SCHEDULED)
    await stores.events.set_recurring_enabled(ACCOUNT, series.event_id, False)
    await stores.events.set_auto_schedule_mode(ACCOUNT, series.event_id, AutoScheduleMode.NEVER)

    [after] = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)
    assert before.event == series
    assert (
        after.event.next_occurrence_start,
        after.event.schedule_status,
        after.event.recurring_enabled,
        after.event.auto_schedule_mode,
    ) == (at(68), ScheduleStatus.SCHEDULED, False, AutoScheduleMode.NEVER)


async def test_an_event_gone_in_a_full_sync_and_back_shows_what_it_came_back_as(
    stores: Stores,
) -> None:
    """A listing that read the event before must not answer with what it read then."""
    await synced(stores.events, event("back", at(1), summary="First life"))
    [first] = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)
    await synced(stores.events)  # a full sync without it: dropped
    assert await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10) == []

    await synced(stores.events, event("back", at(1), summary="Second life"))

    [second] = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)
    assert (first.event.summary, second.event.summary) == ("First life", "Second life")
