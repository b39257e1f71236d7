"""Scheduled bots in SQLite. Deduplication is the unique indexes `bots_pending_dedup` (one
pending bot per event occurrence) and `bots_pending_meeting` (one per meeting occurrence).

Rules derived, not restated: the pending statuses (`PENDING`) and the finished ones come from
`app.domain.is_pending` through `statuses_where`, as do the partial indexes' predicates."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

import orjson

from app.adapters.sqlite.codec import (
    BOT_COLUMNS,
    BOT_MARKS,
    bot_from_row,
    bot_params,
    json_or_none,
)
from app.adapters.sqlite.database import (
    PENDING,
    Database,
    from_text_or_none,
    statuses_where,
    to_text,
)
from app.adapters.sqlite.outbox import append_outbox, append_outbox_in_thread
from app.bot_changes import (
    SCHEDULED,
    UNSCHEDULED_BY_USER,
    UPDATED_BY_USER,
    BotChange,
    bot_message,
    cancelled,
    changed_fields,
    updated,
)
from app.domain import BotStatus, OccurrenceKey, ScheduledBot, is_pending

_FINISHED = statuses_where(lambda status: not is_pending(status))
_ASSIGN_ALL_BUT_ID = ", ".join(f"{column} = ?" for column in BOT_COLUMNS.split(", ")[1:])


class SqliteBotStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def insert_or_update_pending_bot(
        self, bot: ScheduledBot, *, update_reason: str = UPDATED_BY_USER
    ) -> tuple[ScheduledBot, bool]:
        async with self._db.transaction() as tx:
            # Any unique key may refuse the row: the occurrence's pending bot
            # (`bots_pending_dedup`) or the meeting occurrence's (`bots_pending_meeting`).
            cursor = await tx.execute(
                f"INSERT INTO bots ({BOT_COLUMNS}) VALUES ({BOT_MARKS}) ON CONFLICT DO NOTHING",
                bot_params(bot),
            )
            if cursor.rowcount == 1:
                await append_outbox(tx, [bot_message(bot, SCHEDULED, bot.updated_at)])
                return bot, True
            key = str(bot.occurrence_key)
            cursor = await tx.execute(
                f"SELECT {BOT_COLUMNS} FROM bots WHERE account_id = ? AND status IN {PENDING} "
                "AND ((event_id = ? AND occurrence_key = ?) OR meeting_key = ?) "
                "ORDER BY event_id = ? AND occurrence_key = ? DESC LIMIT 1",
                (bot.account_id, bot.event_id, key, bot.meeting_key, bot.event_id, key),
            )
            holder = await cursor.fetchone()
            if holder is None:
                raise ValueError(f"a bot with id {bot.bot_id} already exists")
            before = bot_from_row(holder)
            cursor = await tx.execute(
                "UPDATE bots SET bot_config = ?, bot_name = ?, custom_attributes = ?, "
                "updated_at = ?, version = version + 1 WHERE bot_id = ? AND status = 'scheduled' "
                f"RETURNING {BOT_COLUMNS}",
                (
                    orjson.dumps(bot.bot_config).decode(),
                    bot.bot_name,
                    json_or_none(bot.custom_attributes),
                    to_text(bot.updated_at),
                    before.bot_id,
                ),
            )
            row = await cursor.fetchone()
            stored = before if row is None else bot_from_row(row)  # launching: left as it is
            if row is not None and (changes := changed_fields(before, stored)):
                change = updated(update_reason, changes)
                await append_outbox(tx, [bot_message(stored, change, stored.updated_at)])
        return stored, stored.bot_id == bot.bot_id  # a retried request may find its own bot

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

    async def list_bots_of_events(
        self, account_id: str, event_ids: Collection[str]
    ) -> list[ScheduledBot]:
        rows = await self._db.fetch_by_keys(  # index bots_by_event, one lookup per id
            f"SELECT {BOT_COLUMNS} FROM bots WHERE account_id = ? AND event_id IN ({{keys}})",
            (account_id,),
            sorted(set(event_ids)),
        )
        found = [bot_from_row(row) for row in rows]
        return sorted(found, key=lambda bot: (bot.join_at, bot.bot_id))

    async def update_bot(
        self, bot: ScheduledBot, *, expected_status: BotStatus, change: BotChange | None = None
    ) -> bool:
        written_bot = replace(bot, version=bot.version + 1)
        params = bot_params(written_bot)
        try:
            async with self._db.transaction() as tx:
                cursor = await tx.execute(
                    f"UPDATE bots SET {_ASSIGN_ALL_BUT_ID} "
                    "WHERE bot_id = ? AND account_id = ? AND status = ? AND version = ?",
                    (*params[1:], bot.bot_id, bot.account_id, expected_status.value, bot.version),
                )
                written = cursor.rowcount == 1
                if written and change is not None:
                    message = bot_message(written_bot, change, written_bot.updated_at)
                    await append_outbox(tx, [message])
        except sqlite3.IntegrityError:
            return False  # back to pending while another bot is pending for its occurrence
        if written:
            bot.version += 1
        return written

    async def cancel_pending_bots(
        self, account_id: str, event_id: str, when: datetime, *, reason: str = UNSCHEDULED_BY_USER
    ) -> list[ScheduledBot]:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "UPDATE bots SET status = 'cancelled', updated_at = ?, version = version + 1 "
                "WHERE account_id = ? AND event_id = ? AND status = 'scheduled' "
                f"RETURNING {BOT_COLUMNS}",
                (to_text(when), account_id, event_id),
            )
            done = [bot_from_row(row) for row in await cursor.fetchall()]
            await append_outbox(tx, [bot_message(b, cancelled(reason), when) for b in done])
        return sorted(done, key=lambda b: (b.join_at, b.bot_id))

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
                "UPDATE bots SET status = 'launching', attempts = attempts + 1, updated_at = ?, "
                "version = version + 1 WHERE bot_id = ? AND "
                "((status = 'scheduled' AND join_at <= ?) OR "
                f"(status = 'launching' AND updated_at < ?)) RETURNING {BOT_COLUMNS}",
                (to_text(when), bot_id, to_text(when), to_text(stale_launching_before)),
            )
            row = await cursor.fetchone()
        return None if row is None else bot_from_row(row)

    async def insert_bots_unless_exist(self, bots: list[ScheduledBot]) -> list[ScheduledBot]:
        if not bots:
            return []
        # All of it in one trip to the writer's thread: an auto-schedule pass inserts thousands
        # of bots, and a trip per bot (an awaited statement each) was 11,458 trips and about
        # 4 s of a 9 s pass over 100,000 events waiting for the thread (cProfile).
        return await self._db.write_in_thread(partial(_insert_bots_unless_exist, bots))

    async def rekey_bot(
        self,
        bot: ScheduledBot,
        *,
        expected_status: BotStatus,
        previous_occurrence_key: OccurrenceKey,
        previous_meeting_key: str | None,
        change: BotChange | None = None,
    ) -> bool:
        written_bot = replace(bot, version=bot.version + 1)
        params = bot_params(written_bot)
        try:
            async with self._db.transaction() as tx:
                cursor = await tx.execute(
                    f"UPDATE bots SET {_ASSIGN_ALL_BUT_ID} WHERE bot_id = ? AND account_id = ? "
                    "AND status = ? AND event_id = ? AND occurrence_key = ? AND meeting_key IS ? "
                    "AND version = ?",
                    (
                        *params[1:],
                        bot.bot_id,
                        bot.account_id,
                        expected_status.value,
                        bot.event_id,
                        str(previous_occurrence_key),
                        previous_meeting_key,
                        bot.version,
                    ),
                )
                written = cursor.rowcount == 1
                if written and change is not None:
                    message = bot_message(written_bot, change, written_bot.updated_at)
                    await append_outbox(tx, [message])
            if written:
                bot.version += 1
            return written
        except sqlite3.IntegrityError:
            return False  # another pending bot holds a new key (a unique index refused it)

    async def release_meeting_claim(self, bot: ScheduledBot) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE bots SET claims_meeting = 0 WHERE bot_id = ? AND account_id = ?",
                (bot.bot_id, bot.account_id),
            )

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


_INSERT_UNLESS_EXISTS = (
    f"INSERT INTO bots ({BOT_COLUMNS}) SELECT {BOT_MARKS} WHERE NOT EXISTS "
    "(SELECT 1 FROM bots WHERE account_id = ? AND event_id = ? "
    "AND occurrence_key = ? AND claims_occurrence = 1) AND NOT EXISTS (SELECT 1 "
    "FROM bots WHERE account_id = ? AND meeting_key = ? AND claims_meeting = 1 "
    "AND claims_occurrence = 1) ON CONFLICT DO NOTHING"
)


def _insert_bots_unless_exist(
    bots: list[ScheduledBot], connection: sqlite3.Connection
) -> list[ScheduledBot]:
    """`insert_bots_unless_exist`, in the writer's thread and transaction (`write_in_thread`):
    each bot unless its occurrence or its meeting already has one, then the created bots'
    `bot.scheduled` messages and their events' schedule status."""
    created: list[ScheduledBot] = []
    for bot in bots:
        cursor = connection.execute(
            _INSERT_UNLESS_EXISTS,
            (
                *bot_params(bot),
                bot.account_id,
                bot.event_id,
                str(bot.occurrence_key),
                bot.account_id,
                bot.meeting_key,
            ),
        )
        if cursor.rowcount == 1:
            created.append(bot)
    if created:
        append_outbox_in_thread(
            connection, [bot_message(bot, SCHEDULED, bot.updated_at) for bot in created]
        )
        connection.executemany(
            _MARK_SCHEDULED, sorted({(b.account_id, b.event_id) for b in created})
        )
    return created


# The events of the bots a pass created, marked scheduled, with a new version set here (see
# ROW_VERSIONS); an event already marked is not written at all (its row and version stay). An
# auto-schedule pass over 100,000 events that created 11,458 bots spent 0.42-0.65 s on this
# statement while the trigger wrote each row a second time, 0.36-0.38 s so.
_MARK_SCHEDULED = (
    "UPDATE events SET schedule_status = 'scheduled', row_version = random() "
    "WHERE account_id = ? AND event_id = ? AND schedule_status != 'scheduled'"
)
