"""The embedded Store: SQLite through aiosqlite (see `database.py` for the schema)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import orjson

from app.adapters.ports import EventRow, EventsPageWrite
from app.adapters.sqlite.database import (
    Database,
    from_text,
    from_text_or_none,
    to_text,
    to_text_or_none,
)
from app.domain import (
    Account,
    ApiKey,
    AutoScheduleSettings,
    BotSource,
    BotStatus,
    Calendar,
    Channel,
    Connection,
    ConnectionStatus,
    Event,
    EventStatus,
    MeetingLink,
    OccurrenceOverride,
    Platform,
    ScheduledBot,
    ScheduleStatus,
    SeriesSchedule,
    SyncState,
)

_EVENT_COLUMNS = (
    "event_id, calendar_id, google_event_id, summary, status, start_time, end_time, all_day, "
    "time_zone, recurrence, meeting_link, meeting_platform, self_declined, updated, "
    "recurring_enabled, schedule_status, next_occurrence_start, next_occurrence_end"
)

_UPSERT_EVENT = """
INSERT INTO events (account_id, event_id, calendar_id, google_event_id, summary, status,
    start_time, end_time, all_day, time_zone, recurrence, meeting_link, meeting_platform,
    self_declined, updated, next_occurrence_start, next_occurrence_end, generation)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account_id, event_id) DO UPDATE SET
    summary = excluded.summary, status = excluded.status, start_time = excluded.start_time,
    end_time = excluded.end_time, all_day = excluded.all_day, time_zone = excluded.time_zone,
    recurrence = excluded.recurrence, meeting_link = excluded.meeting_link,
    meeting_platform = excluded.meeting_platform, self_declined = excluded.self_declined,
    updated = excluded.updated, next_occurrence_start = excluded.next_occurrence_start,
    next_occurrence_end = excluded.next_occurrence_end, generation = excluded.generation,
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

_BOT_COLUMNS = (
    "bot_id, account_id, event_id, calendar_id, google_event_id, occurrence_key, occurrence_start, "
    "occurrence_end, join_at, meeting_link, meeting_platform, bot_config, bot_name, "
    "custom_attributes, source, status, external_bot_id, last_error, attempts, created_at, "
    "updated_at"
)
_PENDING = "('scheduled', 'launching')"
_SERIES_COLUMNS = (
    "account_id, event_id, bot_config, bot_name, custom_attributes, source, active, "
    "last_original_start, next_check_at"
)


def _event_from_row(row: sqlite3.Row) -> Event:
    link = row["meeting_link"]
    return Event(
        event_id=row["event_id"],
        calendar_id=row["calendar_id"],
        google_event_id=row["google_event_id"],
        summary=row["summary"],
        status=EventStatus(row["status"]),
        start_time=from_text(row["start_time"]),
        end_time=from_text(row["end_time"]),
        all_day=bool(row["all_day"]),
        time_zone=row["time_zone"],
        recurrence=tuple(row["recurrence"].split("\n")) if row["recurrence"] else (),
        meeting_link=MeetingLink(link, Platform(row["meeting_platform"])) if link else None,
        self_declined=bool(row["self_declined"]),
        updated=row["updated"],
        recurring_enabled=bool(row["recurring_enabled"]),
        schedule_status=ScheduleStatus(row["schedule_status"]),
        next_occurrence_start=from_text_or_none(row["next_occurrence_start"]),
        next_occurrence_end=from_text_or_none(row["next_occurrence_end"]),
    )


def _event_params(account_id: str, event: Event, generation: int) -> tuple[Any, ...]:
    link = event.meeting_link
    return (
        account_id,
        event.event_id,
        event.calendar_id,
        event.google_event_id,
        event.summary,
        event.status.value,
        to_text(event.start_time),
        to_text(event.end_time),
        int(event.all_day),
        event.time_zone,
        "\n".join(event.recurrence),
        link.url if link else None,
        link.platform.value if link else None,
        int(event.self_declined),
        event.updated,
        to_text_or_none(event.next_occurrence_start),
        to_text_or_none(event.next_occurrence_end),
        generation,
    )


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _bot_params(bot: ScheduledBot) -> tuple[Any, ...]:
    return (
        bot.bot_id,
        bot.account_id,
        bot.event_id,
        bot.calendar_id,
        bot.google_event_id,
        bot.occurrence_key,
        to_text(bot.occurrence_start),
        to_text(bot.occurrence_end),
        to_text(bot.join_at),
        bot.meeting_link,
        bot.meeting_platform.value,
        orjson.dumps(bot.bot_config).decode(),
        bot.bot_name,
        _json_or_none(bot.custom_attributes),
        bot.source.value,
        bot.status.value,
        bot.external_bot_id,
        bot.last_error,
        bot.attempts,
        to_text(bot.created_at),
        to_text(bot.updated_at),
    )


def _bot_from_row(row: sqlite3.Row) -> ScheduledBot:
    custom = row["custom_attributes"]
    return ScheduledBot(
        bot_id=row["bot_id"],
        account_id=row["account_id"],
        event_id=row["event_id"],
        calendar_id=row["calendar_id"],
        google_event_id=row["google_event_id"],
        occurrence_key=row["occurrence_key"],
        occurrence_start=from_text(row["occurrence_start"]),
        occurrence_end=from_text(row["occurrence_end"]),
        join_at=from_text(row["join_at"]),
        meeting_link=row["meeting_link"],
        meeting_platform=Platform(row["meeting_platform"]),
        bot_config=orjson.loads(row["bot_config"]),
        bot_name=row["bot_name"],
        custom_attributes=orjson.loads(custom) if custom is not None else None,
        source=BotSource(row["source"]),
        status=BotStatus(row["status"]),
        external_bot_id=row["external_bot_id"],
        last_error=row["last_error"],
        attempts=row["attempts"],
        created_at=from_text(row["created_at"]),
        updated_at=from_text(row["updated_at"]),
    )


def _series_from_row(row: sqlite3.Row) -> SeriesSchedule:
    custom = row["custom_attributes"]
    return SeriesSchedule(
        account_id=row["account_id"],
        event_id=row["event_id"],
        bot_config=orjson.loads(row["bot_config"]),
        bot_name=row["bot_name"],
        custom_attributes=orjson.loads(custom) if custom is not None else None,
        source=BotSource(row["source"]),
        active=bool(row["active"]),
        last_original_start=from_text(row["last_original_start"]),
        next_check_at=from_text(row["next_check_at"]),
    )


_CHANNEL_COLUMNS = "channel_id, account_id, calendar_id, resource_id, token_hash, expiration"


def _channel_from_row(row: sqlite3.Row) -> Channel:
    return Channel(
        channel_id=row["channel_id"],
        account_id=row["account_id"],
        calendar_id=row["calendar_id"],
        resource_id=row["resource_id"],
        token_hash=row["token_hash"],
        expiration=from_text(row["expiration"]),
    )


class SqliteStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # accounts and keys

    async def create_account(self, account: Account) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO accounts (account_id, name, created_at) VALUES (?, ?, ?)",
                (account.account_id, account.name, to_text(account.created_at)),
            )

    async def get_account(self, account_id: str) -> Account | None:
        row = await self._db.fetch_one(
            "SELECT account_id, name, created_at FROM accounts WHERE account_id = ?",
            (account_id,),
        )
        if row is None:
            return None
        return Account(row["account_id"], row["name"], from_text(row["created_at"]))

    async def add_api_key(self, key: ApiKey, key_hash: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO api_keys (key_id, account_id, name, key_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (key.key_id, key.account_id, key.name, key_hash, to_text(key.created_at)),
            )

    async def account_for_key_hash(self, key_hash: str) -> str | None:
        row = await self._db.fetch_one(
            "SELECT account_id FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
            (key_hash,),
        )
        return None if row is None else str(row["account_id"])

    async def list_api_keys(self) -> list[ApiKey]:
        rows = await self._db.fetch_all(
            "SELECT key_id, account_id, name, created_at, revoked_at FROM api_keys "
            "ORDER BY created_at, key_id"
        )
        return [
            ApiKey(
                key_id=row["key_id"],
                account_id=row["account_id"],
                name=row["name"],
                created_at=from_text(row["created_at"]),
                revoked_at=from_text_or_none(row["revoked_at"]),
            )
            for row in rows
        ]

    async def revoke_api_key(self, key_id: str, when: datetime) -> bool:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (to_text(when), key_id),
            )
            return cursor.rowcount == 1

    # connection and calendars

    async def save_connection(self, connection: Connection, calendars: list[Calendar]) -> bool:
        account_id = connection.account_id
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "SELECT 1 FROM connections WHERE account_id = ?", (account_id,)
            )
            replaced = await cursor.fetchone() is not None
            await tx.execute(
                "INSERT OR REPLACE INTO connections "
                "(account_id, client_id, primary_calendar_id, status, connected_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    account_id,
                    connection.client_id,
                    connection.primary_calendar_id,
                    connection.status.value,
                    to_text(connection.connected_at),
                ),
            )
            kept = [calendar.calendar_id for calendar in calendars]
            marks = ",".join("?" * len(kept))
            for table in ("calendars", "sync_state", "events", "event_overrides"):
                await tx.execute(
                    f"DELETE FROM {table} WHERE account_id = ? AND calendar_id NOT IN ({marks})",
                    (account_id, *kept),
                )
            await tx.executemany(
                "INSERT OR REPLACE INTO calendars (account_id, calendar_id, summary, is_primary, "
                "time_zone, access_role, position) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        account_id,
                        calendar.calendar_id,
                        calendar.summary,
                        int(calendar.primary),
                        calendar.time_zone,
                        calendar.access_role,
                        position,
                    )
                    for position, calendar in enumerate(calendars)
                ],
            )
        return replaced

    async def get_connection(self, account_id: str) -> Connection | None:
        row = await self._db.fetch_one(
            "SELECT account_id, client_id, primary_calendar_id, status, connected_at "
            "FROM connections WHERE account_id = ?",
            (account_id,),
        )
        if row is None:
            return None
        return Connection(
            account_id=row["account_id"],
            client_id=row["client_id"],
            primary_calendar_id=row["primary_calendar_id"],
            status=ConnectionStatus(row["status"]),
            connected_at=from_text(row["connected_at"]),
        )

    async def set_connection_status(self, account_id: str, status: ConnectionStatus) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE connections SET status = ? WHERE account_id = ?",
                (status.value, account_id),
            )

    async def list_calendars(self, account_id: str) -> list[Calendar]:
        rows = await self._db.fetch_all(
            "SELECT calendar_id, summary, is_primary, time_zone, access_role FROM calendars "
            "WHERE account_id = ? ORDER BY is_primary DESC, position",
            (account_id,),
        )
        return [
            Calendar(
                calendar_id=row["calendar_id"],
                summary=row["summary"],
                primary=bool(row["is_primary"]),
                time_zone=row["time_zone"],
                access_role=row["access_role"],
            )
            for row in rows
        ]

    async def delete_connection(self, account_id: str, when: datetime) -> int:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                f"UPDATE bots SET status = 'cancelled', updated_at = ? "
                f"WHERE account_id = ? AND status IN {_PENDING}",
                (to_text(when), account_id),
            )
            cancelled = cursor.rowcount
            tables = (
                "connections",
                "calendars",
                "sync_state",
                "events",
                "event_overrides",
                "series_schedules",
                "channels",
            )
            for table in tables:
                await tx.execute(f"DELETE FROM {table} WHERE account_id = ?", (account_id,))
        return cancelled

    # sync

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
        calendar_id = page.calendar_id
        generation = page.generation
        async with self._db.transaction() as tx:
            if page.upserts:
                await tx.executemany(
                    _UPSERT_EVENT,
                    [_event_params(account_id, event, generation) for event in page.upserts],
                )
            if page.overrides:
                await tx.executemany(
                    _UPSERT_OVERRIDE,
                    [
                        (
                            account_id,
                            calendar_id,
                            item.series_google_event_id,
                            to_text(item.override.original_start),
                            int(item.override.cancelled),
                            to_text_or_none(item.override.start),
                            to_text_or_none(item.override.end),
                            item.override.meeting_link.url if item.override.meeting_link else None,
                            item.override.meeting_link.platform.value
                            if item.override.meeting_link
                            else None,
                            item.override.google_event_id,
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

    async def _finish_run(self, tx: Any, account_id: str, page: EventsPageWrite) -> None:
        key = (account_id, page.calendar_id)
        if page.full_sync:
            # Whatever a complete full sync did not return no longer exists at Google (or
            # left our window): dropping it here is what leaves nothing stale after a 410.
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

    async def get_event(self, account_id: str, event_id: str) -> Event | None:
        row = await self._db.fetch_one(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE account_id = ? AND event_id = ?",
            (account_id, event_id),
        )
        return None if row is None else _event_from_row(row)

    async def get_event_by_google_id(
        self, account_id: str, calendar_id: str, google_event_id: str
    ) -> Event | None:
        row = await self._db.fetch_one(
            f"SELECT {_EVENT_COLUMNS} FROM events "
            "WHERE account_id = ? AND calendar_id = ? AND google_event_id = ?",
            (account_id, calendar_id, google_event_id),
        )
        return None if row is None else _event_from_row(row)

    async def list_events(self, account_id: str, calendar_id: str) -> list[EventRow]:
        rows = await self._db.fetch_all(
            f"SELECT {_EVENT_COLUMNS}, EXISTS (SELECT 1 FROM bots b WHERE "
            "b.account_id = events.account_id AND b.event_id = events.event_id AND "
            f"b.status IN {_PENDING}) AS bot_join_status FROM events "
            "WHERE account_id = ? AND calendar_id = ? ORDER BY start_time, event_id",
            (account_id, calendar_id),
        )
        return [EventRow(_event_from_row(row), bool(row["bot_join_status"])) for row in rows]

    async def list_overrides(
        self, account_id: str, calendar_id: str, series_google_event_ids: list[str]
    ) -> dict[str, list[OccurrenceOverride]]:
        found: dict[str, list[OccurrenceOverride]] = {}
        for start in range(0, len(series_google_event_ids), 500):
            chunk = series_google_event_ids[start : start + 500]
            rows = await self._db.fetch_all(
                "SELECT series_google_event_id, original_start, cancelled, start_time, "
                "end_time, meeting_link, meeting_platform, google_event_id FROM event_overrides "
                "WHERE account_id = ? AND calendar_id = ? AND series_google_event_id IN "
                f"({','.join('?' * len(chunk))})",
                (account_id, calendar_id, *chunk),
            )
            for row in rows:
                link = row["meeting_link"]
                found.setdefault(row["series_google_event_id"], []).append(
                    OccurrenceOverride(
                        original_start=from_text(row["original_start"]),
                        cancelled=bool(row["cancelled"]),
                        start=from_text_or_none(row["start_time"]),
                        end=from_text_or_none(row["end_time"]),
                        meeting_link=MeetingLink(link, Platform(row["meeting_platform"]))
                        if link
                        else None,
                        google_event_id=row["google_event_id"],
                    )
                )
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
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE account_id = ? AND calendar_id = ? "
            "AND recurrence != '' AND status != 'cancelled' "
            "AND next_occurrence_end IS NOT NULL AND next_occurrence_end <= ?",
            (account_id, calendar_id, to_text(now)),
        )
        return [_event_from_row(row) for row in rows]

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

    # bots

    async def insert_or_update_pending_bot(self, bot: ScheduledBot) -> tuple[ScheduledBot, bool]:
        marks = ",".join("?" * 21)
        async with self._db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO bots ({_BOT_COLUMNS}) VALUES ({marks}) "
                f"ON CONFLICT (account_id, event_id, occurrence_key) WHERE status IN {_PENDING} "
                "DO UPDATE SET bot_config = excluded.bot_config, bot_name = excluded.bot_name, "
                "custom_attributes = excluded.custom_attributes, "
                "updated_at = excluded.updated_at WHERE bots.status = 'scheduled'",
                _bot_params(bot),
            )
            cursor = await tx.execute(
                f"SELECT {_BOT_COLUMNS} FROM bots WHERE account_id = ? AND event_id = ? "
                f"AND occurrence_key = ? AND status IN {_PENDING}",
                (bot.account_id, bot.event_id, bot.occurrence_key),
            )
            row = await cursor.fetchone()
        assert row is not None
        stored = _bot_from_row(row)
        return stored, stored.bot_id == bot.bot_id

    async def get_bot(self, account_id: str, bot_id: str) -> ScheduledBot | None:
        row = await self._db.fetch_one(
            f"SELECT {_BOT_COLUMNS} FROM bots WHERE account_id = ? AND bot_id = ?",
            (account_id, bot_id),
        )
        return None if row is None else _bot_from_row(row)

    async def list_bots(
        self,
        account_id: str,
        *,
        status: BotStatus | None = None,
        event_id: str | None = None,
    ) -> list[ScheduledBot]:
        sql = f"SELECT {_BOT_COLUMNS} FROM bots WHERE account_id = ?"
        params: list[Any] = [account_id]
        if status is not None:
            sql += " AND status = ?"
            params.append(status.value)
        if event_id is not None:
            sql += " AND event_id = ?"
            params.append(event_id)
        rows = await self._db.fetch_all(sql + " ORDER BY join_at, bot_id", params)
        return [_bot_from_row(row) for row in rows]

    async def update_bot(self, bot: ScheduledBot, *, expected_status: BotStatus) -> bool:
        params = _bot_params(bot)
        assignments = ", ".join(f"{column} = ?" for column in _BOT_COLUMNS.split(", ")[1:])
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                f"UPDATE bots SET {assignments} WHERE bot_id = ? AND account_id = ? AND status = ?",
                (*params[1:], bot.bot_id, bot.account_id, expected_status.value),
            )
            return cursor.rowcount == 1

    async def cancel_pending_bots(
        self, account_id: str, event_id: str, when: datetime
    ) -> list[ScheduledBot]:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                f"UPDATE bots SET status = 'cancelled', updated_at = ? WHERE account_id = ? "
                f"AND event_id = ? AND status = 'scheduled' RETURNING {_BOT_COLUMNS}",
                (to_text(when), account_id, event_id),
            )
            rows = await cursor.fetchall()
        return [_bot_from_row(row) for row in rows]

    async def due_bots(
        self, before: datetime, limit: int, *, stale_launching_before: datetime
    ) -> list[ScheduledBot]:
        rows = await self._db.fetch_all(
            f"SELECT {_BOT_COLUMNS} FROM bots WHERE (status = 'scheduled' AND join_at <= ?) "
            "OR (status = 'launching' AND updated_at < ?) ORDER BY join_at LIMIT ?",
            (to_text(before), to_text(stale_launching_before), limit),
        )
        return [_bot_from_row(row) for row in rows]

    async def next_join_at(self) -> datetime | None:
        row = await self._db.fetch_one(
            "SELECT MIN(join_at) AS join_at FROM bots WHERE status = 'scheduled'"
        )
        return None if row is None else from_text_or_none(row["join_at"])

    async def touch_launching_bot(self, bot_id: str, when: datetime) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE bots SET updated_at = ? WHERE bot_id = ? AND status = 'launching'",
                (to_text(when), bot_id),
            )

    async def claim_bot(
        self, bot_id: str, when: datetime, *, stale_launching_before: datetime
    ) -> ScheduledBot | None:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "UPDATE bots SET status = 'launching', attempts = attempts + 1, updated_at = ? "
                "WHERE bot_id = ? AND ((status = 'scheduled' AND join_at <= ?) OR "
                f"(status = 'launching' AND updated_at < ?)) RETURNING {_BOT_COLUMNS}",
                (to_text(when), bot_id, to_text(when), to_text(stale_launching_before)),
            )
            row = await cursor.fetchone()
        return None if row is None else _bot_from_row(row)

    # series schedules

    async def save_series_schedule(self, schedule: SeriesSchedule) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT OR REPLACE INTO series_schedules (account_id, event_id, bot_config, "
                "bot_name, custom_attributes, source, active, last_original_start, "
                "next_check_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    schedule.account_id,
                    schedule.event_id,
                    orjson.dumps(schedule.bot_config).decode(),
                    schedule.bot_name,
                    _json_or_none(schedule.custom_attributes),
                    schedule.source.value,
                    int(schedule.active),
                    to_text(schedule.last_original_start),
                    to_text(schedule.next_check_at),
                ),
            )

    async def get_series_schedule(self, account_id: str, event_id: str) -> SeriesSchedule | None:
        row = await self._db.fetch_one(
            f"SELECT {_SERIES_COLUMNS} FROM series_schedules WHERE account_id = ? AND event_id = ?",
            (account_id, event_id),
        )
        return None if row is None else _series_from_row(row)

    async def set_series_schedule_active(
        self, account_id: str, event_id: str, active: bool
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE series_schedules SET active = ? WHERE account_id = ? AND event_id = ?",
                (int(active), account_id, event_id),
            )

    async def due_series_schedules(self, now: datetime, limit: int) -> list[SeriesSchedule]:
        rows = await self._db.fetch_all(
            f"SELECT {_SERIES_COLUMNS} FROM series_schedules WHERE active = 1 "
            "AND next_check_at <= ? ORDER BY next_check_at LIMIT ?",
            (to_text(now), limit),
        )
        return [_series_from_row(row) for row in rows]

    async def next_series_check_at(self) -> datetime | None:
        row = await self._db.fetch_one(
            "SELECT MIN(next_check_at) AS at FROM series_schedules WHERE active = 1"
        )
        return None if row is None else from_text_or_none(row["at"])

    async def advance_series_schedule(
        self,
        account_id: str,
        event_id: str,
        *,
        expected_last_original_start: datetime,
        last_original_start: datetime,
        next_check_at: datetime,
        active: bool = True,
    ) -> bool:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "UPDATE series_schedules SET last_original_start = ?, next_check_at = ?, "
                "active = ? WHERE account_id = ? AND event_id = ? AND last_original_start = ?",
                (
                    to_text(last_original_start),
                    to_text(next_check_at),
                    int(active),
                    account_id,
                    event_id,
                    to_text(expected_last_original_start),
                ),
            )
            return cursor.rowcount == 1

    # auto-scheduling

    async def get_auto_schedule(self, account_id: str) -> AutoScheduleSettings:
        row = await self._db.fetch_one(
            "SELECT enabled, default_bot_config, last_run_at FROM auto_schedule_settings "
            "WHERE account_id = ?",
            (account_id,),
        )
        if row is None:
            return AutoScheduleSettings()
        return AutoScheduleSettings(
            enabled=bool(row["enabled"]),
            default_bot_config=orjson.loads(row["default_bot_config"]),
            last_run_at=from_text_or_none(row["last_run_at"]),
        )

    async def save_auto_schedule(self, account_id: str, settings: AutoScheduleSettings) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT OR REPLACE INTO auto_schedule_settings "
                "(account_id, enabled, default_bot_config, last_run_at) VALUES (?, ?, ?, ?)",
                (
                    account_id,
                    int(settings.enabled),
                    orjson.dumps(settings.default_bot_config).decode(),
                    to_text_or_none(settings.last_run_at),
                ),
            )

    async def accounts_with_auto_schedule(self) -> list[str]:
        rows = await self._db.fetch_all(
            "SELECT a.account_id FROM auto_schedule_settings a JOIN connections c "
            "ON c.account_id = a.account_id WHERE a.enabled = 1 AND c.status = 'active' "
            "ORDER BY a.account_id"
        )
        return [str(row["account_id"]) for row in rows]

    async def connected_accounts(self) -> list[str]:
        rows = await self._db.fetch_all(
            "SELECT account_id FROM connections WHERE status = 'active' ORDER BY account_id"
        )
        return [str(row["account_id"]) for row in rows]

    async def list_auto_schedule_candidates(
        self, account_id: str, window_start: datetime, window_end: datetime
    ) -> list[Event]:
        rows = await self._db.fetch_all(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE account_id = ? "
            "AND meeting_link IS NOT NULL AND status != 'cancelled' AND self_declined = 0 "
            "AND ((recurrence = '' AND start_time < ? AND end_time > ?) "
            # A series whose stored next occurrence is null is over; one that is merely stale
            # (its next occurrence passed since) is still a candidate.
            "OR (recurrence != '' AND start_time < ? AND next_occurrence_start IS NOT NULL))",
            (account_id, to_text(window_end), to_text(window_start), to_text(window_end)),
        )
        return [_event_from_row(row) for row in rows]

    async def insert_bots_unless_exist(self, bots: list[ScheduledBot]) -> list[ScheduledBot]:
        created: list[ScheduledBot] = []
        if not bots:
            return created
        marks = ",".join("?" * 21)
        async with self._db.transaction() as tx:
            for bot in bots:
                cursor = await tx.execute(
                    f"INSERT INTO bots ({_BOT_COLUMNS}) SELECT {marks} WHERE NOT EXISTS "
                    "(SELECT 1 FROM bots WHERE account_id = ? AND event_id = ? "
                    "AND occurrence_key = ?) ON CONFLICT DO NOTHING",
                    (*_bot_params(bot), bot.account_id, bot.event_id, bot.occurrence_key),
                )
                if cursor.rowcount == 1:
                    created.append(bot)
            if created:
                await tx.executemany(
                    "UPDATE events SET schedule_status = 'scheduled' "
                    "WHERE account_id = ? AND event_id = ?",
                    sorted({(bot.account_id, bot.event_id) for bot in created}),
                )
        return created

    # push channels

    async def save_channel(self, channel: Channel) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT OR REPLACE INTO channels (channel_id, account_id, calendar_id, "
                "resource_id, token_hash, expiration) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    channel.channel_id,
                    channel.account_id,
                    channel.calendar_id,
                    channel.resource_id,
                    channel.token_hash,
                    to_text(channel.expiration),
                ),
            )

    async def get_channel(self, channel_id: str) -> Channel | None:
        row = await self._db.fetch_one(
            f"SELECT {_CHANNEL_COLUMNS} FROM channels WHERE channel_id = ?", (channel_id,)
        )
        return None if row is None else _channel_from_row(row)

    async def list_channels(self, account_id: str) -> list[Channel]:
        rows = await self._db.fetch_all(
            f"SELECT {_CHANNEL_COLUMNS} FROM channels WHERE account_id = ? ORDER BY expiration",
            (account_id,),
        )
        return [_channel_from_row(row) for row in rows]

    async def channels_expiring_before(self, when: datetime) -> list[Channel]:
        rows = await self._db.fetch_all(
            f"SELECT {_CHANNEL_COLUMNS} FROM channels WHERE expiration < ? ORDER BY expiration",
            (to_text(when),),
        )
        return [_channel_from_row(row) for row in rows]

    async def delete_channel(self, channel_id: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM channels WHERE channel_id = ?", (channel_id,))

    # leases

    async def try_acquire_lease(
        self, name: str, holder: str, now: datetime, until: datetime
    ) -> bool:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                "expires_at = excluded.expires_at "
                "WHERE leases.holder = excluded.holder OR leases.expires_at <= ?",
                (name, holder, to_text(until), to_text(now)),
            )
            return cursor.rowcount == 1

    async def release_lease(self, name: str, holder: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    # sealed secrets

    async def put_sealed_secret(self, account_id: str, nonce: bytes, ciphertext: bytes) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT OR REPLACE INTO secrets (account_id, nonce, ciphertext) VALUES (?, ?, ?)",
                (account_id, nonce, ciphertext),
            )

    async def get_sealed_secret(self, account_id: str) -> tuple[bytes, bytes] | None:
        row = await self._db.fetch_one(
            "SELECT nonce, ciphertext FROM secrets WHERE account_id = ?", (account_id,)
        )
        return None if row is None else (bytes(row["nonce"]), bytes(row["ciphertext"]))

    async def delete_sealed_secret(self, account_id: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM secrets WHERE account_id = ?", (account_id,))
