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
    """Answers to POSTs sent with an Idempotency-Key, kept for a day."""

    async def start(
        self, key: str, request_hash: str, now: datetime, expires_at: datetime
    ) -> IdempotencyRecord | None:
        """Claim the key for a new request (None), or return what is recorded under it.

        An expired record counts as absent and is replaced.
        """
        ...

    async def finish(
        self, key: str, status_code: int, body: bytes, content_type: str | None
    ) -> None:
        """Record the answer of a claimed key."""
        ...

    async def abandon(self, key: str) -> None:
        """Release a claimed key whose request failed, so that a retry runs again."""
        ...
