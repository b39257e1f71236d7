"""Sealed secrets (the local SecretBox's ciphertexts) in SQLite."""

from __future__ import annotations

from app.adapters.sqlite.database import Database


class SqliteSealedSecretStore:
    def __init__(self, database: Database) -> None:
        self._db = database

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
