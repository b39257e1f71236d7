"""Scheduled bots, in memory: deduplicated by (account, event, occurrence) like the SQL index."""

from __future__ import annotations

import copy
from collections.abc import Collection
from datetime import datetime

from app.adapters.memory.outbox import append_outbox
from app.adapters.memory.tables import MemoryTables
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
from app.domain import (
    BotStatus,
    OccurrenceKey,
    ScheduledBot,
    ScheduleStatus,
    is_pending,
    purgeable_bot,
)


def _by_join_at(bots: list[ScheduledBot]) -> list[ScheduledBot]:
    return sorted(bots, key=lambda b: (b.join_at, b.bot_id))


class MemoryBotStore:
    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    def _of_occurrence(self, bot: ScheduledBot) -> list[ScheduledBot]:
        return [
            stored
            for stored in self._tables.bots.values()
            if (stored.account_id, stored.event_id, stored.occurrence_key)
            == (bot.account_id, bot.event_id, bot.occurrence_key)
        ]

    def _of_meeting(self, bot: ScheduledBot) -> list[ScheduledBot]:
        if bot.meeting_key is None:
            return []
        return [
            stored
            for stored in self._tables.bots.values()
            if (stored.account_id, stored.meeting_key) == (bot.account_id, bot.meeting_key)
        ]

    def _pending_for(
        self, bot: ScheduledBot, *, other_than: str | None = None
    ) -> ScheduledBot | None:
        """The bot pending for the same occurrence, else for the same meeting occurrence: each
        dedup key allows one."""
        for stored in [*self._of_occurrence(bot), *self._of_meeting(bot)]:
            if stored.bot_id != other_than and is_pending(stored.status):
                return stored
        return None

    def _meeting_claimed(self, bot: ScheduledBot) -> bool:
        released = self._tables.released_meeting_claims | self._tables.released_bots
        return any(stored.bot_id not in released for stored in self._of_meeting(bot))

    def _insert(self, bot: ScheduledBot) -> None:
        if bot.bot_id in self._tables.bots:
            raise ValueError(f"bot {bot.bot_id} already exists")
        self._tables.bots[bot.bot_id] = copy.deepcopy(bot)

    def _report(self, bot: ScheduledBot, change: BotChange | None) -> None:
        if change is not None:
            append_outbox(self._tables, [bot_message(bot, change, bot.updated_at)])

    async def insert_or_update_pending_bot(
        self, bot: ScheduledBot, *, update_reason: str = UPDATED_BY_USER
    ) -> tuple[ScheduledBot, bool]:
        pending = self._pending_for(bot)
        if pending is None:
            self._insert(bot)
            self._report(bot, SCHEDULED)
            return copy.deepcopy(bot), True
        if pending.status is BotStatus.SCHEDULED:
            before = copy.deepcopy(pending)
            pending.bot_config = copy.deepcopy(bot.bot_config)
            pending.bot_name = bot.bot_name
            pending.custom_attributes = copy.deepcopy(bot.custom_attributes)
            pending.updated_at = bot.updated_at
            pending.version += 1
            if changes := changed_fields(before, pending):
                self._report(pending, updated(update_reason, changes))
        return copy.deepcopy(pending), pending.bot_id == bot.bot_id

    async def get_bot(self, account_id: str, bot_id: str) -> ScheduledBot | None:
        stored = self._tables.bots.get(bot_id)
        if stored is None or stored.account_id != account_id:
            return None
        return copy.deepcopy(stored)

    async def list_bots(
        self,
        account_id: str,
        *,
        status: BotStatus | None = None,
        event_id: str | None = None,
    ) -> list[ScheduledBot]:
        return _by_join_at(
            [
                copy.deepcopy(bot)
                for bot in self._tables.bots.values()
                if bot.account_id == account_id
                and (status is None or bot.status is status)
                and (event_id is None or bot.event_id == event_id)
            ]
        )

    async def list_bots_of_events(
        self, account_id: str, event_ids: Collection[str]
    ) -> list[ScheduledBot]:
        wanted = set(event_ids)
        return _by_join_at(
            [
                copy.deepcopy(bot)
                for bot in self._tables.bots.values()
                if bot.account_id == account_id and bot.event_id in wanted
            ]
        )

    async def update_bot(
        self, bot: ScheduledBot, *, expected_status: BotStatus, change: BotChange | None = None
    ) -> bool:
        stored = self._tables.bots.get(bot.bot_id)
        if stored is None or stored.account_id != bot.account_id:
            return False
        if stored.status is not expected_status or stored.version != bot.version:
            return False
        twin = self._pending_for(bot, other_than=bot.bot_id)
        if is_pending(bot.status) and twin is not None:
            return False
        bot.version += 1
        self._tables.bots[bot.bot_id] = copy.deepcopy(bot)
        self._report(bot, change)
        return True

    async def cancel_pending_bots(
        self, account_id: str, event_id: str, when: datetime, *, reason: str = UNSCHEDULED_BY_USER
    ) -> list[ScheduledBot]:
        done: list[ScheduledBot] = []
        for bot in self._tables.bots.values():
            scheduled = bot.status is BotStatus.SCHEDULED
            if scheduled and (bot.account_id, bot.event_id) == (account_id, event_id):
                bot.status, bot.updated_at = BotStatus.CANCELLED, when
                bot.version += 1
                self._report(bot, cancelled(reason))
                done.append(copy.deepcopy(bot))
        return _by_join_at(done)

    async def due_bots(
        self, before: datetime, limit: int, *, stale_launching_before: datetime
    ) -> list[ScheduledBot]:
        due = [
            copy.deepcopy(bot)
            for bot in self._tables.bots.values()
            if _claimable(bot, before, stale_launching_before)
        ]
        return _by_join_at(due)[:limit]

    async def next_join_at(self) -> datetime | None:
        scheduled = [
            b.join_at for b in self._tables.bots.values() if b.status is BotStatus.SCHEDULED
        ]
        return min(scheduled, default=None)

    async def touch_launching_bot(self, bot_id: str, when: datetime) -> None:
        bot = self._tables.bots.get(bot_id)
        if bot is not None and bot.status is BotStatus.LAUNCHING:
            bot.updated_at = when

    async def claim_bot(
        self, bot_id: str, when: datetime, *, stale_launching_before: datetime
    ) -> ScheduledBot | None:
        bot = self._tables.bots.get(bot_id)
        if bot is None or not _claimable(bot, when, stale_launching_before):
            return None
        bot.status, bot.updated_at = BotStatus.LAUNCHING, when
        bot.attempts += 1
        bot.version += 1
        return copy.deepcopy(bot)

    async def insert_bots_unless_exist(self, bots: list[ScheduledBot]) -> list[ScheduledBot]:
        created: list[ScheduledBot] = []
        released = self._tables.released_bots
        for bot in bots:
            if bot.bot_id in self._tables.bots or self._pending_for(bot):
                continue
            if any(stored.bot_id not in released for stored in self._of_occurrence(bot)):
                continue
            if self._meeting_claimed(bot):
                continue
            self._insert(bot)
            self._report(bot, SCHEDULED)
            created.append(bot)
        for bot in created:
            stored = self._tables.events.get((bot.account_id, bot.event_id))
            if stored is not None:
                stored.event.schedule_status = ScheduleStatus.SCHEDULED
        return created

    async def rekey_bot(
        self,
        bot: ScheduledBot,
        *,
        expected_status: BotStatus,
        previous_occurrence_key: OccurrenceKey,
        previous_meeting_key: str | None,
        change: BotChange | None = None,
    ) -> bool:
        stored = self._tables.bots.get(bot.bot_id)
        if stored is None or stored.account_id != bot.account_id:
            return False
        previous = (
            stored.status,
            stored.event_id,
            stored.occurrence_key,
            stored.meeting_key,
            stored.version,
        )
        if previous != (
            expected_status,
            bot.event_id,
            previous_occurrence_key,
            previous_meeting_key,
            bot.version,
        ):
            return False
        if is_pending(bot.status) and self._pending_for(bot, other_than=bot.bot_id):
            return False
        bot.version += 1
        self._tables.bots[bot.bot_id] = copy.deepcopy(bot)
        self._report(bot, change)
        return True

    async def release_meeting_claim(self, bot: ScheduledBot) -> None:
        stored = self._tables.bots.get(bot.bot_id)
        if stored is not None and stored.account_id == bot.account_id:
            self._tables.released_meeting_claims.add(bot.bot_id)

    async def purge_finished_bots(self, cutoff: datetime, limit: int) -> int:
        doomed = sorted(
            (bot for bot in self._tables.bots.values() if purgeable_bot(bot, cutoff)),
            key=lambda bot: (bot.occurrence_end, bot.bot_id),
        )[:limit]
        for bot in doomed:
            del self._tables.bots[bot.bot_id]
            self._tables.released_bots.discard(bot.bot_id)
            self._tables.released_meeting_claims.discard(bot.bot_id)
        return len(doomed)


def _claimable(bot: ScheduledBot, when: datetime, stale_launching_before: datetime) -> bool:
    """Due and scheduled, or launching by a launcher that went quiet before the cutoff."""
    if bot.status is BotStatus.SCHEDULED:
        return bot.join_at <= when
    return bot.status is BotStatus.LAUNCHING and bot.updated_at < stale_launching_before
