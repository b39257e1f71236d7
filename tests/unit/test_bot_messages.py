"""Every state change tells the client why (CONTRACT section 8): each cause writes exactly the
messages the contract lists, with their reason, in the same store write as the change.

Memory stores, table-driven: each case arranges a meeting with a scheduled bot (`arranged`),
then does one thing; the messages that thing wrote are compared with the expected ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from app.bot_payload import bot_payload
from app.domain import BotStatus, OutboxMessage, ScheduledBot
from app.errors import CredentialsRevoked, GoogleUnavailable
from app.services.scheduling import BotChanges
from tests.unit.calbot import ACCOUNT, CAL, CREDENTIALS, Calbot, at, meeting

ZOOM = "https://us02web.zoom.us/j/81234567890"
CONFIG = {"bot_name": "Notes"}


async def outbox(calbot: Calbot) -> list[OutboxMessage]:
    return await calbot.stores.outbox.unrouted_messages(10_000)


def summary(message: OutboxMessage) -> tuple[Any, ...]:
    """(type, reason, changes), the last two only where the type has them."""
    data = message.data
    return (message.type, *(data[k] for k in ("reason", "changes") if k in data))


async def arranged(calbot: Calbot) -> ScheduledBot:
    """A meeting at +1 h synced, with a bot scheduled by hand."""
    calbot.google.put_event(CAL, meeting("m", at(1), at(2)))
    await calbot.connect()
    await calbot.refresh()
    bot, _ = await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("m"), CONFIG)
    return bot


async def schedule_again_with_another_config(calbot: Calbot, bot: ScheduledBot) -> None:
    await calbot.scheduling.schedule(ACCOUNT, bot.event_id, {"bot_name": "Minutes"})


async def schedule_again_unchanged(calbot: Calbot, bot: ScheduledBot) -> None:
    await calbot.scheduling.schedule(ACCOUNT, bot.event_id, CONFIG)


async def patch_join_at_and_name(calbot: Calbot, bot: ScheduledBot) -> None:
    changes = BotChanges(frozenset({"join_at", "bot_name"}), join_at=at(0.5), bot_name="Scribe")
    await calbot.scheduling.update_bot(ACCOUNT, bot.bot_id, changes)


async def delete_bot(calbot: Calbot, bot: ScheduledBot) -> None:
    await calbot.scheduling.cancel_bot(ACCOUNT, bot.bot_id)


async def delete_schedule(calbot: Calbot, bot: ScheduledBot) -> None:
    await calbot.scheduling.unschedule(ACCOUNT, bot.event_id)


async def move_meeting(calbot: Calbot, bot: ScheduledBot) -> None:
    calbot.google.put_event(CAL, meeting("m", at(5), at(6)))
    await calbot.refresh()


async def cancel_meeting(calbot: Calbot, bot: ScheduledBot) -> None:
    calbot.google.cancel_event(CAL, "m")
    await calbot.refresh()


async def meeting_vanishes(calbot: Calbot, bot: ScheduledBot) -> None:
    calbot.google.forget_event(CAL, "m")
    calbot.google.expire_sync_tokens = True
    await calbot.refresh()


async def change_link(calbot: Calbot, bot: ScheduledBot) -> None:
    calbot.google.put_event(CAL, meeting("m", at(1), at(2), link=None, location=ZOOM))
    await calbot.refresh()


async def remove_link(calbot: Calbot, bot: ScheduledBot) -> None:
    calbot.google.put_event(CAL, meeting("m", at(1), at(2), link=None))
    await calbot.refresh()


async def launch(calbot: Calbot, bot: ScheduledBot) -> None:
    calbot.clock.set(bot.join_at)
    await calbot.launcher.launch_due()
    await calbot.launcher.wait_for_launches()


async def launch_refused(calbot: Calbot, bot: ScheduledBot) -> None:
    calbot.bot_api.rejection = "meeting_link is not a meeting we can join"
    await launch(calbot, bot)


async def launch_after_the_meeting(calbot: Calbot, bot: ScheduledBot) -> None:
    calbot.clock.set(at(2.5))  # calbot was down through the whole meeting
    await calbot.launcher.launch_due()
    await calbot.launcher.wait_for_launches()


async def disconnect(calbot: Calbot, bot: ScheduledBot) -> None:
    await calbot.connections.disconnect(ACCOUNT)


async def reconnect_to_an_account_without_the_calendar(calbot: Calbot, bot: ScheduledBot) -> None:
    calbot.google.remove_calendar(CAL)
    calbot.google.add_calendar("other@example.com", primary=True)
    await calbot.connections.connect(ACCOUNT, CREDENTIALS)


@dataclass(frozen=True)
class Case:
    cause: Callable[[Calbot, ScheduledBot], Awaitable[None]]
    expected: list[tuple[Any, ...]]


CASES = {
    "schedule again, another config": Case(
        schedule_again_with_another_config, [("bot.updated", "updated_by_user", ["bot_config"])]
    ),
    "schedule again, same config": Case(schedule_again_unchanged, []),
    "PATCH": Case(
        patch_join_at_and_name, [("bot.updated", "updated_by_user", ["join_at", "bot_name"])]
    ),
    "DELETE the bot": Case(delete_bot, [("bot.cancelled", "deleted_by_user")]),
    "DELETE the schedule": Case(delete_schedule, [("bot.cancelled", "unscheduled_by_user")]),
    "meeting moved": Case(move_meeting, [("bot.updated", "meeting_moved", ["join_at"])]),
    "meeting cancelled": Case(cancel_meeting, [("bot.cancelled", "meeting_cancelled")]),
    "meeting vanished": Case(meeting_vanishes, [("bot.cancelled", "meeting_deleted")]),
    "link changed": Case(change_link, [("bot.updated", "link_changed", ["meeting_link"])]),
    "link removed": Case(remove_link, [("bot.cancelled", "link_removed")]),
    "launched": Case(launch, [("bot.launched",)]),
    "launch refused": Case(launch_refused, [("bot.failed",)]),
    "meeting over before the launch": Case(launch_after_the_meeting, [("bot.missed",)]),
    "disconnect": Case(disconnect, [("bot.cancelled", "disconnected"), ("calendar.disconnected",)]),
    "connection replaced": Case(
        reconnect_to_an_account_without_the_calendar, [("bot.cancelled", "meeting_deleted")]
    ),
}


@pytest.mark.parametrize("name", CASES)
async def test_each_cause_writes_its_messages_with_their_reason(calbot: Calbot, name: str) -> None:
    case = CASES[name]
    bot = await arranged(calbot)
    before = {m.message_id for m in await outbox(calbot)}

    await case.cause(calbot, bot)

    written = [m for m in await outbox(calbot) if m.message_id not in before]
    assert sorted(map(summary, written)) == sorted(case.expected)
    stored = await calbot.stores.bots.get_bot(ACCOUNT, bot.bot_id)
    assert stored is not None
    for message in written:
        assert message.account_id == ACCOUNT
        assert message.message_id.startswith("msg_")
        if message.type.startswith("bot."):
            assert message.data["bot"] == bot_payload(stored)  # as GET /scheduled_bots shows it


async def test_scheduling_writes_bot_scheduled_with_the_bot_as_stored(calbot: Calbot) -> None:
    bot = await arranged(calbot)

    [message] = await outbox(calbot)

    assert message.type == "bot.scheduled"
    assert message.data == {"bot": bot_payload(bot)}
    assert message.data["bot"]["status"] == "scheduled"


async def test_auto_scheduling_writes_bot_scheduled_for_each_new_bot(calbot: Calbot) -> None:
    for n in (1, 2):
        calbot.google.put_event(CAL, meeting(f"m{n}", at(n), at(n + 0.5)))
    await calbot.connect()
    await calbot.refresh()

    await calbot.auto_schedule.enable(ACCOUNT, {"bot_name": "Auto"})

    messages = await outbox(calbot)
    assert [m.type for m in messages] == ["bot.scheduled", "bot.scheduled"]
    assert {m.data["bot"]["source"] for m in messages} == {"auto_schedule"}


async def test_every_status_change_of_a_bot_has_exactly_one_message(calbot: Calbot) -> None:
    bot = await arranged(calbot)
    calbot.clock.advance(60)  # messages are listed oldest first
    await move_meeting(calbot, bot)
    moved = await calbot.stores.bots.get_bot(ACCOUNT, bot.bot_id)
    assert moved is not None
    await launch(calbot, moved)

    messages = [m for m in await outbox(calbot) if m.data["bot"]["bot_id"] == bot.bot_id]

    assert [summary(m) for m in messages] == [
        ("bot.scheduled",),
        ("bot.updated", "meeting_moved", ["join_at"]),
        ("bot.launched",),
    ]
    launched = messages[-1].data["bot"]
    assert (launched["status"], launched["external_bot_id"]) == (BotStatus.LAUNCHED, "ext-1")


async def test_failed_syncs_are_told_on_the_1st_3rd_and_every_10th_in_a_row(
    calbot: Calbot,
) -> None:
    await calbot.connect()
    await calbot.refresh()

    for _ in range(20):
        calbot.google.fail_on_page = 1
        with pytest.raises(GoogleUnavailable):
            await calbot.refresh()

    failed = [m for m in await outbox(calbot) if m.type == "calendar.sync_failed"]
    assert sorted(m.data["consecutive_failures"] for m in failed) == [1, 3, 10, 20]
    assert {m.data["calendar_id"] for m in failed} == {CAL}
    assert all(m.data["error"] for m in failed)


async def test_revoked_credentials_are_told_once_with_the_calendars(calbot: Calbot) -> None:
    await calbot.connect()
    calbot.google.refresh_tokens.clear()  # the user removed calbot's access at Google

    for _ in range(2):
        with pytest.raises(CredentialsRevoked):
            await calbot.refresh()

    revoked = [m for m in await outbox(calbot) if m.type == "calendar.credentials_revoked"]
    assert [m.data for m in revoked] == [{"calendar_ids": [CAL]}]


async def test_a_series_cut_short_before_a_bots_occurrence_says_series_ended(
    calbot: Calbot,
) -> None:
    calbot.google.put_event(CAL, meeting("s", at(1), at(2), recurrence=["RRULE:FREQ=WEEKLY"]))
    await calbot.connect()
    await calbot.refresh()
    event_id = await calbot.event_id("s")
    later = (at(1) + timedelta(days=14)).date()
    bot, _ = await calbot.scheduling.schedule(ACCOUNT, event_id, CONFIG, occurrence_date=later)
    before = {m.message_id for m in await outbox(calbot)}

    until = (at(1) + timedelta(days=8)).strftime("%Y%m%dT%H%M%SZ")
    calbot.google.put_event(
        CAL, meeting("s", at(1), at(2), recurrence=[f"RRULE:FREQ=WEEKLY;UNTIL={until}"])
    )
    await calbot.refresh()

    written = [m for m in await outbox(calbot) if m.message_id not in before]
    told = [summary(m) for m in written if m.data.get("bot", {}).get("bot_id") == bot.bot_id]
    assert told == [("bot.cancelled", "series_ended")]
