"""Keep the store in step with Google: a full sync once, then incremental syncs by syncToken.

Pages are streamed and each is written in one transaction; the new sync token is stored with
the last page only, so a crash part-way leaves the old token and the next run repeats the work
(Google: "store the nextSyncToken only once all pages are retrieved"). A 410 Gone answer starts a
clean full resync; events that it does not return are deleted when it completes.

Replicas share the store, so a sync of one calendar holds a lease in it (`sync_lease_name`) for
as long as it runs, renewed as pages come in: two replicas never sync one calendar at once (a
full sync's clean-up would drop what the other wrote under an older generation). A replica that
finds the lease taken waits a little (`SYNC_LEASE_WAIT_SECONDS`) for it, then leaves the sync to
the holder and answers from what the store holds (`SyncOutcome.skipped`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.adapters.ports import (
    Clock,
    ConnectionStore,
    EventsPage,
    EventsPageWrite,
    EventStore,
    GoogleCalendar,
    LeaseStore,
    SecretBox,
    SeriesOverride,
    SyncHealthStore,
)
from app.bounded import KeyedLocks
from app.collector import collector_relaxed
from app.domain import (
    Calendar,
    Connection,
    ConnectionStatus,
    Event,
    GoogleCredentials,
    OccurrenceOverride,
    credentials_fingerprint,
)
from app.errors import (
    CalbotError,
    CalendarNotFound,
    CredentialsRevoked,
    GoogleUnavailable,
    NoCalendarConnected,
    NotFound,
    SyncTokenExpired,
)
from app.observability import SYNC_LATENCY, SYNC_RUNS
from app.services.event_mapping import MappedPage, map_items
from app.services.series_refresh import (
    merged_overrides,
    refresh_series,
    refresh_stale_series,
    set_next_occurrence,
    unreadable_reasons,
)
from app.services.sync_lease import (
    SYNC_LEASE_SECONDS,
    SYNC_LEASE_WAIT_SECONDS,
    CalendarLease,
    sync_lease_name,
)

__all__ = [
    "SYNC_LEASE_SECONDS",
    "SYNC_LEASE_WAIT_SECONDS",
    "SYNC_WINDOW_BACK",
    "PageProgress",
    "SyncOutcome",
    "SyncService",
    "prefetched",
    "sync_lease_name",
]

log = logging.getLogger(__name__)

# Events mapped between two turns of the event loop (a few milliseconds of work).
MAP_SLICE = 100

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
    # The events the sync stored, in order, and the series among them: calbot's ids. Strings
    # rather than an object per event: a full sync of a large calendar does not keep its events
    # in memory until it ends, and 10,000 small objects made for this (named tuples: 2 ms a page
    # of 2,500) were walked by the collector once the sync's relaxed thresholds were restored
    # (3.6-11.8 ms at the end of each 10k sync).
    upserted_ids: list[str] = field(default_factory=list)
    recurring_ids: set[str] = field(default_factory=set)
    cancelled_google_ids: list[str] = field(default_factory=list)
    changed_series: set[str] = field(default_factory=set)
    # Another replica was syncing the calendar (it held the lease past the wait, or took it
    # over from this one mid-run): this outcome holds what this run stored, if anything.
    skipped: bool = False


@dataclass(slots=True)
class _ReadyPage:
    """A page, mapped and ready to store."""

    mapped: MappedPage
    # The exceptions its series' next occurrences were worked out with, by series.
    overrides: dict[str, list[OccurrenceOverride]]
    write: EventsPageWrite
    items: int  # Google's items in it


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


async def _mapped_in_slices(
    account_id: str,
    calendar_id: str,
    items: list[Any],
    *,
    calendar_zone: str,
    keep_after: datetime,
) -> MappedPage:
    """`map_items` of a page, a slice at a time with the event loop let through in between: the
    request for the next page goes out, its answer comes in and the write of the page before
    moves on while this one is mapped (a page mapped at once held the loop for ~50 ms, and the
    next page was only asked for after it)."""
    mapped = MappedPage()
    for start in range(0, len(items), MAP_SLICE):
        part = map_items(
            account_id,
            calendar_id,
            items[start : start + MAP_SLICE],
            calendar_zone=calendar_zone,
            keep_after=keep_after,
        )
        mapped.upserts += part.upserts
        mapped.overrides += part.overrides
        mapped.cancelled_google_ids += part.cancelled_google_ids
        await asyncio.sleep(0)
    return mapped


class SyncService:
    def __init__(
        self,
        *,
        connections: ConnectionStore,
        events: EventStore,
        secrets: SecretBox,
        google: GoogleCalendar,
        clock: Clock,
        leases: LeaseStore,
        replica_id: str,
        sync_health: SyncHealthStore,
    ) -> None:
        self._connections = connections
        self._sync_health = sync_health
        self._events = events
        self._secrets = secrets
        self._google = google
        self._clock = clock
        self._leases = leases
        self._replica_id = replica_id
        # One process's syncs of a calendar queue here; the store's lease keeps other
        # replicas out (to the lease, this process is one holder).
        # A lock lives only while a sync holds or awaits it.
        self._locks: KeyedLocks[tuple[str, str]] = KeyedLocks()

    async def credentials(self, account_id: str) -> GoogleCredentials:
        """The account's current credentials: those the connection was last made with.

        A secret box may cache them per replica; when what it gives does not match the
        connection's fingerprint (another replica reconnected the account), they are read
        again from where they are kept.
        """
        return await self._credentials_of(
            account_id, await self._connections.get_connection(account_id)
        )

    async def _credentials_of(
        self, account_id: str, connection: Connection | None
    ) -> GoogleCredentials:
        """`credentials`, with the account's connection already read."""
        if connection is None:
            raise NoCalendarConnected()
        if connection.status is ConnectionStatus.REVOKED:
            raise CredentialsRevoked()
        credentials = await self._secrets.get(account_id)
        expected = connection.credentials_fingerprint
        if (
            credentials is not None
            and expected is not None
            and credentials_fingerprint(credentials) != expected
        ):
            credentials = await self._secrets.get(account_id, fresh=True)
        if credentials is None:
            raise CredentialsRevoked(
                "The stored Google credentials are missing. Reconnect with "
                "POST /api/v1/calendar/create_calendar."
            )
        return credentials

    async def sync_calendar(
        self, account_id: str, calendar_id: str, on_page: PageProgress | None = None
    ) -> SyncOutcome:
        """Bring one calendar up to date; never runs twice at once for the same calendar, in
        this process (a lock) or across replicas (the store's lease): when another replica
        keeps syncing it past SYNC_LEASE_WAIT_SECONDS, returns a `skipped` outcome."""
        async with self._locks.hold((account_id, calendar_id)):
            lease = CalendarLease(
                self._leases,
                self._clock,
                sync_lease_name(account_id, calendar_id),
                self._replica_id,
            )
            if not await lease.acquire():
                log.info("another replica is syncing a calendar; answering from the store")
                SYNC_RUNS.labels("unknown", "busy").inc()
                return SyncOutcome(calendar_id, full_sync=False, skipped=True)
            try:
                return await self._sync_leased(account_id, calendar_id, lease, on_page)
            finally:
                await lease.release()

    async def _sync_leased(
        self,
        account_id: str,
        calendar_id: str,
        lease: CalendarLease,
        on_page: PageProgress | None,
    ) -> SyncOutcome:
        started = time.perf_counter()
        try:
            # Pages die by reference count once stored; the collector need not walk them.
            with collector_relaxed():
                outcome = await self._sync_with_current_credentials(
                    account_id, calendar_id, lease, on_page
                )
        except CredentialsRevoked as error:
            SYNC_RUNS.labels("unknown", "credentials_revoked").inc()
            await self._record_failure(account_id, calendar_id, error)
            raise
        except Exception as error:
            SYNC_RUNS.labels("unknown", getattr(error, "code", "error")).inc()
            await self._record_failure(account_id, calendar_id, error)
            raise
        if not outcome.skipped:
            await self._sync_health.record_sync_success(account_id, calendar_id, self._clock.now())
        kind = "full" if outcome.full_sync else "incremental"
        SYNC_RUNS.labels(kind, "ok").inc()
        SYNC_LATENCY.labels(kind).observe(time.perf_counter() - started)
        return outcome

    async def _record_failure(self, account_id: str, calendar_id: str, error: Exception) -> None:
        """Count a failed sync in the calendar's health (not a calendar that is not there:
        disconnected, or dropped meanwhile); never hides the failure itself."""
        if isinstance(error, NotFound):
            return
        sentence = error.detail if isinstance(error, CalbotError) else "The sync failed."
        try:
            await self._sync_health.record_sync_failure(
                account_id, calendar_id, self._clock.now(), sentence
            )
        except CalbotError as unrecorded:
            log.warning("could not record a failed sync: %s", unrecorded.code)

    async def _sync_with_current_credentials(
        self,
        account_id: str,
        calendar_id: str,
        lease: CalendarLease,
        on_page: PageProgress | None,
    ) -> SyncOutcome:
        """Google refusing the credentials marks the connection revoked, unless they were
        replaced meanwhile (a reconnect, maybe on another replica): then the sync runs once
        more with the new ones."""
        for attempt in (1, 2):
            # The connection and its calendars in one read: the credentials go by the one,
            # the calendar's time zone comes from the other.
            found = await self._connections.connection_and_calendars(account_id)
            connection, calendars = found if found is not None else (None, [])
            credentials = await self._credentials_of(account_id, connection)
            calendar = next((c for c in calendars if c.calendar_id == calendar_id), None)
            if calendar is None:
                raise CalendarNotFound()
            try:
                return await self._sync(account_id, calendar, credentials, lease, on_page)
            except CredentialsRevoked:
                fingerprint = credentials_fingerprint(credentials)
                revoked = await self._connections.mark_revoked(
                    account_id, fingerprint, self._clock.now()
                )
                if revoked or attempt == 2:
                    raise
                log.info("credentials replaced during a sync; syncing again with the new ones")
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _sync(
        self,
        account_id: str,
        calendar: Calendar,
        credentials: GoogleCredentials,
        lease: CalendarLease,
        on_page: PageProgress | None,
    ) -> SyncOutcome:
        calendar_id = calendar.calendar_id
        calendar_zone = calendar.time_zone or "UTC"
        state = await self._events.get_sync_state(account_id, calendar_id)
        if state is not None and state.sync_token:
            generation = state.generation
            try:
                return await self._run(
                    account_id,
                    calendar_id,
                    credentials,
                    calendar_zone,
                    state.sync_token,
                    generation,
                    lease,
                    on_page,
                )
            except SyncTokenExpired:
                # Google: on 410 "clear your store and perform a full sync" (sync guide).
                log.info("sync token of a calendar expired; running a full sync")
        generation = await self._events.begin_full_sync(account_id, calendar_id)
        try:
            return await self._run(
                account_id,
                calendar_id,
                credentials,
                calendar_zone,
                None,
                generation,
                lease,
                on_page,
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
        lease: CalendarLease,
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
        # Each page is mapped, and its series' next occurrences worked out, while the page
        # before is still being written (the database works in its own thread, without the GIL
        # for the most part), then written once that write is done: pages are written one at
        # a time and in order. Whole pages, not slices of them: a page's event ids fall all
        # over the primary key's index, so each transaction rewrites most of its pages, and
        # slices of 512 wrote five times the WAL (A/B of a 10k full sync under the same load:
        # 552 ms in slices of 512, 470 in 1,024, 452 in whole pages of 2,500).
        writing: asyncio.Future[None] | None = None
        previous: MappedPage | None = None  # the page `writing` stores
        try:
            async for page in prefetched(pages):
                if not await lease.keep():
                    # Stalled past the lease and another replica took the calendar over: it
                    # runs the sync now. Nothing more is written; the token stays as it was.
                    log.warning("lost the lease of a calendar's sync mid-run; leaving it")
                    outcome.skipped = True
                    break
                mapped = await _mapped_in_slices(
                    account_id,
                    calendar_id,
                    page.items,
                    calendar_zone=page.time_zone or calendar_zone,
                    keep_after=keep_after,
                )
                write = EventsPageWrite(
                    calendar_id=calendar_id,
                    upserts=mapped.upserts,
                    overrides=mapped.overrides,
                    cancelled_google_ids=mapped.cancelled_google_ids,
                    full_sync=full_sync,
                    generation=generation,
                    sync_token=page.next_sync_token,
                    synced_at=now,
                )
                overrides = await self._next_occurrences(
                    account_id, calendar_id, mapped, previous, now
                )
                if writing is not None:
                    await writing
                # While this page is stored, `prefetched` is already fetching the next one.
                ready = _ReadyPage(mapped, overrides, write, len(page.items))
                writing = asyncio.ensure_future(
                    self._store_counted(account_id, ready, outcome, on_page)
                )
                previous = mapped
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                # Left by an error or a cancellation: the write under way ends (or is cancelled
                # with this sync) before the sync does, and its outcome is collected.
                await _settled(writing)
        return outcome

    async def _store_counted(
        self,
        account_id: str,
        ready: _ReadyPage,
        outcome: SyncOutcome,
        on_page: PageProgress | None,
    ) -> None:
        """Store one page, then count it in the outcome and tell `on_page`."""
        await self._store_page(account_id, ready)
        mapped = ready.mapped
        outcome.items += ready.items
        # Only what follows the sync needs of each event, not the events themselves.
        upserts = mapped.upserts
        outcome.upserted_ids += [e.event_id for e in upserts]
        outcome.recurring_ids.update([e.event_id for e in upserts if e.is_recurring])
        outcome.cancelled_google_ids.extend(mapped.cancelled_google_ids)
        outcome.changed_series.update(o.series_google_event_id for o in mapped.overrides)
        outcome.pages += 1
        if on_page is not None:
            on_page(outcome.pages, outcome.items)

    async def _next_occurrences(
        self,
        account_id: str,
        calendar_id: str,
        mapped: MappedPage,
        previous: MappedPage | None,
        now: datetime,
    ) -> dict[str, list[OccurrenceOverride]]:
        """Set the next occurrence of each series of a mapped page, with its stored exceptions
        and those of the page before and this one on top; returns the exceptions used, by series.

        Runs while the page before may still be being written, so its exceptions and deletions
        are taken from `previous` rather than from the store: the store's answer holds every
        page before that one (each is written only once the one before it is done). Profile of
        a full sync: reading the exceptions, then working out a thousand series' next occurrences,
        after the write before, stood between every two writes (without both, a 10k sync took
        415 ms instead of 551).
        """
        series_ids = {e.google_event_id for e in mapped.upserts if e.is_recurring}
        series_ids.update(o.series_google_event_id for o in mapped.overrides)
        if not series_ids:
            return {}
        earlier: list[SeriesOverride] = []
        deleted: set[str] = set()
        if previous is not None:
            # As the store will have it: the page's exceptions written, then those of the series
            # it deleted dropped.
            deleted = set(previous.cancelled_google_ids)
            earlier = [o for o in previous.overrides if o.series_google_event_id not in deleted]
        overrides = await merged_overrides(
            self._events,
            account_id,
            calendar_id,
            series_ids,
            [*earlier, *mapped.overrides],
            deleted=deleted,
        )
        for event in mapped.upserts:
            if event.is_recurring:
                set_next_occurrence(event, overrides.get(event.google_event_id, []), now)
        return overrides

    async def _store_page(self, account_id: str, ready: _ReadyPage) -> None:
        """Store one mapped page in one write, then the next occurrence of the series that only
        this page's exceptions changed (their series stored before)."""
        mapped, overrides, write = ready.mapped, ready.overrides, ready.write
        await self._events.apply_events_page(account_id, write)
        orphans = {o.series_google_event_id for o in mapped.overrides} - {
            e.google_event_id for e in mapped.upserts
        }
        await refresh_series(
            self._events, account_id, write.calendar_id, orphans, overrides, write.synced_at
        )

    async def refresh_next_occurrences(self, account_id: str, calendar_id: str) -> None:
        """Move series whose stored next occurrence has ended on to the following one."""
        await refresh_stale_series(self._events, account_id, calendar_id, self._clock.now())

    async def unreadable_reasons(
        self, account_id: str, calendar_id: str, events: list[Event]
    ) -> dict[str, str]:
        """Why calbot cannot follow each of these events, by event_id (readable ones left out):
        a zone or rule it cannot read, or a live series with no occurrence within the horizon."""
        return await unreadable_reasons(
            self._events, account_id, calendar_id, events, self._clock.now()
        )


async def _settled(task: asyncio.Future[None]) -> None:
    """Wait until `task` is done even if this task is cancelled again meanwhile (a cancel scope
    cancels at every await), then re-raise that cancellation. A page write must never outlive
    its sync: the calendar's lock and lease are released after this returns, and a later sync's
    write must not be overtaken by an earlier page's."""
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            cancelled = True
    if not task.cancelled():
        task.exception()  # collected (the sync's own error, if any, is what propagates)
    if cancelled:
        raise asyncio.CancelledError
