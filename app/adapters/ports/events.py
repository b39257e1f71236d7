"""Storage of events, their exceptions and each calendar's sync state."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from app.domain import (
    AutoScheduleMode,
    Event,
    OccurrenceKey,
    OccurrenceOverride,
    ScheduleStatus,
    SyncState,
)


@dataclass(frozen=True, slots=True)
class SeriesOverride:
    """An exception of a recurring series, as a sync stores it."""

    series_google_event_id: str
    override: OccurrenceOverride


@dataclass(slots=True)
class EventsPageWrite:
    """Everything one page of events.list changes, applied by the store in one transaction."""

    calendar_id: str
    upserts: list[Event]
    overrides: list[SeriesOverride]
    cancelled_google_ids: list[str]
    full_sync: bool
    generation: int
    sync_token: str | None
    synced_at: datetime


@dataclass(frozen=True, slots=True)
class EventRow:
    """An event as listed, with the bot state the listing joins in."""

    event: Event
    bot_join_status: bool
    # Why calbot cannot follow the event (its zone or rule): set by the listing, never stored.
    unreadable_reason: str | None = None
    # Names the stored content of the event, where the store can tell: two rows with equal
    # versions hold equal events, so what is worked out from one (its JSON, whether calbot can
    # read it) holds for the other. None: the store cannot tell; compare the events themselves.
    version: Hashable | None = None


class EventStore(Protocol):
    """Events, their exceptions and each calendar's sync state."""

    async def get_sync_state(self, account_id: str, calendar_id: str) -> SyncState | None:
        """The calendar's sync token, last sync time and the generation of its last full sync,
        or None before the first sync."""
        ...

    async def begin_full_sync(self, account_id: str, calendar_id: str) -> int:
        """Forget the sync token and return a new generation number for a full sync."""
        ...

    async def apply_events_page(self, account_id: str, page: EventsPageWrite) -> None:
        """Apply one page in one transaction.

        Upserts keep calbot's own fields (`recurring_enabled`, `schedule_status`,
        `auto_schedule_mode`; per-occurrence modes are not touched either); exceptions
        are stored by (series, original start); cancelled ids mark their event cancelled (a
        recurring master's exceptions go with it). When `sync_token` is set the run is
        complete: it is stored, and after a full sync everything of the calendar not seen in
        this generation is deleted.
        """
        ...

    async def get_event(self, account_id: str, event_id: str) -> Event | None:
        """One event by calbot id, or None (also for another account's id)."""
        ...

    async def get_event_by_google_id(
        self, account_id: str, calendar_id: str, google_event_id: str
    ) -> Event | None:
        """One event by Google id, or None."""
        ...

    async def list_events(self, account_id: str, calendar_id: str) -> list[EventRow]:
        """The calendar's events ordered by start time (recurring series by their first start)."""
        ...

    async def list_events_page(
        self,
        account_id: str,
        calendar_id: str,
        *,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[EventRow]:
        """At most `limit` of the calendar's events ordered by (start time, event_id), those
        strictly after `after` when given, each with its pending-bot state. The cost depends on
        `limit`, not on the size of the calendar (an ordered index, never a whole read).

        The events may be the store's own, shared with later reads of the same rows: read
        them, and copy one before changing it."""
        ...

    async def list_overrides(
        self, account_id: str, calendar_id: str, series_google_event_ids: list[str]
    ) -> dict[str, list[OccurrenceOverride]]:
        """Stored exceptions of the given series, keyed by series Google id."""
        ...

    async def set_next_occurrences(
        self,
        account_id: str,
        values: list[tuple[str, datetime | None, datetime | None]],
    ) -> None:
        """Store (event_id, next occurrence start, its end) for recurring series."""
        ...

    async def list_series_needing_next_occurrence(
        self, account_id: str, calendar_id: str, now: datetime
    ) -> list[Event]:
        """Recurring series whose stored next occurrence is unknown or already ended."""
        ...

    async def set_schedule_status(
        self, account_id: str, event_id: str, status: ScheduleStatus
    ) -> None:
        """Record whether the event is scheduled, unscheduled or cancelled."""
        ...

    async def set_recurring_enabled(self, account_id: str, event_id: str, enabled: bool) -> None:
        """Turn auto-rescheduling of a series on or off."""
        ...

    async def set_auto_schedule_mode(
        self, account_id: str, event_id: str, mode: AutoScheduleMode
    ) -> None:
        """Set the event's per-event policy, calbot's own field that every sync keeps, and
        forget the modes of its single occurrences: a mode for the whole event covers every
        occurrence. No-op for an event that is not stored."""
        ...

    async def set_occurrence_mode(
        self, account_id: str, event_id: str, occurrence: OccurrenceKey, mode: AutoScheduleMode
    ) -> None:
        """Set the policy of one occurrence of a stored event (kept by every sync; forgotten
        with the event's calendar). No-op for an event that is not stored."""
        ...

    async def list_occurrence_modes(
        self, account_id: str, calendar_id: str | None = None
    ) -> dict[tuple[str, OccurrenceKey], AutoScheduleMode]:
        """Every per-occurrence mode of the account (of one calendar when given), by (event
        id, occurrence key), in one read per calendar: what a pass loads once."""
        ...

    async def list_auto_schedule_candidates(
        self, account_id: str, window_start: datetime, window_end: datetime
    ) -> list[Event]:
        """Events with a link, not cancelled or declined, that may have an occurrence
        overlapping the window (one-offs by their times, series unless they are over)."""
        ...

    async def auto_schedule_candidates_page(
        self,
        account_id: str,
        window_start: datetime,
        window_end: datetime,
        *,
        after: str | None,
        limit: int,
    ) -> tuple[list[Event], str | None]:
        """`list_auto_schedule_candidates` a page at a time: the candidates among the account's
        next `limit` events in event_id order after `after`, and the event_id the next page
        starts after (None once every event was looked at). A page holds at most `limit`
        events in memory, whatever the size of the account."""
        ...
