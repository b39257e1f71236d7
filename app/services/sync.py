"""Keep the store in step with Google: a full sync once, then incremental syncs by syncToken.

Pages are streamed and each is written in one transaction; the new sync token is stored with
the last page only, so a crash part-way leaves the old token and the next run repeats the work
(Google: "store the nextSyncToken only once all pages are retrieved"). A 410 Gone answer starts a
clean full resync; events that it does not return are deleted when it completes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from app.adapters.ports import (
    Clock,
    ConnectionStore,
    EventsPage,
    EventsPageWrite,
    EventStore,
    GoogleCalendar,
    SecretBox,
    SeriesOverride,
)
from app.bounded import KeyedLocks
from app.domain import ConnectionStatus, Event, GoogleCredentials, OccurrenceOverride
from app.errors import (
    CalendarNotFound,
    CredentialsRevoked,
    GoogleUnavailable,
    NoCalendarConnected,
    SyncTokenExpired,
)
from app.observability import SYNC_LATENCY, SYNC_RUNS
from app.services.event_mapping import map_items, series_spec, unreadable_reason
from app.services.recurrence import RecurrenceError, next_occurrence

log = logging.getLogger(__name__)

# Told after each page is stored: (pages so far, events so far). For progress output.
PageProgress = Callable[[int, int], None]

# How far back a full sync reaches: a month of past meetings is kept for context, older
# one-off events are not fetched (recurring series are kept whatever their first start).
SYNC_WINDOW_BACK = timedelta(days=30)


@dataclass(slots=True)
class SyncOutcome:
    calendar_id: str
    full_sync: bool
    pages: int = 0
    items: int = 0
    upserted: list[Event] = field(default_factory=list)
    cancelled_google_ids: list[str] = field(default_factory=list)
    changed_series: set[str] = field(default_factory=set)


async def prefetched(pages: AsyncIterator[EventsPage]) -> AsyncIterator[EventsPage]:
    """The same pages, with the next one already being fetched while the caller stores this
    one: Google's latency and calbot's work overlap instead of adding up."""
    upcoming: asyncio.Future[EventsPage | None] = asyncio.ensure_future(anext(pages, None))
    try:
        while (page := await upcoming) is not None:
            upcoming = asyncio.ensure_future(anext(pages, None))
            yield page
    finally:
        if not upcoming.done():
            upcoming.cancel()
        # Collect the prefetch's outcome (a page never used, or its error) so nothing leaks.
        await asyncio.wait([upcoming])
        if not upcoming.cancelled():
            upcoming.exception()


class SyncService:
    def __init__(
        self,
        *,
        connections: ConnectionStore,
        events: EventStore,
        secrets: SecretBox,
        google: GoogleCalendar,
        clock: Clock,
    ) -> None:
        self._connections = connections
        self._events = events
        self._secrets = secrets
        self._google = google
        self._clock = clock
        # One sync per calendar at a time; a lock lives only while a sync holds or awaits it.
        self._locks: KeyedLocks[tuple[str, str]] = KeyedLocks()

    async def credentials(self, account_id: str) -> GoogleCredentials:
        connection = await self._connections.get_connection(account_id)
        if connection is None:
            raise NoCalendarConnected()
        if connection.status is ConnectionStatus.REVOKED:
            raise CredentialsRevoked()
        credentials = await self._secrets.get(account_id)
        if credentials is None:
            raise CredentialsRevoked(
                "The stored Google credentials are missing. Reconnect with "
                "POST /api/v1/calendar/create_calendar."
            )
        return credentials

    async def sync_calendar(
        self, account_id: str, calendar_id: str, on_page: PageProgress | None = None
    ) -> SyncOutcome:
        """Bring one calendar up to date; never runs twice at once for the same calendar."""
        async with self._locks.hold((account_id, calendar_id)):
            credentials = await self.credentials(account_id)
            started = time.perf_counter()
            try:
                outcome = await self._sync(account_id, calendar_id, credentials, on_page)
            except CredentialsRevoked:
                await self._connections.set_connection_status(account_id, ConnectionStatus.REVOKED)
                SYNC_RUNS.labels("unknown", "credentials_revoked").inc()
                raise
            except Exception as error:
                SYNC_RUNS.labels("unknown", getattr(error, "code", "error")).inc()
                raise
            kind = "full" if outcome.full_sync else "incremental"
            SYNC_RUNS.labels(kind, "ok").inc()
            SYNC_LATENCY.labels(kind).observe(time.perf_counter() - started)
            return outcome

    async def _sync(
        self,
        account_id: str,
        calendar_id: str,
        credentials: GoogleCredentials,
        on_page: PageProgress | None,
    ) -> SyncOutcome:
        calendar = next(
            (
                c
                for c in await self._connections.list_calendars(account_id)
                if c.calendar_id == calendar_id
            ),
            None,
        )
        if calendar is None:
            raise CalendarNotFound()
        calendar_zone = calendar.time_zone or "UTC"
        state = await self._events.get_sync_state(account_id, calendar_id)
        if state is not None and state.sync_token:
            generation = await self._events.current_generation(account_id, calendar_id)
            try:
                return await self._run(
                    account_id,
                    calendar_id,
                    credentials,
                    calendar_zone,
                    state.sync_token,
                    generation,
                    on_page,
                )
            except SyncTokenExpired:
                # Google: on 410 "clear your store and perform a full sync" (sync guide).
                log.info("sync token of a calendar expired; running a full sync")
        generation = await self._events.begin_full_sync(account_id, calendar_id)
        try:
            return await self._run(
                account_id, calendar_id, credentials, calendar_zone, None, generation, on_page
            )
        except SyncTokenExpired as error:
            raise GoogleUnavailable("Google refused a full sync of this calendar.") from error

    async def _run(
        self,
        account_id: str,
        calendar_id: str,
        credentials: GoogleCredentials,
        calendar_zone: str,
        sync_token: str | None,
        generation: int,
        on_page: PageProgress | None,
    ) -> SyncOutcome:
        full_sync = sync_token is None
        now = self._clock.now()
        keep_after = now - SYNC_WINDOW_BACK
        outcome = SyncOutcome(calendar_id, full_sync)
        pages = self._google.list_events(
            credentials,
            calendar_id,
            sync_token=sync_token,
            time_min=keep_after if full_sync else None,
        )
        async for page in prefetched(pages):
            mapped = map_items(
                account_id,
                calendar_id,
                page.items,
                calendar_zone=page.time_zone or calendar_zone,
                keep_after=keep_after,
            )
            series_ids = {e.google_event_id for e in mapped.upserts if e.is_recurring}
            series_ids.update(o.series_google_event_id for o in mapped.overrides)
            overrides = await self._overrides(account_id, calendar_id, series_ids, mapped.overrides)
            for event in mapped.upserts:
                if event.is_recurring:
                    self._set_next_occurrence(event, overrides.get(event.google_event_id, []), now)
            await self._events.apply_events_page(
                account_id,
                EventsPageWrite(
                    calendar_id=calendar_id,
                    upserts=mapped.upserts,
                    overrides=mapped.overrides,
                    cancelled_google_ids=mapped.cancelled_google_ids,
                    full_sync=full_sync,
                    generation=generation,
                    sync_token=page.next_sync_token,
                    synced_at=now,
                ),
            )
            orphans = {o.series_google_event_id for o in mapped.overrides} - {
                e.google_event_id for e in mapped.upserts
            }
            await self._refresh_series(account_id, calendar_id, orphans, overrides, now)
            outcome.pages += 1
            outcome.upserted.extend(mapped.upserts)
            outcome.cancelled_google_ids.extend(mapped.cancelled_google_ids)
            outcome.changed_series.update(o.series_google_event_id for o in mapped.overrides)
            outcome.items += len(page.items)
            if on_page is not None:
                on_page(outcome.pages, outcome.items)
        return outcome

    async def _overrides(
        self,
        account_id: str,
        calendar_id: str,
        series_ids: set[str],
        from_page: list[SeriesOverride],
    ) -> dict[str, list[OccurrenceOverride]]:
        """Stored exceptions of these series with this page's applied on top."""
        if not series_ids:
            return {}
        stored = await self._events.list_overrides(account_id, calendar_id, sorted(series_ids))
        merged = {
            series: {o.original_start: o for o in overrides} for series, overrides in stored.items()
        }
        for item in from_page:
            merged.setdefault(item.series_google_event_id, {})[item.override.original_start] = (
                item.override
            )
        return {series: list(by_start.values()) for series, by_start in merged.items()}

    async def _refresh_series(
        self,
        account_id: str,
        calendar_id: str,
        series_ids: set[str],
        overrides: dict[str, list[OccurrenceOverride]],
        now: datetime,
    ) -> None:
        values: list[tuple[str, datetime | None, datetime | None]] = []
        for series_id in series_ids:
            event = await self._events.get_event_by_google_id(account_id, calendar_id, series_id)
            if event is None or not event.is_recurring:
                continue
            self._set_next_occurrence(event, overrides.get(series_id, []), now)
            values.append((event.event_id, event.next_occurrence_start, event.next_occurrence_end))
        await self._events.set_next_occurrences(account_id, values)

    @staticmethod
    def _set_next_occurrence(
        event: Event, overrides: list[OccurrenceOverride], now: datetime
    ) -> None:
        try:
            occurrence = next_occurrence(series_spec(event), overrides, now)
        except RecurrenceError as error:
            # Listed all the same, with no next occurrence; the listing says why.
            _warn_once(event.google_event_id, str(error))
            occurrence = None
        event.next_occurrence_start = occurrence.start if occurrence else None
        event.next_occurrence_end = occurrence.end if occurrence else None

    async def refresh_next_occurrences(self, account_id: str, calendar_id: str) -> None:
        """Move series whose stored next occurrence has ended on to the following one."""
        now = self._clock.now()
        stale = await self._events.list_series_needing_next_occurrence(account_id, calendar_id, now)
        if not stale:
            return
        overrides = await self._events.list_overrides(
            account_id, calendar_id, [event.google_event_id for event in stale]
        )
        for event in stale:
            await asyncio.sleep(0)  # a long run of series must not hold the event loop
            self._set_next_occurrence(event, overrides.get(event.google_event_id, []), now)
        await self._events.set_next_occurrences(
            account_id,
            [(e.event_id, e.next_occurrence_start, e.next_occurrence_end) for e in stale],
        )

    async def unreadable_reasons(
        self, account_id: str, calendar_id: str, events: list[Event]
    ) -> dict[str, str]:
        """Why calbot cannot follow each of these events, by event_id (readable ones left out):
        a zone or rule it cannot read, or a live series with no occurrence within the horizon."""
        reasons: dict[str, str] = {}
        unknown_next: list[Event] = []
        for event in events:
            reason = unreadable_reason(event)
            if reason is not None:
                reasons[event.event_id] = reason
            elif event.is_recurring and event.next_occurrence_start is None:
                unknown_next.append(event)  # over, or beyond the horizon: ask again to know
        if not unknown_next:
            return reasons
        now = self._clock.now()
        overrides = await self._events.list_overrides(
            account_id, calendar_id, [event.google_event_id for event in unknown_next]
        )
        for event in unknown_next:
            await asyncio.sleep(0)
            try:
                next_occurrence(series_spec(event), overrides.get(event.google_event_id, []), now)
            except RecurrenceError as error:
                reasons[event.event_id] = str(error)
        return reasons


@lru_cache(maxsize=1024)
def _warn_once(google_event_id: str, reason: str) -> None:
    """Logs a series calbot cannot follow once per reason and process (lru_cache remembers):
    every sync and listing asks again, and a log line costs the event loop a write."""
    log.warning("series %s cannot be followed: %s", google_event_id, reason)
