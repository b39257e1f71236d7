"""Scheduled bots in SQLite. Deduplication is the unique index `bots_pending_dedup`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.adapters.sqlite.codec import BOT_COLUMNS, BOT_MARKS, PENDING, bot_from_row, bot_params
from app.adapters.sqlite.database import Database, from_text_or_none, to_text
from app.domain import BotStatus, ScheduledBot, is_pending

_FINISHED = "(" + ", ".join(f"'{status}'" for status in BotStatus if not is_pending(status)) + ")"
_ASSIGN_ALL_BUT_ID = ", ".join(f"{column} = ?" for column in BOT_COLUMNS.split(", ")[1:])


class SqliteBotStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def insert_or_update_pending_bot(self, bot: ScheduledBot) -> tuple[ScheduledBot, bool]:
        async with self._db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO bots ({BOT_COLUMNS}) VALUES ({BOT_MARKS}) "
                f"ON CONFLICT (account_id, event_id, occurrence_key) WHERE status IN {PENDING} "
                "DO UPDATE SET bot_config = excluded.bot_config, bot_name = excluded.bot_name, "
                "custom_attributes = excluded.custom_attributes, "
                "updated_at = excluded.updated_at WHERE bots.status = 'scheduled'",
                bot_params(bot),
            )
            cursor = await tx.execute(
                f"SELECT {BOT_COLUMNS} FROM bots WHERE account_id = ? AND event_id = ? "
                f"AND occurrence_key = ? AND status IN {PENDING}",
                (bot.account_id, bot.event_id, bot.occurrence_key),
            )
            row = await cursor.fetchone()
        assert row is not None
        stored = bot_from_row(row)
        return stored, stored.bot_id == bot.bot_id

    async def get_bot(self, account_id: str, bot_id: str) -> ScheduledBot | None:
        row = await self._db.fetch_one(
            f"SELECT {BOT_COLUMNS} FROM bots WHERE account_id = ? AND bot_id = ?",
            (account_id, bot_id),
        )
        return None if row is None else bot_from_row(row)

    async def list_bots(
        self,
        account_id: str,
        *,
        status: BotStatus | None = None,
        event_id: str | None = None,
    ) -> list[ScheduledBot]:
        sql = f"SELECT {BOT_COLUMNS} FROM bots WHERE account_id = ?"
        params: list[Any] = [account_id]
        if status is not None:
            sql += " AND status = ?"
            params.append(status.value)
        if event_id is not None:
            sql += " AND event_id = ?"
            params.append(event_id)
        rows = await self._db.fetch_all(sql + " ORDER BY join_at, bot_id", params)
        return [bot_from_row(row) for row in rows]

    async def update_bot(self, bot: ScheduledBot, *, expected_status: BotStatus) -> bool:
        params = bot_params(bot)
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                f"UPDATE bots SET {_ASSIGN_ALL_BUT_ID} "
                "WHERE bot_id = ? AND account_id = ? AND status = ?",
                (*params[1:], bot.bot_id, bot.account_id, expected_status.value),
            )
            return cursor.rowcount == 1

    async def cancel_pending_bots(
        self, account_id: str, event_id: str, when: datetime
    ) -> list[ScheduledBot]:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                f"UPDATE bots SET status = 'cancelled', updated_at = ? WHERE account_id = ? "
                f"AND event_id = ? AND status = 'scheduled' RETURNING {BOT_COLUMNS}",
                (to_text(when), account_id, event_id),
            )
            rows = await cursor.fetchall()
        return [bot_from_row(row) for row in rows]

    async def due_bots(
        self, before: datetime, limit: int, *, stale_launching_before: datetime
    ) -> list[ScheduledBot]:
        rows = await self._db.fetch_all(
            f"SELECT {BOT_COLUMNS} FROM bots WHERE (status = 'scheduled' AND join_at <= ?) "
            "OR (status = 'launching' AND updated_at < ?) ORDER BY join_at LIMIT ?",
            (to_text(before), to_text(stale_launching_before), limit),
        )
        return [bot_from_row(row) for row in rows]

    async def next_join_at(self) -> datetime | None:
        row = await self._db.fetch_one(
            "SELECT MIN(join_at) AS join_at FROM bots WHERE status = 'scheduled'"
        )
        return None if row is None else from_text_or_none(row["join_at"])

    async def touch_launching_bot(self, bot_id: str, when: datetime) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE bots SET updated_at = ? WHERE bot_id = ? AND status = 'launching'",
                (to_text(when), bot_id),
            )

    async def claim_bot(
        self, bot_id: str, when: datetime, *, stale_launching_before: datetime
    ) -> ScheduledBot | None:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "UPDATE bots SET status = 'launching', attempts = attempts + 1, updated_at = ? "
                "WHERE bot_id = ? AND ((status = 'scheduled' AND join_at <= ?) OR "
                f"(status = 'launching' AND updated_at < ?)) RETURNING {BOT_COLUMNS}",
                (to_text(when), bot_id, to_text(when), to_text(stale_launching_before)),
            )
            row = await cursor.fetchone()
        return None if row is None else bot_from_row(row)

    async def insert_bots_unless_exist(self, bots: list[ScheduledBot]) -> list[ScheduledBot]:
        created: list[ScheduledBot] = []
        if not bots:
            return created
        async with self._db.transaction() as tx:
            for bot in bots:
                cursor = await tx.execute(
                    f"INSERT INTO bots ({BOT_COLUMNS}) SELECT {BOT_MARKS} WHERE NOT EXISTS "
                    "(SELECT 1 FROM bots WHERE account_id = ? AND event_id = ? "
                    "AND occurrence_key = ? AND claims_occurrence = 1) ON CONFLICT DO NOTHING",
                    (*bot_params(bot), bot.account_id, bot.event_id, bot.occurrence_key),
                )
                if cursor.rowcount == 1:
                    created.append(bot)
            if created:
                await tx.executemany(
                    "UPDATE events SET schedule_status = 'scheduled' "
                    "WHERE account_id = ? AND event_id = ?",
                    sorted({(bot.account_id, bot.event_id) for bot in created}),
                )
        return created

    async def purge_finished_bots(self, cutoff: datetime, limit: int) -> int:
        # domain.purgeable_bot. join_at <= occurrence_end always, so the join_at bound only
        # lets the (status, join_at) index narrow the scan.
        text = to_text(cutoff)
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                f"DELETE FROM bots WHERE bot_id IN (SELECT bot_id FROM bots "
                f"WHERE status IN {_FINISHED} AND join_at < ? AND occurrence_end < ? "
                "AND updated_at < ? ORDER BY occurrence_end, bot_id LIMIT ?)",
                (text, text, text, limit),
            )
            return cursor.rowcount
