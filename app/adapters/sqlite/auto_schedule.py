"""Auto-schedule settings in SQLite."""

from __future__ import annotations

import orjson

from app.adapters.sqlite.database import Database, from_text_or_none, to_text_or_none
from app.domain import AutoScheduleSettings


class SqliteAutoScheduleStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def get_auto_schedule(self, account_id: str) -> AutoScheduleSettings:
        row = await self._db.fetch_one(
            "SELECT enabled, default_bot_config, last_run_at FROM auto_schedule_settings "
            "WHERE account_id = ?",
            (account_id,),
        )
        if row is None:
            return AutoScheduleSettings()
        return AutoScheduleSettings(
            enabled=bool(row["enabled"]),
            default_bot_config=orjson.loads(row["default_bot_config"]),
            last_run_at=from_text_or_none(row["last_run_at"]),
        )

    async def save_auto_schedule(self, account_id: str, settings: AutoScheduleSettings) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT OR REPLACE INTO auto_schedule_settings "
                "(account_id, enabled, default_bot_config, last_run_at) VALUES (?, ?, ?, ?)",
                (
                    account_id,
                    int(settings.enabled),
                    orjson.dumps(settings.default_bot_config).decode(),
                    to_text_or_none(settings.last_run_at),
                ),
            )

    async def accounts_with_auto_schedule(self) -> list[str]:
        rows = await self._db.fetch_all(
            "SELECT a.account_id FROM auto_schedule_settings a JOIN connections c "
            "ON c.account_id = a.account_id WHERE a.enabled = 1 AND c.status = 'active' "
            "ORDER BY a.account_id"
        )
        return [str(row["account_id"]) for row in rows]
