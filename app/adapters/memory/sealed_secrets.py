"""Sealed secrets, in memory."""

from __future__ import annotations

from app.adapters.memory.tables import MemoryTables


class MemorySealedSecretStore:
    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    async def put_sealed_secret(self, account_id: str, nonce: bytes, ciphertext: bytes) -> None:
        self._tables.sealed_secrets[account_id] = (bytes(nonce), bytes(ciphertext))

    async def get_sealed_secret(self, account_id: str) -> tuple[bytes, bytes] | None:
        return self._tables.sealed_secrets.get(account_id)

    async def delete_sealed_secret(self, account_id: str) -> None:
        self._tables.sealed_secrets.pop(account_id, None)
