"""Auto-schedule settings (`AUTOSCHEDULE` in the account partition), in GSI2 `AUTO#` while
enabled, so the periodic pass reads only the accounts concerned."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from app.adapters.aws.dynamodb.codec import item, json_text, plain, text_or_none, time_or_none
from app.adapters.aws.dynamodb.connections import active_connections
from app.adapters.aws.dynamodb.table import (
    AUTO_SET,
    PAUSE_QUEUE,
    Item,
    auto_schedule_key,
    auto_set_pk,
    pause_queue,
    time_text,
)
from app.adapters.aws.dynamodb.transactions import TableClient
from app.adapters.json_documents import rules_from_text, rules_text
from app.domain import AutoScheduleRules, AutoScheduleSettings


def _settings_from(typed: Item) -> AutoScheduleSettings:
    data = plain(typed)
    return AutoScheduleSettings(
        enabled=data["enabled"],
        default_bot_config=orjson.loads(data["default_bot_config"]),
        last_run_at=time_or_none(data.get("last_run_at")),
        rules=rules_from_text(data.get("rules")),
        paused_until=time_or_none(data.get("paused_until")),
    )


def _pause_index(account_id: str, paused_until: datetime | None) -> dict[str, str | None]:
    if paused_until is None:
        return {"GSI1PK": None, "GSI1SK": None}
    queue_pk, queue_sk = pause_queue(account_id, paused_until)
    return {"GSI1PK": queue_pk, "GSI1SK": queue_sk}


class DynamoDbAutoScheduleStore:
    """`AutoScheduleStore` on calbot's table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def get_auto_schedule(self, account_id: str) -> AutoScheduleSettings:
        found = await self._table.get(auto_schedule_key(account_id))
        return AutoScheduleSettings() if found is None else _settings_from(found)

    async def save_auto_schedule(self, account_id: str, settings: AutoScheduleSettings) -> None:
        await self._table.put(
            item(
                auto_schedule_key(account_id),
                kind="auto_schedule",
                account_id=account_id,
                enabled=settings.enabled,
                default_bot_config=json_text(settings.default_bot_config),
                last_run_at=text_or_none(settings.last_run_at),
                rules=rules_text(settings.rules),
                paused_until=text_or_none(settings.paused_until),
                GSI2PK=auto_set_pk(account_id) if settings.enabled else None,
                GSI2SK=account_id,
                **_pause_index(account_id, settings.paused_until),
            )
        )

    async def set_auto_schedule(
        self,
        account_id: str,
        *,
        enabled: bool,
        default_bot_config: dict[str, Any] | None = None,
        rules: AutoScheduleRules | None = None,
    ) -> AutoScheduleSettings:
        values: dict[str, object] = {
            ":kind": "auto_schedule",
            ":account_id": account_id,
            ":enabled": enabled,
        }
        update = "SET #kind = :kind, #account_id = :account_id, #enabled = :enabled, #GSI2SK = "
        update += ":account_id, #default_bot_config = "
        if default_bot_config is None:
            update += "if_not_exists(#default_bot_config, :empty)"
            values[":empty"] = json_text({})
        else:
            update += ":config"
            values[":config"] = json_text(default_bot_config)
        if rules is not None:
            update += ", #rules = :rules"
            values[":rules"] = rules_text(rules)
        if enabled:
            update += ", #GSI2PK = :set"
            values[":set"] = auto_set_pk(account_id)
        else:
            update += " REMOVE #GSI2PK"
        attributes = await self._table.update(
            auto_schedule_key(account_id), update, values, return_values="ALL_NEW"
        )
        assert attributes is not None  # no condition: the write always happens
        return _settings_from(attributes)

    async def record_auto_schedule_run(self, account_id: str, when: datetime) -> None:
        await self._table.update(
            auto_schedule_key(account_id),
            "SET #last_run_at = :when",
            {":when": time_text(when)},
            "attribute_exists(#PK)",
        )

    async def accounts_with_auto_schedule(self) -> list[str]:
        candidates = await self._table.account_set(AUTO_SET)
        settings = await self._table.batch_get(auto_schedule_key(a) for a in candidates)
        enabled = {typed["account_id"]["S"] for typed in settings if typed["enabled"]["BOOL"]}
        return sorted(await active_connections(self._table, enabled))

    async def set_paused_until(
        self, account_id: str, until: datetime | None
    ) -> AutoScheduleSettings:
        values: dict[str, object] = {
            ":kind": "auto_schedule",
            ":account_id": account_id,
            ":off": False,
            ":empty": json_text({}),
        }
        update = (
            "SET #kind = :kind, #account_id = :account_id, #GSI2SK = :account_id, "
            "#enabled = if_not_exists(#enabled, :off), "
            "#default_bot_config = if_not_exists(#default_bot_config, :empty)"
        )
        if until is None:
            update += " REMOVE #paused_until, #GSI1PK, #GSI1SK"
        else:
            update += ", #paused_until = :until, #GSI1PK = :queue, #GSI1SK = :queued_at"
            values[":until"] = time_text(until)
            values[":queue"], values[":queued_at"] = pause_queue(account_id, until)
        attributes = await self._table.update(
            auto_schedule_key(account_id), update, values, return_values="ALL_NEW"
        )
        assert attributes is not None  # no condition: the write always happens
        return _settings_from(attributes)

    async def end_pause(self, account_id: str, until: datetime) -> bool:
        cleared = await self._table.update(
            auto_schedule_key(account_id),
            "REMOVE #paused_until, #GSI1PK, #GSI1SK",
            {":until": time_text(until)},
            "#paused_until = :until",
        )
        return cleared is not None

    async def ended_pauses(self, now: datetime) -> list[tuple[str, datetime]]:
        cutoff = time_text(now)
        # "$" sorts after "#": every sort key of a pause ending at or before `now`.
        items = await self._table.queued(PAUSE_QUEUE, below=cutoff + "$")
        found = [(typed["account_id"]["S"], _settings_from(typed).paused_until) for typed in items]
        # Re-checked on the base items: the index may lag behind them.
        return sorted(
            (account_id, until)
            for account_id, until in found
            if until is not None and time_text(until) <= cutoff
        )
