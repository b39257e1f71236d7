"""Auto-schedule settings, in memory."""

from __future__ import annotations

import copy
import dataclasses
from datetime import datetime
from typing import Any

from app.adapters.memory.tables import MemoryTables
from app.domain import AutoScheduleRules, AutoScheduleSettings, ConnectionStatus


class MemoryAutoScheduleStore:
    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    async def get_auto_schedule(self, account_id: str) -> AutoScheduleSettings:
        settings = self._tables.auto_schedule.get(account_id)
        return AutoScheduleSettings() if settings is None else copy.deepcopy(settings)

    async def save_auto_schedule(self, account_id: str, settings: AutoScheduleSettings) -> None:
        self._tables.auto_schedule[account_id] = copy.deepcopy(settings)

    async def set_auto_schedule(
        self,
        account_id: str,
        *,
        enabled: bool,
        default_bot_config: dict[str, Any] | None = None,
        rules: AutoScheduleRules | None = None,
    ) -> AutoScheduleSettings:
        current = self._tables.auto_schedule.get(account_id) or AutoScheduleSettings()
        config = current.default_bot_config if default_bot_config is None else default_bot_config
        stored = dataclasses.replace(
            current,
            enabled=enabled,
            default_bot_config=copy.deepcopy(config),
            rules=current.rules if rules is None else rules,
        )
        self._tables.auto_schedule[account_id] = stored
        return copy.deepcopy(stored)

    async def record_auto_schedule_run(self, account_id: str, when: datetime) -> None:
        current = self._tables.auto_schedule.get(account_id)
        if current is not None:
            self._tables.auto_schedule[account_id] = dataclasses.replace(current, last_run_at=when)

    async def accounts_with_auto_schedule(self) -> list[str]:
        connections = self._tables.connections
        return sorted(
            account_id
            for account_id, settings in self._tables.auto_schedule.items()
            if settings.enabled
            and account_id in connections
            and connections[account_id].status is ConnectionStatus.ACTIVE
        )

    async def set_paused_until(
        self, account_id: str, until: datetime | None
    ) -> AutoScheduleSettings:
        current = self._tables.auto_schedule.get(account_id) or AutoScheduleSettings()
        stored = dataclasses.replace(current, paused_until=until)
        self._tables.auto_schedule[account_id] = stored
        return copy.deepcopy(stored)

    async def end_pause(self, account_id: str, until: datetime) -> bool:
        current = self._tables.auto_schedule.get(account_id)
        if current is None or current.paused_until != until:
            return False
        self._tables.auto_schedule[account_id] = dataclasses.replace(current, paused_until=None)
        return True

    async def ended_pauses(self, now: datetime) -> list[tuple[str, datetime]]:
        return sorted(
            (account_id, settings.paused_until)
            for account_id, settings in self._tables.auto_schedule.items()
            if settings.paused_until is not None and settings.paused_until <= now
        )
