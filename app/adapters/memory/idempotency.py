"""Idempotency records, in memory."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from app.adapters.ports import IdempotencyRecord


@dataclass(slots=True)
class _Entry:
    record: IdempotencyRecord
    claim: str
    expires_at: datetime


class MemoryIdempotencyStore:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def _claimed(self, key: str, claim: str) -> _Entry | None:
        """The key's entry while it is `claim`'s unfinished claim."""
        entry = self._entries.get(key)
        if entry is None or entry.claim != claim or entry.record.status_code is not None:
            return None
        return entry

    async def start(
        self, key: str, request_hash: str, claim: str, now: datetime, claim_until: datetime
    ) -> IdempotencyRecord | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at > now:
            return entry.record
        record = IdempotencyRecord(request_hash, None, b"", None)
        self._entries[key] = _Entry(record, claim, claim_until)
        return None

    async def renew(self, key: str, claim: str, until: datetime) -> bool:
        entry = self._claimed(key, claim)
        if entry is None:
            return False
        entry.expires_at = until
        return True

    async def finish(
        self,
        key: str,
        claim: str,
        status_code: int,
        body: bytes,
        content_type: str | None,
        expires_at: datetime,
    ) -> None:
        entry = self._claimed(key, claim)
        if entry is not None:
            entry.record = dataclasses.replace(
                entry.record, status_code=status_code, body=body, content_type=content_type
            )
            entry.expires_at = expires_at

    async def abandon(self, key: str, claim: str) -> None:
        if self._claimed(key, claim) is not None:
            del self._entries[key]

    async def purge_expired(self, now: datetime, limit: int) -> int:
        expired = [key for key, entry in self._entries.items() if entry.expires_at <= now]
        for key in expired[:limit]:
            del self._entries[key]
        return min(len(expired), limit)
