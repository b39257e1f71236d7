"""The webhook messages about a calendar connection (CONTRACT section 8). Pure: the stores
build them in the write that makes the change they report."""

from __future__ import annotations

from datetime import datetime

from app.domain import OutboxMessage, SyncHealth
from app.webhook_messages import (
    CALENDAR_CREDENTIALS_REVOKED,
    CALENDAR_DISCONNECTED,
    CALENDAR_SYNC_FAILED,
    new_message,
)


def sync_failed_message(health: SyncHealth, when: datetime) -> OutboxMessage:
    """`calendar.sync_failed` for the failure `health` now counts."""
    return new_message(
        health.account_id,
        CALENDAR_SYNC_FAILED,
        {
            "calendar_id": health.calendar_id,
            "error": health.last_error,
            "consecutive_failures": health.consecutive_failures,
        },
        when,
    )


def credentials_revoked_message(
    account_id: str, calendar_ids: list[str], when: datetime
) -> OutboxMessage:
    return new_message(
        account_id, CALENDAR_CREDENTIALS_REVOKED, {"calendar_ids": list(calendar_ids)}, when
    )


def disconnected_message(
    account_id: str, channels_stopped: int, bots_cancelled: int, when: datetime
) -> OutboxMessage:
    return new_message(
        account_id,
        CALENDAR_DISCONNECTED,
        {"channels_stopped": channels_stopped, "bots_cancelled": bots_cancelled},
        when,
    )
