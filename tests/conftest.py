"""Shared fixtures: settings on a temporary DATA_DIR, a fake Google behind respx, the app, and
the session-wide check that every request sent to Google keeps Google's documented rules."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI

from app.config import Settings
from app.container import Container
from app.main import create_app
from tests.fake_google import (
    API_URL,
    GOOD_CLIENT_ID,
    GOOD_CLIENT_SECRET,
    GOOD_REFRESH_TOKEN,
    TOKEN_URL,
    FakeGoogle,
)
from tests.fakes import FakeClock, FakeResolver
from tests.google_traffic import google_conformance, pytest_terminal_summary

# The session fixture that checks every request sent to Google, and its line in the summary.
__all__ = ["google_conformance", "pytest_terminal_summary"]

BOT_API_URL = "https://bots.fake-meetstream.test/api/v1/bots/create_bot"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        google_oauth_token_url=TOKEN_URL,
        google_calendar_api_url=API_URL,
        bot_api_url=BOT_API_URL,
    )


@pytest.fixture
def fake_google() -> FakeGoogle:
    google = FakeGoogle()
    google.add_calendar("user@example.com", summary="Me", primary=True, tz="Europe/Berlin")
    google.add_calendar("team@group.calendar.google.com", summary="Team", tz="America/New_York")
    return google


@pytest.fixture
def google_mock(fake_google: FakeGoogle) -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=TOKEN_URL).mock(side_effect=fake_google.handle)
        router.route(url__startswith=API_URL, name="google-api").mock(
            side_effect=fake_google.handle
        )
        yield router


@pytest.fixture
async def app(
    settings: Settings, clock: FakeClock, google_mock: respx.MockRouter
) -> AsyncIterator[FastAPI]:
    application = create_app(settings, clock=clock, run_background=False, resolver=FakeResolver())
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def container(app: FastAPI) -> Container:
    found: Container = app.state.container
    return found


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://calbot.test") as http:
        yield http


async def new_auth(container: Container, name: str = "tester") -> dict[str, str]:
    issued = await container.api_keys.create(name)
    return {"Authorization": f"Token {issued.secret}"}


@pytest.fixture
async def auth(container: Container) -> dict[str, str]:
    return await new_auth(container)


GOOD_CREDENTIALS: dict[str, Any] = {
    "google_client_id": GOOD_CLIENT_ID,
    "google_client_secret": GOOD_CLIENT_SECRET,
    "google_refresh_token": GOOD_REFRESH_TOKEN,
}


@pytest.fixture
async def connected(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, str]:
    response = await client.post(
        "/api/v1/calendar/create_calendar", json=GOOD_CREDENTIALS, headers=auth
    )
    assert response.status_code == 201, response.text
    return auth


def meeting(
    event_id: str,
    start: str,
    end: str,
    *,
    link: str | None = "https://meet.google.com/abc-defg-hij",
    **fields: Any,
) -> dict[str, Any]:
    """A Google Event resource with a Meet link in hangoutLink (or none)."""
    event: dict[str, Any] = {
        "id": event_id,
        "summary": fields.pop("summary", f"Meeting {event_id}"),
        "start": {"dateTime": start},
        "end": {"dateTime": end},
    }
    if link:
        event["hangoutLink"] = link
    event.update(fields)
    return event
