"""Each calendar's sync health in SQLite (`sync_health`, one row per calendar)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from app.adapters.sqlite.database import Database, from_text_or_none, to_text
from app.adapters.sqlite.outbox import append_outbox
from app.calendar_messages import sync_failed_message
from app.domain import SyncHealth, sync_failure_notified

_COLUMNS = (
    "account_id, calendar_id, last_sync_at, last_success_at, last_error, "
    "consecutive_failures, failing_since, last_notification_at"
)


def _health_from_row(row: sqlite3.Row) -> SyncHealth:
    return SyncHealth(
        account_id=row["account_id"],
        calendar_id=row["calendar_id"],
        last_sync_at=from_text_or_none(row["last_sync_at"]),
        last_success_at=from_text_or_none(row["last_success_at"]),
        last_error=row["last_error"],
        consecutive_failures=int(row["consecutive_failures"]),
        failing_since=from_text_or_none(row["failing_since"]),
        last_notification_at=from_text_or_none(row["last_notification_at"]),
    )


class SqliteSyncHealthStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def record_sync_success(self, account_id: str, calendar_id: str, when: datetime) -> None:
        await self._db.write_one(
            "INSERT INTO sync_health (account_id, calendar_id, last_sync_at, "
            "last_success_at, healthy_since) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (account_id, calendar_id) DO UPDATE SET "
            "last_sync_at = excluded.last_sync_at, last_success_at = excluded.last_success_at, "
            "healthy_since = excluded.healthy_since, last_error = NULL, "
            "consecutive_failures = 0, failing_since = NULL",
            (account_id, calendar_id, to_text(when), to_text(when), to_text(when)),
        )

    async def record_sync_failure(
        self, account_id: str, calendar_id: str, when: datetime, error: str
    ) -> SyncHealth:
        moment = to_text(when)
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "INSERT INTO sync_health (account_id, calendar_id, last_sync_at, last_error, "
                "consecutive_failures, failing_since, healthy_since) VALUES (?, ?, ?, ?, 1, ?, ?) "
                "ON CONFLICT (account_id, calendar_id) DO UPDATE SET "
                "last_sync_at = excluded.last_sync_at, last_error = excluded.last_error, "
                "consecutive_failures = sync_health.consecutive_failures + 1, "
                "failing_since = COALESCE(sync_health.failing_since, excluded.failing_since), "
                "healthy_since = COALESCE(sync_health.last_success_at, "
                "sync_health.failing_since, excluded.failing_since) "
                f"RETURNING {_COLUMNS}",
                (account_id, calendar_id, moment, error, moment, moment),
            )
            row = await cursor.fetchone()
            assert row is not None
            health = _health_from_row(row)
            if sync_failure_notified(health.consecutive_failures):
                await append_outbox(tx, [sync_failed_message(health, when)])
        return health

    async def record_notification(self, account_id: str, calendar_id: str, when: datetime) -> None:
        await self._db.write_one(
            "INSERT INTO sync_health (account_id, calendar_id, last_notification_at) "
            "VALUES (?, ?, ?) ON CONFLICT (account_id, calendar_id) DO UPDATE SET "
            "last_notification_at = excluded.last_notification_at",
            (account_id, calendar_id, to_text(when)),
        )

    async def list_sync_health(self, account_id: str) -> list[SyncHealth]:
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM sync_health WHERE account_id = ?", (account_id,)
        )
        return [_health_from_row(row) for row in rows]

    async def unhealthy_since_before(self, cutoff: datetime, limit: int) -> list[SyncHealth]:
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM sync_health WHERE healthy_since < ? "
            "ORDER BY healthy_since, account_id, calendar_id LIMIT ?",
            (to_text(cutoff), limit),
        )
        return [_health_from_row(row) for row in rows]
