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
        changed = await self._db.write_one(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
            "expires_at = excluded.expires_at "
            "WHERE leases.holder = excluded.holder OR leases.expires_at <= ?",
            (name, holder, to_text(until), to_text(now)),
        )
        return changed == 1

    async def release_lease(self, name: str, holder: str) -> None:
        await self._db.write_one("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))
