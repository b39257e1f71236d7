"""Answers remembered under an Idempotency-Key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """A POST remembered under its Idempotency-Key: unfinished while `status_code` is None."""

    request_hash: str
    status_code: int | None
    body: bytes
    content_type: str | None


class IdempotencyStore(Protocol):
    """Answers to POSTs sent with an Idempotency-Key.

    Each record expires: a claim (a request still running) soon after its last renewal, so a
    request whose process died stops blocking its key within minutes; a finished answer when
    its retention ends. An expired record counts as absent everywhere. `claim` is an opaque
    token naming one request's claim: only that request renews, finishes or abandons it.
    """

    async def start(
        self, key: str, request_hash: str, claim: str, now: datetime, claim_until: datetime
    ) -> IdempotencyRecord | None:
        """Claim the key for a new request until `claim_until` (None), or return what is
        recorded under it. A record expired by `now` is replaced."""
        ...

    async def renew(self, key: str, claim: str, until: datetime) -> bool:
        """Extend a running request's claim to `until`; False when the claim is no longer
        there (it expired and another request took the key, or it finished)."""
        ...

    async def finish(
        self,
        key: str,
        claim: str,
        status_code: int,
        body: bytes,
        content_type: str | None,
        expires_at: datetime,
    ) -> None:
        """Record the answer of a claimed key, kept until `expires_at`; nothing when the claim
        was lost meanwhile."""
        ...

    async def abandon(self, key: str, claim: str) -> None:
        """Release a claimed key whose request failed, so that a retry runs again."""
        ...

    async def purge_expired(self, now: datetime, limit: int) -> int:
        """Delete up to `limit` records expired by `now`; returns how many were deleted.

        DynamoDB deletes expired records itself (the table's TTL on `expires_at_epoch`, turned
        on by `calbot aws bootstrap`), so there this finds nothing to do and returns 0.
        """
        ...
