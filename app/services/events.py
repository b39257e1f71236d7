"""Listing a calendar's events, after a sync with Google or from the store alone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from dataclasses import replace
from datetime import UTC, datetime

from app.adapters.ports import Clock, EventRow, EventStore, no_change_stamp
from app.bounded import BoundedCache
from app.domain import (
    Calendar,
    Event,
    OccurrenceOverride,
    series_moves_on_at,
    series_needs_next_occurrence,
)
from app.errors import InvalidCursor
from app.services.connection import ConnectionService
from app.services.event_mapping import series_spec
from app.services.fresh_answers import FreshAnswers
from app.services.notifications import CalendarRefresher
from app.services.paging import Page, SortKey
from app.services.recurrence import RecurrenceError, next_occurrence
from app.services.series_refresh import refresh_due_series
from app.services.sync import SyncService

ListedAnswer = tuple[bytes, str]
"""A listing as answered: its JSON, and the account it was answered to (for the logs)."""

READABLE_VERSIONS = 8192
"""Row versions (EventRow.version) remembered as readable: calbot follows their zone and rule."""


class EventService:
    def __init__(
        self,
        *,
        events: EventStore,
        connections: ConnectionService,
        sync: SyncService,
        refresher: CalendarRefresher,
        clock: Clock,
        answers: FreshAnswers[ListedAnswer] | None = None,
    ) -> None:
        if answers is None:  # (an empty FreshAnswers is falsy: no `or` here)
            answers = FreshAnswers(no_change_stamp, clock)
        self.answers = answers
        """Listings as answered, kept while nothing changed (the routers encode and keep them)."""
        self._events = events
        self._connections = connections
        self._sync = sync
        self._refresher = refresher
        self._clock = clock
        self._readable: BoundedCache[Hashable, bool] = BoundedCache(READABLE_VERSIONS)

    async def sync(self, account_id: str, calendar_id: str | None) -> Calendar:
        """An incremental sync of the calendar (primary by default) with Google, and what
        follows it (bots moved, auto-scheduling); the calendar synced."""
        calendar = await self._connections.resolve_calendar(account_id, calendar_id)
        await self._refresher.refresh(account_id, calendar.calendar_id)
        return calendar

    async def listing(
        self,
        account_id: str,
        calendar_id: str | None,
        *,
        sync_first: bool,
        limit: int,
        cursor: str | None,
        after: SortKey | None,
        time_min: datetime | None,
        time_max: datetime | None,
        encode: Callable[[Page[EventRow]], bytes],
        also_keep_as: tuple[Hashable, Hashable | None] | None = None,
    ) -> bytes:
        """A page of the calendar's events as `encode` writes it, given again from `answers`
        while it is provably the same (nothing committed since it was read, no listed series
        due to move on); `cursor` is the page's position as asked for (`after`, decoded).

        The stamp is taken before anything is read, the calendar included. After a sync the
        page reads the calendar the sync resolved; such an answer is kept only if the sync
        committed nothing (else the stamp has moved and it is never given again).
        `also_keep_as` is a (key, stamp) under which to keep the answer too (the HTTP layer's
        key for the request, with its stamp taken before the caller was authenticated).
        """
        answers = self.answers
        key = (account_id, calendar_id, limit, cursor, time_min, time_max)
        stamp = answers.stamp()
        calendar = await self.sync(account_id, calendar_id) if sync_first else None
        kept = answers.get(key)
        if kept is not None:
            (body, _), until = kept.value, kept.until
        else:
            _, page = await self.list_events(
                account_id,
                calendar_id,
                sync_first=False,
                time_min=time_min,
                time_max=time_max,
                after=after,
                limit=limit,
                calendar=calendar,
            )
            body = encode(page)
            until = _fresh_until(page.items)
            answers.keep(key, stamp, until, (body, account_id), len(body))
        if also_keep_as is not None:
            answers.keep(also_keep_as[0], also_keep_as[1], until, (body, account_id), len(body))
        return body

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
        calendar: Calendar | None = None,
    ) -> tuple[Calendar, Page[EventRow]]:
        """Events of the calendar (primary by default) ordered by start time, one page.

        With `sync_first`, an incremental sync with Google runs before the store is read;
        without, Google is not called at all. `time_min`/`time_max` keep events with an
        occurrence overlapping [time_min, time_max).

        The store reads one page by its ordered index, so a page costs the same on any size of
        calendar. Series on the page whose stored next occurrence has already ended are moved
        on (only those: nothing is recomputed for the others).

        `calendar` is the calendar `calendar_id` names when the caller has just resolved it
        (`sync` returns it), so that it is not read again.
        """
        if calendar is None:
            calendar = await self._connections.resolve_calendar(account_id, calendar_id)
        position = _position(after)
        if sync_first:
            await self._refresher.refresh(account_id, calendar.calendar_id)
        if time_min is None and time_max is None:
            rows = await self._events.list_events_page(
                account_id, calendar.calendar_id, after=position, limit=limit + 1
            )
        else:
            rows = await self._within(
                account_id, calendar.calendar_id, position, limit + 1, time_min, time_max
            )
        chosen = await self._move_on_due_series(account_id, calendar.calendar_id, rows[:limit])
        next_after = event_sort_key(chosen[-1]) if len(rows) > limit and chosen else None
        # Whether calbot can read an event is a function of the stored row: a version found
        # readable once is not asked about again (a page after one change asks about one).
        readable = self._readable.peek
        unknown = [row for row in chosen if row.version is None or readable(row.version) is None]
        if not unknown:
            return calendar, Page(chosen, next_after)
        reasons = await self._sync.unreadable_reasons(
            account_id, calendar.calendar_id, [row.event for row in unknown]
        )
        for row in unknown:
            if row.version is not None and row.event.event_id not in reasons:
                self._readable.put(row.version, True)
        if reasons:
            chosen = [
                replace(row, unreadable_reason=reasons.get(row.event.event_id)) for row in chosen
            ]
        return calendar, Page(chosen, next_after)

    async def _move_on_due_series(
        self, account_id: str, calendar_id: str, rows: list[EventRow]
    ) -> list[EventRow]:
        """The rows, with each series whose stored next occurrence has ended moved on (in the
        store, and on a copy of its event: a page's events are the store's, read-only)."""
        now = self._clock.now()
        # Only a series has a stored next occurrence end: the first test leaves out the others
        # at the cost of one attribute read each.
        due = {
            row.event.event_id: replace(row.event)
            for row in rows
            if row.event.next_occurrence_end is not None
            and series_needs_next_occurrence(row.event, now)
        }
        if not due:
            return rows
        await refresh_due_series(self._events, account_id, calendar_id, list(due.values()), now)
        return [
            # moved on: no longer the stored version the row was read at
            replace(row, event=due[row.event.event_id], version=None)
            if row.event.event_id in due
            else row
            for row in rows
        ]

    async def _within(
        self,
        account_id: str,
        calendar_id: str,
        after: tuple[datetime, str] | None,
        wanted: int,
        time_min: datetime | None,
        time_max: datetime | None,
    ) -> list[EventRow]:
        """The first `wanted` events after `after` overlapping the window, read from the store
        a page at a time (a window that keeps few events reads on until the calendar ends)."""
        kept: list[EventRow] = []
        while len(kept) < wanted:
            rows = await self._events.list_events_page(
                account_id, calendar_id, after=after, limit=_SCAN_PAGE
            )
            if not rows:
                break
            series = [row.event.google_event_id for row in rows if row.event.is_recurring]
            overrides = await self._events.list_overrides(account_id, calendar_id, series)
            for row in rows:
                if row.event.is_recurring:
                    await asyncio.sleep(0)  # many series must not hold the event loop
                event = row.event
                if _overlaps(event, overrides.get(event.google_event_id, []), time_min, time_max):
                    kept.append(row)
            after = (rows[-1].event.start_time, rows[-1].event.event_id)
            if len(rows) < _SCAN_PAGE:
                break
        return kept[:wanted]


# How many events a time-window listing reads from the store at a time.
_SCAN_PAGE = 1000


def _position(after: SortKey | None) -> tuple[datetime, str] | None:
    """The (start, event_id) a cursor's sort key names; InvalidCursor when it names none."""
    if after is None:
        return None
    if len(after) != 2:
        raise InvalidCursor()
    try:
        start = datetime.fromisoformat(after[0])
        if start.tzinfo is None:
            raise InvalidCursor()
        return start.astimezone(UTC), after[1]
    except (ValueError, OverflowError) as error:  # not a time, or one UTC cannot hold
        raise InvalidCursor() from error


def _fresh_until(rows: list[EventRow]) -> datetime | None:
    """When a listing of these rows stops being true by the clock alone: the first instant a
    listed series is due to move on (the listing then moves it). None: only a change in the
    store can change it."""
    # Only a series has a stored next occurrence end: the first test skips the others cheaply.
    moves = [
        series_moves_on_at(row.event) for row in rows if row.event.next_occurrence_end is not None
    ]
    return min((at for at in moves if at is not None), default=None)


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
