"""Per-calendar sync health (CONTRACT.md section 8, sync status)."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import ConnectedAccount, SyncStatusServiceDep
from app.errors import NoCalendarConnected, StorageUnavailable
from app.routers.responses import error_responses
from app.schemas import CalendarSyncStatusRead, SyncStatusList
from app.services.sync_status import CalendarSyncStatus

router = APIRouter(prefix="/api/v1/calendar", tags=["Sync and view your events"])


def _status_read(status: CalendarSyncStatus) -> CalendarSyncStatusRead:
    return CalendarSyncStatusRead(
        calendar_id=status.calendar_id,
        mode=status.mode,
        last_sync_at=status.last_sync_at,
        last_success_at=status.last_success_at,
        last_error=status.last_error,
        consecutive_failures=status.consecutive_failures,
        channel_expires_at=status.channel_expires_at,
        last_notification_at=status.last_notification_at,
        stale=status.stale,
    )


@router.get(
    "/sync-status",
    summary="How each calendar is syncing",
    response_model=SyncStatusList,
    responses=error_responses(NoCalendarConnected, StorageUnavailable),
)
async def sync_status(
    account_id: ConnectedAccount, sync_status: SyncStatusServiceDep
) -> SyncStatusList:
    """Per connected calendar: whether calbot follows it by push notifications or by polling,
    the last sync attempt and success, the failures in a row and the last one's reason, the
    push channel's expiry and the last notification.

    `stale` is true when the calendar has not synced successfully for more than twice
    `SYNC_POLL_INTERVAL_SECONDS`: its bots may not follow recent changes (a revoked token shows
    here as a growing `consecutive_failures` with the reason in `last_error`). Reads the store
    only; never calls Google.
    """
    statuses = await sync_status.calendar_statuses(account_id)
    return SyncStatusList(calendars=[_status_read(status) for status in statuses])
