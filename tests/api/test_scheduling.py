"""Scheduling bots through the API: one-off meetings, occurrences, series, dedup, PATCH, DELETE."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.container import Container
from tests.conftest import meeting, new_auth
from tests.fake_google import FakeGoogle
from tests.fakes import FakeClock

PRIMARY = "user@example.com"
CONFIG = {"video_required": False, "callback_url": "https://example.com/hook"}


async def _sync(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/v1/calendar/events", headers=auth)
    assert response.status_code == 200, response.text
    return {e["google_event_id"]: e for e in response.json()["events"]}


async def _event_id(
    client: httpx.AsyncClient, auth: dict[str, str], fake_google: FakeGoogle, event: dict[str, Any]
) -> str:
    fake_google.put_event(PRIMARY, event)
    return str((await _sync(client, auth))[event["id"]]["event_id"])


async def _schedule(
    client: httpx.AsyncClient, auth: dict[str, str], event_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/calendar/schedule/{event_id}", json={"bot_config": CONFIG, **body}, headers=auth
    )


def _series(event_id: str, start: str, end: str, tz: str, rules: list[str]) -> dict[str, Any]:
    series = meeting(event_id, start, end, recurrence=rules)
    series["start"]["timeZone"] = series["end"]["timeZone"] = tz
    return series


async def _bots(client: httpx.AsyncClient, auth: dict[str, str], **params: str) -> list[Any]:
    response = await client.get("/api/v1/calendar/scheduled_bots", headers=auth, params=params)
    assert response.status_code == 200, response.text
    bots: list[Any] = response.json()["scheduled_bots"]
    return bots


async def test_a_one_off_meeting_gets_a_bot_three_minutes_before_it_starts(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    event_id = await _event_id(
        client, connected, fake_google, meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )

    response = await _schedule(client, connected, event_id)

    assert response.status_code == 201
    bot = response.json()
    assert bot["bot_id"].startswith("bot_")
    assert bot["event_id"] == event_id
    assert bot["google_event_id"] == "m"
    assert bot["calendar_id"] == PRIMARY
    assert bot["occurrence_start"] == "2026-11-26T10:00:00Z"
    assert bot["join_at"] == "2026-11-26T09:57:00Z"
    assert bot["meeting_link"] == "https://meet.google.com/abc-defg-hij"
    assert bot["meeting_platform"] == "google_meet"
    assert bot["bot_config"] == CONFIG
    assert (bot["source"], bot["status"]) == ("manual", "scheduled")
    assert (bot["external_bot_id"], bot["last_error"], bot["bot_name"]) == (None, None, None)
    [event] = (await client.get("/api/v1/calendar/get_events", headers=connected)).json()["events"]
    assert (event["bot_join_status"], event["schedule_status"]) == (True, "scheduled")


async def test_scheduling_twice_updates_the_same_bot(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    event_id = await _event_id(
        client, connected, fake_google, meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    first = await _schedule(client, connected, event_id)
    second = await client.post(
        f"/api/v1/calendar/schedule/{event_id}",
        json={"bot_config": {"video_required": True}},
        headers=connected,
    )

    assert second.status_code == 200
    assert second.json()["bot_id"] == first.json()["bot_id"]
    assert second.json()["bot_config"] == {"video_required": True}
    assert len(await _bots(client, connected)) == 1


async def test_fifty_concurrent_schedules_of_one_event_make_one_bot(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    event_id = await _event_id(
        client, connected, fake_google, meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )

    responses = await asyncio.gather(*(_schedule(client, connected, event_id) for _ in range(50)))

    assert sorted(r.status_code for r in responses) == [200] * 49 + [201]
    assert len({r.json()["bot_id"] for r in responses}) == 1
    assert len(await _bots(client, connected)) == 1


async def test_schedule_errors(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    no_link = await _event_id(
        client,
        connected,
        fake_google,
        meeting("nolink", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z", link=None),
    )
    ended = await _event_id(
        client,
        connected,
        fake_google,
        meeting("past", "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z"),
    )
    gone = await _event_id(
        client,
        connected,
        fake_google,
        meeting("gone", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z"),
    )
    fake_google.cancel_event(PRIMARY, "gone")
    await _sync(client, connected)

    assert (await _schedule(client, connected, "evt_unknown")).status_code == 404
    missing_link = await _schedule(client, connected, no_link)
    assert missing_link.status_code == 422
    assert "meeting link" in missing_link.json()["detail"]
    assert (await _schedule(client, connected, ended)).status_code == 409
    cancelled = await _schedule(client, connected, gone)
    assert cancelled.status_code == 409
    assert "cancelled" in cancelled.json()["detail"]
    assert await _bots(client, connected) == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"bot_config": "not an object"},
        {"bot_config": ["a"]},
        {"bot_config": {"big": "x" * 17000}},
        {"bot_config": {}, "occurrence_date": "not-a-date"},
        {"bot_config": {}, "unexpected": 1},
    ],
    ids=["missing", "string", "list", "too-big", "bad-date", "unknown-field"],
)
async def test_bad_schedule_bodies_answer_422(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    body: dict[str, Any],
) -> None:
    event_id = await _event_id(
        client, connected, fake_google, meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    response = await client.post(
        f"/api/v1/calendar/schedule/{event_id}", json=body, headers=connected
    )
    assert response.status_code == 422
    assert await _bots(client, connected) == []


async def test_a_meeting_under_way_is_joined_at_once(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    event_id = await _event_id(
        client, connected, fake_google, meeting("m", "2026-11-25T11:30:00Z", "2026-11-25T12:30:00Z")
    )
    bot = (await _schedule(client, connected, event_id)).json()
    assert bot["join_at"] == "2026-11-25T12:00:00Z"  # now


async def test_a_series_schedules_its_next_occurrence_then_each_following_one(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
) -> None:
    # Weekly on Thursdays, 09:00 in New York, across the start of summer time (2027-03-14):
    # 09:00 EST is 14:00Z, 09:00 EDT is 13:00Z. The 18th is excluded.
    clock.set(datetime(2027, 3, 1, tzinfo=UTC))
    series = _series(
        "weekly",
        "2027-03-04T09:00:00-05:00",
        "2027-03-04T09:30:00-05:00",
        "America/New_York",
        ["RRULE:FREQ=WEEKLY;BYDAY=TH", "EXDATE;TZID=America/New_York:20270318T090000"],
    )
    event_id = await _event_id(client, connected, fake_google, series)
    first = (await _schedule(client, connected, event_id)).json()
    assert (first["occurrence_start"], first["join_at"]) == (
        "2027-03-04T14:00:00Z",
        "2027-03-04T13:57:00Z",
    )

    for _ in range(3):
        latest = (await _bots(client, connected))[-1]
        clock.set(datetime.fromisoformat(latest["occurrence_start"]) + timedelta(minutes=31))
        assert await container.scheduling.advance_due_series() == 1
        assert await container.scheduling.advance_due_series() == 0  # nothing twice

    bots = await _bots(client, connected)
    assert [(b["occurrence_start"], b["join_at"], b["source"]) for b in bots] == [
        ("2027-03-04T14:00:00Z", "2027-03-04T13:57:00Z", "manual"),
        ("2027-03-11T14:00:00Z", "2027-03-11T13:57:00Z", "recurrence"),
        ("2027-03-25T13:00:00Z", "2027-03-25T12:57:00Z", "recurrence"),
        ("2027-04-01T13:00:00Z", "2027-04-01T12:57:00Z", "recurrence"),
    ]
    assert all(b["bot_config"] == CONFIG for b in bots)


async def test_a_series_that_ends_stops_cleanly(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
) -> None:
    series = _series(
        "twice",
        "2026-11-26T10:00:00Z",
        "2026-11-26T10:30:00Z",
        "UTC",
        ["RRULE:FREQ=DAILY;COUNT=2"],
    )
    event_id = await _event_id(client, connected, fake_google, series)
    await _schedule(client, connected, event_id)

    clock.set(datetime(2026, 11, 26, 10, 31, tzinfo=UTC))
    assert await container.scheduling.advance_due_series() == 1
    clock.set(datetime(2026, 11, 27, 10, 31, tzinfo=UTC))
    assert await container.scheduling.advance_due_series() == 0
    clock.set(datetime(2026, 12, 27, tzinfo=UTC))
    assert await container.scheduling.advance_due_series() == 0
    assert [b["occurrence_start"] for b in await _bots(client, connected)] == [
        "2026-11-26T10:00:00Z",
        "2026-11-27T10:00:00Z",
    ]
    again = await _schedule(client, connected, event_id)
    assert again.status_code == 409
    assert "last occurrence" in again.json()["detail"]


async def test_cancelled_and_moved_occurrences_are_skipped_or_joined_when_they_happen(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
) -> None:
    series = _series(
        "daily",
        "2026-11-26T10:00:00+01:00",
        "2026-11-26T10:30:00+01:00",
        "Europe/Berlin",
        ["RRULE:FREQ=DAILY"],
    )
    fake_google.put_event(PRIMARY, series)
    fake_google.put_event(
        PRIMARY,
        {
            "id": "daily_20261126T090000Z",
            "status": "cancelled",
            "recurringEventId": "daily",
            "originalStartTime": {"dateTime": "2026-11-26T10:00:00+01:00"},
        },
    )
    moved = meeting(
        "daily_20261127T090000Z",
        "2026-11-27T16:00:00+01:00",
        "2026-11-27T16:30:00+01:00",
        link="https://us02web.zoom.us/j/123456789",
        recurringEventId="daily",
        originalStartTime={"dateTime": "2026-11-27T10:00:00+01:00"},
    )
    fake_google.put_event(PRIMARY, moved)
    event_id = (await _sync(client, connected))["daily"]["event_id"]

    first = (await _schedule(client, connected, event_id)).json()
    assert first["occurrence_start"] == "2026-11-27T15:00:00Z"  # 26th cancelled, 27th moved
    assert first["meeting_link"] == "https://us02web.zoom.us/j/123456789"
    assert first["meeting_platform"] == "zoom"

    clock.set(datetime(2026, 11, 27, 15, 31, tzinfo=UTC))
    assert await container.scheduling.advance_due_series() == 1
    latest = (await _bots(client, connected))[-1]
    assert latest["occurrence_start"] == "2026-11-28T09:00:00Z"
    assert latest["meeting_link"] == "https://meet.google.com/abc-defg-hij"


async def test_one_occurrence_by_date(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    series = _series(
        "weekly",
        "2026-11-23T09:00:00+01:00",
        "2026-11-23T10:00:00+01:00",
        "Europe/Berlin",
        ["RRULE:FREQ=WEEKLY;BYDAY=MO"],
    )
    event_id = await _event_id(client, connected, fake_google, series)

    bot = await _schedule(client, connected, event_id, occurrence_date="2026-12-07")
    tuesday = await _schedule(client, connected, event_id, occurrence_date="2026-12-08")
    past = await _schedule(client, connected, event_id, occurrence_date="2026-11-23")

    assert bot.status_code == 201
    assert bot.json()["occurrence_start"] == "2026-12-07T08:00:00Z"
    assert tuesday.status_code == 422
    assert "2026-12-08" in tuesday.json()["detail"]
    assert past.status_code == 409
    again = await _schedule(client, connected, event_id, occurrence_date="2026-12-07")
    assert (again.status_code, again.json()["bot_id"]) == (200, bot.json()["bot_id"])


async def test_unschedule_cancels_pending_bots_and_is_idempotent(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
) -> None:
    series = _series(
        "daily", "2026-11-26T10:00:00Z", "2026-11-26T10:30:00Z", "UTC", ["RRULE:FREQ=DAILY"]
    )
    event_id = await _event_id(client, connected, fake_google, series)
    await _schedule(client, connected, event_id)
    await _schedule(client, connected, event_id, occurrence_date="2026-11-30")

    first = await client.delete(f"/api/v1/calendar/schedule/{event_id}", headers=connected)
    second = await client.delete(f"/api/v1/calendar/schedule/{event_id}", headers=connected)

    assert first.json() == {
        "event_id": event_id,
        "schedule_status": "unscheduled",
        "cancelled_bots": 2,
    }
    assert second.json()["cancelled_bots"] == 0
    assert {b["status"] for b in await _bots(client, connected)} == {"cancelled"}
    clock.set(datetime(2026, 11, 26, 11, tzinfo=UTC))
    assert await container.scheduling.advance_due_series() == 0  # recurrence stopped too
    [event] = (await client.get("/api/v1/calendar/get_events", headers=connected)).json()["events"]
    assert (event["bot_join_status"], event["schedule_status"]) == (False, "unscheduled")
    missing = await client.delete("/api/v1/calendar/schedule/evt_nope", headers=connected)
    assert missing.status_code == 404


async def test_patch_changes_a_scheduled_bot(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    event_id = await _event_id(
        client, connected, fake_google, meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    bot_id = (await _schedule(client, connected, event_id)).json()["bot_id"]

    response = await client.patch(
        f"/api/v1/calendar/scheduled_bots/{bot_id}",
        json={
            "join_at": "2026-11-26T10:05:00+00:00",
            "bot_name": "Notetaker",
            "custom_attributes": {"team": "sales"},
            "bot_config": {"video_required": True},
        },
        headers=connected,
    )

    assert response.status_code == 200
    bot = response.json()
    assert bot["join_at"] == "2026-11-26T10:05:00Z"
    assert (bot["bot_name"], bot["custom_attributes"]) == ("Notetaker", {"team": "sales"})
    assert bot["bot_config"] == {"video_required": True}
    assert (await _bots(client, connected))[0] == bot


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"join_at": "2026-11-25T11:00:00Z"}, 422),  # in the past
        ({"join_at": "2026-11-26T11:00:00Z"}, 422),  # when the meeting ends
        ({"join_at": "2026-11-26T10:05:00"}, 422),  # no offset
        ({"custom_attributes": "x"}, 422),
        ({"bot_config": None}, 422),
        ({"status": "launched"}, 422),
    ],
    ids=["empty", "past", "after-end", "naive", "attributes-not-object", "null-config", "status"],
)
async def test_patch_rejects_what_cannot_be(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    body: dict[str, Any],
    status: int,
) -> None:
    event_id = await _event_id(
        client, connected, fake_google, meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    bot = (await _schedule(client, connected, event_id)).json()

    response = await client.patch(
        f"/api/v1/calendar/scheduled_bots/{bot['bot_id']}", json=body, headers=connected
    )

    assert response.status_code == status, response.text
    assert (await _bots(client, connected))[0] == bot


async def test_a_bot_that_is_no_longer_scheduled_cannot_change(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    event_id = await _event_id(
        client, connected, fake_google, meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    bot_id = (await _schedule(client, connected, event_id)).json()["bot_id"]

    cancelled = await client.delete(f"/api/v1/calendar/scheduled_bots/{bot_id}", headers=connected)
    again = await client.delete(f"/api/v1/calendar/scheduled_bots/{bot_id}", headers=connected)
    patched = await client.patch(
        f"/api/v1/calendar/scheduled_bots/{bot_id}", json={"bot_name": "x"}, headers=connected
    )

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert again.status_code == 200
    assert patched.status_code == 409
    assert (
        await client.delete("/api/v1/calendar/scheduled_bots/bot_nope", headers=connected)
    ).status_code == 404


async def test_scheduled_bots_filter_by_status_and_event(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    first = await _event_id(
        client, connected, fake_google, meeting("a", "2026-11-27T10:00:00Z", "2026-11-27T11:00:00Z")
    )
    second = await _event_id(
        client, connected, fake_google, meeting("b", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    a = (await _schedule(client, connected, first)).json()
    b = (await _schedule(client, connected, second)).json()
    await client.delete(f"/api/v1/calendar/scheduled_bots/{a['bot_id']}", headers=connected)

    assert [x["bot_id"] for x in await _bots(client, connected)] == [b["bot_id"], a["bot_id"]]
    assert [x["bot_id"] for x in await _bots(client, connected, status="cancelled")] == [
        a["bot_id"]
    ]
    assert [x["bot_id"] for x in await _bots(client, connected, event_id=second)] == [b["bot_id"]]
    bad = await client.get(
        "/api/v1/calendar/scheduled_bots", params={"status": "nope"}, headers=connected
    )
    assert bad.status_code == 422


async def test_another_accounts_bots_and_events_answer_404(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    event_id = await _event_id(
        client, connected, fake_google, meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    bot_id = (await _schedule(client, connected, event_id)).json()["bot_id"]
    other = await new_auth(container, "other")
    assert (
        await client.post(
            "/api/v1/calendar/create_calendar",
            json={
                "google_client_id": "client-123.apps.googleusercontent.com",
                "google_client_secret": "GOCSPX-very-secret-value",
                "google_refresh_token": "1//refresh-token-that-must-stay-secret",
            },
            headers=other,
        )
    ).status_code == 201

    assert (await _schedule(client, other, event_id)).status_code == 404
    assert (
        await client.delete(f"/api/v1/calendar/schedule/{event_id}", headers=other)
    ).status_code == 404
    assert (
        await client.patch(
            f"/api/v1/calendar/scheduled_bots/{bot_id}", json={"bot_name": "x"}, headers=other
        )
    ).status_code == 404
    assert (
        await client.delete(f"/api/v1/calendar/scheduled_bots/{bot_id}", headers=other)
    ).status_code == 404
    assert await _bots(client, other) == []
    assert (await _bots(client, connected))[0]["status"] == "scheduled"


async def test_scheduling_routes_need_a_connection(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.get("/api/v1/calendar/scheduled_bots", headers=auth)
    assert (response.status_code, response.json()["detail"]) == (404, "No calendar connected")


async def test_toggle_recurrence_and_auto_reschedule(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
) -> None:
    series = _series(
        "daily", "2026-11-26T10:00:00Z", "2026-11-26T10:30:00Z", "UTC", ["RRULE:FREQ=DAILY;COUNT=3"]
    )
    one_off = await _event_id(
        client, connected, fake_google, meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    event_id = await _event_id(client, connected, fake_google, series)

    toggle = await client.post(
        "/api/v1/calendar/toggle-recurrence",
        json={"event_id": event_id, "recurring_enabled": False},
        headers=connected,
    )
    assert toggle.json() == {"event_id": event_id, "recurring_enabled": False}
    not_recurring = await client.post(
        "/api/v1/calendar/toggle-recurrence",
        json={"event_id": one_off, "recurring_enabled": False},
        headers=connected,
    )
    assert not_recurring.status_code == 422

    before_any = await client.post(
        "/api/v1/calendar/auto-reschedule", json={"event_id": event_id}, headers=connected
    )
    assert before_any.status_code == 422
    await _schedule(client, connected, event_id)
    clock.set(datetime(2026, 11, 26, 10, 31, tzinfo=UTC))
    assert await container.scheduling.advance_due_series() == 0  # recurrence is off

    second = await client.post(
        "/api/v1/calendar/auto-reschedule", json={"event_id": event_id}, headers=connected
    )
    third = await client.post(
        "/api/v1/calendar/auto-reschedule", json={"event_id": event_id}, headers=connected
    )
    none_left = await client.post(
        "/api/v1/calendar/auto-reschedule", json={"event_id": event_id}, headers=connected
    )
    assert second.json()["occurrence_start"] == "2026-11-27T10:00:00Z"
    assert third.json()["occurrence_start"] == "2026-11-28T10:00:00Z"
    assert none_left.status_code == 409
    assert (
        await client.post(
            "/api/v1/calendar/auto-reschedule", json={"event_id": one_off}, headers=connected
        )
    ).status_code == 422
    [event] = [
        e
        for e in (await client.get("/api/v1/calendar/get_events", headers=connected)).json()[
            "events"
        ]
        if e["event_id"] == event_id
    ]
    assert event["recurring_enabled"] is False


async def test_scheduled_bots_page_with_limit_and_cursor(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    for day in (26, 27, 28):
        event_id = await _event_id(
            client,
            connected,
            fake_google,
            meeting(f"m{day}", f"2026-11-{day}T10:00:00Z", f"2026-11-{day}T11:00:00Z"),
        )
        await _schedule(client, connected, event_id)

    first = await client.get(
        "/api/v1/calendar/scheduled_bots", params={"limit": "2"}, headers=connected
    )
    rest = await client.get(
        "/api/v1/calendar/scheduled_bots",
        params={"limit": "2", "cursor": first.json()["next_cursor"]},
        headers=connected,
    )

    pages = [first.json()["scheduled_bots"], rest.json()["scheduled_bots"]]
    assert [[b["google_event_id"] for b in p] for p in pages] == [["m26", "m27"], ["m28"]]
    assert rest.json()["next_cursor"] is None
    events_cursor = (
        await client.get("/api/v1/calendar/get_events", params={"limit": "1"}, headers=connected)
    ).json()["next_cursor"]
    wrong_list = await client.get(
        "/api/v1/calendar/scheduled_bots", params={"cursor": events_cursor}, headers=connected
    )
    assert wrong_list.status_code == 422
