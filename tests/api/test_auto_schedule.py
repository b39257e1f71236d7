"""Auto-scheduling: settings routes, the pass, and what it must never do twice or overwrite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.container import Container, open_container
from app.domain import AutoScheduleSettings
from tests.conftest import GOOD_CREDENTIALS, meeting
from tests.fake_google import FakeGoogle
from tests.fakes import FakeClock

PRIMARY = "user@example.com"
TEAM = "team@group.calendar.google.com"
ENABLE = "/api/v1/calendar/auto-schedule/enable"
DEFAULT = {"video_required": False, "source": "auto"}


def _declined(event: dict[str, Any]) -> dict[str, Any]:
    event["attendees"] = [
        {"email": "boss@example.com", "organizer": True, "responseStatus": "accepted"},
        {"email": "user@example.com", "self": True, "responseStatus": "declined"},
    ]
    return event


@pytest.fixture
async def calendar(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> dict[str, str]:
    """Meetings around now (2026-11-25T12:00Z), synced."""
    daily = meeting(
        "daily", "2026-11-20T09:00:00Z", "2026-11-20T09:15:00Z", recurrence=["RRULE:FREQ=DAILY"]
    )
    daily["start"]["timeZone"] = "UTC"
    for calendar_id, event in [
        (PRIMARY, meeting("soon", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z")),
        (PRIMARY, meeting("now", "2026-11-25T11:30:00Z", "2026-11-25T12:30:00Z")),
        (PRIMARY, meeting("ended", "2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z")),
        (PRIMARY, meeting("later", "2026-11-27T15:00:00Z", "2026-11-27T16:00:00Z")),
        (PRIMARY, meeting("nolink", "2026-11-25T17:00:00Z", "2026-11-25T18:00:00Z", link=None)),
        (PRIMARY, _declined(meeting("declined", "2026-11-25T18:00:00Z", "2026-11-25T19:00:00Z"))),
        (PRIMARY, daily),
        (TEAM, meeting("team", "2026-11-26T08:00:00Z", "2026-11-26T09:00:00Z")),
    ]:
        fake_google.put_event(calendar_id, event)
    for calendar_id in (PRIMARY, TEAM):
        response = await client.get(
            "/api/v1/calendar/events", params={"calendar_id": calendar_id}, headers=connected
        )
        assert response.status_code == 200
    return connected


async def _bots(client: httpx.AsyncClient, auth: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/calendar/scheduled_bots", headers=auth)
    bots: list[dict[str, Any]] = response.json()["scheduled_bots"]
    return bots


async def test_settings_work_before_connecting(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    initial = await client.get("/api/v1/calendar/auto-schedule/settings", headers=auth)
    enabled = await client.post(ENABLE, json={"default_bot_config": DEFAULT}, headers=auth)
    disabled = await client.post("/api/v1/calendar/auto-schedule/disable", headers=auth)

    # Before connecting, calbot knows neither the account's email domain nor its zone.
    defaults = {
        "calendar_ids": None,
        "response_status": ["accepted", "tentative", "needsAction"],
        "organizer": "any",
        "attendees": "any",
        "internal_domains": [],
        "min_attendees": None,
        "max_attendees": None,
        "title_include": [],
        "title_exclude": [],
        "platforms": None,
        "weekdays": None,
        "local_time_from": None,
        "local_time_to": None,
        "time_zone": "UTC",
        "never_record_domains": [],
    }
    assert initial.json() == {
        "enabled": False,
        "default_bot_config": {},
        "lookahead_seconds": 86400,
        "last_run_at": None,
        "rules": defaults,
        "paused_until": None,
    }
    assert enabled.json() == {
        "enabled": True,
        "default_bot_config": DEFAULT,
        "lookahead_seconds": 86400,
        "last_run_at": None,
        "rules": defaults,
        "paused_until": None,
    }
    assert disabled.json()["enabled"] is False
    assert disabled.json()["default_bot_config"] == DEFAULT


@pytest.mark.parametrize(
    "body",
    [{}, {"default_bot_config": "x"}, {"default_bot_config": {"a": "b" * 17000}}],
    ids=["missing", "not-object", "too-big"],
)
async def test_enable_needs_a_default_config(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any]
) -> None:
    response = await client.post(ENABLE, json=body, headers=auth)
    assert response.status_code == 422
    settings = await client.get("/api/v1/calendar/auto-schedule/settings", headers=auth)
    assert settings.json()["enabled"] is False


async def test_enabling_schedules_every_meeting_with_a_link_in_the_lookahead(
    client: httpx.AsyncClient, calendar: dict[str, str]
) -> None:
    response = await client.post(ENABLE, json={"default_bot_config": DEFAULT}, headers=calendar)

    assert response.json()["last_run_at"] == "2026-11-25T12:00:00Z"
    bots = await _bots(client, calendar)
    assert [(b["google_event_id"], b["occurrence_start"], b["join_at"]) for b in bots] == [
        ("now", "2026-11-25T11:30:00Z", "2026-11-25T12:00:00Z"),
        ("soon", "2026-11-25T15:00:00Z", "2026-11-25T14:57:00Z"),
        ("team", "2026-11-26T08:00:00Z", "2026-11-26T07:57:00Z"),
        ("daily", "2026-11-26T09:00:00Z", "2026-11-26T08:57:00Z"),
    ]
    assert {(b["source"], str(b["bot_config"])) for b in bots} == {("auto_schedule", str(DEFAULT))}
    events = (await client.get("/api/v1/calendar/get_events", headers=calendar)).json()["events"]
    status = {e["google_event_id"]: (e["bot_join_status"], e["schedule_status"]) for e in events}
    assert status["soon"] == (True, "scheduled")
    assert status["later"] == (False, "unscheduled")
    assert status["declined"] == (False, "unscheduled")


async def test_a_pass_is_idempotent_and_never_overwrites_a_manual_schedule(
    client: httpx.AsyncClient, calendar: dict[str, str], container: Container
) -> None:
    events = (await client.get("/api/v1/calendar/get_events", headers=calendar)).json()["events"]
    soon = next(e["event_id"] for e in events if e["google_event_id"] == "soon")
    manual = await client.post(
        f"/api/v1/calendar/schedule/{soon}",
        json={"bot_config": {"mine": True}},
        headers=calendar,
    )
    await client.post(ENABLE, json={"default_bot_config": DEFAULT}, headers=calendar)

    assert await container.auto_schedule.run_pass() == 0
    bots = await _bots(client, calendar)
    assert len(bots) == 4
    [kept] = [b for b in bots if b["google_event_id"] == "soon"]
    assert (kept["bot_id"], kept["source"], kept["bot_config"]) == (
        manual.json()["bot_id"],
        "manual",
        {"mine": True},
    )


async def test_a_cancelled_bot_is_not_brought_back(
    client: httpx.AsyncClient, calendar: dict[str, str], container: Container
) -> None:
    await client.post(ENABLE, json={"default_bot_config": DEFAULT}, headers=calendar)
    soon = next(b for b in await _bots(client, calendar) if b["google_event_id"] == "soon")
    await client.delete(f"/api/v1/calendar/scheduled_bots/{soon['bot_id']}", headers=calendar)

    assert await container.auto_schedule.run_pass() == 0
    assert len(await _bots(client, calendar)) == 4


async def test_the_periodic_pass_picks_up_what_comes_into_the_lookahead(
    client: httpx.AsyncClient, calendar: dict[str, str], container: Container, clock: FakeClock
) -> None:
    await client.post(ENABLE, json={"default_bot_config": DEFAULT}, headers=calendar)
    clock.set(datetime(2026, 11, 26, 16, tzinfo=UTC))

    assert await container.auto_schedule.run_pass() == 2  # "later" and the next daily
    names = sorted(b["google_event_id"] for b in await _bots(client, calendar))
    assert names == ["daily", "daily", "later", "now", "soon", "team"]


async def test_a_disabled_account_gets_nothing(
    client: httpx.AsyncClient, calendar: dict[str, str], container: Container, clock: FakeClock
) -> None:
    await client.post(ENABLE, json={"default_bot_config": DEFAULT}, headers=calendar)
    for bot in await _bots(client, calendar):
        await client.delete(f"/api/v1/calendar/scheduled_bots/{bot['bot_id']}", headers=calendar)
    await client.post("/api/v1/calendar/auto-schedule/disable", headers=calendar)
    clock.advance(86400)

    assert await container.auto_schedule.run_pass() == 0


async def test_two_processes_running_a_pass_at_once_create_each_bot_once(
    client: httpx.AsyncClient,
    calendar: dict[str, str],
    container: Container,
    settings: Settings,
    clock: FakeClock,
) -> None:
    account_id = await container.api_keys.authenticate(calendar["Authorization"].split()[1])
    # Turned on in the store directly, so that no pass has run yet.
    await container.stores.auto_schedule.save_auto_schedule(
        account_id, AutoScheduleSettings(True, DEFAULT)
    )
    async with open_container(settings, clock=clock) as other:
        created = await asyncio.gather(
            container.auto_schedule.run_pass(), other.auto_schedule.run_pass()
        )

    assert sum(created) == 4
    assert len(await _bots(client, calendar)) == 4


def test_the_cli_runs_one_pass(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(cli, ["auto-schedule", "run"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "0"
    assert "created 0 bot(s)" in result.stderr


async def test_after_disconnect_and_reconnect_every_meeting_gets_one_bot_again(
    client: httpx.AsyncClient, calendar: dict[str, str], container: Container
) -> None:
    await client.post(ENABLE, json={"default_bot_config": DEFAULT}, headers=calendar)
    before = {(b["google_event_id"], b["occurrence_start"]) for b in await _bots(client, calendar)}
    assert len(before) == 4

    disconnected = await client.delete("/api/v1/calendar/disconnect", headers=calendar)
    assert disconnected.json()["bots_cancelled"] == 4
    reconnected = await client.post(
        "/api/v1/calendar/create_calendar", json=GOOD_CREDENTIALS, headers=calendar
    )
    assert reconnected.status_code == 201  # as if it had never connected
    for calendar_id in (PRIMARY, TEAM):
        synced = await client.get(
            "/api/v1/calendar/events", params={"calendar_id": calendar_id}, headers=calendar
        )
        assert synced.status_code == 200
    assert await container.auto_schedule.run_pass() == 0  # the sync's pass made them all

    bots = await _bots(client, calendar)
    scheduled = [
        (b["google_event_id"], b["occurrence_start"]) for b in bots if b["status"] == "scheduled"
    ]
    assert sorted(scheduled) == sorted(before)  # exactly one each
    assert {b["status"] for b in bots if b["status"] != "scheduled"} == {"cancelled"}
    assert len(bots) == 8  # the four cancelled by the disconnect stay as history
    settings = await client.get("/api/v1/calendar/auto-schedule/settings", headers=calendar)
    assert settings.json()["enabled"] is True
