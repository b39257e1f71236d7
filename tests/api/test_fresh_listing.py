"""A listing asked again is answered from memory only while it is provably unchanged.

GET /get_events keeps its answer with the store's change stamp (app/services/fresh_answers.py)
and gives it again before routing (app/fresh_listing.py). These tests change what the answer is
made of in every way a user can, and check the next answer shows it at once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.container import Container
from tests.conftest import meeting, new_auth
from tests.fake_google import FakeGoogle
from tests.fakes import FakeClock

GET_EVENTS = "/api/v1/calendar/get_events"
PRIMARY = "user@example.com"
CONFIG = {"video_required": False, "callback_url": "https://example.com/hook"}


async def _listing(client: httpx.AsyncClient, auth: dict[str, str], **params: str) -> Any:
    response = await client.get(GET_EVENTS, headers=auth, params=params)
    assert response.status_code == 200, response.text
    return response


async def _synced(
    client: httpx.AsyncClient, auth: dict[str, str], fake_google: FakeGoogle, *events: Any
) -> None:
    for event in events:
        fake_google.put_event(PRIMARY, event)
    response = await client.get("/api/v1/calendar/events", headers=auth)
    assert response.status_code == 200, response.text


async def test_a_repeated_listing_is_the_same_answer_with_the_same_headers(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    await _synced(
        client,
        connected,
        fake_google,
        meeting("a", "2026-11-26T09:00:00Z", "2026-11-26T10:00:00Z"),
        meeting("b", "2026-11-27T09:00:00Z", "2026-11-27T10:00:00Z"),
    )

    first = await _listing(client, connected)
    again = await _listing(client, connected)

    assert again.content == first.content
    assert [e["google_event_id"] for e in again.json()["events"]] == ["a", "b"]
    for name in ("content-type", "content-length"):
        assert again.headers[name] == first.headers[name]
    assert again.headers["x-request-id"] != first.headers["x-request-id"]


async def test_a_bot_scheduled_shows_in_the_next_listing(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    await _synced(
        client, connected, fake_google, meeting("a", "2026-11-26T09:00:00Z", "2026-11-26T10:00:00Z")
    )
    [before] = (await _listing(client, connected)).json()["events"]
    await _listing(client, connected)  # now answered from memory
    assert before["bot_join_status"] is False

    scheduled = await client.post(
        f"/api/v1/calendar/schedule/{before['event_id']}",
        json={"bot_config": CONFIG},
        headers=connected,
    )
    assert scheduled.status_code in (200, 201), scheduled.text

    [after] = (await _listing(client, connected)).json()["events"]
    assert (after["bot_join_status"], after["schedule_status"]) == (True, "scheduled")


async def test_a_meeting_changed_in_google_shows_after_the_sync(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    await _synced(
        client, connected, fake_google, meeting("a", "2026-11-26T09:00:00Z", "2026-11-26T10:00:00Z")
    )
    await _listing(client, connected)
    await _listing(client, connected)

    await _synced(
        client,
        connected,
        fake_google,
        meeting("a", "2026-11-26T11:00:00Z", "2026-11-26T12:00:00Z", summary="Moved"),
    )

    [event] = (await _listing(client, connected)).json()["events"]
    assert (event["summary"], event["start_time"]) == ("Moved", "2026-11-26T11:00:00Z")


async def test_a_series_moves_on_when_its_occurrence_ends_with_nothing_stored_in_between(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    clock: FakeClock,
) -> None:
    series = meeting(
        "weekly", "2026-11-26T09:00:00Z", "2026-11-26T10:00:00Z", recurrence=["RRULE:FREQ=WEEKLY"]
    )
    series["start"]["timeZone"] = series["end"]["timeZone"] = "UTC"
    await _synced(client, connected, fake_google, series)
    [first] = (await _listing(client, connected)).json()["events"]
    [kept] = (await _listing(client, connected)).json()["events"]
    assert first["next_occurrence_start"] == kept["next_occurrence_start"] == "2026-11-26T09:00:00Z"

    clock.set(clock.now().replace(day=26, hour=10, minute=0) + timedelta(seconds=1))

    [moved_on] = (await _listing(client, connected)).json()["events"]
    assert moved_on["next_occurrence_start"] == "2026-12-03T09:00:00Z"


async def test_a_key_revoked_by_the_cli_is_refused_at_once(
    client: httpx.AsyncClient,
    container: Container,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    settings: Settings,
) -> None:
    await _synced(
        client, connected, fake_google, meeting("a", "2026-11-26T09:00:00Z", "2026-11-26T10:00:00Z")
    )
    await _listing(client, connected)
    await _listing(client, connected)  # answered from memory
    [key] = await container.api_keys.list()

    # Another process (the CLI, with its own connections to the same database file) revokes it.
    revoked = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["api-key", "revoke", key.key_id],
        env={"DATA_DIR": str(settings.data_dir)},
    )
    assert revoked.exit_code == 0, revoked.output

    refused = await client.get(GET_EVENTS, headers=connected)
    assert refused.status_code == 401


async def test_another_accounts_key_never_gets_the_kept_answer(
    client: httpx.AsyncClient,
    container: Container,
    connected: dict[str, str],
    fake_google: FakeGoogle,
) -> None:
    await _synced(
        client, connected, fake_google, meeting("a", "2026-11-26T09:00:00Z", "2026-11-26T10:00:00Z")
    )
    await _listing(client, connected)
    await _listing(client, connected)
    stranger = await new_auth(container, "stranger")

    answer = await client.get(GET_EVENTS, headers=stranger)
    again = await client.get(GET_EVENTS, headers=stranger)

    assert (answer.status_code, again.status_code) == (404, 404)  # no calendar connected
    assert (
        await client.get(GET_EVENTS, headers={"Authorization": "Token nope"})
    ).status_code == 401


async def test_each_query_is_its_own_answer(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    await _synced(
        client,
        connected,
        fake_google,
        *(
            meeting(f"m{day}", f"2026-11-2{day}T09:00:00Z", f"2026-11-2{day}T10:00:00Z")
            for day in range(6, 9)
        ),
    )
    whole = await _listing(client, connected)
    first = await _listing(client, connected, limit="1")
    second = await _listing(client, connected, limit="1", cursor=first.json()["next_cursor"])
    windowed = await _listing(client, connected, time_min="2026-11-27T00:00:00Z")

    assert [e["google_event_id"] for e in whole.json()["events"]] == ["m6", "m7", "m8"]
    assert [e["google_event_id"] for e in first.json()["events"]] == ["m6"]
    assert [e["google_event_id"] for e in second.json()["events"]] == ["m7"]
    assert [e["google_event_id"] for e in windowed.json()["events"]] == ["m7", "m8"]
    bad = await client.get(GET_EVENTS, headers=connected, params={"limit": "0"})
    assert bad.status_code == 422


async def test_a_bad_cursor_on_events_is_refused_before_google_is_called(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    await _synced(client, connected, fake_google)
    asked_before = len(fake_google.api_requests("/events"))

    refused = await client.get(
        "/api/v1/calendar/events", headers=connected, params={"cursor": "not-a-cursor"}
    )

    assert refused.status_code == 422, refused.text
    assert len(fake_google.api_requests("/events")) == asked_before
