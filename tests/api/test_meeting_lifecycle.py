"""Exactly one bot per live meeting, none for a dead one, seen from the API (issue 12):
meetings that vanish without a cancelled item (case 1), meetings that start or stop repeating
(case 2) and one meeting on several calendars (case 7)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import GOOD_CREDENTIALS, meeting
from tests.fake_google import FakeGoogle

PRIMARY = "user@example.com"
TEAM = "team@group.calendar.google.com"
CONFIG = {"video_required": False}
UID = "3o5hc4tldqpt7ddd3m3ce6pmh0@google.com"


async def _events(
    client: httpx.AsyncClient, auth: dict[str, str], calendar_id: str = PRIMARY
) -> dict[str, dict[str, Any]]:
    """The calendar synced with Google, its events by Google id."""
    response = await client.get(
        "/api/v1/calendar/events", params={"calendar_id": calendar_id}, headers=auth
    )
    assert response.status_code == 200, response.text
    return {e["google_event_id"]: e for e in response.json()["events"]}


async def _schedule(
    client: httpx.AsyncClient, auth: dict[str, str], event_id: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/calendar/schedule/{event_id}", json={"bot_config": CONFIG}, headers=auth
    )


async def _bots(client: httpx.AsyncClient, auth: dict[str, str], **params: str) -> list[Any]:
    response = await client.get("/api/v1/calendar/scheduled_bots", headers=auth, params=params)
    assert response.status_code == 200, response.text
    bots: list[Any] = response.json()["scheduled_bots"]
    return bots


# -- case 1: a meeting vanishes without a cancelled item ---------------------------------------


async def test_a_meeting_gone_from_a_full_resync_after_410_loses_its_bot(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(PRIMARY, meeting("gone", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z"))
    fake_google.put_event(PRIMARY, meeting("kept", "2026-11-26T12:00:00Z", "2026-11-26T13:00:00Z"))
    events = await _events(client, connected)
    for google_id in ("gone", "kept"):
        assert (
            await _schedule(client, connected, events[google_id]["event_id"])
        ).status_code == 201
    fake_google.forget_event(PRIMARY, "gone")
    fake_google.expire_sync_tokens = True

    assert list(await _events(client, connected)) == ["kept"]

    bots = {b["google_event_id"]: b for b in await _bots(client, connected)}
    assert (bots["gone"]["status"], bots["gone"]["last_error"]) == (
        "cancelled",
        "The meeting was deleted in Google Calendar.",
    )
    assert (bots["kept"]["status"], bots["kept"]["last_error"]) == ("scheduled", None)


async def test_connecting_another_google_account_cancels_the_bots_of_the_old_calendars(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(TEAM, meeting("team", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z"))
    events = await _events(client, connected, TEAM)
    assert (await _schedule(client, connected, events["team"]["event_id"])).status_code == 201
    del fake_google.calendars[TEAM]  # the other account does not see the team calendar

    replaced = await client.post(
        "/api/v1/calendar/create_calendar", json=GOOD_CREDENTIALS, headers=connected
    )

    assert replaced.status_code == 200
    [bot] = await _bots(client, connected)
    assert bot["status"] == "cancelled"
    assert bot["last_error"].startswith("The meeting's calendar is no longer connected")


# -- case 2: a meeting starts or stops repeating ----------------------------------------------


async def test_a_one_off_that_becomes_recurring_keeps_one_bot_and_can_be_auto_rescheduled(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    one_off = meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    fake_google.put_event(PRIMARY, one_off)
    event_id = (await _events(client, connected))["m"]["event_id"]
    first = (await _schedule(client, connected, event_id)).json()
    weekly = meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    weekly["recurrence"] = ["RRULE:FREQ=WEEKLY"]
    weekly["start"]["timeZone"] = weekly["end"]["timeZone"] = "UTC"
    fake_google.put_event(PRIMARY, weekly)
    assert (await _events(client, connected))["m"]["is_recurring"]

    response = await client.post(
        "/api/v1/calendar/auto-reschedule", json={"event_id": event_id}, headers=connected
    )

    assert response.status_code == 200, response.text
    assert response.json()["occurrence_start"] == "2026-12-03T10:00:00Z"
    pending = await _bots(client, connected, status="scheduled")
    assert [(b["bot_id"], b["occurrence_start"]) for b in pending] == [
        (first["bot_id"], "2026-11-26T10:00:00Z"),
        (response.json()["bot_id"], "2026-12-03T10:00:00Z"),
    ]


async def test_a_series_that_becomes_a_one_off_keeps_the_bot_of_that_occurrence_only(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    weekly = meeting("s", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    weekly["recurrence"] = ["RRULE:FREQ=WEEKLY"]
    weekly["start"]["timeZone"] = weekly["end"]["timeZone"] = "UTC"
    fake_google.put_event(PRIMARY, weekly)
    event_id = (await _events(client, connected))["s"]["event_id"]
    this_week = (await _schedule(client, connected, event_id)).json()
    next_week = await client.post(
        f"/api/v1/calendar/schedule/{event_id}",
        json={"bot_config": CONFIG, "occurrence_date": "2026-12-03"},
        headers=connected,
    )
    assert next_week.status_code == 201

    fake_google.put_event(PRIMARY, meeting("s", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z"))
    await _events(client, connected)

    pending = await _bots(client, connected, status="scheduled")
    assert [(b["bot_id"], b["occurrence_start"]) for b in pending] == [
        (this_week["bot_id"], "2026-11-26T10:00:00Z")
    ]
    [cancelled] = await _bots(client, connected, status="cancelled")
    assert cancelled["bot_id"] == next_week.json()["bot_id"]
    assert "no longer exists" in cancelled["last_error"]


# -- case 7: one meeting, several calendars ---------------------------------------------------


async def _on_both_calendars(
    client: httpx.AsyncClient, auth: dict[str, str], fake_google: FakeGoogle
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same meeting on the primary and the team calendar (one iCalUID), synced."""
    for calendar_id, google_id in ((PRIMARY, "on-primary"), (TEAM, "on-team")):
        fake_google.put_event(
            calendar_id,
            meeting(google_id, "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z", iCalUID=UID),
        )
    primary = (await _events(client, auth, PRIMARY))["on-primary"]
    team = (await _events(client, auth, TEAM))["on-team"]
    return primary, team


async def test_a_meeting_on_two_calendars_shows_one_meeting_key_and_gets_one_auto_bot(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    primary, team = await _on_both_calendars(client, connected, fake_google)
    assert primary["meeting_key"] == team["meeting_key"] == f"ical:{UID}"

    enabled = await client.post(
        "/api/v1/calendar/auto-schedule/enable",
        json={"default_bot_config": CONFIG},
        headers=connected,
    )

    assert enabled.status_code == 200
    [bot] = await _bots(client, connected)
    assert (bot["source"], bot["meeting_key"]) == ("auto_schedule", f"ical:{UID}")


async def test_scheduling_the_same_meeting_from_another_calendar_answers_200_with_its_bot(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    primary, team = await _on_both_calendars(client, connected, fake_google)
    first = await _schedule(client, connected, primary["event_id"])

    again = await _schedule(client, connected, team["event_id"])

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["bot_id"] == first.json()["bot_id"]
    assert len(await _bots(client, connected)) == 1
