"""Auto-schedule settings in SQLite."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import orjson

from app.adapters.json_documents import rules_from_text, rules_text
from app.adapters.sqlite.database import (
    Database,
    from_text,
    from_text_or_none,
    to_text,
    to_text_or_none,
)
from app.domain import AutoScheduleRules, AutoScheduleSettings


def _settings_from(row: sqlite3.Row) -> AutoScheduleSettings:
    return AutoScheduleSettings(
        enabled=bool(row["enabled"]),
        default_bot_config=orjson.loads(row["default_bot_config"]),
        last_run_at=from_text_or_none(row["last_run_at"]),
        rules=rules_from_text(row["rules"]),
        paused_until=from_text_or_none(row["paused_until"]),
    )


_COLUMNS = "enabled, default_bot_config, last_run_at, paused_until, rules"


class SqliteAutoScheduleStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def get_auto_schedule(self, account_id: str) -> AutoScheduleSettings:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM auto_schedule_settings WHERE account_id = ?",
            (account_id,),
        )
        return AutoScheduleSettings() if row is None else _settings_from(row)

    async def save_auto_schedule(self, account_id: str, settings: AutoScheduleSettings) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT OR REPLACE INTO auto_schedule_settings "
                f"(account_id, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    account_id,
                    int(settings.enabled),
                    orjson.dumps(settings.default_bot_config).decode(),
                    to_text_or_none(settings.last_run_at),
                    to_text_or_none(settings.paused_until),
                    rules_text(settings.rules),
                ),
            )

    async def set_auto_schedule(
        self,
        account_id: str,
        *,
        enabled: bool,
        default_bot_config: dict[str, Any] | None = None,
        rules: AutoScheduleRules | None = None,
    ) -> AutoScheduleSettings:
        config = None if default_bot_config is None else orjson.dumps(default_bot_config).decode()
        rules_json = None if rules is None else rules_text(rules)
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "INSERT INTO auto_schedule_settings (account_id, enabled, default_bot_config, "
                "rules) VALUES (?, ?, COALESCE(?, '{}'), ?) ON CONFLICT (account_id) DO UPDATE "
                "SET enabled = excluded.enabled, default_bot_config = COALESCE(?, "
                "auto_schedule_settings.default_bot_config), "
                "rules = COALESCE(?, auto_schedule_settings.rules) "
                f"RETURNING {_COLUMNS}",
                (account_id, int(enabled), config, rules_json, config, rules_json),
            )
            row = await cursor.fetchone()
        assert row is not None
        return _settings_from(row)

    async def record_auto_schedule_run(self, account_id: str, when: datetime) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE auto_schedule_settings SET last_run_at = ? WHERE account_id = ?",
                (to_text(when), account_id),
            )

    async def accounts_with_auto_schedule(self) -> list[str]:
        rows = await self._db.fetch_all(
            "SELECT a.account_id FROM auto_schedule_settings a JOIN connections c "
            "ON c.account_id = a.account_id WHERE a.enabled = 1 AND c.status = 'active' "
            "ORDER BY a.account_id"
        )
        return [str(row["account_id"]) for row in rows]

    async def set_paused_until(
        self, account_id: str, until: datetime | None
    ) -> AutoScheduleSettings:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "INSERT INTO auto_schedule_settings (account_id, enabled, default_bot_config, "
                "paused_until) VALUES (?, 0, '{}', ?) ON CONFLICT (account_id) DO UPDATE SET "
                f"paused_until = excluded.paused_until RETURNING {_COLUMNS}",
                (account_id, to_text_or_none(until)),
            )
            row = await cursor.fetchone()
        assert row is not None
        return _settings_from(row)

    async def end_pause(self, account_id: str, until: datetime) -> bool:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "UPDATE auto_schedule_settings SET paused_until = NULL "
                "WHERE account_id = ? AND paused_until = ?",
                (account_id, to_text(until)),
            )
            return cursor.rowcount == 1

    async def ended_pauses(self, now: datetime) -> list[tuple[str, datetime]]:
        rows = await self._db.fetch_all(
            "SELECT account_id, paused_until FROM auto_schedule_settings "
            "WHERE paused_until IS NOT NULL AND paused_until <= ? ORDER BY account_id",
            (to_text(now),),
        )
        return [(str(row["account_id"]), from_text(row["paused_until"])) for row in rows]
