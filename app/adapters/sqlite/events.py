"""Events, their exceptions and each calendar's sync state in SQLite.

The storage rules of `app.domain` decide here as in the other stores; none is restated in SQL.
Called on rows: `auto_schedule_candidate` and `series_needs_next_occurrence` (SQL narrows to a
keyed superset, the function picks), `schedule_status_after_upsert` (on each page's stored
statuses, read in its transaction). `dropped_by_full_sync` picks which of a calendar's
generations a completed full sync deletes. Derived: `PENDING` (`app.domain.is_pending`) is built
from the domain and shared with the schema's partial unique indexes. The store contract suite
holds this store to the same behaviour as the others.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from itertools import compress, count, repeat
from typing import Any, cast

import aiosqlite
import orjson

from app.adapters.ports import EventRow, EventsPageWrite
from app.adapters.sqlite.codec import (
    EVENT_COLUMNS,
    OVERRIDE_COLUMNS,
    event_from_row,
    event_params,
    override_from_row,
    override_params,
)
from app.adapters.sqlite.database import (
    PENDING,
    Database,
    from_text,
    from_text_or_none,
    to_text,
    to_text_or_none,
)
from app.bounded import BoundedCache
from app.domain import (
    AutoScheduleMode,
    Event,
    OccurrenceKey,
    OccurrenceOverride,
    ScheduleStatus,
    SyncState,
    auto_schedule_candidate,
    dropped_by_full_sync,
    schedule_status_after_upsert,
    series_needs_next_occurrence,
)

# On conflict, Google's fields are replaced, `recurring_enabled` and `auto_schedule_mode` kept
# (neither is named here) and `schedule_status` set
# to what `app.domain.schedule_status_after_upsert` made of the stored one (the last parameter).
# A new row takes the columns' defaults for `recurring_enabled` and `auto_schedule_mode`.
_UPSERT_EVENT = """
INSERT INTO events (account_id, event_id, calendar_id, google_event_id, summary, status,
    start_time, end_time, all_day, time_zone, recurrence, meeting_link, meeting_platform,
    self_declined, updated, next_occurrence_start, next_occurrence_end, generation, ical_uid,
    attendees, unsafe_link, schedule_status, row_version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, random())
ON CONFLICT (account_id, event_id) DO UPDATE SET
    summary = excluded.summary, status = excluded.status, start_time = excluded.start_time,
    end_time = excluded.end_time, all_day = excluded.all_day, time_zone = excluded.time_zone,
    recurrence = excluded.recurrence, meeting_link = excluded.meeting_link,
    meeting_platform = excluded.meeting_platform, self_declined = excluded.self_declined,
    updated = excluded.updated, next_occurrence_start = excluded.next_occurrence_start,
    next_occurrence_end = excluded.next_occurrence_end, generation = excluded.generation,
    ical_uid = excluded.ical_uid, attendees = excluded.attendees,
    unsafe_link = excluded.unsafe_link,
    schedule_status = excluded.schedule_status,
    row_version = random()
"""

_UPSERT_OVERRIDE = """
INSERT INTO event_overrides (account_id, calendar_id, series_google_event_id, original_start,
    cancelled, start_time, end_time, meeting_link, meeting_platform, google_event_id, generation,
    attendees)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account_id, calendar_id, series_google_event_id, original_start) DO UPDATE SET
    cancelled = excluded.cancelled, start_time = excluded.start_time,
    end_time = excluded.end_time, meeting_link = excluded.meeting_link,
    meeting_platform = excluded.meeting_platform, google_event_id = excluded.google_event_id,
    generation = excluded.generation, attendees = excluded.attendees
"""

# Whether a bot is pending for the event (a listed event's `bot_join_status`); its one
# parameter, the account, comes before the statement's own. The account's pending bots are
# read once per statement, on their partial index (an uncorrelated IN), not looked up in the
# index of all bots for each listed row (a page of 1,001 rows: 0.84 -> 0.66 ms with no bots,
# 1.38 -> 0.93 ms with 300 pending and 3,000 finished ones).
_BOT_JOINS = (
    "event_id IN (SELECT b.event_id FROM bots b INDEXED BY bots_pending_dedup "
    f"WHERE b.account_id = ? AND b.status IN {PENDING}) AS bot_join_status"
)
# A listed event: its columns and whether a bot is pending for it.
_LISTED = f"{EVENT_COLUMNS}, {_BOT_JOINS}"

# How often a page is read by versions before it is read whole (rows changing meanwhile).
_VERSION_READS = 3

# SQLite's default limit on host parameters is 999; a list of keys is read in chunks below it.
_CHUNK = 500


def _as_stored(when: datetime) -> datetime:
    """A time as the table compares it (whole seconds, UTC), so that a rule applied in Python
    sees the bounds a WHERE clause on the text columns would."""
    return from_text(to_text(when))


# Listed events kept decoded, by (event_id, row_version), as the two rows a listing can show
# (no bot pending, a bot pending): a listing reads the same rows again and again, and decoding
# a row, even building its EventRow, costs more than reading its version.
DECODED_EVENTS = 4096


_SCHEDULE_STATUSES = {status.value: status for status in ScheduleStatus}


def _gaps(listed: list[EventRow | None]) -> list[int]:
    """Where `listed` holds None, found in C (no Python loop, no `==` on a row)."""
    return list(compress(count(), map(operator.is_, listed, repeat(None))))


def _event_rows(
    account_id: str,
    events: list[Event],
    generation: int,
    stored: dict[str, ScheduleStatus | None],
) -> Iterator[tuple[Any, ...]]:
    """The page's rows, each built as the database's thread comes to bind it (executemany reads
    them one at a time): the event loop is not held while thousands are built."""
    for event in events:
        # A repeated id within the page sees the status its first upsert wrote.
        new = schedule_status_after_upsert(stored.get(event.event_id))
        stored[event.event_id] = new
        yield event_params(account_id, event, generation, new)


class SqliteEventStore:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._decoded: BoundedCache[tuple[str, int], tuple[EventRow, EventRow]] = BoundedCache(
            DECODED_EVENTS
        )

    # -- sync state -------------------------------------------------------------------------

    async def get_sync_state(self, account_id: str, calendar_id: str) -> SyncState | None:
        row = await self._db.fetch_one(
            "SELECT sync_token, last_synced_at, generation FROM sync_state "
            "WHERE account_id = ? AND calendar_id = ?",
            (account_id, calendar_id),
        )
        if row is None:
            return None
        return SyncState(
            calendar_id=calendar_id,
            sync_token=row["sync_token"],
            last_synced_at=from_text_or_none(row["last_synced_at"]),
            generation=int(row["generation"]),
        )

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
                stored = await self._schedule_statuses(
                    tx, account_id, [event.event_id for event in page.upserts]
                )
                await tx.executemany(
                    _UPSERT_EVENT, _event_rows(account_id, page.upserts, generation, stored)
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
    async def _schedule_statuses(
        tx: aiosqlite.Connection, account_id: str, event_ids: list[str]
    ) -> dict[str, ScheduleStatus | None]:
        """The stored `schedule_status` of those of the events already stored."""
        # One trip to the database's thread for the whole page (execute, then fetchall, would
        # be two; chunks of host parameters one per chunk): the ids go as one JSON array.
        rows = await tx.execute_fetchall(
            "SELECT event_id, schedule_status FROM events WHERE account_id = ? "
            "AND event_id IN (SELECT value FROM json_each(?))",
            (account_id, orjson.dumps(list(dict.fromkeys(event_ids))).decode()),
        )
        return {row[0]: _SCHEDULE_STATUSES[row[1]] for row in rows}

    @staticmethod
    async def _finish_run(tx: aiosqlite.Connection, account_id: str, page: EventsPageWrite) -> None:
        key = (account_id, page.calendar_id)
        if page.full_sync:
            for table in ("events", "event_overrides"):
                generations = await tx.execute_fetchall(
                    f"SELECT DISTINCT generation FROM {table} "
                    "WHERE account_id = ? AND calendar_id = ?",
                    key,
                )
                dropped = [
                    generation
                    for (generation,) in generations
                    if dropped_by_full_sync(generation, page.generation)
                ]
                if dropped:
                    await tx.execute(
                        f"DELETE FROM {table} WHERE account_id = ? AND calendar_id = ? "
                        f"AND generation IN ({','.join('?' * len(dropped))})",
                        (*key, *dropped),
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
            f"SELECT {_LISTED} FROM events "
            "WHERE account_id = ? AND calendar_id = ? ORDER BY start_time, event_id",
            (account_id, account_id, calendar_id),
        )
        return [EventRow(event_from_row(row), bool(row["bot_join_status"])) for row in rows]

    async def list_events_page(
        self,
        account_id: str,
        calendar_id: str,
        *,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[EventRow]:
        # A keyset page on `events_by_start_version`, walked from `after` for `limit` rows
        # whatever the size of the calendar, reading each row's id and version alone (a third
        # of the cost of whole rows); only rows not seen at that version are read whole.
        where, params = "", [account_id, account_id, calendar_id]  # _BOT_JOINS's, then ours
        if after is not None:
            where = "AND (start_time, event_id) > (?, ?) "
            params += [to_text(after[0]), after[1]]
        query = (
            f"SELECT event_id, row_version, {_BOT_JOINS} FROM events "
            f"WHERE account_id = ? AND calendar_id = ? {where}"
            "ORDER BY start_time, event_id LIMIT ?"
        )
        for _ in range(_VERSION_READS):
            listed = await self._page_of_known(account_id, query, (*params, limit))
            if listed is not None:
                return listed
        # Rows kept changing between the two reads: one read of whole rows is consistent.
        rows = await self._db.fetch_all(
            f"SELECT {EVENT_COLUMNS}, row_version, {_BOT_JOINS} FROM events "
            f"WHERE account_id = ? AND calendar_id = ? {where}"
            "ORDER BY start_time, event_id LIMIT ?",
            (*params, limit),
        )
        return [self._listed(row) for row in rows]

    async def _page_of_known(
        self, account_id: str, query: str, params: tuple[object, ...]
    ) -> list[EventRow] | None:
        """The page, its events decoded once per version; None when a row changed between
        reading its version and reading it whole (the caller reads again)."""
        page = await self._db.fetch_all(query, params)
        known = self._decoded.peek
        # One pass: each row as listed (by its bot state) if its version was decoded before.
        listed = [
            None if (both := known((event_id, version))) is None else both[bot]
            for event_id, version, bot in page
        ]
        gaps = _gaps(listed)
        if gaps:  # after one change, one row in a thousand: only those are read and looked up
            unseen = [page[position][0] for position in gaps]
            for start in range(0, len(unseen), _CHUNK):
                chunk = unseen[start : start + _CHUNK]
                rows = await self._db.fetch_all(
                    f"SELECT {EVENT_COLUMNS}, row_version FROM events WHERE account_id = ? "
                    f"AND event_id IN ({','.join('?' * len(chunk))})",
                    (account_id, *chunk),
                )
                for row in rows:
                    self._remember(row)
            for position in gaps:
                event_id, version, bot = page[position]
                if (both := known((event_id, version))) is None:
                    return None
                listed[position] = both[bot]
        return cast("list[EventRow]", listed)  # no None left

    def _listed(self, row: sqlite3.Row) -> EventRow:
        both = self._decoded.peek((row["event_id"], row["row_version"])) or self._remember(row)
        return both[row["bot_join_status"]]

    def _remember(self, row: sqlite3.Row) -> tuple[EventRow, EventRow]:
        """The row decoded, as listed without and with a pending bot (index by the bot state)."""
        key = (row["event_id"], row["row_version"])
        event = event_from_row(row)
        both = (EventRow(event, False, version=key), EventRow(event, True, version=key))
        self._decoded.put(key, both)
        return both

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
        # `events_by_next_end` narrows to the series whose stored next occurrence has ended
        # (a keyed superset); the domain rule picks from those.
        at = _as_stored(now)
        rows = await self._db.fetch_all(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE account_id = ? AND calendar_id = ? "
            "AND next_occurrence_end <= ? ORDER BY start_time, event_id",
            (account_id, calendar_id, to_text(at)),
        )
        series = (event_from_row(row) for row in rows)
        return [event for event in series if series_needs_next_occurrence(event, at)]

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

    async def set_auto_schedule_mode(
        self, account_id: str, event_id: str, mode: AutoScheduleMode
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE events SET auto_schedule_mode = ? WHERE account_id = ? AND event_id = ?",
                (mode.value, account_id, event_id),
            )
            await tx.execute(
                "DELETE FROM occurrence_modes WHERE account_id = ? AND event_id = ?",
                (account_id, event_id),
            )

    async def set_occurrence_mode(
        self, account_id: str, event_id: str, occurrence: OccurrenceKey, mode: AutoScheduleMode
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO occurrence_modes (account_id, calendar_id, event_id, "
                "occurrence_key, mode) SELECT account_id, calendar_id, event_id, ?, ? "
                "FROM events WHERE account_id = ? AND event_id = ? "
                "ON CONFLICT (account_id, event_id, occurrence_key) DO UPDATE SET "
                "mode = excluded.mode",
                (str(occurrence), mode.value, account_id, event_id),
            )

    async def list_occurrence_modes(
        self, account_id: str, calendar_id: str | None = None
    ) -> dict[tuple[str, OccurrenceKey], AutoScheduleMode]:
        sql = "SELECT event_id, occurrence_key, mode FROM occurrence_modes WHERE account_id = ?"
        params: tuple[str, ...] = (account_id,)
        if calendar_id is not None:
            sql += " AND calendar_id = ?"
            params += (calendar_id,)
        rows = await self._db.fetch_all(sql, params)
        return {
            (row["event_id"], OccurrenceKey.parse(row["occurrence_key"])): AutoScheduleMode(
                row["mode"]
            )
            for row in rows
        }

    async def list_auto_schedule_candidates(
        self, account_id: str, window_start: datetime, window_end: datetime
    ) -> list[Event]:
        # A keyed time range narrows the rows to read (a one-off over before the window cannot
        # qualify); `auto_schedule_candidate` decides which of them do.
        rows = await self._db.fetch_all(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE account_id = ? AND start_time < ? "
            "AND (recurrence != '' OR end_time > ?) ORDER BY start_time, event_id",
            (account_id, to_text(window_end), to_text(window_start)),
        )
        start, end = _as_stored(window_start), _as_stored(window_end)
        events = (event_from_row(row) for row in rows)
        return [event for event in events if auto_schedule_candidate(event, start, end)]

    async def auto_schedule_candidates_page(
        self,
        account_id: str,
        window_start: datetime,
        window_end: datetime,
        *,
        after: str | None,
        limit: int,
    ) -> tuple[list[Event], str | None]:
        # The primary key walked from `after`: `limit` rows of the account, whatever it holds.
        rows = await self._db.fetch_all(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE account_id = ? AND event_id > ? "
            "ORDER BY event_id LIMIT ?",
            (account_id, after or "", limit),
        )
        start, end = _as_stored(window_start), _as_stored(window_end)
        events = [event_from_row(row) for row in rows]
        chosen = [event for event in events if auto_schedule_candidate(event, start, end)]
        return chosen, events[-1].event_id if len(events) == limit else None
