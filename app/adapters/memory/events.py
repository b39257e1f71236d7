"""Events, their exceptions and each calendar's sync state, in memory."""

from __future__ import annotations

import bisect
import dataclasses
from datetime import datetime

from app.adapters.memory.tables import MemoryTables, StoredEvent, StoredOverride, SyncRecord
from app.adapters.ports import EventRow, EventsPageWrite
from app.domain import (
    AutoScheduleMode,
    Event,
    EventStatus,
    OccurrenceKey,
    OccurrenceOverride,
    ScheduleStatus,
    SyncState,
    auto_schedule_candidate,
    dropped_by_full_sync,
    is_pending,
    schedule_status_after_upsert,
    series_needs_next_occurrence,
)


def _copy(event: Event) -> Event:
    return dataclasses.replace(event)  # every field of an Event is immutable


def _by_start(events: list[Event]) -> list[Event]:
    return sorted(events, key=lambda e: (e.start_time, e.event_id))


class MemoryEventStore:
    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    # -- sync state -------------------------------------------------------------------------

    async def get_sync_state(self, account_id: str, calendar_id: str) -> SyncState | None:
        record = self._tables.sync_state.get((account_id, calendar_id))
        if record is None:
            return None
        return SyncState(calendar_id, record.sync_token, record.last_synced_at, record.generation)

    async def begin_full_sync(self, account_id: str, calendar_id: str) -> int:
        record = self._tables.sync_state.setdefault(
            (account_id, calendar_id), SyncRecord(None, None, 0)
        )
        record.sync_token = None
        record.generation += 1
        return record.generation

    async def apply_events_page(self, account_id: str, page: EventsPageWrite) -> None:
        tables, calendar_id = self._tables, page.calendar_id
        if page.upserts or page.full_sync:
            tables.event_order.pop((account_id, calendar_id), None)  # rebuilt on the next read
        for event in page.upserts:
            previous = tables.events.get((account_id, event.event_id))
            stored = dataclasses.replace(
                event,
                recurring_enabled=previous.event.recurring_enabled if previous else True,
                auto_schedule_mode=(
                    previous.event.auto_schedule_mode if previous else AutoScheduleMode.RULES
                ),
                schedule_status=schedule_status_after_upsert(
                    previous.event.schedule_status if previous else None
                ),
            )
            tables.events[(account_id, event.event_id)] = StoredEvent(
                account_id, stored, page.generation
            )
        for item in page.overrides:
            exceptions = tables.overrides.setdefault(
                (account_id, calendar_id, item.series_google_event_id), {}
            )
            exceptions[item.override.original_start] = StoredOverride(
                item.override, page.generation
            )
        for google_id in page.cancelled_google_ids:
            for stored_event in tables.events_of(account_id, calendar_id):
                if stored_event.event.google_event_id == google_id:
                    stored_event.event = dataclasses.replace(
                        stored_event.event,
                        status=EventStatus.CANCELLED,
                        schedule_status=ScheduleStatus.CANCELLED,
                        next_occurrence_start=None,
                        next_occurrence_end=None,
                    )
            tables.overrides.pop((account_id, calendar_id, google_id), None)
        if page.sync_token is not None:
            self._finish_run(account_id, page)

    def _finish_run(self, account_id: str, page: EventsPageWrite) -> None:
        tables, calendar_id = self._tables, page.calendar_id
        if page.full_sync:
            for stored in tables.events_of(account_id, calendar_id):
                if dropped_by_full_sync(stored.generation, page.generation):
                    del tables.events[(account_id, stored.event.event_id)]
            for key, exceptions in list(tables.overrides.items()):
                if key[:2] != (account_id, calendar_id):
                    continue
                for original_start, stored_override in list(exceptions.items()):
                    if dropped_by_full_sync(stored_override.generation, page.generation):
                        del exceptions[original_start]
                if not exceptions:
                    del tables.overrides[key]
        record = tables.sync_state.setdefault(
            (account_id, calendar_id), SyncRecord(None, None, page.generation)
        )
        record.sync_token, record.last_synced_at = page.sync_token, page.synced_at

    # -- events -----------------------------------------------------------------------------

    def _stored(self, account_id: str, event_id: str) -> Event | None:
        stored = self._tables.events.get((account_id, event_id))
        return None if stored is None else stored.event

    async def get_event(self, account_id: str, event_id: str) -> Event | None:
        event = self._stored(account_id, event_id)
        return None if event is None else _copy(event)

    async def get_event_by_google_id(
        self, account_id: str, calendar_id: str, google_event_id: str
    ) -> Event | None:
        for stored in self._tables.events_of(account_id, calendar_id):
            if stored.event.google_event_id == google_event_id:
                return _copy(stored.event)
        return None

    async def list_events(self, account_id: str, calendar_id: str) -> list[EventRow]:
        with_pending_bot = {
            bot.event_id
            for bot in self._tables.bots.values()
            if bot.account_id == account_id and is_pending(bot.status)
        }
        events = _by_start([s.event for s in self._tables.events_of(account_id, calendar_id)])
        return [EventRow(_copy(e), e.event_id in with_pending_bot) for e in events]

    async def list_events_page(
        self,
        account_id: str,
        calendar_id: str,
        *,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[EventRow]:
        order = self._tables.events_in_order(account_id, calendar_id)
        first = 0 if after is None else bisect.bisect_right(order, after)
        chosen = [
            self._tables.events[(account_id, event_id)].event
            for _, event_id in order[first : first + limit]
        ]
        pending = {
            bot.event_id
            for bot in self._tables.bots.values()
            if bot.account_id == account_id and is_pending(bot.status)
        }
        return [EventRow(_copy(e), e.event_id in pending) for e in chosen]

    async def list_overrides(
        self, account_id: str, calendar_id: str, series_google_event_ids: list[str]
    ) -> dict[str, list[OccurrenceOverride]]:
        found: dict[str, list[OccurrenceOverride]] = {}
        for series_id in dict.fromkeys(series_google_event_ids):
            exceptions = self._tables.overrides.get((account_id, calendar_id, series_id))
            if exceptions:
                found[series_id] = [exceptions[start].override for start in sorted(exceptions)]
        return found

    async def set_next_occurrences(
        self, account_id: str, values: list[tuple[str, datetime | None, datetime | None]]
    ) -> None:
        for event_id, start, end in values:
            event = self._stored(account_id, event_id)
            if event is not None:
                event.next_occurrence_start, event.next_occurrence_end = start, end

    async def list_series_needing_next_occurrence(
        self, account_id: str, calendar_id: str, now: datetime
    ) -> list[Event]:
        stored = self._tables.events_of(account_id, calendar_id)
        return _by_start(
            [_copy(s.event) for s in stored if series_needs_next_occurrence(s.event, now)]
        )

    async def set_schedule_status(
        self, account_id: str, event_id: str, status: ScheduleStatus
    ) -> None:
        event = self._stored(account_id, event_id)
        if event is not None:
            event.schedule_status = status

    async def set_recurring_enabled(self, account_id: str, event_id: str, enabled: bool) -> None:
        event = self._stored(account_id, event_id)
        if event is not None:
            event.recurring_enabled = enabled

    async def set_auto_schedule_mode(
        self, account_id: str, event_id: str, mode: AutoScheduleMode
    ) -> None:
        event = self._stored(account_id, event_id)
        if event is None:
            return
        event.auto_schedule_mode = mode
        modes = self._tables.occurrence_modes
        for key in [k for k in modes if k[0] == account_id and k[2] == event_id]:
            del modes[key]

    async def set_occurrence_mode(
        self, account_id: str, event_id: str, occurrence: OccurrenceKey, mode: AutoScheduleMode
    ) -> None:
        event = self._stored(account_id, event_id)
        if event is not None:
            key = (account_id, event.calendar_id, event_id, str(occurrence))
            self._tables.occurrence_modes[key] = mode

    async def list_occurrence_modes(
        self, account_id: str, calendar_id: str | None = None
    ) -> dict[tuple[str, OccurrenceKey], AutoScheduleMode]:
        return {
            (event_id, OccurrenceKey.parse(key)): mode
            for (account, calendar, event_id, key), mode in self._tables.occurrence_modes.items()
            if account == account_id and calendar_id in (None, calendar)
        }

    async def list_auto_schedule_candidates(
        self, account_id: str, window_start: datetime, window_end: datetime
    ) -> list[Event]:
        return _by_start(
            [
                _copy(stored.event)
                for stored in self._tables.events_of(account_id)
                if auto_schedule_candidate(stored.event, window_start, window_end)
            ]
        )

    async def auto_schedule_candidates_page(
        self,
        account_id: str,
        window_start: datetime,
        window_end: datetime,
        *,
        after: str | None,
        limit: int,
    ) -> tuple[list[Event], str | None]:
        ids = sorted(
            event_id
            for (owner, event_id) in self._tables.events
            if owner == account_id and event_id > (after or "")
        )[:limit]
        events = [self._tables.events[(account_id, event_id)].event for event_id in ids]
        chosen = [
            _copy(event)
            for event in events
            if auto_schedule_candidate(event, window_start, window_end)
        ]
        return chosen, ids[-1] if len(ids) == limit else None
