"""Accounts and their API keys, in memory."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from app.adapters.memory.tables import MemoryTables, StoredKey
from app.domain import Account, ApiKey


class MemoryAccountStore:
    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    async def create_account(self, account: Account) -> None:
        if account.account_id in self._tables.accounts:
            raise ValueError(f"account {account.account_id} already exists")
        self._tables.accounts[account.account_id] = account

    async def get_account(self, account_id: str) -> Account | None:
        return self._tables.accounts.get(account_id)

    async def add_api_key(self, key: ApiKey, key_hash: str) -> None:
        keys = self._tables.api_keys
        if key.key_id in keys or any(k.key_hash == key_hash for k in keys.values()):
            raise ValueError(f"API key {key.key_id} already exists")
        keys[key.key_id] = StoredKey(key, key_hash)

    async def account_for_key_hash(self, key_hash: str) -> str | None:
        for stored in self._tables.api_keys.values():
            if stored.key_hash == key_hash and stored.key.revoked_at is None:
                return stored.key.account_id
        return None

    async def list_api_keys(self) -> list[ApiKey]:
        keys = [stored.key for stored in self._tables.api_keys.values()]
        return sorted(keys, key=lambda key: (key.created_at, key.key_id))

    async def revoke_api_key(self, key_id: str, when: datetime) -> bool:
        stored = self._tables.api_keys.get(key_id)
        if stored is None or stored.key.revoked_at is not None:
            return False
        stored.key = dataclasses.replace(stored.key, revoked_at=when)
        return True
