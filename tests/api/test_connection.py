"""create_calendar, calendars and disconnect, through HTTP against a fake Google."""

from __future__ import annotations

import httpx
import pytest

from app.container import Container
from tests.conftest import GOOD_CREDENTIALS, meeting, new_auth
from tests.fake_google import GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN, FakeGoogle

CREATE = "/api/v1/calendar/create_calendar"


async def test_connecting_lists_every_calendar_and_names_the_primary(
    client: httpx.AsyncClient, auth: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.page_size = 1  # calendarList arrives in two pages
    response = await client.post(CREATE, json=GOOD_CREDENTIALS, headers=auth)

    assert response.status_code == 201
    body = response.json()
    assert body["primary_calendar_id"] == "user@example.com"
    assert [(c["id"], c["primary"]) for c in body["calendars"]] == [
        ("user@example.com", True),
        ("team@group.calendar.google.com", False),
    ]
    assert body["calendars"][0]["summary"] == "Me"
    assert len(fake_google.api_requests("/calendarList")) == 2


async def test_no_secret_or_token_is_ever_in_the_answer(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(CREATE, json=GOOD_CREDENTIALS, headers=auth)
    listed = await client.get("/api/v1/calendar/calendars", headers=auth)

    for text in (response.text, listed.text):
        assert GOOD_CLIENT_SECRET not in text
        assert GOOD_REFRESH_TOKEN not in text
        assert "at-1" not in text


async def test_connecting_again_replaces_the_connection_with_200(
    client: httpx.AsyncClient, connected: dict[str, str]
) -> None:
    response = await client.post(CREATE, json=GOOD_CREDENTIALS, headers=connected)
    assert response.status_code == 200
    assert response.json()["primary_calendar_id"] == "user@example.com"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"google_refresh_token": "1//revoked"}, "invalid_grant"),
        ({"google_client_secret": "wrong"}, "invalid_client"),
    ],
)
async def test_rejected_credentials_answer_400_with_googles_reason_and_store_nothing(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    container: Container,
    change: dict[str, str],
    reason: str,
) -> None:
    response = await client.post(CREATE, json={**GOOD_CREDENTIALS, **change}, headers=auth)

    assert response.status_code == 400
    assert reason in response.json()["detail"]
    calendars = await client.get("/api/v1/calendar/calendars", headers=auth)
    assert calendars.status_code == 404
    assert calendars.json()["detail"] == "No calendar connected"
    account_id = await container.api_keys.authenticate(auth["Authorization"].split()[1])
    assert await container.secrets.get(account_id) is None


async def test_google_unreachable_answers_502_and_stores_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.fail_next = [503] * 20
    response = await client.post(CREATE, json=GOOD_CREDENTIALS, headers=auth)

    assert response.status_code == 502
    assert "Traceback" not in response.text
    fake_google.fail_next = []
    assert (await client.get("/api/v1/calendar/calendars", headers=auth)).status_code == 404


async def test_a_brief_google_outage_is_retried_and_the_connection_succeeds(
    client: httpx.AsyncClient, auth: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.fail_next = [503, 500]
    response = await client.post(CREATE, json=GOOD_CREDENTIALS, headers=auth)
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {},
        {**GOOD_CREDENTIALS, "google_refresh_token": ""},
        {**GOOD_CREDENTIALS, "google_client_id": "   "},
        {"google_client_id": "x", "google_client_secret": "y"},
    ],
    ids=["empty", "empty-token", "blank-client-id", "missing-token"],
)
async def test_missing_or_empty_fields_answer_422(
    client: httpx.AsyncClient, auth: dict[str, str], fake_google: FakeGoogle, body: dict[str, str]
) -> None:
    response = await client.post(CREATE, json=body, headers=auth)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
    assert fake_google.requests == []


async def test_calendars_show_a_revoked_connection(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.revoke_access()

    events = await client.get("/api/v1/calendar/events", headers=connected)
    listed = await client.get("/api/v1/calendar/calendars", headers=connected)

    assert events.status_code == 409
    assert events.json()["error"] == "credentials_revoked"
    assert "create_calendar" in events.json()["detail"]
    assert listed.json()["connection_status"] == "revoked"
    assert {c["connection_status"] for c in listed.json()["calendars"]} == {"revoked"}


async def test_disconnect_forgets_events_sync_state_and_credentials(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    fake_google.put_event(
        "user@example.com", meeting("m1", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    assert (
        len((await client.get("/api/v1/calendar/events", headers=connected)).json()["events"]) == 1
    )

    response = await client.delete("/api/v1/calendar/disconnect", headers=connected)

    assert response.status_code == 200
    assert response.json() == {"disconnected": True, "channels_stopped": 0, "bots_cancelled": 0}
    account_id = await container.api_keys.authenticate(connected["Authorization"].split()[1])
    assert await container.secrets.get(account_id) is None
    assert await container.stores.events.get_sync_state(account_id, "user@example.com") is None
    assert await container.stores.events.list_events(account_id, "user@example.com") == []
    again = await client.delete("/api/v1/calendar/disconnect", headers=connected)
    assert again.status_code == 404
    assert (await client.get("/api/v1/calendar/get_events", headers=connected)).status_code == 404


async def test_reconnecting_after_disconnect_syncs_from_scratch(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(
        "user@example.com", meeting("m1", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    await client.get("/api/v1/calendar/events", headers=connected)
    await client.delete("/api/v1/calendar/disconnect", headers=connected)
    fake_google.requests.clear()

    assert (await client.post(CREATE, json=GOOD_CREDENTIALS, headers=connected)).status_code == 201
    events = await client.get("/api/v1/calendar/events", headers=connected)

    assert [e["google_event_id"] for e in events.json()["events"]] == ["m1"]
    assert "syncToken" not in str(fake_google.api_requests("/events")[0].url)


async def test_another_accounts_calendar_answers_404(
    client: httpx.AsyncClient, connected: dict[str, str], container: Container
) -> None:
    other = await new_auth(container, "other")
    response = await client.get(
        "/api/v1/calendar/get_events",
        params={"calendar_id": "user@example.com"},
        headers=other,
    )
    assert response.status_code == 404


async def test_unknown_calendar_id_answers_404(
    client: httpx.AsyncClient, connected: dict[str, str]
) -> None:
    response = await client.get(
        "/api/v1/calendar/events", params={"calendar_id": "nope@example.com"}, headers=connected
    )
    assert response.status_code == 404
    assert response.json() == {
        "detail": "Calendar not found among this account's connected calendars.",
        "error": "calendar_not_found",
    }  # never quoting the id that was sent (CONTRACT.md, errors)
