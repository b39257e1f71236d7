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
    Item,
    auto_schedule_key,
    auto_set_pk,
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
    )


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
                GSI2PK=auto_set_pk(account_id) if settings.enabled else None,
                GSI2SK=account_id,
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
