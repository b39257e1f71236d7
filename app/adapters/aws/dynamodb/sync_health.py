"""Each calendar's sync health: one item in the calendar's partition (`SYNCHEALTH`), dropped
with the calendar, and listed by age in GSI1 (`SYNCAGE#`) for `/readyz`."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from app.adapters.aws.dynamodb.codec import calendar_data_item, plain, stored, time_or_none
from app.adapters.aws.dynamodb.events import calendars_with_data
from app.adapters.aws.dynamodb.outbox import outbox_put_items
from app.adapters.aws.dynamodb.table import (
    SYNC_AGE_QUEUE,
    Item,
    sync_age_queue,
    sync_health_key,
    time_text,
)
from app.adapters.aws.dynamodb.transactions import ATTEMPTS, TableClient
from app.calendar_messages import sync_failed_message
from app.domain import SyncHealth, sync_failure_notified, sync_healthy_since
from app.errors import StorageUnavailable

_IDENTITY = "#kind = :kind, #account_id = :account_id, #calendar_id = :calendar_id"


def _health_from(typed: Item) -> SyncHealth:
    data: dict[str, Any] = plain(typed)
    return SyncHealth(
        account_id=data["account_id"],
        calendar_id=data["calendar_id"],
        last_sync_at=time_or_none(data.get("last_sync_at")),
        last_success_at=time_or_none(data.get("last_success_at")),
        last_error=data.get("last_error"),
        consecutive_failures=int(data.get("consecutive_failures", 0)),
        failing_since=time_or_none(data.get("failing_since")),
        last_notification_at=time_or_none(data.get("last_notification_at")),
    )


class DynamoDbSyncHealthStore:
    """`SyncHealthStore` on calbot's table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def _update(
        self, account_id: str, calendar_id: str, update: str, values: dict[str, object]
    ) -> Item:
        # The marker makes the calendar's partition one a disconnect's clean-up looks at.
        await self._table.put(calendar_data_item(account_id, calendar_id))
        identity: dict[str, object] = {
            ":kind": "sync_health",
            ":account_id": account_id,
            ":calendar_id": calendar_id,
        }
        attributes = await self._table.update(
            sync_health_key(account_id, calendar_id),
            update,
            {**identity, **values},
            return_values="ALL_NEW",
        )
        assert attributes is not None
        return attributes

    async def record_sync_success(self, account_id: str, calendar_id: str, when: datetime) -> None:
        queue_pk, queue_sk = sync_age_queue(account_id, calendar_id, when)
        await self._update(
            account_id,
            calendar_id,
            f"SET {_IDENTITY}, #last_sync_at = :at, #last_success_at = :at, "
            "#consecutive_failures = :zero, #GSI1PK = :queue_pk, #GSI1SK = :queue_sk "
            "REMOVE #last_error, #failing_since",
            {":at": time_text(when), ":zero": 0, ":queue_pk": queue_pk, ":queue_sk": queue_sk},
        )

    async def record_sync_failure(
        self, account_id: str, calendar_id: str, when: datetime, error: str
    ) -> SyncHealth:
        # Read, then write conditioned on the count read, so the `calendar.sync_failed` message
        # (which depends on the count) commits with it; a concurrent failure makes it retry.
        await self._table.put(calendar_data_item(account_id, calendar_id))
        key = sync_health_key(account_id, calendar_id)
        queue_pk, queue_sk = sync_age_queue(account_id, calendar_id, when)
        for _ in range(ATTEMPTS):
            found = await self._table.get(key)
            current = SyncHealth(account_id, calendar_id) if found is None else _health_from(found)
            health = replace(
                current,
                last_sync_at=stored(when),
                last_error=error,
                consecutive_failures=current.consecutive_failures + 1,
                failing_since=current.failing_since or stored(when),
            )
            actions = [
                self._table.action(
                    "Update",
                    Key=key,
                    # The age key is kept when there is one: the last success, or the first
                    # failure of this run.
                    update=f"SET {_IDENTITY}, #last_sync_at = :at, #last_error = :error, "
                    "#failing_since = if_not_exists(#failing_since, :at), "
                    "#consecutive_failures = :count, #GSI1PK = :queue_pk, "
                    "#GSI1SK = if_not_exists(#GSI1SK, :queue_sk)",
                    condition="attribute_not_exists(#consecutive_failures) "
                    "OR #consecutive_failures = :seen",
                    values={
                        ":kind": "sync_health",
                        ":account_id": account_id,
                        ":calendar_id": calendar_id,
                        ":at": time_text(when),
                        ":error": error,
                        ":count": health.consecutive_failures,
                        ":seen": current.consecutive_failures,
                        ":queue_pk": queue_pk,
                        ":queue_sk": queue_sk,
                    },
                )
            ]
            if sync_failure_notified(health.consecutive_failures):
                message = sync_failed_message(health, when)
                actions.extend(outbox_put_items(self._table.name, [message]))
            if await self._table.transact(actions) is None:
                return health
        raise StorageUnavailable()

    async def record_notification(self, account_id: str, calendar_id: str, when: datetime) -> None:
        await self._update(
            account_id,
            calendar_id,
            f"SET {_IDENTITY}, #last_notification_at = :at",
            {":at": time_text(when)},
        )

    async def list_sync_health(self, account_id: str) -> list[SyncHealth]:
        calendars = await calendars_with_data(self._table, account_id)
        items = await self._table.batch_get(
            sync_health_key(account_id, calendar_id) for calendar_id in calendars
        )
        return [_health_from(typed) for typed in items]

    async def unhealthy_since_before(self, cutoff: datetime, limit: int) -> list[SyncHealth]:
        items = await self._table.queued(SYNC_AGE_QUEUE, below=time_text(cutoff), max_items=limit)
        # Re-checked on the base items: the index may lag behind them.
        unhealthy = [
            (since, health)
            for health in map(_health_from, items)
            if (since := sync_healthy_since(health)) is not None and since < cutoff
        ]
        unhealthy.sort(key=lambda pair: (pair[0], pair[1].account_id, pair[1].calendar_id))
        return [health for _, health in unhealthy[:limit]]
