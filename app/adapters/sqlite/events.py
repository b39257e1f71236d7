"""Events, their exceptions and each calendar's sync state in SQLite.

The storage rules of `app.domain` decide here as in the other stores; none is restated in SQL.
Called on rows: `auto_schedule_candidate` and `series_needs_next_occurrence` (SQL narrows to a
keyed superset, the function picks). `generations_dropped_by_full_sync` gives the generations
a completed full sync deletes, which one DELETE takes as bounds. Derived: `PENDING`
(`app.domain.is_pending`) is built from the domain and shared with the schema's partial unique
indexes, and the upsert's CASE from `schedule_status_after_upsert` over every status. The store
contract suite holds this store to the same behaviour as the others.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from functools import cache, partial
from itertools import chain, compress, count, repeat
from typing import Any, cast

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
    event_id_for,
    generations_dropped_by_full_sync,
    schedule_status_after_upsert,
    series_needs_next_occurrence,
)

# On conflict, Google's fields are replaced, `recurring_enabled` and `auto_schedule_mode` kept
# (neither is named here) and `schedule_status` set to what
# `app.domain.schedule_status_after_upsert` makes of the stored one: a CASE over every status,
# derived from it. A new row takes what it makes of none (the last parameter), and the columns'
# defaults for `recurring_enabled` and `auto_schedule_mode`. A row repeated within a page gets
# the rule applied to what its first upsert wrote, as the rule says.
_STATUS_AFTER_UPSERT = (
    "CASE events.schedule_status "
    + " ".join(
        f"WHEN '{status.value}' THEN '{schedule_status_after_upsert(status).value}'"
        for status in ScheduleStatus
    )
    + " END"
)
_NEW_ROW_STATUS = schedule_status_after_upsert(None)
_EVENT_PARAMS = 22  # of one row, as `event_params` gives them
_EVENT_ROW = f"({', '.join('?' * _EVENT_PARAMS)}, random())"


@cache
def _upsert_events(rows: int) -> str:
    """An upsert of `rows` events in one statement, each as `event_params` gives it.

    A page goes as a few such statements (`_statement_sizes`), not through executemany: a
    statement runs without Python's GIL from start to end, where executemany takes the GIL back
    for every row. While the event loop mapped the next page, the thread binding row after row
    waited up to a switch interval (5 ms) for each, and the write of a page only moved on once
    the mapping was done (profile of a full sync: a page's write took 65 ms alone, 120 ms
    beside the mapping of the next one).
    """
    return f"""
INSERT INTO events (account_id, event_id, calendar_id, google_event_id, summary, status,
    start_time, end_time, all_day, time_zone, recurrence, meeting_link, meeting_platform,
    self_declined, updated, next_occurrence_start, next_occurrence_end, generation, ical_uid,
    attendees, unsafe_link, schedule_status, row_version)
VALUES {", ".join([_EVENT_ROW] * rows)}
ON CONFLICT (account_id, event_id) DO UPDATE SET
    summary = excluded.summary, status = excluded.status, start_time = excluded.start_time,
    end_time = excluded.end_time, all_day = excluded.all_day, time_zone = excluded.time_zone,
    recurrence = excluded.recurrence, meeting_link = excluded.meeting_link,
    meeting_platform = excluded.meeting_platform, self_declined = excluded.self_declined,
    updated = excluded.updated, next_occurrence_start = excluded.next_occurrence_start,
    next_occurrence_end = excluded.next_occurrence_end, generation = excluded.generation,
    ical_uid = excluded.ical_uid, attendees = excluded.attendees,
    unsafe_link = excluded.unsafe_link,
    schedule_status = {_STATUS_AFTER_UPSERT},
    row_version = random()
"""


# Rows per statement: powers of two up to this many. SQLite compiles a statement once per size
# and connection (the connection keeps it), so there are ten at most: 512 rows take 8 ms to
# compile and 2.5 MB kept, all ten twice that; 11,264 parameters, within SQLite's 32,766.
# Twice as large a statement saved nothing measurable and doubled both.
_LARGEST_STATEMENT = 512


def _statement_sizes(rows: int) -> Iterator[int]:
    """How many rows each statement of a page of `rows` takes: 2,500 = 4 x 512 + 256 + 128 +
    64 + 4."""
    while rows >= _LARGEST_STATEMENT:
        yield _LARGEST_STATEMENT
        rows -= _LARGEST_STATEMENT
    size = _LARGEST_STATEMENT
    while rows:
        size //= 2
        if rows >= size:
            yield size
            rows -= size


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
_BOT_PENDING = (
    "event_id IN (SELECT b.event_id FROM bots b INDEXED BY bots_pending_dedup "
    f"WHERE b.account_id = ? AND b.status IN {PENDING})"
)
_BOT_JOINS = f"{_BOT_PENDING} AS bot_join_status"
# A listed event: its columns and whether a bot is pending for it.
_LISTED = f"{EVENT_COLUMNS}, {_BOT_JOINS}"
# A listed row as `_decoded` knows it: its id, version and bot state in one text, written by
# SQLite as `_listed_key` writes it. One value a row rather than three: Python's sqlite3 makes
# an object of every value it reads, and the three made up 0.84 of the 1.2 ms a page of 1,000
# versions took (0.48 for two, 0.19 for SQLite's own work, measured on a 10k calendar); with
# one, the page is looked up in the cache by `map`, with no Python loop.
_LISTED_KEY = f"event_id || ':' || row_version || ':' || ({_BOT_PENDING})"


def _listed_key(event_id: str, version: int, bot_pending: int) -> str:
    return f"{event_id}:{version}:{bot_pending}"


def _page_query(where: str) -> str:
    """The keys of a keyset page of a calendar's events (`list_events_page`): account (of
    `_BOT_PENDING`), account, calendar, `where`'s parameters, then the limit."""
    return (
        f"SELECT {_LISTED_KEY} FROM events WHERE account_id = ? AND calendar_id = ? {where}"
        "ORDER BY start_time, event_id LIMIT ?"
    )


# How often a page is read by versions before it is read whole (rows changing meanwhile).
_VERSION_READS = 3


def _as_stored(when: datetime) -> datetime:
    """A time as the table compares it (whole seconds, UTC), so that a rule applied in Python
    sees the bounds a WHERE clause on the text columns would."""
    return from_text(to_text(when))


# Listed events kept decoded, by `_listed_key`, as each of the two rows a listing can show (no
# bot pending, a bot pending): a listing reads the same rows again and again, and decoding a
# row, even building its EventRow, costs more than reading its version.
DECODED_EVENTS = 4096


def _gaps(listed: list[EventRow | None]) -> list[int]:
    """Where `listed` holds None, found in C (no Python loop, no `==` on a row)."""
    return list(compress(count(), map(operator.is_, listed, repeat(None))))


def _page_params(account_id: str, events: list[Event], generation: int) -> list[Any]:
    """The parameters of the page's rows, one after the other."""
    params: list[Any] = []
    for event in events:
        params += event_params(account_id, event, generation, _NEW_ROW_STATUS)
    return params


class SqliteEventStore:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._decoded: BoundedCache[str, EventRow] = BoundedCache(2 * DECODED_EVENTS)

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
        await self._db.write_in_thread(partial(_write_page, account_id, page))

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
            f"SELECT {EVENT_COLUMNS} FROM events WHERE account_id = ? AND event_id = ? "
            "AND calendar_id = ? AND google_event_id = ?",
            (
                account_id,
                event_id_for(account_id, calendar_id, google_event_id),
                calendar_id,
                google_event_id,
            ),
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
        # whatever the size of the calendar, reading each row's key alone (id, version and bot
        # state); only rows not seen at that version are read whole.
        where, params = "", [account_id, account_id, calendar_id]  # _BOT_PENDING's, then ours
        if after is not None:
            where = "AND (start_time, event_id) > (?, ?) "
            params += [to_text(after[0]), after[1]]
        query = _page_query(where)
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
        keys: list[str] = list(chain.from_iterable(await self._db.fetch_values(query, params)))
        known = self._decoded.peek
        listed = list(map(known, keys))  # each row as listed, if decoded at its version before
        gaps = _gaps(listed)
        if gaps:  # after one change, one row in a thousand: only those are read and looked up
            rows = await self._db.fetch_by_keys(
                f"SELECT {EVENT_COLUMNS}, row_version FROM events WHERE account_id = ? "
                "AND event_id IN ({keys})",
                (account_id,),
                [keys[position].rsplit(":", 2)[0] for position in gaps],
            )
            for row in rows:
                self._remember(row)
            for position in gaps:
                if (found := known(keys[position])) is None:
                    return None
                listed[position] = found
        return cast("list[EventRow]", listed)  # no None left

    def _listed(self, row: sqlite3.Row) -> EventRow:
        bot_pending = row["bot_join_status"]
        found = self._decoded.peek(_listed_key(row["event_id"], row["row_version"], bot_pending))
        return found or self._remember(row)[bot_pending]

    def _remember(self, row: sqlite3.Row) -> tuple[EventRow, EventRow]:
        """The row decoded, as listed without and with a pending bot (index by the bot state)."""
        event_id, version = row["event_id"], row["row_version"]
        event = event_from_row(row)
        both = (
            EventRow(event, False, version=(event_id, version)),
            EventRow(event, True, version=(event_id, version)),
        )
        for bot_pending, listed in enumerate(both):
            self._decoded.put(_listed_key(event_id, version, bot_pending), listed)
        return both

    async def list_overrides(
        self, account_id: str, calendar_id: str, series_google_event_ids: list[str]
    ) -> dict[str, list[OccurrenceOverride]]:
        found: dict[str, list[OccurrenceOverride]] = {}
        rows = await self._db.fetch_by_keys(
            f"SELECT {OVERRIDE_COLUMNS} FROM event_overrides "
            "WHERE account_id = ? AND calendar_id = ? AND series_google_event_id IN ({keys}) "
            "ORDER BY series_google_event_id, original_start",
            (account_id, calendar_id),
            series_google_event_ids,
            few_rows_each=False,  # a series may have any number of exceptions
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
                "UPDATE events SET next_occurrence_start = ?, next_occurrence_end = ?, "
                "row_version = random() WHERE account_id = ? AND event_id = ?",
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
        rows = await self._db.fetch_values(
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
        rows = await self._db.fetch_values(
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
        rows = await self._db.fetch_values(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE account_id = ? AND event_id > ? "
            "ORDER BY event_id LIMIT ?",
            (account_id, after or "", limit),
        )
        start, end = _as_stored(window_start), _as_stored(window_end)
        events = [event_from_row(row) for row in rows]
        chosen = [event for event in events if auto_schedule_candidate(event, start, end)]
        return chosen, events[-1].event_id if len(events) == limit else None


def _write_page(account_id: str, page: EventsPageWrite, connection: sqlite3.Connection) -> None:
    """`apply_events_page`, in the writer's thread and transaction (`write_in_thread`)."""
    calendar_id, generation = page.calendar_id, page.generation
    if page.upserts:
        params = _page_params(account_id, page.upserts, generation)
        done = 0
        for rows in _statement_sizes(len(page.upserts)):
            width = rows * _EVENT_PARAMS
            connection.execute(_upsert_events(rows), params[done : done + width])
            done += width
    if page.overrides:
        connection.executemany(
            _UPSERT_OVERRIDE,
            [
                override_params(
                    account_id, calendar_id, item.series_google_event_id, item.override, generation
                )
                for item in page.overrides
            ],
        )
    if page.cancelled_google_ids:
        connection.executemany(
            "UPDATE events SET status = 'cancelled', schedule_status = 'cancelled', "
            "next_occurrence_start = NULL, next_occurrence_end = NULL, row_version = random() "
            "WHERE account_id = ? AND event_id = ? AND calendar_id = ? AND google_event_id = ?",
            [
                (account_id, event_id_for(account_id, calendar_id, gid), calendar_id, gid)
                for gid in page.cancelled_google_ids
            ],
        )
        connection.executemany(
            "DELETE FROM event_overrides WHERE account_id = ? AND calendar_id = ? "
            "AND series_google_event_id = ?",
            [(account_id, calendar_id, gid) for gid in page.cancelled_google_ids],
        )
    if page.sync_token is not None:
        _finish_run(connection, account_id, page)


def _finish_run(connection: sqlite3.Connection, account_id: str, page: EventsPageWrite) -> None:
    key = (account_id, page.calendar_id)
    dropped = generations_dropped_by_full_sync(page.generation)
    if page.full_sync and dropped:
        assert dropped.step == 1  # bounds, not a list, stand for it below
        for table in ("events", "event_overrides"):
            connection.execute(
                f"DELETE FROM {table} WHERE account_id = ? AND calendar_id = ? "
                "AND generation >= ? AND generation < ?",
                (*key, dropped.start, dropped.stop),
            )
    connection.execute(
        "INSERT INTO sync_state (account_id, calendar_id, sync_token, last_synced_at, "
        "generation) VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, calendar_id) DO UPDATE "
        "SET sync_token = excluded.sync_token, last_synced_at = excluded.last_synced_at",
        (*key, page.sync_token, to_text(page.synced_at), page.generation),
    )
