"""Auto-schedule settings, in memory."""

from __future__ import annotations

import copy

from app.adapters.memory.tables import MemoryTables
from app.domain import AutoScheduleSettings, ConnectionStatus


class MemoryAutoScheduleStore:
    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    async def get_auto_schedule(self, account_id: str) -> AutoScheduleSettings:
        settings = self._tables.auto_schedule.get(account_id)
        return AutoScheduleSettings() if settings is None else copy.deepcopy(settings)

    async def save_auto_schedule(self, account_id: str, settings: AutoScheduleSettings) -> None:
        self._tables.auto_schedule[account_id] = copy.deepcopy(settings)

    async def accounts_with_auto_schedule(self) -> list[str]:
        connections = self._tables.connections
        return sorted(
            account_id
            for account_id, settings in self._tables.auto_schedule.items()
            if settings.enabled
            and account_id in connections
            and connections[account_id].status is ConnectionStatus.ACTIVE
        )
