"""Storage of accounts, API keys, the Google connection and sealed secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from app.domain import Account, ApiKey, Calendar, Connection, ConnectionStatus


class AccountStore(Protocol):
    """Accounts and their API keys."""

    async def create_account(self, account: Account) -> None:
        """Insert a new account."""
        ...

    async def get_account(self, account_id: str) -> Account | None:
        """The account, or None."""
        ...

    async def add_api_key(self, key: ApiKey, key_hash: str) -> None:
        """Store a key by the SHA-256 hex of its secret; the secret itself is never stored."""
        ...

    async def account_for_key_hash(self, key_hash: str) -> str | None:
        """The account id of a live (not revoked) key with this hash, else None."""
        ...

    async def list_api_keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        ...

    async def revoke_api_key(self, key_id: str, when: datetime) -> bool:
        """Mark a key revoked; False when no live key has this id."""
        ...


class ConnectionStore(Protocol):
    """The account's Google connection and its calendar list."""

    async def save_connection(self, connection: Connection, calendars: list[Calendar]) -> bool:
        """Create or replace the account's connection and calendar list; True if it replaced one.

        Calendars no longer in the list lose their events, exceptions and sync state.
        """
        ...

    async def get_connection(self, account_id: str) -> Connection | None:
        """The account's connection, or None."""
        ...

    async def set_connection_status(self, account_id: str, status: ConnectionStatus) -> None:
        """Mark the connection active or revoked."""
        ...

    async def mark_revoked(
        self, account_id: str, credentials_fingerprint: str, when: datetime
    ) -> bool:
        """Mark the connection revoked only if it was made with the credentials of this
        fingerprint (or predates fingerprints): a sync that failed with credentials replaced
        meanwhile by a reconnect must not revoke the new connection. True if it is now marked
        revoked by this call; that write also appends the `calendar.credentials_revoked`
        message naming the account's calendars."""
        ...

    async def list_calendars(self, account_id: str) -> list[Calendar]:
        """The connected calendars, primary first."""
        ...

    async def connection_and_calendars(
        self, account_id: str
    ) -> tuple[Connection, list[Calendar]] | None:
        """`get_connection` and `list_calendars` read together (one read where the store
        allows): None when the account has no connection."""
        ...

    async def delete_connection(
        self, account_id: str, when: datetime, *, channels_stopped: int = 0
    ) -> int:
        """Delete connection, calendars, events, exceptions and sync state; cancel pending bots
        (`last_error`: `app.domain.DISCONNECTED`'s sentence), each with its `bot.cancelled`
        message (reason `disconnected`), and append `calendar.disconnected` (`channels_stopped`
        as given, `bots_cancelled` as counted), in the same write as the cancellations.

        Returns the number of bots cancelled. Auto-schedule settings are kept, and so are the
        bots, as history; but from now on only those that
        `domain.claims_occurrence_after_disconnect` keeps count for `insert_bots_unless_exist`,
        so a reconnected account gets bots as if it had never connected.
        """
        ...

    async def connected_accounts(self) -> list[str]:
        """Accounts with an active connection."""
        ...


class SealedSecretStore(Protocol):
    """Sealed secrets: the local SecretBox keeps its ciphertexts here."""

    async def put_sealed_secret(self, account_id: str, nonce: bytes, ciphertext: bytes) -> None:
        """Store (or replace) the account's encrypted credentials."""
        ...

    async def get_sealed_secret(self, account_id: str) -> tuple[bytes, bytes] | None:
        """The account's (nonce, ciphertext), or None."""
        ...

    async def delete_sealed_secret(self, account_id: str) -> None:
        """Forget the account's encrypted credentials (no error when absent)."""
        ...
