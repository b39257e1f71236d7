"""Listing a calendar's events, after a sync with Google or from the store alone."""

from __future__ import annotations

from app.adapters.ports import EventRow, Store
from app.domain import Calendar
from app.services.connection import ConnectionService
from app.services.notifications import CalendarRefresher
from app.services.sync import SyncService


class EventService:
    def __init__(
        self,
        store: Store,
        connections: ConnectionService,
        sync: SyncService,
        refresher: CalendarRefresher,
    ) -> None:
        self._store = store
        self._connections = connections
        self._sync = sync
        self._refresher = refresher

    async def list_events(
        self, account_id: str, calendar_id: str | None, *, sync_first: bool
    ) -> tuple[Calendar, list[EventRow]]:
        """Events of the calendar (primary by default) ordered by start time.

        With `sync_first`, an incremental sync with Google runs before the store is read;
        without, Google is not called at all.
        """
        calendar = await self._connections.resolve_calendar(account_id, calendar_id)
        if sync_first:
            await self._refresher.refresh(account_id, calendar.calendar_id)
        await self._sync.refresh_next_occurrences(account_id, calendar.calendar_id)
        return calendar, await self._store.list_events(account_id, calendar.calendar_id)
