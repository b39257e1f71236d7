"""Storage of each calendar's sync health: what `GET /sync-status` and `/readyz` report."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from app.domain import SyncHealth


class SyncHealthStore(Protocol):
    """Per calendar: the last sync attempt and success, the failures in a row, the last push
    notification. Forgotten with the calendar's other data (disconnect, a calendar dropped)."""

    async def record_sync_success(self, account_id: str, calendar_id: str, when: datetime) -> None:
        """A sync of the calendar completed: failures in a row back to 0, error cleared."""
        ...

    async def record_sync_failure(
        self, account_id: str, calendar_id: str, when: datetime, error: str
    ) -> SyncHealth:
        """A sync of the calendar failed with `error` (a sentence): one more failure in a row,
        counted atomically (two replicas failing at once count two). When
        `domain.sync_failure_notified` holds for the new count, the same write appends the
        `calendar.sync_failed` message. Returns the health after the write."""
        ...

    async def record_notification(self, account_id: str, calendar_id: str, when: datetime) -> None:
        """A valid push notification of the calendar arrived."""
        ...

    async def list_sync_health(self, account_id: str) -> list[SyncHealth]:
        """What is recorded for the account's calendars (those never synced nor notified are
        absent), in no particular order."""
        ...

    async def unhealthy_since_before(self, cutoff: datetime, limit: int) -> list[SyncHealth]:
        """Calendars of every account whose `domain.sync_healthy_since` is before the cutoff
        (stale ones), at most `limit`, the longest unhealthy first."""
        ...
