"""A meeting that starts or stops repeating keeps its bot (issue 12, case 2): the bot of a
one-off becomes the bot of the series' occurrence it was joining, a series occurrence's bot the
one-off's, and there is never a second pending bot for one real occurrence."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from app.domain import BotSource, BotStatus, OccurrenceKey, ScheduledBot
from tests.unit.calbot import ACCOUNT, CAL, JOIN_LEAD, Calbot, at, meeting

DAILY: dict[str, Any] = {"recurrence": ["RRULE:FREQ=DAILY"]}
WEEKLY: dict[str, Any] = {"recurrence": ["RRULE:FREQ=WEEKLY"]}


async def synced(calbot: Calbot, resource: dict[str, Any]) -> str:
    """The meeting put in Google and synced; its calbot event id."""
    calbot.google.put_event(CAL, resource)
    await calbot.connect()
    await calbot.refresh()
    return await calbot.event_id(resource["id"])


async def pending(calbot: Calbot) -> list[ScheduledBot]:
    return await calbot.stores.bots.list_bots(ACCOUNT, status=BotStatus.SCHEDULED)


async def launched(calbot: Calbot) -> None:
    calbot.clock.set(max(b.join_at for b in await pending(calbot)))
    await calbot.launcher.launch_due()
    await calbot.launcher.wait_for_launches()


async def test_a_one_off_that_becomes_recurring_keeps_one_bot(calbot: Calbot) -> None:
    await synced(calbot, meeting("m1", at(1), at(2)))
    await calbot.auto_schedule.enable(ACCOUNT, {"bot_name": "Auto"})
    [bot] = await pending(calbot)

    calbot.google.put_event(CAL, meeting("m1", at(1), at(2), **DAILY))
    await calbot.refresh()  # bots follow, then auto-scheduling runs again
    await calbot.auto_schedule.run_pass()

    [kept] = await pending(calbot)
    assert kept.bot_id == bot.bot_id
    assert kept.occurrence_key == OccurrenceKey(at(1))
    assert (kept.occurrence_start, kept.join_at) == (at(1), at(1) - JOIN_LEAD)


async def test_a_one_off_moved_as_it_becomes_recurring_keeps_its_bot_on_the_first_occurrence(
    calbot: Calbot,
) -> None:
    event_id = await synced(calbot, meeting("m1", at(1), at(2)))
    bot, _ = await calbot.scheduling.schedule(ACCOUNT, event_id, {"bot_name": "Notes"})

    calbot.google.put_event(CAL, meeting("m1", at(3), at(4), **WEEKLY))
    await calbot.refresh()

    [kept] = await pending(calbot)
    assert (kept.bot_id, kept.occurrence_key) == (bot.bot_id, OccurrenceKey(at(3)))
    assert calbot.scheduler.join_at == {bot.bot_id: at(3) - JOIN_LEAD}


async def test_auto_reschedule_of_a_one_off_that_became_recurring_schedules_the_next_one(
    calbot: Calbot,
) -> None:
    event_id = await synced(calbot, meeting("m1", at(1), at(2)))
    await calbot.scheduling.schedule(ACCOUNT, event_id, {"bot_name": "Notes"})
    await launched(calbot)
    calbot.google.put_event(CAL, meeting("m1", at(1), at(2), **DAILY))
    await calbot.refresh()

    following = await calbot.scheduling.auto_reschedule(ACCOUNT, event_id)

    assert (following.occurrence_start, following.source) == (at(25), BotSource.RECURRENCE)
    assert following.bot_config == {"bot_name": "Notes"}


async def test_a_meeting_under_way_that_becomes_recurring_gets_no_second_bot(
    calbot: Calbot,
) -> None:
    await synced(calbot, meeting("m1", at(1), at(2)))
    await calbot.auto_schedule.enable(ACCOUNT, {"bot_name": "Auto"})
    await launched(calbot)
    calbot.clock.set(at(1.5))  # the meeting is under way, its bot in it

    calbot.google.put_event(CAL, meeting("m1", at(1), at(2), **DAILY))
    await calbot.refresh()
    await calbot.auto_schedule.run_pass()

    today = [b for b in await calbot.bots() if b.occurrence_start == at(1)]
    assert [(b.status, b.occurrence_key) for b in today] == [
        (BotStatus.LAUNCHED, OccurrenceKey(at(1)))
    ]
    assert len(calbot.bot_api.bots) == 1
    tomorrow = [b.occurrence_start for b in await pending(calbot)]
    assert tomorrow == [at(25)]  # the next occurrence, within the lookahead, gets its own


async def test_a_series_that_becomes_a_one_off_keeps_only_the_bot_of_its_occurrence(
    calbot: Calbot,
) -> None:
    event_id = await synced(calbot, meeting("s1", at(1), at(2), **WEEKLY))
    this_week, _ = await calbot.scheduling.schedule(ACCOUNT, event_id, {"bot_name": "Notes"})
    next_week, _ = await calbot.scheduling.schedule(
        ACCOUNT, event_id, {"bot_name": "Notes"}, occurrence_date=date(2026, 12, 2)
    )

    calbot.google.put_event(CAL, meeting("s1", at(1), at(2)))  # "does not repeat" any more
    await calbot.refresh()

    [kept] = await pending(calbot)
    assert (kept.bot_id, kept.occurrence_key) == (this_week.bot_id, OccurrenceKey.single())
    gone = await calbot.stores.bots.get_bot(ACCOUNT, next_week.bot_id)
    assert gone is not None
    assert gone.status is BotStatus.CANCELLED
    assert gone.last_error is not None
    assert "no longer exists" in gone.last_error
    assert calbot.scheduler.cancelled == [next_week.bot_id]
    assert set(calbot.scheduler.join_at) == {this_week.bot_id}


async def test_a_series_that_becomes_a_one_off_at_another_time_loses_its_bots(
    calbot: Calbot,
) -> None:
    event_id = await synced(calbot, meeting("s1", at(1), at(2), **WEEKLY))
    bot, _ = await calbot.scheduling.schedule(ACCOUNT, event_id, {"bot_name": "Notes"})

    calbot.google.put_event(CAL, meeting("s1", at(30), at(31)))
    await calbot.refresh()

    assert await pending(calbot) == []
    assert calbot.scheduler.cancelled == [bot.bot_id]


def test_an_occurrence_key_is_stored_as_text_and_read_back_as_the_same_key() -> None:
    berlin = at(1).astimezone(ZoneInfo("Europe/Berlin")).replace(microsecond=250)
    keys = [OccurrenceKey.single(), OccurrenceKey(at(1)), OccurrenceKey(berlin)]

    assert [str(key) for key in keys] == [
        "single",
        "2026-11-25T13:00:00Z",
        "2026-11-25T13:00:00Z",
    ]
    assert [OccurrenceKey.parse(str(key)) for key in keys] == keys
    assert keys[1] == keys[2]  # one instant, however it was written
