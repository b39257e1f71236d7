"""Series schedules ("all future occurrences") in SQLite."""

from __future__ import annotations

from datetime import datetime

from app.adapters.sqlite.codec import SERIES_COLUMNS, series_from_row, series_params
from app.adapters.sqlite.database import Database, from_text_or_none, to_text
from app.domain import SeriesSchedule


class SqliteSeriesScheduleStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def save_series_schedule(self, schedule: SeriesSchedule) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                f"INSERT OR REPLACE INTO series_schedules ({SERIES_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                series_params(schedule),
            )

    async def get_series_schedule(self, account_id: str, event_id: str) -> SeriesSchedule | None:
        row = await self._db.fetch_one(
            f"SELECT {SERIES_COLUMNS} FROM series_schedules WHERE account_id = ? AND event_id = ?",
            (account_id, event_id),
        )
        return None if row is None else series_from_row(row)

    async def set_series_schedule_active(
        self, account_id: str, event_id: str, active: bool
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE series_schedules SET active = ? WHERE account_id = ? AND event_id = ?",
                (int(active), account_id, event_id),
            )

    async def due_series_schedules(self, now: datetime, limit: int) -> list[SeriesSchedule]:
        rows = await self._db.fetch_all(
            f"SELECT {SERIES_COLUMNS} FROM series_schedules WHERE active = 1 "
            "AND next_check_at <= ? ORDER BY next_check_at LIMIT ?",
            (to_text(now), limit),
        )
        return [series_from_row(row) for row in rows]

    async def next_series_check_at(self) -> datetime | None:
        row = await self._db.fetch_one(
            "SELECT MIN(next_check_at) AS at FROM series_schedules WHERE active = 1"
        )
        return None if row is None else from_text_or_none(row["at"])

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
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "UPDATE series_schedules SET last_original_start = ?, next_check_at = ?, "
                "active = ? WHERE account_id = ? AND event_id = ? AND last_original_start = ? "
                "AND (active = 1 OR ? = 0)",
                (
                    to_text(last_original_start),
                    to_text(next_check_at),
                    int(active),
                    account_id,
                    event_id,
                    to_text(expected_last_original_start),
                    int(active),
                ),
            )
            return cursor.rowcount == 1
