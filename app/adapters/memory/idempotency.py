"""Idempotency records, in memory."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from app.adapters.ports import IdempotencyRecord


@dataclass(slots=True)
class _Entry:
    record: IdempotencyRecord
    expires_at: datetime


class MemoryIdempotencyStore:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    async def start(
        self, key: str, request_hash: str, now: datetime, expires_at: datetime
    ) -> IdempotencyRecord | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at > now:
            return entry.record
        self._entries[key] = _Entry(IdempotencyRecord(request_hash, None, b"", None), expires_at)
        return None

    async def finish(
        self, key: str, status_code: int, body: bytes, content_type: str | None
    ) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            entry.record = dataclasses.replace(
                entry.record, status_code=status_code, body=body, content_type=content_type
            )

    async def abandon(self, key: str) -> None:
        entry = self._entries.get(key)
        if entry is not None and entry.record.status_code is None:
            del self._entries[key]
