"""Scheduling bots for meetings and series, on memory stores: what the user sees of it."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from app.domain import BotSource, BotStatus, ScheduleStatus
from app.errors import (
    BotNotPending,
    CalbotError,
    EventCancelled,
    EventNotFound,
    NoMeetingLink,
    OccurrenceEnded,
)
from app.services.scheduling import BotChanges
from tests.unit.calbot import ACCOUNT, CAL, JOIN_LEAD, NOW, Calbot, at, meeting

WEEKLY: dict[str, Any] = {"recurrence": ["RRULE:FREQ=WEEKLY"]}


async def synced(calbot: Calbot, *resources: dict[str, Any]) -> None:
    for resource in resources:
        calbot.google.put_event(CAL, resource)
    await calbot.connect()
    await calbot.refresh()


async def test_scheduling_a_meeting_gives_it_one_bot_joining_before_it_starts(
    calbot: Calbot,
) -> None:
    await synced(calbot, meeting("m1", at(1), at(2)))
    event_id = await calbot.event_id("m1")

    bot, created = await calbot.scheduling.schedule(ACCOUNT, event_id, {"bot_name": "Notes"})

    assert created
    assert (bot.join_at, bot.status, bot.bot_config) == (
        at(1) - JOIN_LEAD,
        BotStatus.SCHEDULED,
        {"bot_name": "Notes"},
    )
    assert await calbot.bots() == [bot]
    assert calbot.scheduler.join_at == {bot.bot_id: at(1) - JOIN_LEAD}
    event = await calbot.stores.events.get_event(ACCOUNT, event_id)
    assert event is not None
    assert event.schedule_status is ScheduleStatus.SCHEDULED


async def test_scheduling_twice_updates_the_same_bot(calbot: Calbot) -> None:
    await synced(calbot, meeting("m1", at(1), at(2)))
    event_id = await calbot.event_id("m1")
    first, _ = await calbot.scheduling.schedule(ACCOUNT, event_id, {"bot_name": "Notes"})

    again, created = await calbot.scheduling.schedule(ACCOUNT, event_id, {"bot_name": "Minutes"})

    assert not created
    assert again.bot_id == first.bot_id
    assert [(b.bot_id, b.bot_config) for b in await calbot.bots()] == [
        (first.bot_id, {"bot_name": "Minutes"})
    ]
    assert list(calbot.scheduler.join_at) == [first.bot_id]


async def test_a_meeting_under_way_is_joined_at_once(calbot: Calbot) -> None:
    await synced(calbot, meeting("m1", at(-0.5), at(0.5)))

    bot, _ = await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("m1"), {})

    assert bot.join_at == NOW


@pytest.mark.parametrize(
    ("resource", "error"),
    [
        (meeting("ended", at(-2), at(-1)), OccurrenceEnded),
        (meeting("linkless", at(1), at(2), link=None), NoMeetingLink),
    ],
    ids=["ended", "no-link"],
)
async def test_a_meeting_no_bot_can_join_is_refused(
    calbot: Calbot, resource: dict[str, Any], error: type[CalbotError]
) -> None:
    await synced(calbot, resource)

    with pytest.raises(error):
        await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id(resource["id"]), {})

    assert await calbot.bots() == []


async def test_a_cancelled_or_unknown_meeting_is_refused(calbot: Calbot) -> None:
    await synced(calbot, meeting("m1", at(1), at(2)))
    calbot.google.cancel_event(CAL, "m1")
    await calbot.refresh()

    with pytest.raises(EventCancelled):
        await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("m1"), {})
    with pytest.raises(EventNotFound):
        await calbot.scheduling.schedule(ACCOUNT, "evt_unknown", {})
    with pytest.raises(EventNotFound):
        await calbot.scheduling.schedule("acc_other", await calbot.event_id("m1"), {})


async def test_a_series_gets_a_bot_for_each_occurrence_as_the_previous_one_ends(
    calbot: Calbot,
) -> None:
    await synced(calbot, meeting("s1", at(1), at(2), **WEEKLY))
    event_id = await calbot.event_id("s1")
    first, _ = await calbot.scheduling.schedule(ACCOUNT, event_id, {"bot_name": "Notes"})
    assert await calbot.scheduling.advance_due_series() == 0  # this week's has not ended

    calbot.clock.set(at(2))
    assert await calbot.scheduling.advance_due_series() == 1
    assert await calbot.scheduling.advance_due_series() == 0

    bots = await calbot.bots()
    assert [b.occurrence_start for b in bots] == [at(1), at(1 + 168)]
    assert [b.source for b in bots] == [BotSource.MANUAL, BotSource.RECURRENCE]
    assert bots[1].bot_config == {"bot_name": "Notes"}
    assert calbot.scheduler.join_at[bots[1].bot_id] == at(1 + 168) - JOIN_LEAD
    assert bots[0].bot_id == first.bot_id


async def test_a_single_occurrence_of_a_series_can_be_scheduled_by_its_date(
    calbot: Calbot,
) -> None:
    await synced(calbot, meeting("s1", at(1), at(2), **WEEKLY))
    event_id = await calbot.event_id("s1")

    bot, _ = await calbot.scheduling.schedule(
        ACCOUNT, event_id, {}, occurrence_date=date(2026, 12, 9)
    )

    assert bot.occurrence_start == at(1 + 2 * 168)
    calbot.clock.set(at(2 + 2 * 168))
    assert await calbot.scheduling.advance_due_series() == 0  # one date, not the series
    assert len(await calbot.bots()) == 1


async def test_unscheduling_cancels_pending_bots_and_stops_the_series(calbot: Calbot) -> None:
    await synced(calbot, meeting("s1", at(1), at(2), **WEEKLY))
    event_id = await calbot.event_id("s1")
    bot, _ = await calbot.scheduling.schedule(ACCOUNT, event_id, {})

    assert await calbot.scheduling.unschedule(ACCOUNT, event_id) == 1

    assert [b.status for b in await calbot.bots()] == [BotStatus.CANCELLED]
    assert calbot.scheduler.cancelled == [bot.bot_id]
    assert calbot.scheduler.join_at == {}
    calbot.clock.set(at(2))
    assert await calbot.scheduling.advance_due_series() == 0
    event = await calbot.stores.events.get_event(ACCOUNT, event_id)
    assert event is not None
    assert event.schedule_status is ScheduleStatus.UNSCHEDULED


async def test_moving_a_bots_join_time_reschedules_it(calbot: Calbot) -> None:
    await synced(calbot, meeting("m1", at(1), at(2)))
    bot, _ = await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("m1"), {})

    await calbot.scheduling.update_bot(
        ACCOUNT, bot.bot_id, BotChanges(frozenset({"join_at"}), join_at=at(0.5))
    )

    assert calbot.scheduler.join_at == {bot.bot_id: at(0.5)}
    stored = await calbot.stores.bots.get_bot(ACCOUNT, bot.bot_id)
    assert stored is not None
    assert stored.join_at == at(0.5)


async def test_a_launched_bot_can_no_longer_be_cancelled(calbot: Calbot) -> None:
    await synced(calbot, meeting("m1", at(1), at(2)))
    bot, _ = await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("m1"), {"x": 1})
    calbot.clock.set(bot.join_at)
    assert await calbot.launcher.launch_due() == 1
    await calbot.launcher.wait_for_launches()

    with pytest.raises(BotNotPending):
        await calbot.scheduling.cancel_bot(ACCOUNT, bot.bot_id)

    assert calbot.bot_api.bots == {bot.bot_id: {"x": 1, "meeting_link": bot.meeting_link}}
    assert [b.status for b in await calbot.bots()] == [BotStatus.LAUNCHED]


async def test_cancelling_a_scheduled_bot_tells_the_scheduler(calbot: Calbot) -> None:
    await synced(calbot, meeting("m1", at(1), at(2)))
    bot, _ = await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("m1"), {})

    cancelled = await calbot.scheduling.cancel_bot(ACCOUNT, bot.bot_id)

    assert cancelled.status is BotStatus.CANCELLED
    assert calbot.scheduler.cancelled == [bot.bot_id]
    calbot.clock.set(bot.join_at)
    assert await calbot.launcher.launch_due() == 0
    assert calbot.bot_api.attempts == []


async def test_turning_a_series_off_and_on_again_resumes_its_bots(calbot: Calbot) -> None:
    await synced(calbot, meeting("s1", at(1), at(2), **WEEKLY))
    event_id = await calbot.event_id("s1")
    first, _ = await calbot.scheduling.schedule(ACCOUNT, event_id, {})
    await calbot.scheduling.toggle_recurrence(ACCOUNT, event_id, False)
    await calbot.scheduling.cancel_bot(ACCOUNT, first.bot_id)

    calbot.clock.set(at(2))
    assert await calbot.scheduling.advance_due_series() == 0
    assert [b.status for b in await calbot.bots()] == [BotStatus.CANCELLED]

    await calbot.scheduling.toggle_recurrence(ACCOUNT, event_id, True)

    pending = await calbot.stores.bots.list_bots(ACCOUNT, status=BotStatus.SCHEDULED)
    assert [b.occurrence_start for b in pending] == [at(1 + 168)]
