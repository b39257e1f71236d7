"""Events, their exceptions and each calendar's sync state in SQLite.

The storage rules of `app.domain` are SQL predicates here, so that queries stay on indexes;
each names its function, and the store contract suite holds this store to it.
"""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from app.adapters.ports import EventRow, EventsPageWrite
from app.adapters.sqlite.codec import (
    EVENT_COLUMNS,
    OVERRIDE_COLUMNS,
    PENDING,
    event_from_row,
    event_params,
    override_from_row,
    override_params,
)
from app.adapters.sqlite.database import Database, from_text_or_none, to_text, to_text_or_none
from app.domain import Event, OccurrenceOverride, ScheduleStatus, SyncState

# On conflict, Google's fields are replaced and calbot's own (`recurring_enabled`,
# `schedule_status`) kept; the CASE is `app.domain.schedule_status_after_upsert`. A new row
# takes the columns' defaults for calbot's fields.
_UPSERT_EVENT = """
INSERT INTO events (account_id, event_id, calendar_id, google_event_id, summary, status,
    start_time, end_time, all_day, time_zone, recurrence, meeting_link, meeting_platform,
    self_declined, updated, next_occurrence_start, next_occurrence_end, generation, ical_uid)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account_id, event_id) DO UPDATE SET
    summary = excluded.summary, status = excluded.status, start_time = excluded.start_time,
    end_time = excluded.end_time, all_day = excluded.all_day, time_zone = excluded.time_zone,
    recurrence = excluded.recurrence, meeting_link = excluded.meeting_link,
    meeting_platform = excluded.meeting_platform, self_declined = excluded.self_declined,
    updated = excluded.updated, next_occurrence_start = excluded.next_occurrence_start,
    next_occurrence_end = excluded.next_occurrence_end, generation = excluded.generation,
    ical_uid = excluded.ical_uid,
    schedule_status = CASE WHEN events.schedule_status = 'cancelled'
        THEN 'unscheduled' ELSE events.schedule_status END
"""

_UPSERT_OVERRIDE = """
INSERT INTO event_overrides (account_id, calendar_id, series_google_event_id, original_start,
    cancelled, start_time, end_time, meeting_link, meeting_platform, google_event_id, generation)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account_id, calendar_id, series_google_event_id, original_start) DO UPDATE SET
    cancelled = excluded.cancelled, start_time = excluded.start_time,
    end_time = excluded.end_time, meeting_link = excluded.meeting_link,
    meeting_platform = excluded.meeting_platform, google_event_id = excluded.google_event_id,
    generation = excluded.generation
"""

# SQLite's default limit on host parameters is 999; a series list is read in chunks below it.
_CHUNK = 500


class SqliteEventStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # -- sync state -------------------------------------------------------------------------

    async def get_sync_state(self, account_id: str, calendar_id: str) -> SyncState | None:
        row = await self._db.fetch_one(
            "SELECT sync_token, last_synced_at FROM sync_state "
            "WHERE account_id = ? AND calendar_id = ?",
            (account_id, calendar_id),
        )
        if row is None:
            return None
        return SyncState(
            calendar_id=calendar_id,
            sync_token=row["sync_token"],
            last_synced_at=from_text_or_none(row["last_synced_at"]),
        )

    async def current_generation(self, account_id: str, calendar_id: str) -> int:
        row = await self._db.fetch_one(
            "SELECT generation FROM sync_state WHERE account_id = ? AND calendar_id = ?",
            (account_id, calendar_id),
        )
        return 0 if row is None else int(row["generation"])

    async def begin_full_sync(self, account_id: str, calendar_id: str) -> int:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "INSERT INTO sync_state (account_id, calendar_id, sync_token, generation) "
                "VALUES (?, ?, NULL, 1) ON CONFLICT (account_id, calendar_id) DO UPDATE SET "
                "sync_token = NULL, generation = sync_state.generation + 1 RETURNING generation",
                (account_id, calendar_id),
            )
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def apply_events_page(self, account_id: str, page: EventsPageWrite) -> None:
        calendar_id, generation = page.calendar_id, page.generation
        async with self._db.transaction() as tx:
            if page.upserts:
                await tx.executemany(
                    _UPSERT_EVENT,
                    [event_params(account_id, event, generation) for event in page.upserts],
                )
            if page.overrides:
                await tx.executemany(
                    _UPSERT_OVERRIDE,
                    [
                        override_params(
                            account_id,
                            calendar_id,
                            item.series_google_event_id,
                            item.override,
                            generation,
                        )
                        for item in page.overrides
                    ],
                )
            if page.cancelled_google_ids:
                cancelled = [(account_id, calendar_id, gid) for gid in page.cancelled_google_ids]
                await tx.executemany(
                    "UPDATE events SET status = 'cancelled', schedule_status = 'cancelled', "
                    "next_occurrence_start = NULL, next_occurrence_end = NULL "
                    "WHERE account_id = ? AND calendar_id = ? AND google_event_id = ?",
                    cancelled,
                )
                await tx.executemany(
                    "DELETE FROM event_overrides WHERE account_id = ? AND calendar_id = ? "
                    "AND series_google_event_id = ?",
                    cancelled,
                )
            if page.sync_token is not None:
                await self._finish_run(tx, account_id, page)

    @staticmethod
    async def _finish_run(tx: aiosqlite.Connection, account_id: str, page: EventsPageWrite) -> None:
        key = (account_id, page.calendar_id)
        if page.full_sync:
            # `app.domain.dropped_by_full_sync`: what the completed run did not see is older.
            for table in ("events", "event_overrides"):
                await tx.execute(
                    f"DELETE FROM {table} WHERE account_id = ? AND calendar_id = ? "
                    "AND generation < ?",
                    (*key, page.generation),
                )
        await tx.execute(
            "INSERT INTO sync_state (account_id, calendar_id, sync_token, last_synced_at, "
            "generation) VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, calendar_id) DO UPDATE "
            "SET sync_token = excluded.sync_token, last_synced_at = excluded.last_synced_at",
            (*key, page.sync_token, to_text(page.synced_at), page.generation),
        )

    # -- events -----------------------------------------------------------------------------

    async def get_event(self, account_id: str, event_id: str) -> Event | None:
        row = await self._db.fetch_one(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE account_id = ? AND event_id = ?",
            (account_id, event_id),
        )
        return None if row is None else event_from_row(row)

    async def get_event_by_google_id(
        self, account_id: str, calendar_id: str, google_event_id: str
    ) -> Event | None:
        row = await self._db.fetch_one(
            f"SELECT {EVENT_COLUMNS} FROM events "
            "WHERE account_id = ? AND calendar_id = ? AND google_event_id = ?",
            (account_id, calendar_id, google_event_id),
        )
        return None if row is None else event_from_row(row)

    async def list_events(self, account_id: str, calendar_id: str) -> list[EventRow]:
        rows = await self._db.fetch_all(
            f"SELECT {EVENT_COLUMNS}, EXISTS (SELECT 1 FROM bots b WHERE "
            "b.account_id = events.account_id AND b.event_id = events.event_id AND "
            f"b.status IN {PENDING}) AS bot_join_status FROM events "
            "WHERE account_id = ? AND calendar_id = ? ORDER BY start_time, event_id",
            (account_id, calendar_id),
        )
        return [EventRow(event_from_row(row), bool(row["bot_join_status"])) for row in rows]

    async def list_overrides(
        self, account_id: str, calendar_id: str, series_google_event_ids: list[str]
    ) -> dict[str, list[OccurrenceOverride]]:
        found: dict[str, list[OccurrenceOverride]] = {}
        for start in range(0, len(series_google_event_ids), _CHUNK):
            chunk = series_google_event_ids[start : start + _CHUNK]
            rows = await self._db.fetch_all(
                f"SELECT {OVERRIDE_COLUMNS} FROM event_overrides "
                "WHERE account_id = ? AND calendar_id = ? AND series_google_event_id IN "
                f"({','.join('?' * len(chunk))}) ORDER BY series_google_event_id, original_start",
                (account_id, calendar_id, *chunk),
            )
            for row in rows:
                found.setdefault(row["series_google_event_id"], []).append(override_from_row(row))
        return found

    async def set_next_occurrences(
        self, account_id: str, values: list[tuple[str, datetime | None, datetime | None]]
    ) -> None:
        if not values:
            return
        async with self._db.transaction() as tx:
            await tx.executemany(
                "UPDATE events SET next_occurrence_start = ?, next_occurrence_end = ? "
                "WHERE account_id = ? AND event_id = ?",
                [
                    (to_text_or_none(start), to_text_or_none(end), account_id, event_id)
                    for event_id, start, end in values
                ],
            )

    async def list_series_needing_next_occurrence(
        self, account_id: str, calendar_id: str, now: datetime
    ) -> list[Event]:
        rows = await self._db.fetch_all(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE account_id = ? AND calendar_id = ? "
            # `app.domain.series_needs_next_occurrence`
            "AND recurrence != '' AND status != 'cancelled' "
            "AND next_occurrence_end IS NOT NULL AND next_occurrence_end <= ? "
            "ORDER BY start_time, event_id",
            (account_id, calendar_id, to_text(now)),
        )
        return [event_from_row(row) for row in rows]

    async def set_schedule_status(
        self, account_id: str, event_id: str, status: ScheduleStatus
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE events SET schedule_status = ? WHERE account_id = ? AND event_id = ?",
                (status.value, account_id, event_id),
            )

    async def set_recurring_enabled(self, account_id: str, event_id: str, enabled: bool) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE events SET recurring_enabled = ? WHERE account_id = ? AND event_id = ?",
                (int(enabled), account_id, event_id),
            )

    async def list_auto_schedule_candidates(
        self, account_id: str, window_start: datetime, window_end: datetime
    ) -> list[Event]:
        rows = await self._db.fetch_all(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE account_id = ? "
            # `app.domain.auto_schedule_candidate`
            "AND meeting_link IS NOT NULL AND status != 'cancelled' AND self_declined = 0 "
            "AND start_time < ? AND ((recurrence = '' AND end_time > ?) "
            "OR (recurrence != '' AND next_occurrence_start IS NOT NULL)) "
            "ORDER BY start_time, event_id",
            (account_id, to_text(window_end), to_text(window_start)),
        )
        return [event_from_row(row) for row in rows]
