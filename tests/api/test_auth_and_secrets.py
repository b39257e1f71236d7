"""API keys guard every calendar route; Google secrets never leave calbot in clear."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.container import Container
from tests.conftest import GOOD_CREDENTIALS, meeting
from tests.fake_google import GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN, FakeGoogle

CALENDAR_ROUTES = [
    ("POST", "/api/v1/calendar/create_calendar"),
    ("DELETE", "/api/v1/calendar/disconnect"),
    ("GET", "/api/v1/calendar/calendars"),
    ("GET", "/api/v1/calendar/events"),
    ("GET", "/api/v1/calendar/get_events"),
]


@pytest.mark.parametrize(("method", "path"), CALENDAR_ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer abc", "Token", "Token cb_not-a-real-key", "cb_missing-scheme"],
    ids=["missing", "empty", "wrong-scheme", "no-key", "unknown-key", "bare-key"],
)
async def test_calendar_routes_answer_401_without_a_valid_key(
    client: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.request(method, path, headers=headers, json=GOOD_CREDENTIALS)
    assert response.status_code == 401
    assert "Token" in response.json()["detail"] or "key" in response.json()["detail"]


async def test_a_revoked_key_stops_working(client: httpx.AsyncClient, container: Container) -> None:
    issued = await container.api_keys.create("soon revoked")
    headers = {"Authorization": f"Token {issued.secret}"}
    assert (await client.get("/api/v1/calendar/calendars", headers=headers)).status_code == 404

    await container.api_keys.revoke(issued.key.key_id)

    assert (await client.get("/api/v1/calendar/calendars", headers=headers)).status_code == 401


async def test_the_scheme_is_case_insensitive(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    key = auth["Authorization"].split()[1]
    response = await client.get(
        "/api/v1/calendar/calendars", headers={"Authorization": f"token {key}"}
    )
    assert response.status_code == 404  # authenticated; simply not connected yet


async def test_keys_are_stored_hashed(
    client: httpx.AsyncClient, auth: dict[str, str], settings: Settings
) -> None:
    key = auth["Authorization"].split()[1]
    assert key.encode() not in _database_bytes(settings.data_dir)


async def test_the_database_never_holds_google_secrets_in_clear(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    settings: Settings,
) -> None:
    fake_google.put_event(
        "user@example.com", meeting("m", "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
    )
    await client.get("/api/v1/calendar/events", headers=connected)

    stored = _database_bytes(settings.data_dir)
    assert b"meet.google.com" in stored  # the check does read the data
    for secret in (GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN, "at-1"):
        assert secret.encode() not in stored


async def test_the_generated_encryption_key_is_private(
    connected: dict[str, str], settings: Settings
) -> None:
    key_file = settings.data_dir / "encryption.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


async def test_secrets_never_reach_the_logs(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    fake_google: FakeGoogle,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await client.post("/api/v1/calendar/create_calendar", json=GOOD_CREDENTIALS, headers=auth)
    fake_google.fail_next = [500]
    await client.get("/api/v1/calendar/events", headers=auth)
    fake_google.revoke_access()
    await client.get("/api/v1/calendar/events", headers=auth)
    bad = {**GOOD_CREDENTIALS, "google_client_secret": "wrong-secret-value"}
    await client.post("/api/v1/calendar/create_calendar", json=bad, headers=auth)

    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    for secret in (GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN, "wrong-secret-value", "at-1"):
        assert secret not in logged


def _database_bytes(data_dir: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(data_dir.glob("calbot.sqlite3*")))
