"""Accounts and their API keys in SQLite."""

from __future__ import annotations

from datetime import datetime

from app.adapters.sqlite.database import Database, from_text, from_text_or_none, to_text
from app.domain import Account, ApiKey


class SqliteAccountStore:
    def __init__(self, database: Database) -> None:
        self._db = database

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
