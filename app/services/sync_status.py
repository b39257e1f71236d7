"""Per-calendar sync health for the client (`GET /sync-status`) and for operators (`/readyz`).

Sync, push and polling record what happened (`SyncHealthStore`); this reads it back with the
calendar's channel, so a calendar that silently stopped syncing shows as `stale`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.adapters.ports import ChannelStore, Clock, ConnectionStore, SyncHealthStore
from app.domain import SyncHealth, sync_healthy_since, sync_is_stale
from app.errors import NoCalendarConnected

STALE_LISTED_AT_MOST = 100
"""How many stale calendars `/readyz` names (the longest stale first)."""


@dataclass(frozen=True, slots=True)
class CalendarSyncStatus:
    calendar_id: str
    mode: str  # "push" | "polling"
    last_sync_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    channel_expires_at: datetime | None
    last_notification_at: datetime | None
    stale: bool


class SyncStatusService:
    def __init__(
        self,
        *,
        connections: ConnectionStore,
        channels: ChannelStore,
        sync_health: SyncHealthStore,
        clock: Clock,
        poll_interval_seconds: int,
    ) -> None:
        self._connections = connections
        self._channels = channels
        self._sync_health = sync_health
        self._clock = clock
        self._poll_interval_seconds = poll_interval_seconds

    async def calendar_statuses(self, account_id: str) -> list[CalendarSyncStatus]:
        """Every connected calendar of the account, in the calendar list's order; one never
        synced yet ages from the moment the account connected."""
        connection = await self._connections.get_connection(account_id)
        if connection is None:
            raise NoCalendarConnected()
        now = self._clock.now()
        health = {h.calendar_id: h for h in await self._sync_health.list_sync_health(account_id)}
        expirations: dict[str, datetime] = {}
        for channel in await self._channels.list_channels(account_id):
            if channel.expiration > now:
                known = expirations.get(channel.calendar_id)
                expirations[channel.calendar_id] = max(channel.expiration, known or now)
        statuses = []
        for calendar in await self._connections.list_calendars(account_id):
            recorded = health.get(calendar.calendar_id) or SyncHealth(
                account_id, calendar.calendar_id
            )
            since = sync_healthy_since(recorded) or connection.connected_at
            expires_at = expirations.get(calendar.calendar_id)
            statuses.append(
                CalendarSyncStatus(
                    calendar_id=calendar.calendar_id,
                    mode="push" if expires_at is not None else "polling",
                    last_sync_at=recorded.last_sync_at,
                    last_success_at=recorded.last_success_at,
                    last_error=recorded.last_error,
                    consecutive_failures=recorded.consecutive_failures,
                    channel_expires_at=expires_at,
                    last_notification_at=recorded.last_notification_at,
                    stale=sync_is_stale(since, now, self._poll_interval_seconds),
                )
            )
        return statuses

    async def stale_calendars(self) -> list[SyncHealth]:
        """Calendars of every account whose last success is older than twice the polling
        interval (or which have failed since longer than that without one)."""
        cutoff = self._clock.now() - timedelta(seconds=2 * self._poll_interval_seconds)
        return await self._sync_health.unhealthy_since_before(cutoff, STALE_LISTED_AT_MOST)
