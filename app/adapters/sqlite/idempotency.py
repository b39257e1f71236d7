"""Idempotency records in the SQLite database."""

from __future__ import annotations

from datetime import datetime

from app.adapters.ports import IdempotencyRecord
from app.adapters.sqlite.database import Database, to_text


class SqliteIdempotencyStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def start(
        self, key: str, request_hash: str, now: datetime, expires_at: datetime
    ) -> IdempotencyRecord | None:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "INSERT INTO idempotency (key, request_hash, status_code, body, content_type, "
                "expires_at) VALUES (?, ?, NULL, x'', NULL, ?) ON CONFLICT (key) DO UPDATE SET "
                "request_hash = excluded.request_hash, status_code = NULL, body = x'', "
                "content_type = NULL, expires_at = excluded.expires_at "
                "WHERE idempotency.expires_at <= ?",
                (key, request_hash, to_text(expires_at), to_text(now)),
            )
            if cursor.rowcount == 1:
                return None
            cursor = await tx.execute(
                "SELECT request_hash, status_code, body, content_type FROM idempotency "
                "WHERE key = ?",
                (key,),
            )
            row = await cursor.fetchone()
        assert row is not None
        return IdempotencyRecord(
            request_hash=row["request_hash"],
            status_code=row["status_code"],
            body=bytes(row["body"]),
            content_type=row["content_type"],
        )

    async def finish(
        self, key: str, status_code: int, body: bytes, content_type: str | None
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE idempotency SET status_code = ?, body = ?, content_type = ? WHERE key = ?",
                (status_code, body, content_type, key),
            )

    async def abandon(self, key: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "DELETE FROM idempotency WHERE key = ? AND status_code IS NULL", (key,)
            )
