"""Idempotency records in the SQLite database; `purge_expired` runs in the housekeeping job."""

from __future__ import annotations

from datetime import datetime

from app.adapters.ports import IdempotencyRecord
from app.adapters.sqlite.database import Database, to_text

_CLAIMED = "key = ? AND claim = ? AND status_code IS NULL"


class SqliteIdempotencyStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def start(
        self, key: str, request_hash: str, claim: str, now: datetime, claim_until: datetime
    ) -> IdempotencyRecord | None:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "INSERT INTO idempotency (key, request_hash, status_code, body, content_type, "
                "expires_at, claim) VALUES (?, ?, NULL, x'', NULL, ?, ?) ON CONFLICT (key) DO "
                "UPDATE SET request_hash = excluded.request_hash, status_code = NULL, body = x'', "
                "content_type = NULL, expires_at = excluded.expires_at, claim = excluded.claim "
                "WHERE idempotency.expires_at <= ?",
                (key, request_hash, to_text(claim_until), claim, to_text(now)),
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

    async def renew(self, key: str, claim: str, until: datetime) -> bool:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                f"UPDATE idempotency SET expires_at = ? WHERE {_CLAIMED}",
                (to_text(until), key, claim),
            )
            return cursor.rowcount == 1

    async def finish(
        self,
        key: str,
        claim: str,
        status_code: int,
        body: bytes,
        content_type: str | None,
        expires_at: datetime,
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE idempotency SET status_code = ?, body = ?, content_type = ?, "
                f"expires_at = ? WHERE {_CLAIMED}",
                (status_code, body, content_type, to_text(expires_at), key, claim),
            )

    async def abandon(self, key: str, claim: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(f"DELETE FROM idempotency WHERE {_CLAIMED}", (key, claim))

    async def purge_expired(self, now: datetime, limit: int) -> int:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency "
                "WHERE expires_at <= ? LIMIT ?)",
                (to_text(now), limit),
            )
            return cursor.rowcount
