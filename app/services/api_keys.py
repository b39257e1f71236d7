"""Accounts and their API keys. Keys are random tokens; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Hashable
from dataclasses import dataclass

from app.adapters.ports import AccountStore, ChangeStamp, Clock, no_change_stamp
from app.bounded import BoundedCache
from app.domain import Account, ApiKey
from app.errors import NotAuthenticated, NotFound

KEY_PREFIX = "cb_"


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    secret: str


# Keys whose account was looked up, by hash, with the store's stamp at the lookup: while the
# stamp holds, nothing was committed (no key revoked, by this process or the CLI), so the
# answer holds too. Bounded: a flood of made-up keys never grows memory.
AUTHENTICATED_KEYS = 1024


class ApiKeyService:
    def __init__(
        self, *, accounts: AccountStore, clock: Clock, stamp: ChangeStamp = no_change_stamp
    ) -> None:
        self._accounts = accounts
        self._clock = clock
        self._stamp = stamp
        self._known: BoundedCache[str, tuple[Hashable, str]] = BoundedCache(AUTHENTICATED_KEYS)

    async def create(self, name: str, account_id: str | None = None) -> IssuedKey:
        """Issue a key; without `account_id` it belongs to a new account of the same name."""
        now = self._clock.now()
        if account_id is None:
            account_id = "acc_" + secrets.token_hex(8)
            await self._accounts.create_account(Account(account_id, name, now))
        elif await self._accounts.get_account(account_id) is None:
            raise NotFound(f"No account with id {account_id}.")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey("key_" + secrets.token_hex(8), account_id, name, now)
        await self._accounts.add_api_key(key, hash_api_key(secret))
        return IssuedKey(key, secret)

    async def list(self) -> list[ApiKey]:
        return await self._accounts.list_api_keys()

    async def revoke(self, key_id: str) -> None:
        if not await self._accounts.revoke_api_key(key_id, self._clock.now()):
            raise NotFound(f"No live API key with id {key_id}.")

    async def authenticate(self, secret: str) -> str:
        """The account id of a live key; `NotAuthenticated` otherwise."""
        key_hash = hash_api_key(secret)
        stamp = self._stamp()
        known = self._known.get(key_hash)
        if known is not None and stamp is not None and known[0] == stamp:
            return known[1]
        account_id = await self._accounts.account_for_key_hash(key_hash)
        if account_id is None:
            raise NotAuthenticated("Unknown or revoked API key.")
        if stamp is not None:
            self._known.put(key_hash, (stamp, account_id))
        return account_id
