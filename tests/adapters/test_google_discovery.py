"""Every kind of request calbot's Google adapters send, each at least once, keeps Google's rules.

The rules are tests/google_rules.py (read from the discovery document and the notes). The
session-wide check holds every request of the suite to the same table; this test makes sure each
call site is exercised, pages included, and names the call that broke a rule.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx

from app.adapters.google import HttpGoogleCalendar
from app.adapters.google_oauth import GoogleOAuthCodeExchanger
from app.domain import GoogleCredentials
from tests.fakes import FakeClock
from tests.google_requests import (
    CALENDAR_LIST,
    CHANNELS_STOP,
    DISCOVERY,
    EVENTS_GET,
    EVENTS_INSTANCES,
    EVENTS_LIST,
    EVENTS_WATCH,
    TOKEN_ENDPOINT,
    TokenMemory,
)
from tests.google_rules import violations

API = DISCOVERY["baseUrl"].rstrip("/")
TOKEN_URL = "https://oauth2.googleapis.com/token"
CREDENTIALS = GoogleCredentials("client-1", "client-secret-value", "1//refresh-token-value")
CALENDAR_ID = "en.usa#holiday@group.v.calendar.google.com"
ENCODED_CALENDAR_ID = "en.usa%23holiday%40group.v.calendar.google.com"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def _answer_like_google(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            200, json={"access_token": "ya29.x", "expires_in": 3599, "refresh_token": "1//rt"}
        )
    )
    respx_mock.get(url__startswith=f"{API}/users/me/calendarList").mock(
        side_effect=[
            httpx.Response(200, json={"items": [{"id": "a"}], "nextPageToken": "c2"}),
            httpx.Response(200, json={"items": [{"id": "b"}], "nextSyncToken": "cs"}),
        ]
    )
    respx_mock.get(url__regex=rf"^{re.escape(API)}/calendars/[^/]+/events(\?|$)").mock(
        side_effect=[
            httpx.Response(200, json={"items": [], "nextPageToken": "p2"}),
            httpx.Response(200, json={"items": [], "nextSyncToken": "s1"}),
            httpx.Response(200, json={"items": [], "nextPageToken": "p3"}),
            httpx.Response(200, json={"items": [], "nextSyncToken": "s2"}),
        ]
    )
    respx_mock.post(url__regex=rf"^{re.escape(API)}/calendars/[^/]+/events/watch$").mock(
        return_value=httpx.Response(
            200, json={"id": "chan-1", "resourceId": "res-1", "expiration": "1795000000000"}
        )
    )
    respx_mock.post(f"{API}/channels/stop").mock(return_value=httpx.Response(204))
    respx_mock.get(url__regex=rf"^{re.escape(API)}/calendars/[^/]+/events/[^/]+/instances").mock(
        return_value=httpx.Response(200, json={"items": [{"id": "abc123_20261201T090000Z"}]})
    )
    respx_mock.get(url__regex=rf"^{re.escape(API)}/calendars/[^/]+/events/[^/?]+$").mock(
        return_value=httpx.Response(200, json={"id": "abc123"})
    )


async def test_every_call_site_keeps_googles_rules(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    _answer_like_google(respx_mock)
    clock = FakeClock()
    google = HttpGoogleCalendar(http, clock, token_url=TOKEN_URL, api_base_url=API)
    consent = GoogleOAuthCodeExchanger(http, clock, token_url=TOKEN_URL)

    await consent.exchange_code(
        client_id="client-1",
        client_secret="client-secret-value",
        code="4/0Ab-code",
        redirect_uri="http://127.0.0.1:8000/api/google/oauth-callback",
        code_verifier="v" * 43,
    )
    await google.list_calendars(CREDENTIALS)
    full = google.list_events(
        CREDENTIALS, CALENDAR_ID, sync_token=None, time_min=datetime(2026, 1, 1, tzinfo=UTC)
    )
    _ = [page async for page in full]
    incremental = google.list_events(CREDENTIALS, CALENDAR_ID, sync_token="s1", time_min=None)
    _ = [page async for page in incremental]
    await google.watch_events(
        CREDENTIALS,
        CALENDAR_ID,
        channel_id="chan-1",
        token="channel-token",
        address="https://calbot.example/api/v1/calendar/webhooks/google",
        ttl_seconds=604800,
    )
    await google.stop_channel(CREDENTIALS, "chan-1", "res-1")
    for original_start in (None, "2026-12-01T09:00:00Z", "2026-12-01"):
        await google.get_occurrence(
            CREDENTIALS,
            CALENDAR_ID,
            "abc123",
            original_start=original_start,
            deadline=timedelta(seconds=2),
        )

    memory = TokenMemory()
    called: list[str | None] = []
    broken: list[str] = []
    for call in respx_mock.calls:
        seen = memory.describe(call.request)
        assert seen is not None, call.request.url
        called.append(seen.endpoint)
        broken += [f"{seen.http_method} {seen.url}: {v}" for v in violations(seen)]
        memory.remember_answer(
            call.request, call.response.json() if call.response.content else None
        )
        if seen.endpoint in (EVENTS_LIST, EVENTS_WATCH, EVENTS_GET, EVENTS_INSTANCES):
            assert seen.path.startswith(f"calendars/{ENCODED_CALENDAR_ID}/events")
    assert broken == []
    assert called == [
        TOKEN_ENDPOINT,  # the code exchange
        TOKEN_ENDPOINT,  # the refresh before the first API call
        *[CALENDAR_LIST] * 2,
        *[EVENTS_LIST] * 4,  # a full run and an incremental one, two pages each
        EVENTS_WATCH,
        CHANNELS_STOP,
        EVENTS_GET,  # the launch check: a one-off ...
        *[EVENTS_INSTANCES] * 2,  # ... and an occurrence of a timed and of an all-day series
    ]
