"""Storage of the consent flow: one-time connect links and the nonces of finished flows.

Both are kept by SHA-256 hex digest only (the link token and the nonce never reach storage) and
expire. Single use is the store's job: `take_connect_link` and `spend_nonce` are one conditional
write each, so two replicas (or two requests) can never both succeed. Expired entries count as
absent everywhere; each backend clears them away itself (SQLite and memory on every write,
DynamoDB through the table's TTL attribute).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ConnectLinkRecord:
    """A stored connect link. `sealed_client_secret` is None when the link uses the configured
    client's secret; otherwise it is the link's own secret, sealed by the consent service."""

    link_hash: str
    account_id: str
    client_id: str
    sealed_client_secret: bytes | None
    expires_at: datetime

    def __repr__(self) -> str:
        return (
            f"ConnectLinkRecord(link_hash={self.link_hash[:8]!r}…, "
            f"account_id={self.account_id!r}, expires_at={self.expires_at.isoformat()})"
        )


class ConsentStore(Protocol):
    """Connect links and spent consent nonces, shared by every replica."""

    async def save_connect_link(self, link: ConnectLinkRecord, now: datetime) -> None:
        """Store a link, replacing one with the same hash (a link given back after a failed
        flow). Entries that expired by `now` may be cleared away meanwhile."""
        ...

    async def get_connect_link(self, link_hash: str, now: datetime) -> ConnectLinkRecord | None:
        """The link if it exists and `expires_at` is after `now`, else None."""
        ...

    async def take_connect_link(self, link_hash: str, now: datetime) -> ConnectLinkRecord | None:
        """Delete a live link and return it, atomically: of several concurrent takes of one
        link exactly one gets it. None when it is absent, expired or already taken."""
        ...

    async def connect_links_of(self, account_id: str, now: datetime) -> list[str]:
        """The hashes of the account's live links, soonest expiry first (ties by hash)."""
        ...

    async def spend_nonce(self, nonce_hash: str, expires_at: datetime, now: datetime) -> bool:
        """Record a flow's nonce as used until `expires_at`: True the first time, False while
        an unexpired record of it exists. Atomic, like `take_connect_link`. Entries that
        expired by `now` may be cleared away meanwhile."""
        ...
