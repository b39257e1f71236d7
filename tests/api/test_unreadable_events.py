"""Zones and recurrence rules from the wild, through the API: Windows zone names are followed;
a zone or rule calbot cannot follow is listed with the reason, refused with a 422 that says it
when scheduling needs it, skipped by the background passes, and never costs the event loop."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.container import Container
from app.services.scheduling import UNREADABLE_SERIES_RETRY
from tests.conftest import meeting
from tests.fake_google import FakeGoogle
from tests.fakes import FakeClock

PRIMARY = "user@example.com"
CONFIG = {"video_required": False}


def _series(event_id: str, start: str, end: str, tz: str, rules: list[str]) -> dict[str, Any]:
    series = meeting(event_id, start, end, recurrence=rules)
    series["start"]["timeZone"] = series["end"]["timeZone"] = tz
    return series


async def _events(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/v1/calendar/events", headers=auth)
    assert response.status_code == 200, response.text
    return {e["google_event_id"]: e for e in response.json()["events"]}


async def _listed(
    client: httpx.AsyncClient, auth: dict[str, str], fake_google: FakeGoogle, event: dict[str, Any]
) -> dict[str, Any]:
    fake_google.put_event(PRIMARY, event)
    listed: dict[str, Any] = (await _events(client, auth))[event["id"]]
    return listed


async def _schedule(
    client: httpx.AsyncClient, auth: dict[str, str], event_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/calendar/schedule/{event_id}", json={"bot_config": CONFIG, **body}, headers=auth
    )


# --- zones that are followed -------------------------------------------------------------------


async def test_a_series_in_a_windows_zone_is_followed_in_that_zone(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    """Exchange writes Berlin as "W. Europe Standard Time"; summer time ended on Oct 25."""
    series = _series(
        "exchange",
        "2026-10-19T09:00:00+02:00",
        "2026-10-19T09:30:00+02:00",
        "W. Europe Standard Time",
        ["RRULE:FREQ=WEEKLY;BYDAY=MO"],
    )
    event = await _listed(client, connected, fake_google, series)

    assert event["next_occurrence_start"] == "2026-11-30T08:00:00Z"  # 09:00 CET
    assert event["unreadable_reason"] is None
    on_date = await _schedule(client, connected, event["event_id"], occurrence_date="2026-12-07")
    assert on_date.status_code == 201, on_date.text
    assert on_date.json()["occurrence_start"] == "2026-12-07T08:00:00Z"


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Asia/Calcutta", "2026-11-26T04:30:00Z"),  # 10:00 IST, UTC+5:30
        ("US/Pacific", "2026-11-25T18:00:00Z"),  # 10:00 PST, UTC-8
        ("India Standard Time", "2026-11-26T04:30:00Z"),
        ("Pacific Standard Time", "2026-11-25T18:00:00Z"),
    ],
)
async def test_old_iana_names_and_windows_names_give_the_next_occurrence(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    zone: str,
    expected: str,
) -> None:
    offset = "+05:30" if "India" in zone or "Calcutta" in zone else "-08:00"
    series = _series(
        "daily",
        f"2026-11-20T10:00:00{offset}",
        f"2026-11-20T10:30:00{offset}",
        zone,
        ["RRULE:FREQ=DAILY"],
    )
    event = await _listed(client, connected, fake_google, series)
    assert (event["next_occurrence_start"], event["unreadable_reason"]) == (expected, None)


# --- a zone calbot cannot read -----------------------------------------------------------------


async def test_a_meeting_in_an_unreadable_zone_keeps_googles_offset_and_says_why(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    one_off = meeting("mars", "2026-11-26T15:00:00+01:00", "2026-11-26T16:00:00+01:00")
    one_off["start"]["timeZone"] = one_off["end"]["timeZone"] = "Mars/Olympus"
    event = await _listed(client, connected, fake_google, one_off)

    assert (event["start_time"], event["end_time"]) == (
        "2026-11-26T14:00:00Z",
        "2026-11-26T15:00:00Z",
    )
    assert "'Mars/Olympus'" in event["unreadable_reason"]
    scheduled = await _schedule(client, connected, event["event_id"])
    assert scheduled.status_code == 201, scheduled.text
    assert scheduled.json()["occurrence_start"] == "2026-11-26T14:00:00Z"
    on_date = await _schedule(client, connected, event["event_id"], occurrence_date="2026-11-26")
    assert on_date.status_code == 422
    assert "'Mars/Olympus'" in on_date.json()["detail"]
    assert "occurrence_date" in on_date.json()["detail"]


async def test_a_series_in_an_unreadable_zone_is_listed_but_not_scheduled(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    series = _series(
        "mars",
        "2026-11-26T15:00:00+01:00",
        "2026-11-26T16:00:00+01:00",
        "Mars/Olympus",
        ["RRULE:FREQ=WEEKLY"],
    )
    event = await _listed(client, connected, fake_google, series)

    assert event["start_time"] == "2026-11-26T14:00:00Z"
    assert event["next_occurrence_start"] is None
    assert "'Mars/Olympus'" in event["unreadable_reason"]
    for body in ({}, {"occurrence_date": "2026-11-26"}):
        refused = await _schedule(client, connected, event["event_id"], **body)
        assert refused.status_code == 422
        assert refused.json()["detail"] == event["unreadable_reason"]
        assert refused.json()["error"] == "unreadable_event"


# --- rules calbot cannot follow ----------------------------------------------------------------

UNFOLLOWABLE = [
    pytest.param(["RRULE:FREQ=WEEKLY;BYDAY=XX"], "BYDAY=XX", id="BYDAY=XX"),
    pytest.param(["RRULE:FREQ=WEEKLY", "garbage"], "'garbage'", id="garbage line"),
    pytest.param(["RRULE:FREQ=DAILY;UNTIL=soon"], "'SOON'", id="bad UNTIL"),
    pytest.param(["RRULE:FREQ=FORTNIGHTLY"], "FREQ=FORTNIGHTLY", id="unknown FREQ"),
    pytest.param(["RRULE:FREQ=SECONDLY;COUNT=5000000"], "FREQ=SECONDLY", id="secondly"),
    pytest.param(["RRULE:FREQ=MINUTELY"], "FREQ=MINUTELY", id="minutely"),
    pytest.param(["RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"], "10 years", id="February 30"),
]
# The February 30 rule reads fine: only the search for its next occurrence comes back empty, so
# a date is simply one it has no occurrence on (422 all the same).


@pytest.mark.parametrize(("rules", "named"), UNFOLLOWABLE)
async def test_a_rule_calbot_cannot_follow_is_listed_with_the_reason_and_refused_with_422(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    rules: list[str],
    named: str,
) -> None:
    series = _series("odd", "2026-11-20T10:00:00Z", "2026-11-20T10:30:00Z", "Europe/Berlin", rules)
    event = await _listed(client, connected, fake_google, series)

    assert event["is_recurring"] is True
    assert event["next_occurrence_start"] is None
    assert named in event["unreadable_reason"]
    refused = await _schedule(client, connected, event["event_id"])
    assert refused.status_code == 422, refused.text
    assert named in refused.json()["detail"]
    on_date = await _schedule(client, connected, event["event_id"], occurrence_date="2026-11-27")
    assert on_date.status_code == 422, on_date.text
    assert named in on_date.json()["detail"] or "no occurrence on 2026-11-27" in on_date.text
    # From the store alone, too, and in a time window it cannot be ruled out of.
    stored = await client.get(
        "/api/v1/calendar/get_events",
        params={"time_min": "2026-12-01T00:00:00Z", "time_max": "2026-12-08T00:00:00Z"},
        headers=connected,
    )
    assert [e["unreadable_reason"] for e in stored.json()["events"]] == [event["unreadable_reason"]]


async def test_a_scheduled_series_whose_rule_turns_unreadable_is_skipped_not_retried_in_a_loop(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
) -> None:
    weekly = _series(
        "weekly",
        "2026-11-26T10:00:00Z",
        "2026-11-26T10:30:00Z",
        "UTC",
        ["RRULE:FREQ=WEEKLY"],
    )
    event = await _listed(client, connected, fake_google, weekly)
    first = await _schedule(client, connected, event["event_id"])
    assert first.status_code == 201

    # Edited in another client into something calbot cannot read.
    event = await _listed(
        client, connected, fake_google, {**weekly, "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=XX"]}
    )
    assert "BYDAY=XX" in event["unreadable_reason"]
    bots = (await client.get("/api/v1/calendar/scheduled_bots", headers=connected)).json()
    assert [(b["bot_id"], b["status"]) for b in bots["scheduled_bots"]] == [
        (first.json()["bot_id"], "scheduled")  # unknown is not gone: the bot is left alone
    ]
    rescheduled = await client.post(
        "/api/v1/calendar/auto-reschedule", json={"event_id": event["event_id"]}, headers=connected
    )
    assert rescheduled.status_code == 422
    assert "BYDAY=XX" in rescheduled.json()["detail"]
    for enabled in (False, True):  # a preference: stored, whatever the rule says
        toggled = await client.post(
            "/api/v1/calendar/toggle-recurrence",
            json={"event_id": event["event_id"], "recurring_enabled": enabled},
            headers=connected,
        )
        assert toggled.status_code == 200, toggled.text

    # The occurrence ends: the series pass skips it and does not look again for an hour.
    clock.set(datetime(2026, 11, 26, 10, 31, tzinfo=UTC))
    assert await container.scheduling.advance_due_series() == 0
    store = container.stores.series
    assert await store.next_series_check_at() == clock.now() + UNREADABLE_SERIES_RETRY
    assert await store.due_series_schedules(clock.now(), 10) == []

    # Fixed in Google: the next pass after the retry schedules the following occurrence.
    await _listed(client, connected, fake_google, weekly)
    clock.set(clock.now() + UNREADABLE_SERIES_RETRY)
    assert await container.scheduling.advance_due_series() == 1
    bots = (await client.get("/api/v1/calendar/scheduled_bots", headers=connected)).json()
    assert bots["scheduled_bots"][-1]["occurrence_start"] == "2026-12-03T10:00:00Z"


async def test_the_local_scheduler_does_not_spin_on_an_unreadable_series(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
) -> None:
    from app.adapters.local_scheduler import LocalBotScheduler

    weekly = _series(
        "weekly", "2026-11-26T10:00:00Z", "2026-11-26T10:30:00Z", "UTC", ["RRULE:FREQ=WEEKLY"]
    )
    event = await _listed(client, connected, fake_google, weekly)
    bot = (await _schedule(client, connected, event["event_id"])).json()
    await client.delete(f"/api/v1/calendar/scheduled_bots/{bot['bot_id']}", headers=connected)
    await _listed(
        client, connected, fake_google, {**weekly, "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=XX"]}
    )
    clock.set(datetime(2026, 11, 26, 10, 31, tzinfo=UTC))  # the series is due

    passes = 0

    async def series_pass() -> int:
        nonlocal passes
        passes += 1
        return await container.scheduling.advance_due_series()

    scheduler = LocalBotScheduler(
        bots=container.stores.bots, series=container.stores.series, clock=clock, poll_seconds=0.05
    )
    task = asyncio.create_task(scheduler.run([series_pass]))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 1 <= passes <= 12  # one pass per poll at most, not thousands


async def test_healthz_answers_within_100_ms_while_pathological_series_are_synced(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    """These rules held the event loop for seconds to a minute each before.

    The app runs in this thread's event loop (ASGI transport), so the event loop thread's CPU
    time between asking /healthz and its answer is the time calbot kept it waiting: a machine
    busy with other work does not count, any synchronous stretch in calbot does. Wall-clock
    latencies are reported alongside.
    """
    pathological = [
        "RRULE:FREQ=SECONDLY;COUNT=5000000",
        "RRULE:FREQ=MINUTELY",
        "RRULE:FREQ=DAILY;BYSETPOS=2",
        "RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=9",
        "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "RRULE:FREQ=DAILY;COUNT=5000000",
    ]
    for number in range(60):
        fake_google.put_event(
            PRIMARY,
            _series(
                f"odd{number}",
                f"2016-01-04T09:{number:02d}:00+01:00",
                f"2016-01-04T09:{number:02d}:30+01:00",
                "Europe/Berlin",
                [pathological[number % len(pathological)]],
            ),
        )
    assert (await client.get("/healthz")).status_code == 200  # warm: measure the sync only

    sync = asyncio.create_task(client.get("/api/v1/calendar/events", headers=connected))
    waited: list[float] = []  # event loop thread CPU seconds
    wall: list[float] = []
    while not sync.done():
        cpu_began, wall_began = time.thread_time(), time.perf_counter()
        health = await client.get("/healthz")
        waited.append(time.thread_time() - cpu_began)
        wall.append(time.perf_counter() - wall_began)
        assert health.status_code == 200
        await asyncio.sleep(0.002)
    response = await sync

    assert response.status_code == 200, response.text
    events = response.json()["events"]
    assert len(events) == 60
    # Every one says why (the daily COUNT=5000000: counted 3,000 days from 2016, then unknown).
    assert all(e["unreadable_reason"] and e["next_occurrence_start"] is None for e in events)
    assert len(waited) >= 3, "the sync ended before /healthz was asked: nothing measured"
    assert max(waited) < 0.1, (
        f"/healthz waited {max(waited) * 1000:.0f} ms of CPU "
        f"(wall clock: slowest {max(wall) * 1000:.0f} ms over {len(wall)} answers)"
    )


async def test_a_series_with_no_occurrence_ahead_is_worked_out_once_not_on_every_listing(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = ["RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"]
    odd = _series("feb30", "2026-11-20T10:00:00Z", "2026-11-20T10:30:00Z", "UTC", rules)
    first = await _listed(client, connected, fake_google, odd)
    assert "10 years" in first["unreadable_reason"]
    store = container.stores.events
    asked: list[list[str]] = []
    read_overrides = store.list_overrides

    async def counted(account_id: str, calendar_id: str, ids: list[str]) -> Any:
        asked.append(ids)
        return await read_overrides(account_id, calendar_id, ids)

    monkeypatch.setattr(store, "list_overrides", counted)

    for _ in range(3):
        answer = await client.get("/api/v1/calendar/get_events", headers=connected)
        [event] = answer.json()["events"]
        assert event["unreadable_reason"] == first["unreadable_reason"]
    assert asked == []  # no exceptions read, no recurrence worked out again
