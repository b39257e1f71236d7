"""Named leases in SQLite."""

from __future__ import annotations

from datetime import datetime

from app.adapters.sqlite.database import Database, to_text


class SqliteLeaseStore:
    def __init__(self, database: Database) -> None:
        self._db = database

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
