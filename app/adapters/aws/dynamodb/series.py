"""Series schedules (`SERIES#{event_id}` in the account partition), in GSI1 `SERIES#` by
next check while active; the sort key stays while paused, only GSI1PK comes and goes."""

from __future__ import annotations

from datetime import datetime

import orjson

from app.adapters.aws.dynamodb.codec import (
    item,
    json_or_none,
    json_text,
    json_value_or_none,
    plain,
    time_of,
)
from app.adapters.aws.dynamodb.table import (
    SERIES_QUEUE,
    Item,
    just_below,
    series_key,
    series_queue,
    series_queue_pk,
    time_text,
)
from app.adapters.aws.dynamodb.transactions import TableClient
from app.domain import BotSource, SeriesSchedule


def _series_item(schedule: SeriesSchedule) -> Item:
    queue_pk, queue_sk = series_queue(
        schedule.account_id, schedule.event_id, schedule.next_check_at
    )
    return item(
        series_key(schedule.account_id, schedule.event_id),
        kind="series_schedule",
        account_id=schedule.account_id,
        event_id=schedule.event_id,
        bot_config=json_text(schedule.bot_config),
        bot_name=schedule.bot_name,
        custom_attributes=json_or_none(schedule.custom_attributes),
        source=schedule.source.value,
        active=schedule.active,
        last_original_start=time_text(schedule.last_original_start),
        next_check_at=time_text(schedule.next_check_at),
        GSI1PK=queue_pk if schedule.active else None,
        GSI1SK=queue_sk,
    )


def _series_from(typed: Item) -> SeriesSchedule:
    data = plain(typed)
    return SeriesSchedule(
        account_id=data["account_id"],
        event_id=data["event_id"],
        bot_config=orjson.loads(data["bot_config"]),
        bot_name=data.get("bot_name"),
        custom_attributes=json_value_or_none(data.get("custom_attributes")),
        source=BotSource(data["source"]),
        active=data["active"],
        last_original_start=time_of(data["last_original_start"]),
        next_check_at=time_of(data["next_check_at"]),
    )


class DynamoDbSeriesScheduleStore:
    """`SeriesScheduleStore` on calbot's table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def save_series_schedule(self, schedule: SeriesSchedule) -> None:
        await self._table.put(_series_item(schedule))

    async def get_series_schedule(self, account_id: str, event_id: str) -> SeriesSchedule | None:
        found = await self._table.get(series_key(account_id, event_id))
        return None if found is None else _series_from(found)

    async def set_series_schedule_active(
        self, account_id: str, event_id: str, active: bool
    ) -> None:
        values: dict[str, object] = {":active": active}
        if active:
            update = "SET #active = :active, #GSI1PK = :queue_pk"
            values[":queue_pk"] = series_queue_pk(account_id, event_id)
        else:
            update = "SET #active = :active REMOVE #GSI1PK"
        await self._table.update(
            series_key(account_id, event_id), update, values, "attribute_exists(#PK)"
        )

    async def due_series_schedules(self, now: datetime, limit: int) -> list[SeriesSchedule]:
        if limit <= 0:
            return []
        items = await self._table.queued(SERIES_QUEUE, below=just_below(now), max_items=limit)
        cutoff = time_text(now)
        # Re-checked on the base items: the index may lag behind them.
        due = [
            schedule
            for schedule in map(_series_from, items)
            if schedule.active and time_text(schedule.next_check_at) <= cutoff
        ]
        due.sort(key=lambda schedule: time_text(schedule.next_check_at))
        return due[:limit]

    async def next_series_check_at(self) -> datetime | None:
        return await self._table.earliest(SERIES_QUEUE)

    async def advance_series_schedule(
        self,
        account_id: str,
        event_id: str,
        *,
        expected_last_original_start: datetime,
        last_original_start: datetime,
        next_check_at: datetime,
        active: bool = True,
    ) -> bool:
        queue_pk, queue_sk = series_queue(account_id, event_id, next_check_at)
        values: dict[str, object] = {
            ":last": time_text(last_original_start),
            ":next": time_text(next_check_at),
            ":active": active,
            ":queue_sk": queue_sk,
            ":expected": time_text(expected_last_original_start),
        }
        update = (
            "SET #last_original_start = :last, #next_check_at = :next, #active = :active, "
            "#GSI1SK = :queue_sk"
        )
        condition = "attribute_exists(#PK) AND #last_original_start = :expected"
        if active:
            update += ", #GSI1PK = :queue_pk"
            values[":queue_pk"] = queue_pk
            condition += " AND #active = :active"  # a paused schedule stays paused
        else:
            update += " REMOVE #GSI1PK"
        attributes = await self._table.update(
            series_key(account_id, event_id), update, values, condition
        )
        return attributes is not None
