"""Google's OAuth token endpoint and Calendar v3 API, as services see them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from app.domain import AccessToken, Calendar, GoogleCredentials


@dataclass(frozen=True, slots=True)
class EventsPage:
    """One page of Google's events.list, as Google sent it.

    `items` are raw Google Event resources (dicts, see the discovery document's `Event` schema).
    `next_sync_token` is set only on the last page of a run.
    """

    items: list[Mapping[str, Any]]
    next_sync_token: str | None
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class EventLookup:
    """Google's answer about one event, or one occurrence of a series, read on its own.

    `item` is the raw Event resource (a deleted one included: events.get returns it with status
    "cancelled"). `gone` is True when Google says there is no such event or occurrence (404/410,
    or a complete events.instances answer without it). Neither set: the answer settled nothing
    (an empty page that says more follow). `time_zone` is the calendar's zone when the answer
    carries it (events.instances does, events.get does not).
    """

    item: Mapping[str, Any] | None
    gone: bool = False
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class WatchChannel:
    channel_id: str
    resource_id: str
    expiration: datetime
    token: str = field(repr=False)


class GoogleCalendar(Protocol):
    """Google's OAuth token endpoint and the Calendar v3 API.

    Every method retries transient failures itself (connect/read errors, 408, 429, 5xx,
    403 rateLimitExceeded/userRateLimitExceeded) with capped exponential backoff and jitter,
    then raises `GoogleUnavailable` (or `GoogleRateLimited`). Each call, its retries and the
    token refresh it may need included, ends within a total deadline (25 s, see
    `app.adapters.google.GOOGLE_CALL_DEADLINE`). A 401 from the API refreshes the access token
    once and resends once. Errors raised are those of `app.errors`.
    """

    async def refresh_access_token(self, credentials: GoogleCredentials) -> AccessToken:
        """Exchange the refresh token for a fresh access token (bypassing the cache).

        Raises `CredentialsRevoked` on `invalid_grant`, `InvalidGoogleCredentials` (with
        Google's reason in the sentence) on `invalid_client`/`unauthorized_client`/other 4xx.
        """
        ...

    async def list_calendars(self, credentials: GoogleCredentials) -> list[Calendar]:
        """Every calendar of the account (calendarList.list, all pages, readers and up)."""
        ...

    def list_events(
        self,
        credentials: GoogleCredentials,
        calendar_id: str,
        *,
        sync_token: str | None,
        time_min: datetime | None,
    ) -> AsyncIterator[EventsPage]:
        """Stream events.list pages (singleEvents=false, maxResults=2500, no showDeleted).

        With `sync_token` an incremental run (timeMin is never sent with it); without, a full
        run bounded below by `time_min`. Raises `SyncTokenExpired` on 410 Gone, on any page.
        """
        ...

    async def get_occurrence(
        self,
        credentials: GoogleCredentials,
        calendar_id: str,
        google_event_id: str,
        *,
        original_start: str | None,
        deadline: timedelta,
    ) -> EventLookup:
        """One event as Google holds it now, in one request.

        Without `original_start`: events.get of the event. With it: the occurrence of the
        recurring event `google_event_id` whose original start it is, by events.instances with
        `originalStart` (`original_start` is written as the instance's `originalStartTime` is:
        RFC3339 for a timed series, `yyyy-mm-dd` for an all-day one). `deadline` replaces the
        usual 25 s for this call, retries and token refresh included.
        """
        ...

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
        """Open a push channel on a calendar's events (events.watch, type web_hook)."""
        ...

    async def stop_channel(
        self, credentials: GoogleCredentials, channel_id: str, resource_id: str
    ) -> None:
        """Stop a push channel (channels.stop). A channel Google no longer knows is not an error."""
        ...
