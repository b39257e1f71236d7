"""Series schedules ("all future occurrences"), in memory."""

from __future__ import annotations

import copy
from datetime import datetime

from app.adapters.memory.tables import MemoryTables
from app.domain import SeriesSchedule


class MemorySeriesScheduleStore:
    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    async def save_series_schedule(self, schedule: SeriesSchedule) -> None:
        key = (schedule.account_id, schedule.event_id)
        self._tables.series[key] = copy.deepcopy(schedule)

    async def get_series_schedule(self, account_id: str, event_id: str) -> SeriesSchedule | None:
        schedule = self._tables.series.get((account_id, event_id))
        return None if schedule is None else copy.deepcopy(schedule)

    async def set_series_schedule_active(
        self, account_id: str, event_id: str, active: bool
    ) -> None:
        schedule = self._tables.series.get((account_id, event_id))
        if schedule is not None:
            schedule.active = active

    async def due_series_schedules(self, now: datetime, limit: int) -> list[SeriesSchedule]:
        due = [s for s in self._tables.series.values() if s.active and s.next_check_at <= now]
        due.sort(key=lambda s: s.next_check_at)
        return [copy.deepcopy(s) for s in due[:limit]]

    async def next_series_check_at(self) -> datetime | None:
        active = [s.next_check_at for s in self._tables.series.values() if s.active]
        return min(active, default=None)

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
        schedule = self._tables.series.get((account_id, event_id))
        if schedule is None or schedule.last_original_start != expected_last_original_start:
            return False
        if active and not schedule.active:
            return False  # paused meanwhile: only its owner resumes it
        schedule.last_original_start = last_original_start
        schedule.next_check_at = next_check_at
        schedule.active = active
        return True
