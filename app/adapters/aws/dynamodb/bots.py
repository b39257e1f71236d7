"""Scheduled bots, in the account partition (`BOT#{id}`), each with a pointer by id alone,
an occurrence claim (`OCC#`, once it ever had a bot, until a disconnect releases it), a
meeting claim (`MEETINGOCC#`, the set of bots that claim its meeting occurrence) and, exactly
while it is pending, dedup items for its occurrence (`DEDUP#`) and its meeting occurrence
(`MEETING#`). Pending bots are in GSI1 by
join_at (scheduled) or by the last renewal of their claim (launching). docs/dynamodb.md,
"Deduplication", says why these items.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime

from app.adapters.aws.dynamodb.bot_claims import (
    BUMP_VERSION,
    bot_items,
    cancel_pending_bot,
    drop_claimant,
    insert_actions,
    meeting_condition,
    pending_change_actions,
    purge_bot,
    rekey,
    release_meeting_actions,
    release_occurrence_claims,
    release_pending_action,
    version_is,
)
from app.adapters.aws.dynamodb.codec import (
    bot_from,
    bot_item,
    json_or_none,
    json_text,
    new_rev,
    stored,
    time_of,
)
from app.adapters.aws.dynamodb.events import event_flag_action, state_update_action
from app.adapters.aws.dynamodb.outbox import outbox_put_items
from app.adapters.aws.dynamodb.table import (
    BOT_END_INDEX,
    GSI2,
    LAUNCHING_QUEUE,
    PENDING_QUEUE,
    Item,
    base_key,
    bot_key,
    bot_pointer_key,
    just_below,
    launching_queue,
    time_text,
)
from app.adapters.aws.dynamodb.transactions import (
    ATTEMPTS,
    CONDITION_FAILED,
    TableClient,
    bounded,
    set_or_remove,
)
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
from app.errors import StorageUnavailable

_EXACT_ATTEMPTS = 2
"""Tries of a pending bot's update conditioned on the bot as read (see `_update_pending`)."""

__all__ = ["DynamoDbBotStore", "bot_items", "cancel_pending_bot", "release_occurrence_claims"]


class DynamoDbBotStore:
    """`BotStore` on calbot's table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def insert_or_update_pending_bot(
        self, bot: ScheduledBot, *, update_reason: str = UPDATED_BY_USER
    ) -> tuple[ScheduledBot, bool]:
        for _ in range(ATTEMPTS):
            actions, where = insert_actions(self._table, bot, any_status=False)
            message = bot_message(bot, SCHEDULED, bot.updated_at)
            reasons = await self._table.transact(
                actions + outbox_put_items(self._table.name, [message])
            )
            if reasons is None:
                return bot_from(actions[0]["Put"]["Item"]), True  # as stored
            # The occurrence's pending bot first, else the meeting occurrence's.
            refused = [
                where[name]
                for name in ("pending", "meeting")
                if name in where and reasons[where[name]].get("Code") == CONDITION_FAILED
            ]
            if not refused:
                raise ValueError(f"a bot with id {bot.bot_id} already exists")
            dedup_item = actions[refused[0]]["Put"]["Item"]
            holder = reasons[refused[0]].get("Item") or await self._table.get(base_key(dedup_item))
            if holder is None:
                continue  # the pending bot left pending meanwhile: insert again
            found = await self._update_pending(bot, holder["bot_id"]["S"], update_reason)
            if found is not None:
                # A retried request may find the bot it created itself.
                return found, found.bot_id == bot.bot_id
        raise StorageUnavailable()

    async def _update_pending(
        self, bot: ScheduledBot, pending_id: str, update_reason: str
    ) -> ScheduledBot | None:
        """Give the pending bot `bot`'s config, name and attributes if it is still scheduled,
        with the `bot.updated` message of what changed, in one transaction; the stored bot if
        it is launching; None if it is no longer pending.

        The write is conditioned on the bot as read (its `rev`), so the message says exactly
        what changed; after `_EXACT_ATTEMPTS` lost races (many schedulings of one meeting at
        once) only on its still being scheduled, so every writer gets through: the message
        is then built from the bot as last read, still in the same write.
        """
        for attempt in range(ATTEMPTS):
            typed = await self._table.get(bot_key(bot.account_id, pending_id))
            current = None if typed is None else bot_from(typed)
            if current is None or current.status is not BotStatus.SCHEDULED:
                launching = current is not None and current.status is BotStatus.LAUNCHING
                return current if launching else None
            assert typed is not None
            after = replace(
                current,
                bot_config=copy.deepcopy(bot.bot_config),
                bot_name=bot.bot_name,
                custom_attributes=copy.deepcopy(bot.custom_attributes),
                updated_at=stored(bot.updated_at),
                version=current.version + 1,
            )
            exact = attempt < _EXACT_ATTEMPTS
            values: dict[str, object] = {
                ":scheduled": BotStatus.SCHEDULED.value,
                ":zero": 0,
                ":one": 1,
            }
            if exact:
                values[":rev"] = typed["rev"]["S"]
            update = set_or_remove(
                {
                    "bot_config": json_text(after.bot_config),
                    "bot_name": after.bot_name,
                    "custom_attributes": json_or_none(after.custom_attributes),
                    "updated_at": time_text(after.updated_at),
                    "rev": new_rev(),
                },
                values,
            )
            actions = [
                self._table.action(
                    "Update",
                    Key=base_key(typed),
                    # bot_config is always set, so the clause starts with SET.
                    update=update.replace("SET ", f"SET {BUMP_VERSION}, ", 1),
                    condition="#status = :scheduled" + (" AND #rev = :rev" if exact else ""),
                    values=values,
                )
            ]
            if changes := changed_fields(current, after):
                message = bot_message(after, updated(update_reason, changes), after.updated_at)
                actions.extend(outbox_put_items(self._table.name, [message]))
            if await self._table.transact(actions) is None:
                return after
        raise StorageUnavailable()

    async def get_bot(self, account_id: str, bot_id: str) -> ScheduledBot | None:
        found = await self._table.get(bot_key(account_id, bot_id))
        return None if found is None else bot_from(found)

    async def list_bots(
        self,
        account_id: str,
        *,
        status: BotStatus | None = None,
        event_id: str | None = None,
    ) -> list[ScheduledBot]:
        return [
            bot
            for bot in map(bot_from, await bot_items(self._table, account_id))
            if (status is None or bot.status is status)
            and (event_id is None or bot.event_id == event_id)
        ]

    async def list_bots_of_events(
        self, account_id: str, event_ids: Collection[str]
    ) -> list[ScheduledBot]:
        # The account's bots share one partition: one query, filtered here.
        wanted = set(event_ids)
        return [
            bot
            for bot in map(bot_from, await bot_items(self._table, account_id))
            if bot.event_id in wanted
        ]

    async def update_bot(
        self, bot: ScheduledBot, *, expected_status: BotStatus, change: BotChange | None = None
    ) -> bool:
        # The event, occurrence and meeting keys are the bot's identity (its dedup items are
        # keyed on them): an update never changes them; `rekey_bot` does.
        written_bot = replace(bot, version=bot.version + 1)
        stored = bot_item(written_bot, new_rev())
        reported = []
        if change is not None:
            message = bot_message(written_bot, change, written_bot.updated_at)
            reported = outbox_put_items(self._table.name, [message])
        values: dict[str, object] = {
            ":expected": expected_status.value,
            ":event_id": bot.event_id,
            ":occurrence_key": str(bot.occurrence_key),
            ":version": bot.version,
        }
        condition = (
            "attribute_exists(#PK) AND #status = :expected AND #event_id = :event_id "
            "AND #occurrence_key = :occurrence_key AND "
            + meeting_condition(bot.meeting_key, values)
            + " AND "
            + version_is(bot.version)
        )
        was_pending = is_pending(expected_status)
        if was_pending == is_pending(bot.status) and not reported:
            written = await self._table.put(stored, condition, values)
        else:
            companions = []
            if was_pending != is_pending(bot.status):
                companions = pending_change_actions(self._table, bot, leaving=was_pending)
            put = self._table.action("Put", Item=stored, condition=condition, values=values)
            written = await self._table.transact([put, *companions, *reported]) is None
        if written:
            bot.version += 1
        return written

    async def cancel_pending_bots(
        self, account_id: str, event_id: str, when: datetime, *, reason: str = UNSCHEDULED_BY_USER
    ) -> list[ScheduledBot]:
        items = [
            typed
            for typed in await bot_items(self._table, account_id)
            if typed["event_id"]["S"] == event_id
            and typed["status"]["S"] == BotStatus.SCHEDULED.value
        ]
        results = await bounded(self._cancel_scheduled(typed, when, reason) for typed in items)
        return [bot for bot in results if bot is not None]

    async def _cancel_scheduled(
        self, typed: Item | None, when: datetime, reason: str
    ) -> ScheduledBot | None:
        """Cancel a scheduled bot as last read (its `rev`), so the bot returned is exactly the
        one cancelled; re-read and retry if it changed in between."""
        for _ in range(ATTEMPTS):
            if typed is None or typed["status"]["S"] != BotStatus.SCHEDULED.value:
                return None
            bot = bot_from(typed)
            after = replace(
                bot,
                status=BotStatus.CANCELLED,
                updated_at=time_of(time_text(when)),
                version=bot.version + 1,
            )
            message = bot_message(after, cancelled(reason), when)
            reasons = await self._table.transact(
                [
                    self._table.action(
                        "Update",
                        Key=base_key(typed),
                        update="SET #status = :cancelled, #updated_at = :when, "
                        f"#rev = :new_rev, {BUMP_VERSION} REMOVE #GSI1PK, #GSI1SK",
                        condition="#status = :scheduled AND #rev = :rev",
                        values={
                            ":cancelled": BotStatus.CANCELLED.value,
                            ":when": time_text(when),
                            ":new_rev": new_rev(),
                            ":zero": 0,
                            ":one": 1,
                            ":scheduled": BotStatus.SCHEDULED.value,
                            ":rev": typed["rev"]["S"],
                        },
                    ),
                    release_pending_action(self._table, bot),
                    *release_meeting_actions(self._table, bot),
                    *outbox_put_items(self._table.name, [message]),
                ]
            )
            if reasons is None:
                return after
            typed = await self._table.get(base_key(typed))
        raise StorageUnavailable()

    # -- the launch queue (GSI1) ---------------------------------------------------------------

    async def due_bots(
        self, before: datetime, limit: int, *, stale_launching_before: datetime
    ) -> list[ScheduledBot]:
        if limit <= 0:
            return []
        due, stale = time_text(before), time_text(stale_launching_before)
        scheduled, launching = await asyncio.gather(
            self._table.queued(PENDING_QUEUE, below=just_below(before), max_items=limit),
            self._table.queued(LAUNCHING_QUEUE, below=stale),
        )
        # Re-checked on the base items: the index may lag behind them.
        bots = [
            bot
            for bot in map(bot_from, scheduled + launching)
            if (bot.status is BotStatus.SCHEDULED and time_text(bot.join_at) <= due)
            or (bot.status is BotStatus.LAUNCHING and time_text(bot.updated_at) < stale)
        ]
        unique = {bot.bot_id: bot for bot in bots}.values()
        return sorted(unique, key=lambda bot: (time_text(bot.join_at), bot.bot_id))[:limit]

    async def next_join_at(self) -> datetime | None:
        return await self._table.earliest(PENDING_QUEUE)

    async def _bot_account(self, bot_id: str) -> str | None:
        pointer = await self._table.get(bot_pointer_key(bot_id))
        return None if pointer is None else str(pointer["account_id"]["S"])

    async def touch_launching_bot(self, bot_id: str, when: datetime) -> None:
        account_id = await self._bot_account(bot_id)
        if account_id is None:
            return
        _, queue_sk = launching_queue(bot_id, when)
        await self._table.update(
            bot_key(account_id, bot_id),
            "SET #updated_at = :when, #GSI1SK = :queue_sk, #rev = :rev",
            {
                ":when": time_text(when),
                ":queue_sk": queue_sk,
                ":rev": new_rev(),
                ":launching": BotStatus.LAUNCHING.value,
            },
            "#status = :launching",
        )

    async def claim_bot(
        self, bot_id: str, when: datetime, *, stale_launching_before: datetime
    ) -> ScheduledBot | None:
        account_id = await self._bot_account(bot_id)
        if account_id is None:
            return None
        queue_pk, queue_sk = launching_queue(bot_id, when)
        attributes = await self._table.update(
            bot_key(account_id, bot_id),
            "SET #status = :launching, #attempts = #attempts + :one, #updated_at = :when, "
            f"#GSI1PK = :queue_pk, #GSI1SK = :queue_sk, #rev = :rev, {BUMP_VERSION}",
            {
                ":launching": BotStatus.LAUNCHING.value,
                ":scheduled": BotStatus.SCHEDULED.value,
                ":zero": 0,
                ":one": 1,
                ":when": time_text(when),
                ":stale": time_text(stale_launching_before),
                ":queue_pk": queue_pk,
                ":queue_sk": queue_sk,
                ":rev": new_rev(),
            },
            "attribute_exists(#PK) AND ((#status = :scheduled AND #join_at <= :when) OR "
            "(#status = :launching AND #updated_at < :stale))",
            return_values="ALL_NEW",
        )
        return None if attributes is None else bot_from(attributes)

    # -- housekeeping --------------------------------------------------------------------------

    async def purge_finished_bots(self, cutoff: datetime, limit: int) -> int:
        if limit <= 0:
            return 0
        below = time_text(cutoff)  # GSI2 sort keys `{occurrence_end}#{bot_id}` below it end before
        entries = await self._table.shards(GSI2, BOT_END_INDEX, below=below, max_items=limit)
        # Re-checked on the base items: the index may lag behind them.
        found = await self._table.batch_get(base_key(entry) for entry in entries)
        doomed = sorted(
            (typed for typed in found if purgeable_bot(bot_from(typed), stored(cutoff))),
            key=lambda typed: (typed["occurrence_end"]["S"], typed["bot_id"]["S"]),
        )[:limit]
        return sum(await bounded(purge_bot(self._table, typed) for typed in doomed))

    # -- auto-scheduling -----------------------------------------------------------------------

    async def insert_bots_unless_exist(self, bots: list[ScheduledBot]) -> list[ScheduledBot]:
        by_event: dict[tuple[str, str], list[int]] = {}
        for position, bot in enumerate(bots):
            by_event.setdefault((bot.account_id, bot.event_id), []).append(position)
        # One event's bots go one after another (they all mark the same event), in the list's
        # order, so the first bot of an occurrence wins; events go in parallel.
        results = await bounded(
            self._insert_in_order(bots, positions) for positions in by_event.values()
        )
        inserted = sorted(position for positions in results for position in positions)
        return [bots[position] for position in inserted]

    async def _insert_in_order(self, bots: list[ScheduledBot], positions: list[int]) -> list[int]:
        return [
            position for position in positions if await self._insert_unless_exists(bots[position])
        ]

    async def _insert_unless_exists(self, bot: ScheduledBot) -> bool:
        """Insert the bot unless its occurrence ever had one, or its meeting occurrence has a
        claimant; mark its event scheduled."""
        actions, _ = insert_actions(self._table, bot, any_status=True)
        message = bot_message(bot, SCHEDULED, bot.updated_at)
        actions.extend(outbox_put_items(self._table.name, [message]))  # unconditional: last
        location = (bot.calendar_id, bot.google_event_id)
        marks = [
            event_flag_action(
                self._table, bot.account_id, bot.event_id, location, ScheduleStatus.SCHEDULED
            ),
            state_update_action(
                self._table,
                bot.account_id,
                location,
                "#schedule_status = :status",
                {":status": ScheduleStatus.SCHEDULED.value},
            ),
        ]
        reasons = await self._table.transact(actions + marks)
        if reasons is None:
            return True
        if any(reason.get("Code") == CONDITION_FAILED for reason in reasons[: len(actions)]):
            return False
        # Only the event was missing (nothing to mark): insert the bot alone.
        return await self._table.transact(actions) is None

    # -- identity ------------------------------------------------------------------------------

    async def rekey_bot(
        self,
        bot: ScheduledBot,
        *,
        expected_status: BotStatus,
        previous_occurrence_key: OccurrenceKey,
        previous_meeting_key: str | None,
        change: BotChange | None = None,
    ) -> bool:
        return await rekey(
            self._table,
            bot,
            expected_status=expected_status,
            previous_occurrence_key=previous_occurrence_key,
            previous_meeting_key=previous_meeting_key,
            change=change,
        )

    async def release_meeting_claim(self, bot: ScheduledBot) -> None:
        if bot.meeting_key is not None:
            await drop_claimant(self._table, bot, bot.meeting_key)
