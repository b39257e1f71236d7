"""A bot's claims and dedup items on DynamoDB: the actions that take, move and release them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from app.adapters.aws.dynamodb.codec import (
    bot_from,
    bot_item,
    bot_pointer_item,
    new_rev,
    occurrence_claim_item,
    pending_item,
    pending_meeting_item,
    time_of,
)
from app.adapters.aws.dynamodb.outbox import outbox_put_items
from app.adapters.aws.dynamodb.table import (
    BOT_PREFIX,
    OCCURRENCE_CLAIM_PREFIX,
    Item,
    account_pk,
    base_key,
    bot_key,
    bot_pointer_key,
    meeting_claim_key,
    occurrence_claim_key,
    pending_key,
    pending_meeting_key,
    time_text,
)
from app.adapters.aws.dynamodb.transactions import TableClient
from app.bot_changes import BotChange, bot_message, cancelled
from app.domain import (
    DISCONNECTED,
    BotStatus,
    OccurrenceKey,
    ScheduledBot,
    claims_occurrence_after_disconnect,
    is_pending,
)

NEW_ITEM = "attribute_not_exists(#PK)"
# One assignment of a SET clause: the bot's version goes up by one (an item written before
# versions counts as 0). Its expression values are `:zero` and `:one`.
BUMP_VERSION = "#version = if_not_exists(#version, :zero) + :one"
HELD_BY_BOT = "attribute_not_exists(#PK) OR #bot_id = :bot_id"


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
            condition=HELD_BY_BOT,
            values={":bot_id": bot.bot_id},
        )
    ]


def pending_change_actions(
    table: TableClient, bot: ScheduledBot, *, leaving: bool
) -> list[dict[str, Any]]:
    """The dedup items' side of a bot moving out of pending (`leaving`) or into it."""
    if leaving:
        return [release_pending_action(table, bot), *release_meeting_actions(table, bot)]
    actions = [table.action("Put", Item=pending_item(bot), condition=NEW_ITEM)]
    if bot.meeting_key is not None:
        actions.append(
            table.action("Put", Item=pending_meeting_item(bot, bot.meeting_key), condition=NEW_ITEM)
        )
    return actions


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


def meeting_condition(meeting_key: str | None, values: dict[str, object]) -> str:
    """The stored bot has this meeting key (or none)."""
    if meeting_key is None:
        return "attribute_not_exists(#meeting_key)"
    values[":meeting_key"] = meeting_key
    return "#meeting_key = :meeting_key"


async def cancel_pending_bot(table: TableClient, bot: ScheduledBot, when: datetime) -> bool:
    """Cancel a scheduled or launching bot (a disconnect), with its `bot.cancelled` message;
    False if it left pending first."""
    after = replace(
        bot,
        status=BotStatus.CANCELLED,
        updated_at=time_of(time_text(when)),
        last_error=DISCONNECTED.sentence,
        version=bot.version + 1,
    )
    message = bot_message(after, cancelled(DISCONNECTED.reason), when)
    reasons = await table.transact(
        [
            table.action(
                "Update",
                Key=bot_key(bot.account_id, bot.bot_id),
                update="SET #status = :cancelled, #updated_at = :when, #rev = :rev, "
                f"#last_error = :why, {BUMP_VERSION} REMOVE #GSI1PK, #GSI1SK",
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
            *outbox_put_items(table.name, [message]),
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


def insert_actions(
    table: TableClient, bot: ScheduledBot, *, any_status: bool
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Create the bot, its pointer, its occurrence and meeting claims and (while pending)
    its dedup items, and say where the dedup items (`pending`, `meeting`) are in the list.
    With `any_status` the claims must be new too."""
    actions = [
        table.action("Put", Item=bot_item(bot, new_rev()), condition=NEW_ITEM),
        table.action("Put", Item=bot_pointer_item(bot), condition=NEW_ITEM),
        table.action(
            "Put", Item=occurrence_claim_item(bot), condition=NEW_ITEM if any_status else None
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
                condition=NEW_ITEM,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        )
        if bot.meeting_key is not None:
            where["meeting"] = len(actions)
            actions.append(
                table.action(
                    "Put",
                    Item=pending_meeting_item(bot, bot.meeting_key),
                    condition=NEW_ITEM,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            )
    return actions, where


async def rekey(
    table: TableClient,
    bot: ScheduledBot,
    *,
    expected_status: BotStatus,
    previous_occurrence_key: OccurrenceKey,
    previous_meeting_key: str | None,
    change: BotChange | None = None,
) -> bool:
    """Write the bot under its new occurrence or meeting key, moving its claims and dedup
    items with it (and `change`'s message); False if the stored bot is not the one expected."""
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
        + meeting_condition(previous_meeting_key, values)
        + " AND "
        + version_is(bot.version)
    )
    written = replace(bot, version=bot.version + 1)
    stored = bot_item(written, new_rev())
    actions = [table.action("Put", Item=stored, condition=condition, values=values)]
    if change is not None:
        message = bot_message(written, change, written.updated_at)
        actions.extend(outbox_put_items(table.name, [message]))
    was, now = is_pending(expected_status), is_pending(bot.status)
    new_occurrence = previous_occurrence_key != bot.occurrence_key
    new_meeting = previous_meeting_key != bot.meeting_key
    if new_occurrence:
        actions.append(table.action("Put", Item=occurrence_claim_item(bot)))
    if was and (not now or new_occurrence):
        actions.append(release_pending_action(table, previous))
    if now and (not was or new_occurrence):
        actions.append(table.action("Put", Item=pending_item(bot), condition=NEW_ITEM))
    if was and (not now or new_meeting):
        actions.extend(release_meeting_actions(table, previous))
    if now and bot.meeting_key is not None and (not was or new_meeting):
        actions.append(
            table.action("Put", Item=pending_meeting_item(bot, bot.meeting_key), condition=NEW_ITEM)
        )
    if was and new_meeting and bot.meeting_key is not None:
        # A pending bot always claims its meeting: the claim moves with it.
        actions.append(claim_meeting_action(table, bot, bot.meeting_key, first=False))
    if await table.transact(actions) is not None:
        return False
    bot.version += 1
    if new_meeting and previous_meeting_key is not None:
        held = await drop_claimant(table, previous, previous_meeting_key)
        if held and not was and bot.meeting_key is not None:
            # A finished bot moves its claim only if it still held one (not released).
            await table.transact([claim_meeting_action(table, bot, bot.meeting_key, first=False)])
    return True


async def drop_claimant(table: TableClient, bot: ScheduledBot, meeting_key: str) -> bool:
    """Take the bot out of the meeting occurrence's claimants; False if it was not one."""
    attributes = await table.update(
        meeting_claim_key(bot.account_id, meeting_key),
        "DELETE #claimants :me",
        {":me": frozenset({bot.bot_id}), ":id": bot.bot_id},
        "contains(#claimants, :id)",
    )
    return attributes is not None


async def purge_bot(table: TableClient, typed: Item) -> bool:
    """Delete a bot as last read (its `rev`), its pointer, its occurrence claim if the claim
    names it, and its place in its meeting claim; False if the bot changed meanwhile."""
    bot = bot_from(typed)
    actions = [
        table.action(
            "Delete",
            Key=base_key(typed),
            condition="#rev = :rev",
            values={":rev": typed["rev"]["S"]},
        ),
        table.action("Delete", Key=bot_pointer_key(bot.bot_id)),
    ]
    claim_key = occurrence_claim_key(bot.account_id, bot.event_id, bot.occurrence_key)
    claim = await table.get(claim_key)
    if claim is not None and claim["bot_id"]["S"] == bot.bot_id:
        actions.append(
            table.action(
                "Delete",
                Key=claim_key,
                condition="#bot_id = :bot_id",
                values={":bot_id": bot.bot_id},
            )
        )
    if await table.transact(actions) is not None:
        return False
    if bot.meeting_key is not None:  # nothing of it may stand for its meeting occurrence
        await drop_claimant(table, bot, bot.meeting_key)
    return True


def version_is(version: int) -> str:
    """The condition that the stored version is `:version` (an item written before versions
    has none, which counts as 0)."""
    if version == 0:
        return "(attribute_not_exists(#version) OR #version = :version)"
    return "#version = :version"
