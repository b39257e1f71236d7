"""The Google connection and its calendar list in SQLite.

A disconnect's SQL is derived from the domain: the bots it cancels are `app.domain.is_pending`'s
(`PENDING`), those it releases `app.domain.claims_occurrence_after_disconnect`'s complement."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from app.adapters.sqlite.codec import BOT_COLUMNS, bot_from_row
from app.adapters.sqlite.database import PENDING, Database, from_text, statuses_where, to_text
from app.adapters.sqlite.outbox import append_outbox
from app.bot_changes import DISCONNECTED as DISCONNECTED_REASON
from app.bot_changes import bot_message, cancelled
from app.calendar_messages import credentials_revoked_message, disconnected_message
from app.domain import (
    DISCONNECTED,
    Calendar,
    Connection,
    ConnectionStatus,
    claims_occurrence_after_disconnect,
)

# `app.domain.claims_occurrence_after_disconnect`, derived: the bots a disconnect releases.
_RELEASED = statuses_where(lambda status: not claims_occurrence_after_disconnect(status))
_CONNECTION_COLUMNS = (
    "account_id, client_id, primary_calendar_id, status, connected_at, credentials_fingerprint"
)
_CALENDAR_COLUMNS = "calendar_id, summary, is_primary, time_zone, access_role"


def _connection_from(row: sqlite3.Row) -> Connection:
    return Connection(
        account_id=row["account_id"],
        client_id=row["client_id"],
        primary_calendar_id=row["primary_calendar_id"],
        status=ConnectionStatus(row["status"]),
        connected_at=from_text(row["connected_at"]),
        credentials_fingerprint=row["credentials_fingerprint"],
    )


def _calendar_from(row: sqlite3.Row) -> Calendar:
    return Calendar(
        calendar_id=row["calendar_id"],
        summary=row["summary"],
        primary=bool(row["is_primary"]),
        time_zone=row["time_zone"],
        access_role=row["access_role"],
    )


# What belongs to one connected calendar: dropped with the calendar.
_CALENDAR_TABLES = (
    "calendars",
    "sync_state",
    "sync_health",
    "events",
    "event_overrides",
    "occurrence_modes",
)
# What a disconnect forgets (auto-schedule settings, accounts, keys and bots stay).
_CONNECTION_TABLES = (
    "connections",
    *_CALENDAR_TABLES,
    "series_schedules",
    "channels",
)


class SqliteConnectionStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def save_connection(self, connection: Connection, calendars: list[Calendar]) -> bool:
        account_id = connection.account_id
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "SELECT 1 FROM connections WHERE account_id = ?", (account_id,)
            )
            replaced = await cursor.fetchone() is not None
            await tx.execute(
                "INSERT OR REPLACE INTO connections (account_id, client_id, "
                "primary_calendar_id, status, connected_at, credentials_fingerprint) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    account_id,
                    connection.client_id,
                    connection.primary_calendar_id,
                    connection.status.value,
                    to_text(connection.connected_at),
                    connection.credentials_fingerprint,
                ),
            )
            kept = [calendar.calendar_id for calendar in calendars]
            marks = ",".join("?" * len(kept))
            for table in _CALENDAR_TABLES:
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
            f"SELECT {_CONNECTION_COLUMNS} FROM connections WHERE account_id = ?", (account_id,)
        )
        return None if row is None else _connection_from(row)

    async def set_connection_status(self, account_id: str, status: ConnectionStatus) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE connections SET status = ? WHERE account_id = ?",
                (status.value, account_id),
            )

    async def mark_revoked(
        self, account_id: str, credentials_fingerprint: str, when: datetime
    ) -> bool:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "UPDATE connections SET status = 'revoked' WHERE account_id = ? "
                "AND status = 'active' AND (credentials_fingerprint IS NULL "
                "OR credentials_fingerprint = ?)",
                (account_id, credentials_fingerprint),
            )
            if cursor.rowcount != 1:
                return False
            cursor = await tx.execute(
                "SELECT calendar_id FROM calendars WHERE account_id = ? "
                "ORDER BY is_primary DESC, position",
                (account_id,),
            )
            calendar_ids = [row["calendar_id"] for row in await cursor.fetchall()]
            message = credentials_revoked_message(account_id, calendar_ids, when)
            await append_outbox(tx, [message])
            return True

    async def list_calendars(self, account_id: str) -> list[Calendar]:
        rows = await self._db.fetch_all(
            f"SELECT {_CALENDAR_COLUMNS} FROM calendars "
            "WHERE account_id = ? ORDER BY is_primary DESC, position",
            (account_id,),
        )
        return [_calendar_from(row) for row in rows]

    async def connection_and_calendars(
        self, account_id: str
    ) -> tuple[Connection, list[Calendar]] | None:
        # One statement: one read, and one snapshot of both tables.
        rows = await self._db.fetch_few(
            f"SELECT {_CONNECTION_COLUMNS}, {_CALENDAR_COLUMNS} FROM connections "
            "LEFT JOIN calendars USING (account_id) WHERE account_id = ? "
            "ORDER BY is_primary DESC, position",
            (account_id,),
        )
        if not rows:
            return None
        calendars = [_calendar_from(row) for row in rows if row["calendar_id"] is not None]
        return _connection_from(rows[0]), calendars

    async def delete_connection(
        self, account_id: str, when: datetime, *, channels_stopped: int = 0
    ) -> int:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "UPDATE bots SET status = 'cancelled', updated_at = ?, last_error = ?, "
                "version = version + 1 "
                f"WHERE account_id = ? AND status IN {PENDING} RETURNING {BOT_COLUMNS}",
                (to_text(when), DISCONNECTED.sentence, account_id),
            )
            messages = [
                bot_message(bot_from_row(row), cancelled(DISCONNECTED_REASON), when)
                for row in await cursor.fetchall()
            ]
            count = len(messages)
            messages.append(disconnected_message(account_id, channels_stopped, count, when))
            await append_outbox(tx, messages)
            await tx.execute(
                "UPDATE bots SET claims_occurrence = 0 "
                f"WHERE account_id = ? AND status IN {_RELEASED} AND claims_occurrence = 1",
                (account_id,),
            )
            for table in _CONNECTION_TABLES:
                await tx.execute(f"DELETE FROM {table} WHERE account_id = ?", (account_id,))
        return count

    async def connected_accounts(self) -> list[str]:
        rows = await self._db.fetch_all(
            "SELECT account_id FROM connections WHERE status = 'active' ORDER BY account_id"
        )
        return [str(row["account_id"]) for row in rows]
