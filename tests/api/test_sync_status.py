"""GET /sync-status and /readyz: a client sees how each calendar syncs, and when it stopped."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.config import Settings
from app.container import Container
from tests.api.test_notifications import PUBLIC, _channel, _notify
from tests.conftest import GOOD_CREDENTIALS
from tests.fake_google import FakeGoogle
from tests.fakes import FakeClock

PRIMARY = "user@example.com"
TEAM = "team@group.calendar.google.com"
STATUS = "/api/v1/calendar/sync-status"
NOW_TEXT = "2026-11-25T12:00:00Z"  # tests.conftest.NOW, where the clock starts


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"public_base_url": PUBLIC})


async def _statuses(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = await client.get(STATUS, headers=auth)
    assert response.status_code == 200, response.text
    return {entry["calendar_id"]: entry for entry in response.json()["calendars"]}


async def _connect_with_team_polled(
    client: httpx.AsyncClient, auth: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.refuse_watch.add(TEAM)
    response = await client.post(
        "/api/v1/calendar/create_calendar", json=GOOD_CREDENTIALS, headers=auth
    )
    assert response.status_code == 201, response.text


async def test_each_calendar_shows_its_mode_and_its_last_success(
    client: httpx.AsyncClient, auth: dict[str, str], fake_google: FakeGoogle, clock: FakeClock
) -> None:
    await _connect_with_team_polled(client, auth, fake_google)
    for calendar_id in (PRIMARY, TEAM):
        synced = await client.get(
            "/api/v1/calendar/events", params={"calendar_id": calendar_id}, headers=auth
        )
        assert synced.status_code == 200, synced.text

    statuses = await _statuses(client, auth)

    assert statuses[PRIMARY]["mode"] == "push"
    assert statuses[PRIMARY]["channel_expires_at"] == "2027-01-01T00:00:00Z"
    assert statuses[TEAM] == {
        "calendar_id": TEAM,
        "mode": "polling",
        "last_sync_at": statuses[TEAM]["last_success_at"],
        "last_success_at": statuses[TEAM]["last_sync_at"],
        "last_error": None,
        "consecutive_failures": 0,
        "channel_expires_at": None,
        "last_notification_at": None,
        "stale": False,
    }
    assert statuses[TEAM]["last_success_at"] is not None


async def test_failed_syncs_are_counted_with_their_reason_until_one_succeeds(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    assert (await client.get("/api/v1/calendar/events", headers=connected)).status_code == 200
    for failures in (1, 2):
        fake_google.fail_next = [503] * 50
        failed = await client.get("/api/v1/calendar/events", headers=connected)
        assert failed.status_code in (502, 503), failed.text
        primary = (await _statuses(client, connected))[PRIMARY]
        assert primary["consecutive_failures"] == failures
        assert primary["last_error"] == failed.json()["detail"]
        assert primary["last_sync_at"] >= primary["last_success_at"]

    fake_google.fail_next = []
    assert (await client.get("/api/v1/calendar/events", headers=connected)).status_code == 200
    primary = (await _statuses(client, connected))[PRIMARY]
    assert (primary["consecutive_failures"], primary["last_error"]) == (0, None)
    assert primary["last_success_at"] == primary["last_sync_at"]


async def test_revoked_access_shows_as_failures_that_say_to_reconnect(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.revoke_access()

    refused = await client.get("/api/v1/calendar/events", headers=connected)

    assert refused.status_code == 409, refused.text
    primary = (await _statuses(client, connected))[PRIMARY]
    assert primary["consecutive_failures"] == 1
    assert "create_calendar" in primary["last_error"] or "reconnect" in primary["last_error"]


async def test_a_push_notification_is_recorded(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
) -> None:
    clock.advance(60)
    response = await _notify(client, _channel(fake_google), state="sync", number="1")
    assert response.status_code == 200

    assert (await _statuses(client, connected))[PRIMARY]["last_notification_at"] == (
        "2026-11-25T12:01:00Z"
    )


async def test_a_calendar_without_success_for_two_poll_intervals_is_stale_and_on_readyz(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
) -> None:
    interval = container.settings.sync_poll_interval_seconds
    assert (await client.get("/api/v1/calendar/events", headers=connected)).status_code == 200
    clock.advance(2 * interval - 1)
    assert not (await _statuses(client, connected))[PRIMARY]["stale"]
    ready = (await client.get("/readyz")).json()
    assert ready == {"status": "ready", "stale_calendars": []}

    clock.advance(2)
    fake_google.fail_next = [503] * 50
    assert (await client.get("/api/v1/calendar/events", headers=connected)).status_code >= 500

    assert (await _statuses(client, connected))[PRIMARY]["stale"]
    ready_response = await client.get("/readyz")
    assert ready_response.status_code == 200
    stale = ready_response.json()["stale_calendars"]
    assert [(entry["calendar_id"], entry["unhealthy_since"]) for entry in stale] == [
        (PRIMARY, NOW_TEXT)  # its last success
    ]
    assert stale[0]["consecutive_failures"] == 1


async def test_sync_status_needs_a_connection(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.get(STATUS, headers=auth)
    assert response.status_code == 404
    assert response.json()["detail"] == "No calendar connected"
