"""Listing a calendar's events, after a sync with Google or from the store alone."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime

from app.adapters.ports import EventRow, EventStore
from app.domain import Calendar, Event, OccurrenceOverride
from app.services.connection import ConnectionService
from app.services.event_mapping import series_spec
from app.services.notifications import CalendarRefresher
from app.services.paging import Page, SortKey, page
from app.services.recurrence import RecurrenceError, next_occurrence
from app.services.sync import SyncService


class EventService:
    def __init__(
        self,
        *,
        events: EventStore,
        connections: ConnectionService,
        sync: SyncService,
        refresher: CalendarRefresher,
    ) -> None:
        self._events = events
        self._connections = connections
        self._sync = sync
        self._refresher = refresher

    async def list_events(
        self,
        account_id: str,
        calendar_id: str | None,
        *,
        sync_first: bool,
        time_min: datetime | None = None,
        time_max: datetime | None = None,
        after: SortKey | None = None,
        limit: int,
    ) -> tuple[Calendar, Page[EventRow]]:
        """Events of the calendar (primary by default) ordered by start time, one page.

        With `sync_first`, an incremental sync with Google runs before the store is read;
        without, Google is not called at all. `time_min`/`time_max` keep events with an
        occurrence overlapping [time_min, time_max).
        """
        calendar = await self._connections.resolve_calendar(account_id, calendar_id)
        if sync_first:
            await self._refresher.refresh(account_id, calendar.calendar_id)
        await self._sync.refresh_next_occurrences(account_id, calendar.calendar_id)
        rows = await self._events.list_events(account_id, calendar.calendar_id)
        if time_min is not None or time_max is not None:
            rows = await self._within(account_id, calendar.calendar_id, rows, time_min, time_max)
        listed = page(rows, event_sort_key, after=after, limit=limit)
        reasons = await self._sync.unreadable_reasons(
            account_id, calendar.calendar_id, [row.event for row in listed.items]
        )
        if reasons:
            annotated = [
                replace(row, unreadable_reason=reasons.get(row.event.event_id))
                for row in listed.items
            ]
            listed = replace(listed, items=annotated)
        return calendar, listed

    async def _within(
        self,
        account_id: str,
        calendar_id: str,
        rows: list[EventRow],
        time_min: datetime | None,
        time_max: datetime | None,
    ) -> list[EventRow]:
        series = [row.event.google_event_id for row in rows if row.event.is_recurring]
        overrides = await self._events.list_overrides(account_id, calendar_id, series)
        kept: list[EventRow] = []
        for row in rows:
            if row.event.is_recurring:
                await asyncio.sleep(0)  # many series must not hold the event loop
            if _overlaps(
                row.event, overrides.get(row.event.google_event_id, []), time_min, time_max
            ):
                kept.append(row)
        return kept


def event_sort_key(row: EventRow) -> SortKey:
    return (row.event.start_time.isoformat(), row.event.event_id)


def _overlaps(
    event: Event,
    overrides: list[OccurrenceOverride],
    time_min: datetime | None,
    time_max: datetime | None,
) -> bool:
    """Whether the event (any occurrence of a series) overlaps [time_min, time_max).

    A series calbot cannot follow is kept when the window ends after its first start: calbot
    cannot rule it out, and the listing says why it cannot tell.
    """
    if not event.is_recurring:
        return (time_min is None or event.end_time > time_min) and (
            time_max is None or event.start_time < time_max
        )
    try:
        # The first occurrence still going on at time_min: the window holds one if it starts
        # before time_max (a later one would start later still).
        found = next_occurrence(series_spec(event), overrides, time_min or event.start_time)
    except RecurrenceError:
        return time_max is None or event.start_time < time_max
    return found is not None and (time_max is None or found.start < time_max)
