"""Google's OAuth token endpoint and the Calendar API v3 over raw httpx (no Google client library).

Facts and their sources: shared/notes/google-calendar.md ([ERR], [SYNC], [PUSH] ... below are its
keys). Paths and parameter names follow the discovery document; tests/adapters/
test_google_discovery.py checks every request this module sends against it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

import httpx

from app.adapters.google_answers import (
    DEFAULT_TOKEN_LIFETIME_SECONDS,
    GOOGLE_CALL_DEADLINE,
    RATE_LIMIT_REASONS,
    ApiError,
    api_failure,
    attempt_timeout,
    json_object,
    out_of_time,
    reason_suffix,
    scrub,
    token_failure,
)
from app.adapters.ports import Clock, EventsPage, WatchChannel
from app.adapters.retry import (
    RETRYABLE_STATUSES,
    RetryableFailure,
    RetryPolicy,
    parse_retry_after,
    run_with_retries,
)
from app.domain import AccessToken, Calendar, GoogleCredentials, utc_text
from app.errors import (
    CalbotError,
    CalendarNotFound,
    CredentialsRevoked,
    GoogleRateLimited,
    GoogleUnavailable,
    InvalidGoogleCredentials,
    SyncTokenExpired,
    UpstreamRejected,
)

logger = logging.getLogger(__name__)

TOKEN_REFRESH_MARGIN: Final = timedelta(seconds=60)  # refresh ~60 s early [notes §1]
CALENDAR_LIST_PAGE_SIZE: Final = 250  # calendarList.list maximum [CALLIST]
EVENTS_PAGE_SIZE: Final = 2500  # events.list maximum [EVLIST]


class HttpGoogleCalendar:
    """`GoogleCalendar` over one shared `httpx.AsyncClient`; caches access tokens in memory."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        clock: Clock,
        *,
        token_url: str,
        api_base_url: str,
        retry: RetryPolicy = RetryPolicy(),
        deadline: timedelta = GOOGLE_CALL_DEADLINE,
    ) -> None:
        self._http = http
        self._clock = clock
        self._token_url = token_url
        self._api = api_base_url.rstrip("/")
        self._retry = retry
        self._deadline = deadline
        self._tokens: dict[str, AccessToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # -- access tokens -------------------------------------------------------------------------

    async def refresh_access_token(self, credentials: GoogleCredentials) -> AccessToken:
        key = _cache_key(credentials)
        give_up_at = self._clock.now() + self._deadline
        async with self._lock_for(key):
            return await self._refresh_into_cache(key, credentials, give_up_at)

    async def _access_token(
        self,
        credentials: GoogleCredentials,
        give_up_at: datetime,
        *,
        rejected: AccessToken | None = None,
    ) -> AccessToken:
        """The cached token while fresh; otherwise one refresh per key, however many callers wait.

        `rejected` is a token the API just answered 401 to: a cached token equal to it is not
        reused, but one another task refreshed meanwhile is (one 401 wave, one refresh). A waiter
        waits at most for the holder's refresh, whose own deadline is no later than the waiter's.
        """
        key = _cache_key(credentials)
        cached = self._tokens.get(key)
        if cached is not None and self._usable(cached, rejected):
            return cached
        async with self._lock_for(key):
            cached = self._tokens.get(key)
            if cached is not None and self._usable(cached, rejected):
                return cached
            return await self._refresh_into_cache(key, credentials, give_up_at)

    def _usable(self, token: AccessToken, rejected: AccessToken | None) -> bool:
        if rejected is not None and token.token == rejected.token:
            return False
        return self._clock.now() < token.expires_at - TOKEN_REFRESH_MARGIN

    def _lock_for(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def _refresh_into_cache(
        self, key: str, credentials: GoogleCredentials, give_up_at: datetime
    ) -> AccessToken:
        try:
            token = await self._request_token(credentials, give_up_at)
        except (CredentialsRevoked, InvalidGoogleCredentials):
            self._tokens.pop(key, None)
            raise
        self._forget_expired_tokens()
        self._tokens[key] = token
        return token

    def _forget_expired_tokens(self) -> None:
        """Keep the cache to live tokens. Locks stay: one per connection is cheap, and dropping
        one while a waiter is being woken would let two refreshes run."""
        now = self._clock.now()
        for key in [key for key, token in self._tokens.items() if token.expires_at <= now]:
            del self._tokens[key]

    async def _request_token(
        self, credentials: GoogleCredentials, give_up_at: datetime
    ) -> AccessToken:
        """POST the refresh grant [WEB][NATIVE]; retries 408/429/5xx and network errors."""
        form = {
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "refresh_token": credentials.refresh_token,
            "grant_type": "refresh_token",
        }

        async def attempt() -> httpx.Response:
            return await self._attempt(
                lambda timeout: self._http.post(self._token_url, data=form, timeout=timeout),
                "Google's token endpoint",
                give_up_at,
            )

        response = await run_with_retries(
            attempt, policy=self._retry, clock=self._clock, give_up_at=give_up_at
        )
        if not response.is_success:
            raise token_failure(response, self._secrets(credentials))
        body = json_object(response, "Google's token endpoint")
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise UpstreamRejected("Google's token endpoint answered without an access token.")
        # A `refresh_token` in this answer is ignored on purpose: Google does not rotate refresh
        # tokens on refresh (it is normally absent) and AccessToken has nowhere to carry one.
        scope = body.get("scope")
        return AccessToken(
            token=access_token,
            expires_at=self._clock.now() + timedelta(seconds=_expires_in(body)),
            scopes=tuple(scope.split()) if isinstance(scope, str) else (),
        )

    # -- Calendar API --------------------------------------------------------------------------

    async def list_calendars(self, credentials: GoogleCredentials) -> list[Calendar]:
        url = f"{self._api}/users/me/calendarList"
        # freeBusyReader entries carry no event details, so ask for readers and up [CALLIST].
        query = {"maxResults": str(CALENDAR_LIST_PAGE_SIZE), "minAccessRole": "reader"}
        calendars: list[Calendar] = []
        page_token: str | None = None
        while True:
            params = query if page_token is None else {**query, "pageToken": page_token}
            response = await self._call(credentials, "GET", url, params=params)
            body = self._success_body(response, credentials, doing="list calendars")
            for entry in body.get("items") or ():
                if isinstance(entry, dict) and entry.get("id") and not entry.get("deleted"):
                    calendars.append(_calendar_from(entry))
            page_token = _next_page_token(body, page_token)
            if page_token is None:
                return calendars

    async def list_events(
        self,
        credentials: GoogleCredentials,
        calendar_id: str,
        *,
        sync_token: str | None,
        time_min: datetime | None,
    ) -> AsyncIterator[EventsPage]:
        url = f"{self._api}/calendars/{_path_segment(calendar_id)}/events"
        # The same parameters for the full and every incremental run [SYNC]. No `showDeleted`:
        # with a syncToken Google forbids showDeleted=false, and its default is what a full
        # sync wants (cancelled exceptions of live series still come back) [notes §3].
        query = {"singleEvents": "false", "maxResults": str(EVENTS_PAGE_SIZE)}
        if sync_token:
            query["syncToken"] = sync_token  # timeMin with syncToken is a 400 [SYNC]
        elif time_min is not None:
            query["timeMin"] = _rfc3339_utc(time_min)
        page_token: str | None = None
        while True:
            # Every page repeats the exact first query plus pageToken [SYNC]; pages may be empty
            # while more follow, so only a missing nextPageToken ends the run [PAGE].
            params = query if page_token is None else {**query, "pageToken": page_token}
            response = await self._call(credentials, "GET", url, params=params)
            if response.status_code == 410:
                # "wipe + full sync" [ERR]; checked on every page, not only the first [notes §6].
                reason = ApiError.from_response(response).reason or "gone"
                raise SyncTokenExpired(f"Google answered 410 ({reason}): a full sync is required.")
            body = self._success_body(
                response, credentials, doing="list events", not_found=CalendarNotFound()
            )
            yield EventsPage(
                items=body.get("items") or [],
                next_sync_token=body.get("nextSyncToken"),
                time_zone=body.get("timeZone"),
            )
            page_token = _next_page_token(body, page_token)
            if page_token is None:
                return

    async def watch_events(
        self,
        credentials: GoogleCredentials,
        calendar_id: str,
        *,
        channel_id: str,
        token: str,
        address: str,
        ttl_seconds: int,
    ) -> WatchChannel:
        url = f"{self._api}/calendars/{_path_segment(calendar_id)}/events/watch"
        channel = {
            "id": channel_id,
            "type": "web_hook",
            "address": address,
            "token": token,
            "params": {"ttl": str(ttl_seconds)},  # a string, per the Channel schema [EVWATCH]
        }
        response = await self._call(credentials, "POST", url, json_body=channel, extra=(token,))
        body = self._success_body(
            response,
            credentials,
            doing="open a push channel",
            not_found=CalendarNotFound(),
            extra=(token,),
        )
        resource_id = body.get("resourceId")
        if not isinstance(resource_id, str) or not resource_id:
            raise UpstreamRejected("Google opened a push channel but sent no resourceId.")
        expiration = _expiration_from(body.get("expiration"))
        if expiration is None:
            expiration = self._clock.now() + timedelta(seconds=ttl_seconds)
        return WatchChannel(
            channel_id=channel_id, resource_id=resource_id, expiration=expiration, token=token
        )

    async def stop_channel(
        self, credentials: GoogleCredentials, channel_id: str, resource_id: str
    ) -> None:
        url = f"{self._api}/channels/stop"
        body = {"id": channel_id, "resourceId": resource_id}  # both required [CHSTOP]
        response = await self._call(credentials, "POST", url, json_body=body)
        if response.is_success or response.status_code == 404:
            return  # 404: the channel expired or was stopped already, which is what we wanted
        raise api_failure(response, self._secrets(credentials), doing="stop a push channel")

    # -- one request ---------------------------------------------------------------------------

    async def _call(
        self,
        credentials: GoogleCredentials,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        extra: tuple[str, ...] = (),
    ) -> httpx.Response:
        """One API request with retries; a 401 refreshes the token once and resends once [ERR].

        All of it, the token refresh included, ends by `GOOGLE_CALL_DEADLINE` (the instance's).
        """
        give_up_at = self._clock.now() + self._deadline
        token = await self._access_token(credentials, give_up_at)
        response = await self._send_with_retries(method, url, token, params, json_body, give_up_at)
        if response.status_code != 401:
            return response
        logger.info("Google Calendar answered 401; refreshing the access token once")
        token = await self._access_token(credentials, give_up_at, rejected=token)
        response = await self._send_with_retries(method, url, token, params, json_body, give_up_at)
        if response.status_code == 401:
            error = ApiError.from_response(response)
            raise UpstreamRejected(
                "Google Calendar refused an access token it had just issued "
                f"(401 {error.reason or 'authError'}): "
                f"{scrub(error.message, (*self._secrets(credentials), token.token, *extra))}"
            )
        return response

    async def _send_with_retries(
        self,
        method: str,
        url: str,
        token: AccessToken,
        params: Mapping[str, str] | None,
        json_body: Mapping[str, Any] | None,
        give_up_at: datetime,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token.token}"}

        async def attempt() -> httpx.Response:
            return await self._attempt(
                lambda timeout: self._http.request(
                    method, url, params=params, json=json_body, headers=headers, timeout=timeout
                ),
                "Google Calendar",
                give_up_at,
            )

        return await run_with_retries(
            attempt, policy=self._retry, clock=self._clock, give_up_at=give_up_at
        )

    async def _attempt(
        self,
        send: Callable[[httpx.Timeout], Awaitable[httpx.Response]],
        service: str,
        give_up_at: datetime,
    ) -> httpx.Response:
        """Send once, within what is left of the deadline; turn what Google says is transient
        into `RetryableFailure`."""
        seconds_left = (give_up_at - self._clock.now()).total_seconds()
        if seconds_left <= 0:
            raise GoogleUnavailable(out_of_time(service, self._deadline))
        try:
            # httpx's timeouts bound each phase (connect, each read...), not the whole exchange.
            async with asyncio.timeout(seconds_left):
                response = await send(attempt_timeout(self._http.timeout, seconds_left))
        except TimeoutError as exc:
            logger.warning("%s: no answer within the call's deadline", service)
            raise RetryableFailure(GoogleUnavailable(out_of_time(service, self._deadline))) from exc
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            logger.warning("%s: %s; will retry if attempts remain", service, type(exc).__name__)
            raise RetryableFailure(
                GoogleUnavailable(f"{service} could not be reached ({type(exc).__name__}).")
            ) from exc
        except httpx.TransportError as exc:  # misconfiguration (bad URL, proxy): not transient
            raise GoogleUnavailable(
                f"{service} could not be reached ({type(exc).__name__})."
            ) from exc
        status = response.status_code
        reason: str | None = None
        if status == 403:
            reason = ApiError.from_response(response).reason
            if reason not in RATE_LIMIT_REASONS:
                return response
        elif status < 500 and status not in RETRYABLE_STATUSES:
            return response  # Google's client retries every 5xx, not only 500/502/503/504
        logger.warning(
            "%s answered %s %s; will retry if attempts remain", service, status, reason or "-"
        )
        give_up_with: CalbotError
        if status in (403, 429):
            give_up_with = GoogleRateLimited(
                f"{service} kept rate-limiting requests ({status}{reason_suffix(reason)}); "
                "try again in a minute."
            )
        else:
            give_up_with = GoogleUnavailable(
                f"{service} kept failing ({status}{reason_suffix(reason)}); try again shortly."
            )
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock.now())
        raise RetryableFailure(give_up_with, retry_after=retry_after)

    def _success_body(
        self,
        response: httpx.Response,
        credentials: GoogleCredentials,
        *,
        doing: str,
        not_found: CalbotError | None = None,
        extra: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        if response.is_success:
            return json_object(response, "Google Calendar")
        if response.status_code == 404 and not_found is not None:
            raise not_found
        raise api_failure(response, (*self._secrets(credentials), *extra), doing=doing)

    def _secrets(self, credentials: GoogleCredentials) -> tuple[str, ...]:
        """Values that must never reach a sentence: the credentials and their cached token."""
        cached = self._tokens.get(_cache_key(credentials))
        secrets = (credentials.client_secret, credentials.refresh_token)
        return (*secrets, cached.token) if cached is not None else secrets


def _calendar_from(entry: Mapping[str, Any]) -> Calendar:
    return Calendar(
        calendar_id=entry["id"],
        summary=entry.get("summaryOverride") or entry.get("summary"),
        primary=bool(entry.get("primary")),  # present only on the primary calendar [CALLIST]
        time_zone=entry.get("timeZone"),
        access_role=entry.get("accessRole"),
    )


def _expiration_from(value: Any) -> datetime | None:
    """`Channel.expiration`: Unix ms, an int64 sent as a string or, in the guide, a number."""
    if isinstance(value, bool):
        return None
    try:
        milliseconds = int(value)
    except (TypeError, ValueError):
        return None
    try:
        return datetime.fromtimestamp(milliseconds / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _next_page_token(body: Mapping[str, Any], previous: str | None) -> str | None:
    page_token = body.get("nextPageToken")
    if not isinstance(page_token, str) or not page_token:
        return None
    if page_token == previous:  # would loop forever
        raise UpstreamRejected("Google Calendar sent the same page token twice.")
    return page_token


def _expires_in(body: Mapping[str, Any]) -> int:
    try:
        return int(body.get("expires_in", DEFAULT_TOKEN_LIFETIME_SECONDS))
    except (TypeError, ValueError):
        return DEFAULT_TOKEN_LIFETIME_SECONDS


def _cache_key(credentials: GoogleCredentials) -> str:
    """A digest, so neither logs nor a heap dump of the cache's keys show a refresh token."""
    material = "\0".join(
        (credentials.client_id, credentials.client_secret, credentials.refresh_token)
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _path_segment(calendar_id: str) -> str:
    # Ids like "en.usa#holiday@group.v.calendar.google.com": an unescaped "#" would start a
    # fragment and the request would hit the wrong path [notes §2].
    return quote(calendar_id, safe="")


def _rfc3339_utc(moment: datetime) -> str:
    return utc_text(moment)
