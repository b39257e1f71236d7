"""Each calendar's sync health, in memory."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from app.adapters.memory.outbox import append_outbox
from app.adapters.memory.tables import MemoryTables
from app.calendar_messages import sync_failed_message
from app.domain import SyncHealth, sync_failure_notified, sync_healthy_since


class MemorySyncHealthStore:
    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    def _current(self, account_id: str, calendar_id: str) -> SyncHealth:
        return self._tables.sync_health.get(
            (account_id, calendar_id), SyncHealth(account_id, calendar_id)
        )

    async def record_sync_success(self, account_id: str, calendar_id: str, when: datetime) -> None:
        self._tables.sync_health[(account_id, calendar_id)] = dataclasses.replace(
            self._current(account_id, calendar_id),
            last_sync_at=when,
            last_success_at=when,
            last_error=None,
            consecutive_failures=0,
            failing_since=None,
        )

    async def record_sync_failure(
        self, account_id: str, calendar_id: str, when: datetime, error: str
    ) -> SyncHealth:
        current = self._current(account_id, calendar_id)
        health = dataclasses.replace(
            current,
            last_sync_at=when,
            last_error=error,
            consecutive_failures=current.consecutive_failures + 1,
            failing_since=current.failing_since or when,
        )
        self._tables.sync_health[(account_id, calendar_id)] = health
        if sync_failure_notified(health.consecutive_failures):
            append_outbox(self._tables, [sync_failed_message(health, when)])
        return health

    async def record_notification(self, account_id: str, calendar_id: str, when: datetime) -> None:
        self._tables.sync_health[(account_id, calendar_id)] = dataclasses.replace(
            self._current(account_id, calendar_id), last_notification_at=when
        )

    async def list_sync_health(self, account_id: str) -> list[SyncHealth]:
        return [health for key, health in self._tables.sync_health.items() if key[0] == account_id]

    async def unhealthy_since_before(self, cutoff: datetime, limit: int) -> list[SyncHealth]:
        unhealthy = [
            (since, health)
            for health in self._tables.sync_health.values()
            if (since := sync_healthy_since(health)) is not None and since < cutoff
        ]
        unhealthy.sort(key=lambda pair: (pair[0], pair[1].account_id, pair[1].calendar_id))
        return [health for _, health in unhealthy[:limit]]
