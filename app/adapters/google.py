"""Google Calendar API v3 over raw httpx (no Google client library); tokens from google_tokens.py.

Facts and their sources: shared/notes/google-calendar.md ([ERR], [SYNC], [PUSH] ... below are its
keys). Paths and parameter names follow the discovery document; tests/adapters/
test_google_discovery.py checks every request this module (and google_tokens.py) sends against it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

import httpx

from app.adapters.google_answers import (
    GOOGLE_CALL_DEADLINE,
    ApiError,
    api_failure,
    json_object,
    scrub,
    send_once,
    str_or_none,
)
from app.adapters.google_tokens import MAX_CACHED_TOKENS, GoogleAccessTokens
from app.adapters.ports import Clock, EventLookup, EventsPage, WatchChannel
from app.adapters.retry import RetryPolicy, run_with_retries
from app.domain import AccessToken, Calendar, GoogleCredentials, utc_text
from app.errors import CalbotError, CalendarNotFound, SyncTokenExpired, UpstreamRejected

logger = logging.getLogger(__name__)

CALENDAR_LIST_PAGE_SIZE: Final = 250  # calendarList.list maximum [CALLIST]
EVENTS_PAGE_SIZE: Final = 2500  # events.list maximum [EVLIST]


class HttpGoogleCalendar:
    """`GoogleCalendar` over one shared `httpx.AsyncClient`; access tokens cached in memory."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        clock: Clock,
        *,
        token_url: str,
        api_base_url: str,
        retry: RetryPolicy = RetryPolicy(),
        deadline: timedelta = GOOGLE_CALL_DEADLINE,
        max_cached_tokens: int = MAX_CACHED_TOKENS,
        observe: Callable[[str, str], None] | None = None,
    ) -> None:
        """`observe` is told (endpoint, outcome) of every request sent to Google: endpoint
        `calendar` or `token`, outcome one of `GOOGLE_REQUEST_OUTCOMES`."""
        self._observe = observe
        self._http = http
        self._clock = clock
        self._api = api_base_url.rstrip("/")
        self._retry = retry
        self._deadline = deadline
        self._tokens = GoogleAccessTokens(
            http,
            clock,
            token_url=token_url,
            retry=retry,
            deadline=deadline,
            max_cached_tokens=max_cached_tokens,
            observe=None if observe is None else lambda outcome: observe("token", outcome),
        )

    async def refresh_access_token(self, credentials: GoogleCredentials) -> AccessToken:
        return await self._tokens.refresh(credentials)

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
            # A page of 2,500 events decodes into some 50,000 objects: the sync that asks for it
            # relaxes the collector (app.collector.collector_relaxed).
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

    async def get_occurrence(
        self,
        credentials: GoogleCredentials,
        calendar_id: str,
        google_event_id: str,
        *,
        original_start: str | None,
        deadline: timedelta,
    ) -> EventLookup:
        url = (
            f"{self._api}/calendars/{_path_segment(calendar_id)}"
            f"/events/{_path_segment(google_event_id)}"
        )
        if original_start is None:
            # events.get always returns a deleted event, as status "cancelled" [DISC
            # Event.status]; 404/410 say it is not there (any more) [ERR].
            response = await self._call(credentials, "GET", url, deadline=deadline)
            if response.status_code in (404, 410):
                return EventLookup(None, gone=True)
            return EventLookup(self._success_body(response, credentials, doing="read an event"))
        # One occurrence, found by its original start, which identifies it even when moved
        # [DISC events.instances.originalStart]; no showDeleted, so a cancelled one is absent.
        response = await self._call(
            credentials,
            "GET",
            f"{url}/instances",
            params={"originalStart": original_start},
            deadline=deadline,
        )
        if response.status_code in (404, 410):  # the series itself is gone
            return EventLookup(None, gone=True)
        body = self._success_body(response, credentials, doing="read an occurrence")
        zone = str_or_none(body.get("timeZone"))
        items = [item for item in body.get("items") or () if isinstance(item, dict)]
        if items:
            return EventLookup(items[0], time_zone=zone)
        # A page may be empty while more follow [PAGE]: only a complete answer says "none".
        return EventLookup(None, gone=not body.get("nextPageToken"), time_zone=zone)

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
        raise api_failure(response, self._tokens.secrets(credentials), doing="stop a push channel")

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
        deadline: timedelta | None = None,
    ) -> httpx.Response:
        """One API request with retries; a 401 refreshes the token once and resends once [ERR].

        All of it, the token refresh included, ends by `GOOGLE_CALL_DEADLINE` (the instance's),
        or by `deadline` when the caller sets a shorter one.
        """
        deadline = self._deadline if deadline is None else deadline
        give_up_at = self._clock.now() + deadline
        request = (method, url, params, json_body)
        token = await self._tokens.current(credentials, give_up_at)
        response = await self._send_with_retries(request, token, give_up_at, deadline)
        if response.status_code != 401:
            return response
        logger.info("Google Calendar answered 401; refreshing the access token once")
        token = await self._tokens.current(credentials, give_up_at, rejected=token)
        response = await self._send_with_retries(request, token, give_up_at, deadline)
        if response.status_code == 401:
            error = ApiError.from_response(response)
            raise UpstreamRejected(
                "Google Calendar refused an access token it had just issued "
                f"(401 {error.reason or 'authError'}): "
                f"{scrub(error.message, (*self._tokens.secrets(credentials), token.token, *extra))}"
            )
        return response

    async def _send_with_retries(
        self,
        request: tuple[str, str, Mapping[str, str] | None, Mapping[str, Any] | None],
        token: AccessToken,
        give_up_at: datetime,
        deadline: timedelta,
    ) -> httpx.Response:
        method, url, params, json_body = request
        headers = {"Authorization": f"Bearer {token.token}"}

        async def attempt() -> httpx.Response:
            return await send_once(
                lambda timeout: self._http.request(
                    method, url, params=params, json=json_body, headers=headers, timeout=timeout
                ),
                service="Google Calendar",
                configured=self._http.timeout,
                clock=self._clock,
                give_up_at=give_up_at,
                deadline=deadline,
                observe=self._observed,
            )

        return await run_with_retries(
            attempt, policy=self._retry, clock=self._clock, give_up_at=give_up_at
        )

    def _observed(self, outcome: str) -> None:
        if self._observe is not None:
            self._observe("calendar", outcome)

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
        raise api_failure(response, (*self._tokens.secrets(credentials), *extra), doing=doing)


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


def _path_segment(calendar_id: str) -> str:
    # Ids like "en.usa#holiday@group.v.calendar.google.com": an unescaped "#" would start a
    # fragment and the request would hit the wrong path [notes §2].
    return quote(calendar_id, safe="")


def _rfc3339_utc(moment: datetime) -> str:
    return utc_text(moment)
