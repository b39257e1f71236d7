"""The GoogleCalendar port in memory: calendars and raw Event resources, a change log for sync
tokens, paging, 410s on demand, revoked refresh tokens, push channels, and single reads of an
event or of one occurrence of a series (tests/google_instances.py).

It answers what Google's API would (see tests/fake_google.py for the same at the HTTP level),
minus the wire: items are Google Event resources, as `EventsPage` carries them.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.adapters.ports import EventLookup, EventsPage, WatchChannel
from app.domain import AccessToken, Calendar, GoogleCredentials
from app.errors import (
    CalendarNotFound,
    CredentialsRevoked,
    GoogleUnavailable,
    SyncTokenExpired,
    UpstreamRejected,
)
from tests.google_instances import find_instance

CALENDAR_READONLY = "https://www.googleapis.com/auth/calendar.readonly"
REFRESH_TOKEN = "1//fake-refresh-token"


@dataclass
class _Calendar:
    entry: Calendar
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed_at: dict[str, int] = field(default_factory=dict)  # event id -> change number


@dataclass(frozen=True, slots=True)
class SyncRun:
    calendar_id: str
    full: bool


@dataclass(frozen=True, slots=True)
class OccurrenceRead:
    calendar_id: str
    google_event_id: str
    original_start: str | None
    deadline: timedelta


class FakeGoogleCalendar:
    def __init__(self) -> None:
        self._calendars: dict[str, _Calendar] = {}
        self._changes = 0
        self.page_size = 250
        self.refresh_tokens = {REFRESH_TOKEN}
        self.scopes: tuple[str, ...] = (CALENDAR_READONLY,)
        self.expire_sync_tokens = False  # set: every syncToken answers 410 Gone
        self.fail_on_page: int | None = None  # set: that page of the next run fails (once)
        self.runs: list[SyncRun] = []  # every events.list run, in order
        self.channels: dict[str, str] = {}  # open push channel id -> calendar id
        self.stopped_channels: list[str] = []
        self.refuse_watch: set[str] = set()  # calendars that refuse push channels
        self.channel_expiration = datetime(2027, 1, 1, tzinfo=UTC)
        self.occurrence_reads: list[OccurrenceRead] = []  # every get_occurrence, in order
        self.gone: set[str] = set()  # event ids Google answers 410 (deleted) for
        self.unreachable = False  # set: reads fail as after exhausted retries
        self.hang = False  # set: reads never answer (the caller's deadline must cut them)
        # Which calendars each refresh token's Google account sees (calendarList, events.list);
        # a token not listed here sees every calendar.
        self.calendars_of: dict[str, set[str]] = {}

    # -- arranging what Google holds -----------------------------------------------------------

    def add_calendar(
        self, calendar_id: str, *, primary: bool = False, time_zone: str = "UTC"
    ) -> Calendar:
        entry = Calendar(
            calendar_id, calendar_id, primary, time_zone, "owner" if primary else "reader"
        )
        self._calendars[calendar_id] = _Calendar(entry)
        return entry

    def remove_calendar(self, calendar_id: str) -> None:
        """The calendar is no longer the account's (or it is another account's credentials
        that now list the calendars)."""
        del self._calendars[calendar_id]

    def put_event(self, calendar_id: str, resource: dict[str, Any]) -> None:
        """Create or replace an Event resource; it counts as changed."""
        self._changes += 1
        stored = {"kind": "calendar#event", "status": "confirmed", **copy.deepcopy(resource)}
        # Google gives every event an iCalUID, shared by a series' instances.
        series_id = stored.get("recurringEventId")
        stored.setdefault("iCalUID", f"{series_id or stored['id']}@google.com")
        stored["updated"] = f"2026-11-25T10:00:{self._changes % 60:02d}.000Z"
        calendar = self._calendars[calendar_id]
        calendar.events[stored["id"]] = stored
        calendar.changed_at[stored["id"]] = self._changes

    def cancel_event(self, calendar_id: str, event_id: str) -> None:
        """Delete an event as Google does: a cancelled tombstone in incremental results."""
        old = self._calendars[calendar_id].events[event_id]
        tombstone = {"id": event_id, "status": "cancelled"}
        for kept in ("recurringEventId", "originalStartTime"):
            if kept in old:
                tombstone[kept] = old[kept]
        self.put_event(calendar_id, tombstone)

    def events(self, calendar_id: str) -> list[dict[str, Any]]:
        """Every Event resource the calendar holds now (tombstones included), as copies."""
        return copy.deepcopy(list(self._calendars[calendar_id].events.values()))

    def forget_event(self, calendar_id: str, event_id: str) -> None:
        """Drop an event without a tombstone: only a full sync can notice it is gone."""
        calendar = self._calendars[calendar_id]
        calendar.events.pop(event_id, None)
        calendar.changed_at.pop(event_id, None)

    # -- the port -----------------------------------------------------------------------------

    async def refresh_access_token(self, credentials: GoogleCredentials) -> AccessToken:
        if credentials.refresh_token not in self.refresh_tokens:
            raise CredentialsRevoked(google_reason="invalid_grant")
        return AccessToken("fake-access-token", datetime(2100, 1, 1, tzinfo=UTC), self.scopes)

    async def list_calendars(self, credentials: GoogleCredentials) -> list[Calendar]:
        await self.refresh_access_token(credentials)
        return [
            calendar.entry
            for calendar in self._calendars.values()
            if self._sees(credentials, calendar.entry.calendar_id)
        ]

    async def list_events(
        self,
        credentials: GoogleCredentials,
        calendar_id: str,
        *,
        sync_token: str | None,
        time_min: datetime | None,
    ) -> AsyncIterator[EventsPage]:
        await self.refresh_access_token(credentials)
        calendar = self._calendars.get(calendar_id)
        if calendar is None or not self._sees(credentials, calendar_id):
            raise CalendarNotFound()
        self.runs.append(SyncRun(calendar_id, full=sync_token is None))
        if sync_token is not None:
            if self.expire_sync_tokens:
                raise SyncTokenExpired("Google answered 410 (fullSyncRequired).")
            since = int(sync_token.removeprefix("tok-"))
            ids = sorted(
                (i for i, n in calendar.changed_at.items() if n > since),
                key=calendar.changed_at.__getitem__,
            )
        else:
            ids = [i for i, e in calendar.events.items() if _in_full_sync(e, time_min)]
        snapshot = self._changes
        pages = [ids[at : at + self.page_size] for at in range(0, len(ids), self.page_size)]
        for number, chunk in enumerate(pages or [[]], start=1):
            if self.fail_on_page == number:
                self.fail_on_page = None
                raise GoogleUnavailable()
            last = number == max(len(pages), 1)
            yield EventsPage(
                items=[copy.deepcopy(calendar.events[i]) for i in chunk],
                next_sync_token=f"tok-{snapshot}" if last else None,
                time_zone=calendar.entry.time_zone,
            )

    async def get_occurrence(
        self,
        credentials: GoogleCredentials,
        calendar_id: str,
        google_event_id: str,
        *,
        original_start: str | None,
        deadline: timedelta,
    ) -> EventLookup:
        await self.refresh_access_token(credentials)
        self.occurrence_reads.append(
            OccurrenceRead(calendar_id, google_event_id, original_start, deadline)
        )
        if self.hang:
            await asyncio.Event().wait()
        if self.unreachable:
            raise GoogleUnavailable("Google Calendar kept failing (503); try again shortly.")
        calendar = self._calendars.get(calendar_id)
        if calendar is None or google_event_id in self.gone:
            return EventLookup(None, gone=True)
        if original_start is None:
            event = calendar.events.get(google_event_id)
            return EventLookup(copy.deepcopy(event) if event else None, gone=event is None)
        found = find_instance(calendar.events, google_event_id, original_start)
        if found == "gone":
            return EventLookup(None, gone=True)
        if found == "not-recurring":
            raise UpstreamRejected("Google Calendar refused to read an occurrence (400 invalid).")
        zone = calendar.entry.time_zone
        if found == "none":
            return EventLookup(None, gone=True, time_zone=zone)
        return EventLookup(found, time_zone=zone)

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
        await self.refresh_access_token(credentials)
        if calendar_id in self.refuse_watch:
            raise UpstreamRejected("Push notifications are not supported by this resource.")
        self.channels[channel_id] = calendar_id
        return WatchChannel(channel_id, f"res-{channel_id}", self.channel_expiration, token)

    async def stop_channel(
        self, credentials: GoogleCredentials, channel_id: str, resource_id: str
    ) -> None:
        await self.refresh_access_token(credentials)
        self.channels.pop(channel_id, None)
        self.stopped_channels.append(channel_id)

    def _sees(self, credentials: GoogleCredentials, calendar_id: str) -> bool:
        visible = self.calendars_of.get(credentials.refresh_token)
        return visible is None or calendar_id in visible


def _in_full_sync(event: dict[str, Any], time_min: datetime | None) -> bool:
    # showDeleted=false leaves deleted events out, but still returns cancelled exceptions of a
    # live series (discovery: events.list.showDeleted).
    if event.get("status") == "cancelled" and "recurringEventId" not in event:
        return False
    if time_min is None or event.get("recurrence") or "end" not in event:
        return True
    end = event["end"].get("dateTime") or event["end"]["date"] + "T00:00:00+00:00"
    return datetime.fromisoformat(end) > time_min
