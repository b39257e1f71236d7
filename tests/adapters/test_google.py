"""HttpGoogleCalendar against respx: token refresh, caching, retries, paging, push channels.

Also the shared retry policy (app/adapters/retry.py), whose backoff rule is Google's.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx

from app.adapters.google import HttpGoogleCalendar
from app.adapters.google_answers import GOOGLE_CALL_DEADLINE
from app.adapters.google_oauth import GoogleOAuthCodeExchanger
from app.adapters.ports import EventsPage
from app.adapters.retry import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after
from app.domain import Calendar, GoogleCredentials
from app.errors import (
    CalendarNotFound,
    CredentialsRevoked,
    GoogleRateLimited,
    GoogleUnavailable,
    InvalidGoogleCredentials,
    SyncTokenExpired,
    UpstreamRejected,
)
from tests.fakes import FakeClock

TOKEN_URL = "https://oauth2.test/token"
API = "https://calendar.test/calendar/v3"
READONLY = "https://www.googleapis.com/auth/calendar.readonly"
CLIENT_SECRET = "GOCSPX-client-secret-value"
REFRESH_TOKEN = "1//refresh-token-value"
ACCESS_TOKEN = "ya29.access-token-value"
CREDENTIALS = GoogleCredentials("client-1.apps.googleusercontent.com", CLIENT_SECRET, REFRESH_TOKEN)
SECRETS = (CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN)
CALENDAR_LIST = f"{API}/users/me/calendarList"
EVENTS = f"{API}/calendars/primary/events"
NO_JITTER = RetryPolicy(jitter=False)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def google(http: httpx.AsyncClient, clock: FakeClock) -> HttpGoogleCalendar:
    return HttpGoogleCalendar(http, clock, token_url=TOKEN_URL, api_base_url=API, retry=NO_JITTER)


def token_answer(token: str = ACCESS_TOKEN, expires_in: int = 3599, **extra: Any) -> httpx.Response:
    body = {"access_token": token, "expires_in": expires_in, "scope": f"openid {READONLY}"}
    return httpx.Response(200, json={**body, "token_type": "Bearer", **extra})


def google_error(status: int, reason: str, message: str = "Google says no.") -> httpx.Response:
    error = {"errors": [{"domain": "global", "reason": reason, "message": message}]}
    return httpx.Response(status, json={"error": {**error, "code": status, "message": message}})


def calendar_page(items: list[dict[str, Any]], next_page: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"kind": "calendar#calendarList", "items": items}
    if next_page:
        body["nextPageToken"] = next_page
    return httpx.Response(200, json=body)


def events_page(
    ids: list[str], *, next_page: str | None = None, sync_token: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"kind": "calendar#events", "timeZone": "Europe/Paris"}
    body["items"] = [{"id": event_id, "status": "confirmed"} for event_id in ids]
    if next_page:
        body["nextPageToken"] = next_page
    if sync_token:
        body["nextSyncToken"] = sync_token
    return httpx.Response(200, json=body)


def form_of(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


async def collect(pages: AsyncIterator[EventsPage]) -> list[EventsPage]:
    return [page async for page in pages]


# -- token refresh -------------------------------------------------------------------------------


async def test_refresh_posts_the_refresh_grant_and_reads_expiry_and_scopes(
    google: HttpGoogleCalendar, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(TOKEN_URL).mock(
        return_value=token_answer(expires_in=3599, refresh_token="1//a-new-one-we-ignore")
    )

    token = await google.refresh_access_token(CREDENTIALS)

    assert token.token == ACCESS_TOKEN
    assert token.expires_at == clock.now() + timedelta(seconds=3599)
    assert token.scopes == ("openid", READONLY)
    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form_of(request) == {
        "client_id": CREDENTIALS.client_id,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "grant_type": "refresh_token",
    }


async def test_refresh_always_asks_google_even_with_a_cached_token(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(TOKEN_URL).mock(
        side_effect=[token_answer("ya29.first"), token_answer("ya29.second")]
    )

    first = await google.refresh_access_token(CREDENTIALS)
    second = await google.refresh_access_token(CREDENTIALS)

    assert (first.token, second.token) == ("ya29.first", "ya29.second")
    assert route.call_count == 2


async def test_invalid_grant_means_the_credentials_were_revoked(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            400,
            json={
                "error": "invalid_grant",
                "error_description": "Token has been expired or revoked.",
            },
        )
    )

    with pytest.raises(CredentialsRevoked, match="Token has been expired or revoked"):
        await google.refresh_access_token(CREDENTIALS)


@pytest.mark.parametrize(
    ("status", "error", "description"),
    [
        (401, "invalid_client", "The OAuth client was not found."),
        (401, "invalid_client", "Unauthorized"),
        (400, "unauthorized_client", "Unauthorized"),
        (400, "invalid_request", "client_secret is missing."),
        (400, "deleted_client", "The OAuth client was deleted."),
        (400, "invalid_scope", "Bad scope."),
    ],
)
async def test_other_token_errors_are_invalid_credentials_with_googles_reason(
    google: HttpGoogleCalendar,
    respx_mock: respx.MockRouter,
    status: int,
    error: str,
    description: str,
) -> None:
    route = respx_mock.post(TOKEN_URL).mock(
        return_value=httpx.Response(status, json={"error": error, "error_description": description})
    )

    with pytest.raises(InvalidGoogleCredentials) as caught:
        await google.refresh_access_token(CREDENTIALS)

    assert str(caught.value) == f"Google rejected the credentials: {error}: {description}"
    assert route.call_count == 1  # a refusal is final: no retry


async def test_token_error_without_a_json_body_still_says_what_happened(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=httpx.Response(400, text="<html>Bad</html>"))

    with pytest.raises(InvalidGoogleCredentials, match="HTTP 400"):
        await google.refresh_access_token(CREDENTIALS)


async def test_token_endpoint_5xx_is_retried_with_growing_delays_then_succeeds(
    google: HttpGoogleCalendar, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(TOKEN_URL).mock(
        side_effect=[httpx.Response(500), httpx.Response(503), token_answer()]
    )

    token = await google.refresh_access_token(CREDENTIALS)

    assert token.token == ACCESS_TOKEN
    assert route.call_count == 3
    assert clock.slept == [1.0, 2.0]


async def test_token_endpoint_5xx_forever_is_google_unavailable_after_max_attempts(
    google: HttpGoogleCalendar, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(TOKEN_URL).mock(return_value=httpx.Response(502))

    with pytest.raises(GoogleUnavailable):
        await google.refresh_access_token(CREDENTIALS)

    assert route.call_count == NO_JITTER.max_attempts
    assert clock.slept == [1.0, 2.0, 4.0, 8.0]


async def test_timeouts_are_retried(
    google: HttpGoogleCalendar, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(TOKEN_URL).mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.ConnectError("down"), token_answer()]
    )

    token = await google.refresh_access_token(CREDENTIALS)

    assert token.token == ACCESS_TOKEN
    assert route.call_count == 3
    assert len(clock.slept) == 2


async def test_timeouts_forever_are_google_unavailable(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(side_effect=httpx.ReadTimeout("slow"))

    with pytest.raises(GoogleUnavailable, match="ReadTimeout"):
        await google.refresh_access_token(CREDENTIALS)


# -- access-token cache --------------------------------------------------------------------------


async def test_access_token_is_reused_until_a_minute_before_expiry(
    google: HttpGoogleCalendar, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    tokens = respx_mock.post(TOKEN_URL).mock(
        side_effect=[token_answer("ya29.first", 3600), token_answer("ya29.second", 3600)]
    )
    calendars = respx_mock.get(CALENDAR_LIST).mock(return_value=calendar_page([]))

    await google.list_calendars(CREDENTIALS)
    clock.advance(3600 - 60 - 1)
    await google.list_calendars(CREDENTIALS)
    assert tokens.call_count == 1
    clock.advance(1)
    await google.list_calendars(CREDENTIALS)

    assert tokens.call_count == 2
    bearers = [call.request.headers["Authorization"] for call in calendars.calls]
    assert bearers == ["Bearer ya29.first", "Bearer ya29.first", "Bearer ya29.second"]


async def test_refresh_access_token_updates_the_cache(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(
        side_effect=[token_answer("ya29.first"), token_answer("ya29.second")]
    )
    calendars = respx_mock.get(CALENDAR_LIST).mock(return_value=calendar_page([]))

    await google.list_calendars(CREDENTIALS)
    await google.refresh_access_token(CREDENTIALS)
    await google.list_calendars(CREDENTIALS)

    assert calendars.calls.last.request.headers["Authorization"] == "Bearer ya29.second"


async def test_concurrent_calls_refresh_the_token_once(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    async def slow_token(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # let the other callers reach the cache meanwhile
        return token_answer()

    tokens = respx_mock.post(TOKEN_URL).mock(side_effect=slow_token)
    calendars = respx_mock.get(CALENDAR_LIST).mock(return_value=calendar_page([]))

    await asyncio.gather(*(google.list_calendars(CREDENTIALS) for _ in range(5)))

    assert tokens.call_count == 1
    assert calendars.call_count == 5


async def test_per_credential_memory_stays_bounded_however_many_credentials_pass(
    http: httpx.AsyncClient, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    google = HttpGoogleCalendar(
        http, clock, token_url=TOKEN_URL, api_base_url=API, retry=NO_JITTER, max_cached_tokens=3
    )

    async def slow_token(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        return token_answer(f"ya29.for-{form_of(request)['refresh_token']}")

    tokens = respx_mock.post(TOKEN_URL).mock(side_effect=slow_token)
    respx_mock.get(CALENDAR_LIST).mock(return_value=calendar_page([]))
    many = [GoogleCredentials("client", CLIENT_SECRET, f"1//refresh-{n}") for n in range(50)]

    for credentials in many:
        await asyncio.gather(*(google.list_calendars(credentials) for _ in range(3)))

    assert tokens.call_count == 50  # one refresh per credential, however many callers
    assert (len(google._tokens._tokens), len(google._tokens._locks)) == (3, 0)
    await google.list_calendars(many[-1])  # among the three most recent: cached
    assert tokens.call_count == 50
    await google.list_calendars(many[0])  # dropped long ago: refreshed again
    assert tokens.call_count == 51


async def test_a_401_refreshes_once_and_resends_once(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    tokens = respx_mock.post(TOKEN_URL).mock(
        side_effect=[token_answer("ya29.stale"), token_answer("ya29.fresh")]
    )
    calendars = respx_mock.get(CALENDAR_LIST).mock(
        side_effect=[google_error(401, "authError", "Invalid Credentials"), calendar_page([])]
    )

    assert await google.list_calendars(CREDENTIALS) == []

    assert tokens.call_count == 2
    bearers = [call.request.headers["Authorization"] for call in calendars.calls]
    assert bearers == ["Bearer ya29.stale", "Bearer ya29.fresh"]


async def test_a_second_401_after_a_fresh_token_is_upstream_rejected(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    tokens = respx_mock.post(TOKEN_URL).mock(
        side_effect=[token_answer("ya29.one"), token_answer("ya29.two")]
    )
    calendars = respx_mock.get(CALENDAR_LIST).mock(
        return_value=google_error(401, "authError", "Invalid Credentials")
    )

    with pytest.raises(UpstreamRejected, match="just issued"):
        await google.list_calendars(CREDENTIALS)

    assert (tokens.call_count, calendars.call_count) == (2, 2)


async def test_invalid_grant_while_refreshing_after_a_401_is_credentials_revoked(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(
        side_effect=[token_answer(), httpx.Response(400, json={"error": "invalid_grant"})]
    )
    respx_mock.get(CALENDAR_LIST).mock(return_value=google_error(401, "authError"))

    with pytest.raises(CredentialsRevoked):
        await google.list_calendars(CREDENTIALS)


# -- retries on the Calendar API -----------------------------------------------------------------


async def test_429_honours_retry_after(
    google: HttpGoogleCalendar, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.get(CALENDAR_LIST).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), calendar_page([])]
    )

    await google.list_calendars(CREDENTIALS)

    assert route.call_count == 2
    assert clock.slept == [7.0]


async def test_429_forever_is_google_rate_limited(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    respx_mock.get(CALENDAR_LIST).mock(return_value=google_error(429, "rateLimitExceeded"))

    with pytest.raises(GoogleRateLimited):
        await google.list_calendars(CREDENTIALS)


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded"])
async def test_403_rate_limit_is_retried(
    google: HttpGoogleCalendar, clock: FakeClock, respx_mock: respx.MockRouter, reason: str
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.get(CALENDAR_LIST).mock(
        side_effect=[google_error(403, reason), google_error(403, reason), calendar_page([])]
    )

    await google.list_calendars(CREDENTIALS)

    assert route.call_count == 3
    assert clock.slept == [1.0, 2.0]


async def test_403_quota_exceeded_is_not_tight_retried(
    google: HttpGoogleCalendar, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.get(CALENDAR_LIST).mock(
        return_value=google_error(403, "quotaExceeded", "Calendar usage limits exceeded.")
    )

    with pytest.raises(GoogleRateLimited, match="quotaExceeded"):
        await google.list_calendars(CREDENTIALS)

    assert route.call_count == 1
    assert clock.slept == []


async def test_api_5xx_then_success_and_timeouts_are_retried(
    google: HttpGoogleCalendar, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.get(CALENDAR_LIST).mock(
        side_effect=[
            google_error(500, "backendError"),
            httpx.ReadTimeout("slow"),
            calendar_page([{"id": "a@x", "summary": "A"}]),
        ]
    )

    calendars = await google.list_calendars(CREDENTIALS)

    assert [c.calendar_id for c in calendars] == ["a@x"]
    assert route.call_count == 3
    assert clock.slept == [1.0, 2.0]


# -- calendarList --------------------------------------------------------------------------------


async def test_calendar_list_follows_pages_and_maps_entries(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.get(CALENDAR_LIST).mock(
        side_effect=[
            calendar_page(
                [
                    {
                        "id": "me@example.com",
                        "summary": "me@example.com",
                        "primary": True,
                        "timeZone": "Europe/Paris",
                        "accessRole": "owner",
                    }
                ],
                next_page="p2",
            ),
            calendar_page(
                [
                    {"id": "gone@x", "summary": "Gone", "deleted": True},
                    {"id": "team@x", "summary": "Team", "summaryOverride": "My team"},
                ],
                next_page="p3",
            ),
            calendar_page([{"id": "en.usa#holiday@x", "summary": "Holidays"}]),
        ]
    )

    calendars = await google.list_calendars(CREDENTIALS)

    assert calendars == [
        Calendar("me@example.com", "me@example.com", True, "Europe/Paris", "owner"),
        Calendar("team@x", "My team", False, None, None),
        Calendar("en.usa#holiday@x", "Holidays", False, None, None),
    ]
    queries = [dict(call.request.url.params) for call in route.calls]
    base = {"maxResults": "250", "minAccessRole": "reader"}
    assert queries == [base, {**base, "pageToken": "p2"}, {**base, "pageToken": "p3"}]


# -- events.list ---------------------------------------------------------------------------------


async def test_events_stream_every_page_including_an_empty_middle_page(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.get(EVENTS).mock(
        side_effect=[
            events_page(["e1", "e2"], next_page="p2"),
            events_page([], next_page="p3"),
            events_page(["e3"], sync_token="sync-1"),
        ]
    )
    start = datetime(2026, 11, 25, 13, 30, 15, tzinfo=UTC)

    pages = google.list_events(CREDENTIALS, "primary", sync_token=None, time_min=start)
    first = await anext(pages)
    assert route.call_count == 1  # streamed: the next page is fetched only when asked for
    rest = await collect(pages)

    assert [[item["id"] for item in page.items] for page in [first, *rest]] == [
        ["e1", "e2"],
        [],
        ["e3"],
    ]
    assert [page.next_sync_token for page in [first, *rest]] == [None, None, "sync-1"]
    assert first.time_zone == "Europe/Paris"
    base = {"singleEvents": "false", "maxResults": "2500", "timeMin": "2026-11-25T13:30:15Z"}
    queries = [dict(call.request.url.params) for call in route.calls]
    assert queries == [base, {**base, "pageToken": "p2"}, {**base, "pageToken": "p3"}]


async def test_time_min_is_sent_in_utc(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.get(EVENTS).mock(return_value=events_page([], sync_token="s"))
    paris = datetime(2026, 11, 25, 15, 0, tzinfo=ZoneInfo("Europe/Paris"))

    await collect(google.list_events(CREDENTIALS, "primary", sync_token=None, time_min=paris))

    assert route.calls.last.request.url.params["timeMin"] == "2026-11-25T14:00:00Z"


async def test_incremental_run_sends_the_sync_token_and_never_time_min(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.get(EVENTS).mock(
        side_effect=[events_page(["e1"], next_page="p2"), events_page([], sync_token="sync-2")]
    )

    pages = await collect(
        google.list_events(
            CREDENTIALS, "primary", sync_token="sync-1", time_min=datetime(2026, 1, 1, tzinfo=UTC)
        )
    )

    assert pages[-1].next_sync_token == "sync-2"
    # The full run's parameters, with syncToken in place of timeMin and never showDeleted [SYNC].
    first = {"singleEvents": "false", "maxResults": "2500", "syncToken": "sync-1"}
    queries = [dict(call.request.url.params) for call in route.calls]
    assert queries == [first, {**first, "pageToken": "p2"}]


async def test_410_on_a_later_page_is_sync_token_expired(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    respx_mock.get(EVENTS).mock(
        side_effect=[
            events_page(["e1"], next_page="p2"),
            google_error(410, "fullSyncRequired", "Sync token is no longer valid."),
        ]
    )
    pages = google.list_events(CREDENTIALS, "primary", sync_token="sync-1", time_min=None)

    assert [item["id"] for item in (await anext(pages)).items] == ["e1"]
    with pytest.raises(SyncTokenExpired):
        await anext(pages)


async def test_calendar_id_with_hash_is_percent_encoded_in_the_path(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.get(
        url__regex=r"^https://calendar\.test/calendar/v3/calendars/[^/]+/events"
    ).mock(return_value=events_page([], sync_token="s"))

    await collect(
        google.list_events(
            CREDENTIALS,
            "en.usa#holiday@group.v.calendar.google.com",
            sync_token=None,
            time_min=None,
        )
    )

    raw_path = route.calls.last.request.url.raw_path.decode()
    assert raw_path.startswith(
        "/calendar/v3/calendars/en.usa%23holiday%40group.v.calendar.google.com/events?"
    )
    assert route.calls.last.request.url.fragment == ""


async def test_unknown_calendar_is_calendar_not_found(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    respx_mock.get(EVENTS).mock(return_value=google_error(404, "notFound", "Not Found"))

    with pytest.raises(CalendarNotFound):
        await collect(google.list_events(CREDENTIALS, "primary", sync_token=None, time_min=None))


@pytest.mark.parametrize(
    ("reason", "sentence"),
    [
        ("insufficientPermissions", "calendar.readonly"),
        ("forbidden", "lost access"),
        ("accessNotConfigured", "not enabled"),
    ],
)
async def test_403_refusals_say_what_is_missing(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter, reason: str, sentence: str
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.get(EVENTS).mock(return_value=google_error(403, reason))

    with pytest.raises(UpstreamRejected, match=sentence):
        await collect(google.list_events(CREDENTIALS, "primary", sync_token=None, time_min=None))

    assert route.call_count == 1


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(400, text="<html>Bad Request</html>"),
        httpx.Response(400, json={"error": "a string, not an object"}),
        httpx.Response(400, json={"error": {"errors": "not a list"}}),
        httpx.Response(400, json=["unexpected"]),
        httpx.Response(400),
    ],
)
async def test_odd_error_bodies_still_give_a_clear_error(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter, answer: httpx.Response
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    respx_mock.get(EVENTS).mock(return_value=answer)

    with pytest.raises(UpstreamRejected, match="refused to list events \\(400\\)"):
        await collect(google.list_events(CREDENTIALS, "primary", sync_token=None, time_min=None))


async def test_a_success_that_is_not_json_is_google_unavailable(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    respx_mock.get(EVENTS).mock(return_value=httpx.Response(200, text="<html>proxy</html>"))

    with pytest.raises(GoogleUnavailable):
        await collect(google.list_events(CREDENTIALS, "primary", sync_token=None, time_min=None))


# -- one event, one occurrence (the launch check) ------------------------------------------------

CHECK_DEADLINE = timedelta(seconds=2)
TEAM_EVENT = f"{API}/calendars/team%40x/events/abc123"


async def test_one_event_is_read_with_events_get(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    event = {"id": "abc123", "status": "cancelled"}  # get always returns deleted events
    route = respx_mock.get(TEAM_EVENT).mock(return_value=httpx.Response(200, json=event))

    lookup = await google.get_occurrence(
        CREDENTIALS, "team@x", "abc123", original_start=None, deadline=CHECK_DEADLINE
    )

    assert (lookup.item, lookup.gone) == (event, False)
    request = route.calls.last.request
    assert request.url.query == b""
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"


@pytest.mark.parametrize(("status", "reason"), [(404, "notFound"), (410, "deleted")])
@pytest.mark.parametrize("original_start", [None, "2026-12-01T09:00:00Z"])
async def test_an_event_google_no_longer_has_is_gone(
    google: HttpGoogleCalendar,
    respx_mock: respx.MockRouter,
    status: int,
    reason: str,
    original_start: str | None,
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    respx_mock.get(url__startswith=TEAM_EVENT).mock(return_value=google_error(status, reason))

    lookup = await google.get_occurrence(
        CREDENTIALS, "team@x", "abc123", original_start=original_start, deadline=CHECK_DEADLINE
    )

    assert (lookup.item, lookup.gone) == (None, True)


async def test_one_occurrence_is_read_with_events_instances_by_its_original_start(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    instance = {"id": "abc123_20261201T090000Z", "recurringEventId": "abc123"}
    route = respx_mock.get(f"{TEAM_EVENT}/instances").mock(
        return_value=httpx.Response(200, json={"timeZone": "Europe/Paris", "items": [instance]})
    )

    lookup = await google.get_occurrence(
        CREDENTIALS,
        "team@x",
        "abc123",
        original_start="2026-12-01T09:00:00Z",
        deadline=CHECK_DEADLINE,
    )

    assert (lookup.item, lookup.gone, lookup.time_zone) == (instance, False, "Europe/Paris")
    assert list(route.calls.last.request.url.params.multi_items()) == [
        ("originalStart", "2026-12-01T09:00:00Z")
    ]


@pytest.mark.parametrize(
    ("answer", "gone"),
    [
        ({"items": []}, True),  # complete and empty: no such occurrence (or it is cancelled)
        ({"items": [], "nextPageToken": "p2"}, False),  # empty, but more would follow
    ],
)
async def test_an_empty_instances_answer_is_gone_only_when_it_is_complete(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter, answer: dict[str, Any], gone: bool
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    respx_mock.get(f"{TEAM_EVENT}/instances").mock(return_value=httpx.Response(200, json=answer))

    lookup = await google.get_occurrence(
        CREDENTIALS, "team@x", "abc123", original_start="2026-12-01", deadline=CHECK_DEADLINE
    )

    assert (lookup.item, lookup.gone) == (None, gone)


async def test_a_read_gives_up_at_its_own_short_deadline(
    google: HttpGoogleCalendar, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.get(TEAM_EVENT).mock(return_value=google_error(503, "backendError"))

    with pytest.raises(GoogleUnavailable):
        await google.get_occurrence(
            CREDENTIALS, "team@x", "abc123", original_start=None, deadline=CHECK_DEADLINE
        )

    # Backoff 1 s, then 2 s would cross the 2 s deadline: two attempts, not five over 25 s.
    assert route.call_count == 2
    assert clock.slept == [1.0]


async def test_a_read_that_never_answers_is_cut_at_its_deadline(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    never = asyncio.Event()

    async def hanging(request: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("unreachable")

    respx_mock.get(TEAM_EVENT).mock(side_effect=hanging)

    with pytest.raises(GoogleUnavailable, match=r"did not answer within 0\.05 seconds"):
        await google.get_occurrence(
            CREDENTIALS,
            "team@x",
            "abc123",
            original_start=None,
            deadline=timedelta(milliseconds=50),
        )


# -- push channels -------------------------------------------------------------------------------


@pytest.mark.parametrize("expiration", ["1795000000000", 1795000000000])
async def test_watch_sends_a_web_hook_channel_and_parses_expiration(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter, expiration: str | int
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.post(f"{API}/calendars/team%40x/events/watch").mock(
        return_value=httpx.Response(
            200,
            json={
                "kind": "api#channel",
                "id": "chan-1",
                "resourceId": "res-9",
                "resourceUri": f"{API}/calendars/team%40x/events",
                "token": "chan-token",
                "expiration": expiration,
            },
        )
    )

    channel = await google.watch_events(
        CREDENTIALS,
        "team@x",
        channel_id="chan-1",
        token="chan-token",
        address="https://calbot.example/api/v1/calendar/webhooks/google",
        ttl_seconds=604800,
    )

    assert json.loads(route.calls.last.request.content) == {
        "id": "chan-1",
        "type": "web_hook",
        "address": "https://calbot.example/api/v1/calendar/webhooks/google",
        "token": "chan-token",
        "params": {"ttl": "604800"},
    }
    assert (channel.channel_id, channel.resource_id, channel.token) == (
        "chan-1",
        "res-9",
        "chan-token",
    )
    assert channel.expiration == datetime.fromtimestamp(1795000000, UTC)


async def test_watch_without_expiration_assumes_the_requested_ttl(
    google: HttpGoogleCalendar, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    respx_mock.post(f"{API}/calendars/primary/events/watch").mock(
        return_value=httpx.Response(200, json={"id": "chan-1", "resourceId": "res-9"})
    )

    channel = await google.watch_events(
        CREDENTIALS, "primary", channel_id="chan-1", token="t", address="https://x", ttl_seconds=60
    )

    assert channel.expiration == clock.now() + timedelta(seconds=60)


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("pushNotSupportedForRequestedResource", "Push notifications are not supported."),
        ("push.webhookUrlUnauthorized", "Unauthorized WebHook callback channel."),
        ("webhookUrlNotHttps", "WebHook callback must be HTTPS."),
        ("channelIdNotUnique", "Channel id not unique."),
    ],
)
async def test_watch_refusal_is_upstream_rejected_with_googles_message(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter, reason: str, message: str
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.post(f"{API}/calendars/primary/events/watch").mock(
        return_value=google_error(400, reason, message)
    )

    with pytest.raises(UpstreamRejected) as caught:
        await google.watch_events(
            CREDENTIALS, "primary", channel_id="c", token="t", address="https://x", ttl_seconds=60
        )

    assert reason in str(caught.value)
    assert message in str(caught.value)
    assert route.call_count == 1


@pytest.mark.parametrize("answer", [httpx.Response(204), httpx.Response(200), httpx.Response(404)])
async def test_stop_channel_sends_id_and_resource_id_and_accepts_gone(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter, answer: httpx.Response
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.post(f"{API}/channels/stop").mock(return_value=answer)

    await google.stop_channel(CREDENTIALS, "chan-1", "res-9")

    assert json.loads(route.calls.last.request.content) == {"id": "chan-1", "resourceId": "res-9"}
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"


async def test_stop_channel_refusal_is_an_error(
    google: HttpGoogleCalendar, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    respx_mock.post(f"{API}/channels/stop").mock(return_value=google_error(400, "badRequest"))

    with pytest.raises(UpstreamRejected, match="stop a push channel"):
        await google.stop_channel(CREDENTIALS, "chan-1", "res-9")


# -- secrets never leak --------------------------------------------------------------------------

Scenario = Callable[[HttpGoogleCalendar, respx.MockRouter], Any]
ECHO = f"echo {CLIENT_SECRET} {REFRESH_TOKEN} {ACCESS_TOKEN}"
TOKEN_ECHO = f"echo {CLIENT_SECRET} {REFRESH_TOKEN}"  # no access token exists yet to echo


def _token_refusal(error: str) -> Scenario:
    def arrange(google: HttpGoogleCalendar, router: respx.MockRouter) -> Any:
        router.post(TOKEN_URL).mock(
            return_value=httpx.Response(400, json={"error": error, "error_description": TOKEN_ECHO})
        )
        return google.refresh_access_token(CREDENTIALS)

    return arrange


def _token_failure(answer: httpx.Response | type[Exception]) -> Scenario:
    def arrange(google: HttpGoogleCalendar, router: respx.MockRouter) -> Any:
        router.post(TOKEN_URL).mock(side_effect=[answer] * 5)
        return google.refresh_access_token(CREDENTIALS)

    return arrange


def _api_refusal(answer: httpx.Response) -> Scenario:
    def arrange(google: HttpGoogleCalendar, router: respx.MockRouter) -> Any:
        router.post(TOKEN_URL).mock(return_value=token_answer())
        router.get(EVENTS).mock(return_value=answer)
        return collect(google.list_events(CREDENTIALS, "primary", sync_token="s", time_min=None))

    return arrange


def _watch_refusal(google: HttpGoogleCalendar, router: respx.MockRouter) -> Any:
    router.post(TOKEN_URL).mock(return_value=token_answer())
    router.post(f"{API}/calendars/primary/events/watch").mock(
        return_value=google_error(400, "pushNotSupportedForRequestedResource", ECHO)
    )
    return google.watch_events(
        CREDENTIALS,
        "primary",
        channel_id="c",
        token="chan-verify-token",
        address="https://x",
        ttl_seconds=1,
    )


def _stop_refusal(google: HttpGoogleCalendar, router: respx.MockRouter) -> Any:
    router.post(TOKEN_URL).mock(return_value=token_answer())
    router.post(f"{API}/channels/stop").mock(return_value=google_error(400, "invalid", ECHO))
    return google.stop_channel(CREDENTIALS, "c", "r")


@pytest.mark.parametrize(
    ("arrange", "expected"),
    [
        (_token_refusal("invalid_grant"), CredentialsRevoked),
        (_token_refusal("invalid_client"), InvalidGoogleCredentials),
        (_token_refusal(TOKEN_ECHO), InvalidGoogleCredentials),
        (_token_failure(httpx.Response(400, text=TOKEN_ECHO)), InvalidGoogleCredentials),
        (_token_failure(httpx.Response(503, text=TOKEN_ECHO)), GoogleUnavailable),
        (_token_failure(httpx.ReadTimeout), GoogleUnavailable),
        (_api_refusal(google_error(401, "authError", ECHO)), UpstreamRejected),
        (_api_refusal(google_error(400, "invalid", ECHO)), UpstreamRejected),
        (_api_refusal(google_error(403, "quotaExceeded", ECHO)), GoogleRateLimited),
        (_api_refusal(google_error(403, "insufficientPermissions", ECHO)), UpstreamRejected),
        (_api_refusal(google_error(404, "notFound", ECHO)), CalendarNotFound),
        (_api_refusal(google_error(410, "fullSyncRequired", ECHO)), SyncTokenExpired),
        (_api_refusal(google_error(503, "backendError", ECHO)), GoogleUnavailable),
        (_api_refusal(google_error(429, "rateLimitExceeded", ECHO)), GoogleRateLimited),
        (_watch_refusal, UpstreamRejected),
        (_stop_refusal, UpstreamRejected),
    ],
)
async def test_no_error_or_log_line_carries_a_secret(
    google: HttpGoogleCalendar,
    respx_mock: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
    arrange: Scenario,
    expected: type[Exception],
) -> None:
    caplog.set_level(logging.DEBUG, logger="app.adapters")
    call = arrange(google, respx_mock)

    with pytest.raises(expected) as caught:
        await call

    exposed = [str(caught.value), repr(caught.value), *(r.getMessage() for r in caplog.records)]
    for text in exposed:
        for secret in (*SECRETS, "chan-verify-token"):
            assert secret not in text


# -- the shared retry policy ---------------------------------------------------------------------


def test_retryable_statuses_are_the_transient_ones() -> None:
    assert frozenset({408, 429, 500, 502, 503, 504}) == RETRYABLE_STATUSES


def test_backoff_doubles_then_stops_at_the_cap() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=32.0, jitter=False)

    delays = [policy.delay_for(attempt) for attempt in range(1, 9)]

    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 32.0, 32.0]
    assert policy.delay_for(10_000) == 32.0  # no float overflow on a long retry loop


def test_full_jitter_stays_under_the_growing_ceiling() -> None:
    draws = iter([0.5, 0.25, 0.9, 0.0, 1.0])
    policy = RetryPolicy(base_delay=1.0, max_delay=32.0, jitter_source=lambda: next(draws))

    delays = [policy.delay_for(attempt) for attempt in (1, 2, 3, 4, 7)]

    assert delays == [0.5, 0.5, 3.6, 0.0, 32.0]


def test_real_jitter_spreads_delays() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=32.0)

    delays = [policy.delay_for(4) for _ in range(200)]

    assert all(0.0 <= delay <= 8.0 for delay in delays)
    assert len(set(delays)) > 100


def test_retry_after_wins_over_backoff_but_is_capped() -> None:
    policy = RetryPolicy(jitter=False, retry_after_cap=60.0)

    assert policy.delay_for(1, retry_after=7.0) == 7.0
    assert policy.delay_for(5, retry_after=0.0) == 0.0
    assert policy.delay_for(1, retry_after=3600.0) == 60.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("Wed, 25 Nov 2026 12:00:30 GMT", 30.0),
        ("Wed, 25 Nov 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_header_forms(header: str | None, seconds: float | None) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    assert parse_retry_after(header, now) == seconds


async def test_retry_after_as_http_date_is_honoured(
    google: HttpGoogleCalendar, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    later = clock.now() + timedelta(seconds=12)
    respx_mock.get(CALENDAR_LIST).mock(
        side_effect=[
            httpx.Response(
                503, headers={"Retry-After": later.strftime("%a, %d %b %Y %H:%M:%S GMT")}
            ),
            calendar_page([]),
        ]
    )

    await google.list_calendars(CREDENTIALS)

    assert clock.slept == [12.0]


async def test_default_policy_retries_with_jittered_delays(
    http: httpx.AsyncClient, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    google = HttpGoogleCalendar(http, clock, token_url=TOKEN_URL, api_base_url=API)
    respx_mock.post(TOKEN_URL).mock(return_value=httpx.Response(500))

    with pytest.raises(GoogleUnavailable):
        await google.refresh_access_token(CREDENTIALS)

    assert len(clock.slept) == 4
    assert all(0.0 <= delay <= 2.0**n for n, delay in enumerate(clock.slept))


# -- one total deadline per Google call ----------------------------------------------------------

SLOW_BACKOFF = RetryPolicy(base_delay=4.0, max_delay=32.0, max_attempts=10, jitter=False)
MAIN_TIMEOUT = httpx.Timeout(20.0, connect=5.0)  # what app/main.py gives the Google client


def _timeouts(route: respx.Route) -> list[tuple[float, float]]:
    """(connect, read) seconds each attempt was allowed, as httpx was told."""
    allowed = [call.request.extensions["timeout"] for call in route.calls]
    return [(timeout["connect"], timeout["read"]) for timeout in allowed]


def test_the_deadline_is_shorter_than_a_proxy_would_wait() -> None:
    assert GOOGLE_CALL_DEADLINE == timedelta(seconds=25)


async def test_retries_stop_before_a_sleep_would_cross_the_deadline(
    http: httpx.AsyncClient, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    google = HttpGoogleCalendar(
        http, clock, token_url=TOKEN_URL, api_base_url=API, retry=SLOW_BACKOFF
    )
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.get(CALENDAR_LIST).mock(return_value=google_error(503, "backendError"))
    started = clock.now()

    with pytest.raises(GoogleUnavailable) as caught:
        await google.list_calendars(CREDENTIALS)

    # 4 s and 8 s fit in 25 s; the next 16 s would end at 28 s, so it gives up at 12 s instead
    # of making all ten attempts.
    assert clock.slept == [4.0, 8.0]
    assert route.call_count == 3
    assert clock.now() - started < GOOGLE_CALL_DEADLINE
    assert caught.value.status_code == 502


async def test_a_retry_after_past_the_deadline_gives_up_at_once(
    google: HttpGoogleCalendar, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.get(CALENDAR_LIST).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "30"})
    )

    with pytest.raises(GoogleRateLimited) as caught:
        await google.list_calendars(CREDENTIALS)

    assert (route.call_count, clock.slept) == (1, [])
    assert caught.value.status_code == 503


async def test_each_attempt_may_only_use_what_is_left_of_the_deadline(
    clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    route = respx_mock.get(CALENDAR_LIST).mock(return_value=google_error(503, "backendError"))
    policy = RetryPolicy(base_delay=8.0, max_delay=32.0, max_attempts=10, jitter=False)

    async with httpx.AsyncClient(timeout=MAIN_TIMEOUT) as http:
        google = HttpGoogleCalendar(
            http, clock, token_url=TOKEN_URL, api_base_url=API, retry=policy
        )
        with pytest.raises(GoogleUnavailable):
            await google.list_calendars(CREDENTIALS)

    # Attempts at 0 s, 8 s and 24 s: the client's 20 s read timeout is cut to what is left.
    assert clock.slept == [8.0, 16.0]
    assert _timeouts(route) == [(5.0, 20.0), (5.0, 17.0), (1.0, 1.0)]


async def test_the_token_refresh_spends_the_same_deadline_as_the_request(
    clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    def slow_token_endpoint(request: httpx.Request) -> httpx.Response:
        clock.advance(20)
        return token_answer()

    def failing_api(request: httpx.Request) -> httpx.Response:
        clock.advance(4)
        return google_error(503, "backendError")

    respx_mock.post(TOKEN_URL).mock(side_effect=slow_token_endpoint)
    route = respx_mock.get(CALENDAR_LIST).mock(side_effect=failing_api)
    started = clock.now()

    async with httpx.AsyncClient(timeout=MAIN_TIMEOUT) as http:
        google = HttpGoogleCalendar(
            http, clock, token_url=TOKEN_URL, api_base_url=API, retry=NO_JITTER
        )
        with pytest.raises(GoogleUnavailable):
            await google.list_calendars(CREDENTIALS)

    # 20 s for the token left 5 s: one attempt, and no 1 s backoff with 1 s left.
    assert route.call_count == 1
    assert route.calls.last.request.extensions["timeout"]["read"] == 5.0
    assert clock.now() - started == timedelta(seconds=24)


async def test_a_401_at_the_deadline_does_not_start_a_refresh(
    google: HttpGoogleCalendar, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    def unauthorized_late(request: httpx.Request) -> httpx.Response:
        clock.advance(25)
        return google_error(401, "authError", "Invalid Credentials")

    token_route = respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    respx_mock.get(CALENDAR_LIST).mock(side_effect=unauthorized_late)

    with pytest.raises(GoogleUnavailable, match="did not answer within 25 seconds"):
        await google.list_calendars(CREDENTIALS)

    assert token_route.call_count == 1  # the first token only


async def test_an_answer_that_never_ends_is_cut_at_the_deadline(
    http: httpx.AsyncClient, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    # httpx's timeouts bound each read, not a whole answer; the deadline bounds the whole call.
    # This one waits for real, so its deadline is 50 ms (and the first request is the one cut).
    google = HttpGoogleCalendar(
        http,
        clock,
        token_url=TOKEN_URL,
        api_base_url=API,
        retry=NO_JITTER,
        deadline=timedelta(milliseconds=50),
    )
    never = asyncio.Event()
    started: list[httpx.Request] = []

    async def hanging(request: httpx.Request) -> httpx.Response:
        started.append(request)
        await never.wait()
        raise AssertionError("unreachable")

    respx_mock.post(TOKEN_URL).mock(side_effect=hanging)

    with pytest.raises(GoogleUnavailable, match=r"did not answer within 0\.05 seconds"):
        await google.refresh_access_token(CREDENTIALS)

    assert len(started) == 1  # cut, and no retry: a 1 s backoff does not fit in 50 ms
    assert clock.slept == []


async def test_the_consent_code_exchange_has_the_same_deadline(
    clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(TOKEN_URL).mock(return_value=httpx.Response(503))
    async with httpx.AsyncClient(timeout=MAIN_TIMEOUT) as http:
        exchanger = GoogleOAuthCodeExchanger(http, clock, token_url=TOKEN_URL, retry=SLOW_BACKOFF)
        with pytest.raises(GoogleUnavailable):
            await exchanger.exchange_code(
                client_id=CREDENTIALS.client_id,
                client_secret=CLIENT_SECRET,
                code="4/0Ab-code",
                redirect_uri="http://127.0.0.1:8000/api/google/oauth-callback",
                code_verifier="v" * 43,
            )

    assert clock.slept == [4.0, 8.0]
    assert _timeouts(route) == [(5.0, 20.0), (5.0, 20.0), (5.0, 13.0)]


# -- request outcomes (/metrics) ------------------------------------------------------------------


async def test_every_request_to_google_is_observed_with_its_outcome(
    http: httpx.AsyncClient, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    seen: list[tuple[str, str]] = []
    google = HttpGoogleCalendar(
        http,
        clock,
        token_url=TOKEN_URL,
        api_base_url=API,
        retry=NO_JITTER,
        observe=lambda endpoint, outcome: seen.append((endpoint, outcome)),
    )
    respx_mock.post(TOKEN_URL).mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.ConnectError("down"), token_answer()]
    )
    respx_mock.get(CALENDAR_LIST).mock(
        side_effect=[
            google_error(403, "rateLimitExceeded"),
            httpx.Response(429),
            google_error(503, "backendError"),
            calendar_page([{"id": "primary", "summary": "Me", "primary": True}]),
        ]
    )
    respx_mock.post(f"{API}/channels/stop").mock(return_value=google_error(400, "badRequest"))

    await google.list_calendars(CREDENTIALS)
    with pytest.raises(UpstreamRejected):
        await google.stop_channel(CREDENTIALS, "channel-1", "resource-1")

    assert seen == [
        ("token", "timeout"),
        ("token", "connection_error"),
        ("token", "ok"),
        ("calendar", "rate_limited"),
        ("calendar", "rate_limited"),
        ("calendar", "server_error"),
        ("calendar", "ok"),
        ("calendar", "client_error"),
    ]


async def test_a_gone_sync_token_is_observed_as_gone(
    http: httpx.AsyncClient, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    seen: list[tuple[str, str]] = []
    google = HttpGoogleCalendar(
        http, clock, token_url=TOKEN_URL, api_base_url=API, observe=lambda *o: seen.append(o)
    )
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    respx_mock.get(EVENTS).mock(return_value=google_error(410, "fullSyncRequired"))

    with pytest.raises(SyncTokenExpired):
        async for _ in google.list_events(
            CREDENTIALS, "primary", sync_token="token-1", time_min=None
        ):
            pass

    assert seen == [("token", "ok"), ("calendar", "gone")]
