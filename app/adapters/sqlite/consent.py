"""ConsentStore in the SQLite database: tables `consent_links` and `consent_nonces`.

Single use is one conditional statement inside a `BEGIN IMMEDIATE` transaction, which also
serialises calbot processes sharing the file. Times are stored as second-precision UTC text, so
they compare as text. Expired rows are deleted on every write (both tables index `expires_at`).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

import aiosqlite

from app.adapters.ports import ConnectLinkRecord
from app.adapters.sqlite.database import Database, from_text, to_text

_LINK_COLUMNS = "link_hash, account_id, client_id, sealed_client_secret, expires_at"


class SqliteConsentStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def save_connect_link(self, link: ConnectLinkRecord, now: datetime) -> None:
        async with self._db.transaction() as tx:
            await _delete_expired(tx, now)
            await tx.execute(
                f"INSERT OR REPLACE INTO consent_links ({_LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                (
                    link.link_hash,
                    link.account_id,
                    link.client_id,
                    link.sealed_client_secret,
                    to_text(link.expires_at),
                ),
            )

    async def get_connect_link(self, link_hash: str, now: datetime) -> ConnectLinkRecord | None:
        row = await self._db.fetch_one(
            f"SELECT {_LINK_COLUMNS} FROM consent_links WHERE link_hash = ? AND expires_at > ?",
            (link_hash, to_text(now)),
        )
        return None if row is None else _link_from(row)

    async def take_connect_link(self, link_hash: str, now: datetime) -> ConnectLinkRecord | None:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                f"DELETE FROM consent_links WHERE link_hash = ? AND expires_at > ? "
                f"RETURNING {_LINK_COLUMNS}",
                (link_hash, to_text(now)),
            )
            row = await cursor.fetchone()
            await cursor.close()
        return None if row is None else _link_from(row)

    async def connect_links_of(self, account_id: str, now: datetime) -> list[str]:
        rows = await self._db.fetch_all(
            "SELECT link_hash FROM consent_links WHERE account_id = ? AND expires_at > ? "
            "ORDER BY expires_at, link_hash",
            (account_id, to_text(now)),
        )
        return [row["link_hash"] for row in rows]

    async def spend_nonce(self, nonce_hash: str, expires_at: datetime, now: datetime) -> bool:
        async with self._db.transaction() as tx:
            await _delete_expired(tx, now)
            cursor = await tx.execute(
                "INSERT INTO consent_nonces (nonce_hash, expires_at) VALUES (?, ?) "
                "ON CONFLICT (nonce_hash) DO NOTHING",
                (nonce_hash, to_text(expires_at)),
            )
            return cursor.rowcount == 1


async def _delete_expired(tx: aiosqlite.Connection, now: datetime) -> None:
    for table in ("consent_links", "consent_nonces"):
        await tx.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (to_text(now),))


def _link_from(row: sqlite3.Row) -> ConnectLinkRecord:
    sealed = row["sealed_client_secret"]
    return ConnectLinkRecord(
        link_hash=row["link_hash"],
        account_id=row["account_id"],
        client_id=row["client_id"],
        sealed_client_secret=None if sealed is None else bytes(sealed),
        expires_at=from_text(row["expires_at"]),
    )
