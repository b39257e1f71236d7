"""Syncing a calendar with Google, on memory stores against a fake Google."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.domain import ConnectionStatus, EventStatus, ScheduleStatus
from app.errors import CalendarNotFound, CredentialsRevoked, GoogleUnavailable
from tests.fakes.google import SyncRun
from tests.unit.calbot import ACCOUNT, CAL, LINK, Calbot, at, event_ids, google_time, meeting

WEEKLY: dict[str, Any] = {"recurrence": ["RRULE:FREQ=WEEKLY"]}


async def listed(calbot: Calbot) -> list[str]:
    """Google ids of the calendar's stored events, in calbot's order."""
    rows = await calbot.stores.events.list_events(ACCOUNT, CAL)
    return [row.event.google_event_id for row in rows]


async def sync_token(calbot: Calbot) -> str | None:
    state = await calbot.stores.events.get_sync_state(ACCOUNT, CAL)
    return None if state is None else state.sync_token


async def test_the_first_sync_is_full_and_later_ones_are_incremental(calbot: Calbot) -> None:
    calbot.google.put_event(CAL, meeting("m1", at(1), at(2)))
    await calbot.connect()

    first = await calbot.refresh()
    calbot.google.put_event(CAL, meeting("m2", at(3), at(4)))
    second = await calbot.refresh()

    assert (first.full_sync, second.full_sync) == (True, False)
    assert calbot.google.runs == [SyncRun(CAL, full=True), SyncRun(CAL, full=False)]
    assert second.upserted_ids == event_ids("m2")
    assert await listed(calbot) == ["m1", "m2"]


async def test_syncs_of_one_calendar_take_turns_and_leave_no_lock_behind(calbot: Calbot) -> None:
    calbot.google.put_event(CAL, meeting("m1", at(1), at(2)))
    await calbot.connect()

    outcomes = await asyncio.gather(*(calbot.sync.sync_calendar(ACCOUNT, CAL) for _ in range(3)))

    assert [outcome.full_sync for outcome in outcomes] == [True, False, False]
    assert len(calbot.sync._locks) == 0  # nothing kept per calendar once its syncs are done


async def test_a_meeting_deleted_at_google_is_cancelled_in_calbot(calbot: Calbot) -> None:
    calbot.google.put_event(CAL, meeting("m1", at(1), at(2)))
    await calbot.connect()
    await calbot.refresh()

    calbot.google.cancel_event(CAL, "m1")
    await calbot.refresh()

    event = await calbot.stores.events.get_event(ACCOUNT, await calbot.event_id("m1"))
    assert event is not None
    assert (event.status, event.schedule_status) == (
        EventStatus.CANCELLED,
        ScheduleStatus.CANCELLED,
    )


async def test_an_expired_sync_token_resyncs_in_full_without_duplicates(calbot: Calbot) -> None:
    for n in (1, 2, 3):
        calbot.google.put_event(CAL, meeting(f"m{n}", at(n), at(n + 1)))
    await calbot.connect()
    await calbot.refresh()
    calbot.google.forget_event(CAL, "m2")  # gone without a trace an incremental sync would see
    calbot.google.put_event(CAL, meeting("m4", at(4), at(5)))
    calbot.google.expire_sync_tokens = True

    outcome = await calbot.refresh()

    assert outcome.full_sync
    assert calbot.google.runs[1:] == [SyncRun(CAL, full=False), SyncRun(CAL, full=True)]
    assert await listed(calbot) == ["m1", "m3", "m4"]
    calbot.google.expire_sync_tokens = False
    calbot.google.put_event(CAL, meeting("m5", at(5), at(6)))
    assert not (await calbot.refresh()).full_sync
    assert await listed(calbot) == ["m1", "m3", "m4", "m5"]


async def test_a_sync_failing_part_way_keeps_the_old_token_and_the_next_one_catches_up(
    calbot: Calbot,
) -> None:
    calbot.google.page_size = 2
    for n in range(1, 6):
        calbot.google.put_event(CAL, meeting(f"m{n}", at(n), at(n + 1)))
    await calbot.connect()
    await calbot.refresh()
    token = await sync_token(calbot)
    for n in range(1, 6):
        calbot.google.put_event(CAL, meeting(f"m{n}", at(n), at(n + 1), summary=f"Renamed {n}"))
    calbot.google.fail_on_page = 2

    with pytest.raises(GoogleUnavailable):
        await calbot.refresh()

    assert await sync_token(calbot) == token
    await calbot.refresh()
    rows = await calbot.stores.events.list_events(ACCOUNT, CAL)
    assert [row.event.summary for row in rows] == [f"Renamed {n}" for n in range(1, 6)]
    assert await sync_token(calbot) != token


async def test_revoked_access_marks_the_connection_revoked(calbot: Calbot) -> None:
    await calbot.connect()
    calbot.google.refresh_tokens.clear()

    with pytest.raises(CredentialsRevoked):
        await calbot.refresh()

    connection = await calbot.stores.connections.get_connection(ACCOUNT)
    assert connection is not None
    assert connection.status is ConnectionStatus.REVOKED
    with pytest.raises(CredentialsRevoked):  # no second call to Google needed to know it
        await calbot.sync.sync_calendar(ACCOUNT, CAL)


async def test_a_calendar_that_is_not_connected_is_not_found(calbot: Calbot) -> None:
    await calbot.connect()

    with pytest.raises(CalendarNotFound):
        await calbot.sync.sync_calendar(ACCOUNT, "someone-else@example.com")

    assert calbot.google.runs == []


async def test_a_series_knows_its_next_occurrence_and_a_moved_one_moves_it(
    calbot: Calbot,
) -> None:
    calbot.google.put_event(CAL, meeting("s1", at(1), at(2), **WEEKLY))
    await calbot.connect()
    await calbot.refresh()
    event_id = await calbot.event_id("s1")
    series = await calbot.stores.events.get_event(ACCOUNT, event_id)
    assert series is not None
    assert (series.next_occurrence_start, series.next_occurrence_end) == (at(1), at(2))

    calbot.google.put_event(
        CAL,
        {
            "id": "s1_20261125T130000Z",
            "recurringEventId": "s1",
            "originalStartTime": google_time(at(1)),
            "start": google_time(at(3)),
            "end": google_time(at(4)),
            "hangoutLink": LINK,
        },
    )
    outcome = await calbot.refresh()

    assert outcome.changed_series == {"s1"}
    series = await calbot.stores.events.get_event(ACCOUNT, event_id)
    assert series is not None
    assert (series.next_occurrence_start, series.next_occurrence_end) == (at(3), at(4))


async def test_a_series_moves_on_to_its_next_occurrence_once_one_ends(calbot: Calbot) -> None:
    calbot.google.put_event(CAL, meeting("s1", at(1), at(2), **WEEKLY))
    await calbot.connect()
    await calbot.refresh()

    calbot.clock.set(at(2))
    await calbot.sync.refresh_next_occurrences(ACCOUNT, CAL)

    series = await calbot.stores.events.get_event(ACCOUNT, await calbot.event_id("s1"))
    assert series is not None
    assert series.next_occurrence_start == at(1 + 168)
