"""The transactional outbox from the writer's side: a store write that changes a bot (or a
calendar's connection or sync health) appends its message in the same write, exactly once;
a write that does not happen (a lost compare-and-set, a refused insert) appends nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

from app.adapters.ports import Stores
from app.bot_changes import cancelled, finished, updated
from app.bot_payload import bot_payload
from app.domain import BotStatus, OutboxMessage
from tests.adapters.store_contract.builders import (
    ACCOUNT,
    CAL,
    NOW,
    PRIMARY,
    SHARED,
    TEAM,
    at,
    bot,
    connection,
    event,
    synced,
)


async def messages(stores: Stores) -> list[OutboxMessage]:
    return await stores.outbox.unrouted_messages(1000)


def summary(message: OutboxMessage) -> tuple[Any, ...]:
    data = message.data
    return (message.type, *(data[k] for k in ("reason", "changes") if k in data))


async def test_scheduling_writes_one_bot_scheduled_and_deduplication_none(stores: Stores) -> None:
    meeting = event("m1", at(1))
    first = bot(meeting, bot_id="bot_1")

    stored, created = await stores.bots.insert_or_update_pending_bot(first)
    await stores.bots.insert_or_update_pending_bot(dataclasses.replace(first, bot_id="bot_2"))

    assert created
    [message] = await messages(stores)
    assert (message.type, message.account_id) == ("bot.scheduled", ACCOUNT)
    assert message.data == {"bot": bot_payload(stored)}


async def test_rescheduling_with_another_config_writes_the_changed_fields(
    stores: Stores,
) -> None:
    meeting = event("m1", at(1))
    await stores.bots.insert_or_update_pending_bot(bot(meeting, bot_id="bot_1"))
    again = bot(meeting, bot_id="bot_2", bot_config={"bot_name": "Other"}, updated_at=NOW)

    stored, created = await stores.bots.insert_or_update_pending_bot(again)

    assert not created
    updates = [m for m in await messages(stores) if m.type == "bot.updated"]
    assert [summary(m) for m in updates] == [("bot.updated", "updated_by_user", ["bot_config"])]
    assert updates[0].data["bot"] == bot_payload(stored)
    assert stored.bot_config == {"bot_name": "Other"}


async def test_a_lost_compare_and_set_writes_no_message_a_won_one_exactly_one(
    stores: Stores,
) -> None:
    meeting = event("m1", at(1))
    stored, _ = await stores.bots.insert_or_update_pending_bot(bot(meeting, bot_id="bot_1"))
    stale = dataclasses.replace(stored)
    moved = dataclasses.replace(stored, join_at=at(0.5), updated_at=NOW)
    change = updated("meeting_moved", ("join_at",))
    assert await stores.bots.update_bot(moved, expected_status=BotStatus.SCHEDULED, change=change)
    count = len(await messages(stores))

    stale.status = BotStatus.CANCELLED
    lost = await stores.bots.update_bot(
        stale, expected_status=BotStatus.SCHEDULED, change=cancelled("deleted_by_user")
    )

    assert not lost
    assert len(await messages(stores)) == count == 2
    [update] = [m for m in await messages(stores) if m.type == "bot.updated"]
    current = await stores.bots.get_bot(ACCOUNT, "bot_1")
    assert current is not None
    assert update.data["bot"] == bot_payload(current)
    assert update.data["bot"]["join_at"] == "2026-11-25T12:30:00Z"


async def test_a_launch_outcome_writes_its_message(stores: Stores) -> None:
    meeting = event("m1", at(1))
    await stores.bots.insert_or_update_pending_bot(bot(meeting, bot_id="bot_1", join_at=NOW))
    claimed = await stores.bots.claim_bot("bot_1", NOW, stale_launching_before=at(-1))
    assert claimed is not None
    assert len(await messages(stores)) == 1  # claiming tells nothing

    claimed.status, claimed.external_bot_id, claimed.updated_at = BotStatus.LAUNCHED, "ext", NOW
    change = finished(BotStatus.LAUNCHED)
    assert await stores.bots.update_bot(claimed, expected_status=BotStatus.LAUNCHING, change=change)

    launched = [m for m in await messages(stores) if m.type == "bot.launched"]
    assert [m.data["bot"]["external_bot_id"] for m in launched] == ["ext"]


async def test_unscheduling_writes_one_cancellation_per_bot(stores: Stores) -> None:
    series = event("s1", at(1), recurrence=("RRULE:FREQ=WEEKLY",))
    await synced(stores.events, series)
    for week in (0, 1):
        each = bot(series, bot_id=f"bot_{week}", occurrence_start=at(1 + 168 * week))
        await stores.bots.insert_or_update_pending_bot(each)

    done = await stores.bots.cancel_pending_bots(ACCOUNT, series.event_id, NOW, reason="paused")

    cancellations = [m for m in await messages(stores) if m.type == "bot.cancelled"]
    assert sorted(m.data["bot"]["bot_id"] for m in cancellations) == ["bot_0", "bot_1"]
    assert {m.data["reason"] for m in cancellations} == {"paused"}
    assert {m.data["bot"]["status"] for m in cancellations} == {"cancelled"}
    assert len(done) == 2


async def test_auto_scheduling_writes_bot_scheduled_only_for_bots_it_inserted(
    stores: Stores,
) -> None:
    meeting = event("m1", at(1))
    await synced(stores.events, meeting)
    await stores.bots.insert_or_update_pending_bot(bot(meeting, bot_id="bot_manual"))

    other = event("m2", at(3))
    await synced(stores.events, meeting, other)
    inserted = await stores.bots.insert_bots_unless_exist(
        [bot(meeting, bot_id="bot_auto_1"), bot(other, bot_id="bot_auto_2")]
    )

    assert [b.bot_id for b in inserted] == ["bot_auto_2"]
    scheduled = sorted(m.data["bot"]["bot_id"] for m in await messages(stores))
    assert scheduled == ["bot_auto_2", "bot_manual"]


async def test_disconnect_writes_each_cancellation_and_calendar_disconnected(
    stores: Stores,
) -> None:
    await stores.connections.save_connection(connection(), [PRIMARY, SHARED])
    meeting = event("m1", at(1))
    await synced(stores.events, meeting)
    await stores.bots.insert_or_update_pending_bot(bot(meeting, bot_id="bot_1"))

    assert await stores.connections.delete_connection(ACCOUNT, at(0.5), channels_stopped=2) == 1

    written = sorted(map(summary, await messages(stores)))
    assert written == [
        ("bot.cancelled", "disconnected"),
        ("bot.scheduled",),
        ("calendar.disconnected",),
    ]
    [told] = [m for m in await messages(stores) if m.type == "calendar.disconnected"]
    assert told.data == {"channels_stopped": 2, "bots_cancelled": 1}


async def test_revoked_credentials_are_written_once_with_the_calendars(stores: Stores) -> None:
    await stores.connections.save_connection(connection(), [PRIMARY, SHARED])

    assert await stores.connections.mark_revoked(ACCOUNT, "cred_any", NOW)
    assert not await stores.connections.mark_revoked(ACCOUNT, "cred_any", NOW)

    [revoked] = await messages(stores)
    assert revoked.type == "calendar.credentials_revoked"
    assert revoked.data == {"calendar_ids": [CAL, TEAM]}


async def test_sync_failures_write_a_message_on_the_1st_and_3rd_in_a_row(stores: Stores) -> None:
    for hour in range(4):
        await stores.sync_health.record_sync_failure(ACCOUNT, CAL, at(hour), "Google is down.")

    told = sorted(
        (m.data["consecutive_failures"], m.data["calendar_id"], m.data["error"])
        for m in await messages(stores)
    )
    assert told == [(1, CAL, "Google is down."), (3, CAL, "Google is down.")]
