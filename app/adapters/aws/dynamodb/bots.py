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
from dataclasses import replace
from datetime import datetime
from typing import Any

from app.adapters.aws.dynamodb.codec import (
    bot_from,
    bot_item,
    bot_pointer_item,
    json_or_none,
    json_text,
    new_rev,
    occurrence_claim_item,
    pending_item,
    pending_meeting_item,
    stored,
    time_of,
)
from app.adapters.aws.dynamodb.events import event_flag_action, state_update_action
from app.adapters.aws.dynamodb.table import (
    BOT_END_INDEX,
    BOT_PREFIX,
    GSI2,
    LAUNCHING_QUEUE,
    OCCURRENCE_CLAIM_PREFIX,
    PENDING_QUEUE,
    Item,
    account_pk,
    base_key,
    bot_key,
    bot_pointer_key,
    just_below,
    launching_queue,
    meeting_claim_key,
    occurrence_claim_key,
    pending_key,
    pending_meeting_key,
    time_text,
)
from app.adapters.aws.dynamodb.transactions import (
    ATTEMPTS,
    CONDITION_FAILED,
    TableClient,
    bounded,
    set_or_remove,
)
from app.domain import (
    DISCONNECTED,
    BotStatus,
    OccurrenceKey,
    ScheduledBot,
    ScheduleStatus,
    claims_occurrence_after_disconnect,
    is_pending,
    purgeable_bot,
)
from app.errors import StorageUnavailable

_NEW = "attribute_not_exists(#PK)"
# One assignment of a SET clause: the bot's version goes up by one (an item written before
# versions counts as 0). Its expression values are `:zero` and `:one`.
_BUMP_VERSION = "#version = if_not_exists(#version, :zero) + :one"
_HELD_BY_BOT = "attribute_not_exists(#PK) OR #bot_id = :bot_id"


async def bot_items(table: TableClient, account_id: str) -> list[Item]:
    """The account's bot items ordered by join_at (then id, as SQLite's listing)."""
    items = await table.partition(account_pk(account_id), BOT_PREFIX)
    return sorted(items, key=lambda typed: (typed["join_at"]["S"], typed["bot_id"]["S"]))


def release_pending_action(table: TableClient, bot: ScheduledBot) -> dict[str, Any]:
    """Delete the bot's pending-dedup item, in the transaction moving it out of pending."""
    return table.action(
        "Delete",
        Key=pending_key(bot.account_id, bot.event_id, bot.occurrence_key),
        condition="attribute_not_exists(#PK) OR #bot_id = :bot_id",
        values={":bot_id": bot.bot_id},
    )


def release_meeting_actions(table: TableClient, bot: ScheduledBot) -> list[dict[str, Any]]:
    """Delete the bot's pending-meeting item (if it has a meeting key), in the transaction
    moving it out of pending."""
    if bot.meeting_key is None:
        return []
    return [
        table.action(
            "Delete",
            Key=pending_meeting_key(bot.account_id, bot.meeting_key),
            condition=_HELD_BY_BOT,
            values={":bot_id": bot.bot_id},
        )
    ]


def claim_meeting_action(
    table: TableClient, bot: ScheduledBot, meeting_key: str, *, first: bool
) -> dict[str, Any]:
    """Add the bot to its meeting occurrence's claimants; with `first`, only if none claims it
    (auto-scheduling: a meeting that had a bot on any calendar gets none again)."""
    return table.action(
        "Update",
        Key=meeting_claim_key(bot.account_id, meeting_key),
        update="SET #kind = :kind, #meeting_key = :meeting_key ADD #claimants :me",
        condition="attribute_not_exists(#claimants)" if first else None,
        values={
            ":kind": "meeting_claim",
            ":meeting_key": meeting_key,
            ":me": frozenset({bot.bot_id}),
        },
    )


def _meeting_condition(meeting_key: str | None, values: dict[str, object]) -> str:
    """The stored bot has this meeting key (or none)."""
    if meeting_key is None:
        return "attribute_not_exists(#meeting_key)"
    values[":meeting_key"] = meeting_key
    return "#meeting_key = :meeting_key"


async def cancel_pending_bot(table: TableClient, bot: ScheduledBot, when: datetime) -> bool:
    """Cancel a scheduled or launching bot (a disconnect); False if it left pending first."""
    reasons = await table.transact(
        [
            table.action(
                "Update",
                Key=bot_key(bot.account_id, bot.bot_id),
                update="SET #status = :cancelled, #updated_at = :when, #rev = :rev, "
                f"#last_error = :why, {_BUMP_VERSION} REMOVE #GSI1PK, #GSI1SK",
                condition="#status IN (:scheduled, :launching)",
                values={
                    ":cancelled": BotStatus.CANCELLED.value,
                    ":when": time_text(when),
                    ":why": DISCONNECTED.sentence,
                    ":rev": new_rev(),
                    ":zero": 0,
                    ":one": 1,
                    ":scheduled": BotStatus.SCHEDULED.value,
                    ":launching": BotStatus.LAUNCHING.value,
                },
            ),
            release_pending_action(table, bot),
            *release_meeting_actions(table, bot),
        ]
    )
    return reasons is None


async def release_occurrence_claims(table: TableClient, account_id: str) -> None:
    """After a disconnect: delete the occurrence claims no bot still holds
    (`claims_occurrence_after_disconnect`) and take such bots out of their meeting claims, so
    a reconnected account gets bots again as if it had never connected. The bots themselves
    stay, as history."""
    bots = {bot.bot_id: bot for bot in map(bot_from, await bot_items(table, account_id))}
    held = {
        (bot.event_id, bot.occurrence_key)
        for bot in bots.values()
        if claims_occurrence_after_disconnect(bot.status)
    }
    claims = await table.partition(
        account_pk(account_id), OCCURRENCE_CLAIM_PREFIX, "#PK, #SK, #bot_id"
    )
    released = []
    for claim in claims:
        holder = bots.get(claim["bot_id"]["S"])
        if holder is None or (holder.event_id, holder.occurrence_key) not in held:
            released.append(base_key(claim))
    await table.delete_keys(released)
    # Their meeting claims go too, so a reconnected account's meeting is not "had a bot".
    for bot in bots.values():
        if bot.meeting_key is not None and not claims_occurrence_after_disconnect(bot.status):
            await table.update(
                meeting_claim_key(account_id, bot.meeting_key),
                "DELETE #claimants :me",
                {":me": frozenset({bot.bot_id}), ":id": bot.bot_id},
                "contains(#claimants, :id)",
            )


class DynamoDbBotStore:
    """`BotStore` on calbot's table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def _insert_actions(
        self, bot: ScheduledBot, *, any_status: bool
    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """Create the bot, its pointer, its occurrence and meeting claims and (while pending)
        its dedup items, and say where the dedup items (`pending`, `meeting`) are in the list.
        With `any_status` the claims must be new too."""
        table = self._table
        actions = [
            table.action("Put", Item=bot_item(bot, new_rev()), condition=_NEW),
            table.action("Put", Item=bot_pointer_item(bot), condition=_NEW),
            table.action(
                "Put", Item=occurrence_claim_item(bot), condition=_NEW if any_status else None
            ),
        ]
        if bot.meeting_key is not None:
            actions.append(claim_meeting_action(table, bot, bot.meeting_key, first=any_status))
        where: dict[str, int] = {}
        if is_pending(bot.status):
            where["pending"] = len(actions)
            actions.append(
                table.action(
                    "Put",
                    Item=pending_item(bot),
                    condition=_NEW,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            )
            if bot.meeting_key is not None:
                where["meeting"] = len(actions)
                actions.append(
                    table.action(
                        "Put",
                        Item=pending_meeting_item(bot, bot.meeting_key),
                        condition=_NEW,
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    )
                )
        return actions, where

    async def insert_or_update_pending_bot(self, bot: ScheduledBot) -> tuple[ScheduledBot, bool]:
        for _ in range(ATTEMPTS):
            actions, where = self._insert_actions(bot, any_status=False)
            reasons = await self._table.transact(actions)
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
            found = await self._update_pending(bot, holder["bot_id"]["S"])
            if found is not None:
                # A retried request may find the bot it created itself.
                return found, found.bot_id == bot.bot_id
        raise StorageUnavailable()

    async def _update_pending(self, bot: ScheduledBot, pending_id: str) -> ScheduledBot | None:
        """Give the pending bot `bot`'s config, name and attributes if it is still scheduled;
        the stored bot if it is launching; None if it is no longer pending."""
        values: dict[str, object] = {":scheduled": BotStatus.SCHEDULED.value}
        update = set_or_remove(
            {
                "bot_config": json_text(bot.bot_config),
                "bot_name": bot.bot_name,
                "custom_attributes": json_or_none(bot.custom_attributes),
                "updated_at": time_text(bot.updated_at),
                "rev": new_rev(),
            },
            values,
        )
        update = update.replace("SET ", f"SET {_BUMP_VERSION}, ", 1)  # bot_config is always set
        values.update({":zero": 0, ":one": 1})
        attributes = await self._table.update(
            bot_key(bot.account_id, pending_id),
            update,
            values,
            "#status = :scheduled",
            return_values="ALL_NEW",
        )
        if attributes is not None:
            return bot_from(attributes)
        current = await self.get_bot(bot.account_id, pending_id)
        if current is not None and current.status is BotStatus.LAUNCHING:
            return current
        return None

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

    async def update_bot(self, bot: ScheduledBot, *, expected_status: BotStatus) -> bool:
        # The event, occurrence and meeting keys are the bot's identity (its dedup items are
        # keyed on them): an update never changes them; `rekey_bot` does.
        stored = bot_item(replace(bot, version=bot.version + 1), new_rev())
        values: dict[str, object] = {
            ":expected": expected_status.value,
            ":event_id": bot.event_id,
            ":occurrence_key": str(bot.occurrence_key),
            ":version": bot.version,
        }
        condition = (
            "attribute_exists(#PK) AND #status = :expected AND #event_id = :event_id "
            "AND #occurrence_key = :occurrence_key AND "
            + _meeting_condition(bot.meeting_key, values)
            + " AND "
            + _version_is(bot.version)
        )
        was_pending = is_pending(expected_status)
        if was_pending == is_pending(bot.status):
            written = await self._table.put(stored, condition, values)
        else:
            if was_pending:
                companions = [
                    release_pending_action(self._table, bot),
                    *release_meeting_actions(self._table, bot),
                ]
            else:
                companions = [self._table.action("Put", Item=pending_item(bot), condition=_NEW)]
                if bot.meeting_key is not None:
                    companions.append(
                        self._table.action(
                            "Put", Item=pending_meeting_item(bot, bot.meeting_key), condition=_NEW
                        )
                    )
            put = self._table.action("Put", Item=stored, condition=condition, values=values)
            written = await self._table.transact([put, *companions]) is None
        if written:
            bot.version += 1
        return written

    async def cancel_pending_bots(
        self, account_id: str, event_id: str, when: datetime
    ) -> list[ScheduledBot]:
        items = [
            typed
            for typed in await bot_items(self._table, account_id)
            if typed["event_id"]["S"] == event_id
            and typed["status"]["S"] == BotStatus.SCHEDULED.value
        ]
        results = await bounded(self._cancel_scheduled(typed, when) for typed in items)
        return [bot for bot in results if bot is not None]

    async def _cancel_scheduled(self, typed: Item | None, when: datetime) -> ScheduledBot | None:
        """Cancel a scheduled bot as last read (its `rev`), so the bot returned is exactly the
        one cancelled; re-read and retry if it changed in between."""
        for _ in range(ATTEMPTS):
            if typed is None or typed["status"]["S"] != BotStatus.SCHEDULED.value:
                return None
            bot = bot_from(typed)
            reasons = await self._table.transact(
                [
                    self._table.action(
                        "Update",
                        Key=base_key(typed),
                        update="SET #status = :cancelled, #updated_at = :when, "
                        f"#rev = :new_rev, {_BUMP_VERSION} REMOVE #GSI1PK, #GSI1SK",
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
                ]
            )
            if reasons is None:
                return replace(
                    bot,
                    status=BotStatus.CANCELLED,
                    updated_at=time_of(time_text(when)),
                    version=bot.version + 1,
                )
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
            f"#GSI1PK = :queue_pk, #GSI1SK = :queue_sk, #rev = :rev, {_BUMP_VERSION}",
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
        return sum(await bounded(self._purge(typed) for typed in doomed))

    async def _purge(self, typed: Item) -> bool:
        """Delete a bot as last read (its `rev`), its pointer, its occurrence claim if the claim
        names it, and its place in its meeting claim; False if the bot changed meanwhile."""
        bot = bot_from(typed)
        actions = [
            self._table.action(
                "Delete",
                Key=base_key(typed),
                condition="#rev = :rev",
                values={":rev": typed["rev"]["S"]},
            ),
            self._table.action("Delete", Key=bot_pointer_key(bot.bot_id)),
        ]
        claim_key = occurrence_claim_key(bot.account_id, bot.event_id, bot.occurrence_key)
        claim = await self._table.get(claim_key)
        if claim is not None and claim["bot_id"]["S"] == bot.bot_id:
            actions.append(
                self._table.action(
                    "Delete",
                    Key=claim_key,
                    condition="#bot_id = :bot_id",
                    values={":bot_id": bot.bot_id},
                )
            )
        if await self._table.transact(actions) is not None:
            return False
        if bot.meeting_key is not None:  # nothing of it may stand for its meeting occurrence
            await self._drop_claimant(bot, bot.meeting_key)
        return True

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
        actions, _ = self._insert_actions(bot, any_status=True)
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
    ) -> bool:
        table = self._table
        previous = replace(
            bot, occurrence_key=previous_occurrence_key, meeting_key=previous_meeting_key
        )
        values: dict[str, object] = {
            ":expected": expected_status.value,
            ":event_id": bot.event_id,
            ":occurrence_key": str(previous_occurrence_key),
            ":version": bot.version,
        }
        condition = (
            "attribute_exists(#PK) AND #status = :expected AND #event_id = :event_id "
            "AND #occurrence_key = :occurrence_key AND "
            + _meeting_condition(previous_meeting_key, values)
            + " AND "
            + _version_is(bot.version)
        )
        stored = bot_item(replace(bot, version=bot.version + 1), new_rev())
        actions = [table.action("Put", Item=stored, condition=condition, values=values)]
        was, now = is_pending(expected_status), is_pending(bot.status)
        new_occurrence = previous_occurrence_key != bot.occurrence_key
        new_meeting = previous_meeting_key != bot.meeting_key
        if new_occurrence:
            actions.append(table.action("Put", Item=occurrence_claim_item(bot)))
        if was and (not now or new_occurrence):
            actions.append(release_pending_action(table, previous))
        if now and (not was or new_occurrence):
            actions.append(table.action("Put", Item=pending_item(bot), condition=_NEW))
        if was and (not now or new_meeting):
            actions.extend(release_meeting_actions(table, previous))
        if now and bot.meeting_key is not None and (not was or new_meeting):
            actions.append(
                table.action("Put", Item=pending_meeting_item(bot, bot.meeting_key), condition=_NEW)
            )
        if was and new_meeting and bot.meeting_key is not None:
            # A pending bot always claims its meeting: the claim moves with it.
            actions.append(claim_meeting_action(table, bot, bot.meeting_key, first=False))
        if await table.transact(actions) is not None:
            return False
        bot.version += 1
        if new_meeting and previous_meeting_key is not None:
            held = await self._drop_claimant(previous, previous_meeting_key)
            if held and not was and bot.meeting_key is not None:
                # A finished bot moves its claim only if it still held one (not released).
                await table.transact(
                    [claim_meeting_action(table, bot, bot.meeting_key, first=False)]
                )
        return True

    async def release_meeting_claim(self, bot: ScheduledBot) -> None:
        if bot.meeting_key is not None:
            await self._drop_claimant(bot, bot.meeting_key)

    async def _drop_claimant(self, bot: ScheduledBot, meeting_key: str) -> bool:
        """Take the bot out of the meeting occurrence's claimants; False if it was not one."""
        attributes = await self._table.update(
            meeting_claim_key(bot.account_id, meeting_key),
            "DELETE #claimants :me",
            {":me": frozenset({bot.bot_id}), ":id": bot.bot_id},
            "contains(#claimants, :id)",
        )
        return attributes is not None


def _version_is(version: int) -> str:
    """The condition that the stored version is `:version` (an item written before versions
    has none, which counts as 0)."""
    if version == 0:
        return "(attribute_not_exists(#version) OR #version = :version)"
    return "#version = :version"
