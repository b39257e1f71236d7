"""Lost updates (issue 12, case 4): a writer that read before another one wrote must not
overwrite that write. Each race is driven deterministically: the first writer is held at its
store's gate (tests/fakes/pausing.py) between its read and its write while the other runs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from app.adapters.ports import BotStore, SeriesScheduleStore
from app.domain import BotStatus, ScheduledBot
from app.errors import InvalidBotUpdate
from app.services.auto_schedule import AutoScheduleService
from app.services.guard import DoNotRecordGuard
from app.services.reconcile import BotReconciler
from app.services.scheduling import BotChanges, SchedulingService
from tests.fakes.pausing import Paused
from tests.unit.calbot import ACCOUNT, CAL, JOIN_LEAD, LOOKAHEAD, Calbot, at, meeting

WEEKLY: dict[str, Any] = {"recurrence": ["RRULE:FREQ=WEEKLY"]}


# -- a second writer, built like calbot's own over the same stores but with one store paused ----


@dataclass
class Stores:
    """The stores a racing service is given: calbot's own unless replaced."""

    bots: BotStore
    series: SeriesScheduleStore


def stores_of(calbot: Calbot, **paused: Any) -> Stores:
    chosen: dict[str, Any] = {"bots": calbot.stores.bots, "series": calbot.stores.series}
    chosen.update(paused)
    return Stores(**chosen)


def scheduling_over(calbot: Calbot, **paused: Any) -> SchedulingService:
    stores = stores_of(calbot, **paused)
    return SchedulingService(
        events=calbot.stores.events,
        bots=stores.bots,
        series=stores.series,
        scheduler=calbot.scheduler,
        guard=DoNotRecordGuard(calbot.stores.auto_schedule),
        clock=calbot.clock,
        join_lead=JOIN_LEAD,
    )


def reconciler_over(calbot: Calbot, **paused: Any) -> BotReconciler:
    return BotReconciler(
        events=calbot.stores.events,
        bots=stores_of(calbot, **paused).bots,
        scheduler=calbot.scheduler,
        scheduling=calbot.scheduling,
        guard=DoNotRecordGuard(calbot.stores.auto_schedule),
        clock=calbot.clock,
        join_lead=JOIN_LEAD,
    )


def auto_schedule_over(calbot: Calbot, **paused: Any) -> AutoScheduleService:
    return AutoScheduleService(
        auto_schedule=calbot.stores.auto_schedule,
        connections=calbot.stores.connections,
        events=calbot.stores.events,
        bots=stores_of(calbot, **paused).bots,
        scheduler=calbot.scheduler,
        clock=calbot.clock,
        lookahead=LOOKAHEAD,
        join_lead=JOIN_LEAD,
    )


async def scheduled(calbot: Calbot, resource: dict[str, Any]) -> ScheduledBot:
    calbot.google.put_event(CAL, resource)
    await calbot.connect()
    await calbot.refresh()
    event_id = await calbot.event_id(resource["id"])
    bot, _ = await calbot.scheduling.schedule(ACCOUNT, event_id, {"bot_name": "Notes"})
    return bot


async def stored(calbot: Calbot, bot_id: str) -> ScheduledBot:
    bot = await calbot.stores.bots.get_bot(ACCOUNT, bot_id)
    assert bot is not None
    return bot


async def pending(calbot: Calbot) -> list[ScheduledBot]:
    return [b for b in await calbot.bots() if b.status is BotStatus.SCHEDULED]


# -- auto-scheduling settings ------------------------------------------------------------------


async def test_a_pass_that_read_the_settings_before_a_disable_leaves_it_disabled(
    calbot: Calbot,
) -> None:
    calbot.google.put_event(CAL, meeting("m1", at(1), at(2)))
    await calbot.connect()
    await calbot.auto_schedule.enable(ACCOUNT, {"bot_name": "Auto"})
    await calbot.refresh()
    calbot.clock.advance(60)
    bots = Paused(calbot.stores.bots, "insert_bots_unless_exist")
    a_pass = asyncio.create_task(auto_schedule_over(calbot, bots=bots).run_pass())
    await bots.reached()  # it has read the settings (enabled) and is about to write

    await calbot.auto_schedule.disable(ACCOUNT)
    bots.release()
    await a_pass

    settings = await calbot.auto_schedule.settings(ACCOUNT)
    assert settings.enabled is False
    assert settings.default_bot_config == {"bot_name": "Auto"}
    assert settings.last_run_at == calbot.clock.now()  # the pass still says when it ran
    calbot.google.put_event(CAL, meeting("m2", at(3), at(4)))
    await calbot.refresh()  # a sync runs a pass for accounts with auto-scheduling on
    assert [b.google_event_id for b in await calbot.bots()] == ["m1"]


# -- a bot: a move by a sync and a PATCH by the user -------------------------------------------


async def test_a_move_written_from_a_stale_copy_keeps_a_concurrent_patch(calbot: Calbot) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))
    calbot.google.put_event(CAL, meeting("m1", at(5), at(6)))
    outcome = await calbot.sync.sync_calendar(ACCOUNT, CAL)
    bots = Paused(calbot.stores.bots, "update_bot")
    following = asyncio.create_task(reconciler_over(calbot, bots=bots).after_sync(ACCOUNT, outcome))
    await bots.reached()  # the reconciler has its copy of the bot, moved, about to write it

    await calbot.scheduling.update_bot(
        ACCOUNT,
        bot.bot_id,
        BotChanges(frozenset({"bot_config"}), bot_config={"bot_name": "Patched"}),
    )
    bots.release()
    result = await following

    after = await stored(calbot, bot.bot_id)
    assert after.bot_config == {"bot_name": "Patched"}
    assert (after.occurrence_start, after.join_at) == (at(5), at(5) - JOIN_LEAD)
    assert result.moved == 1
    assert calbot.scheduler.join_at == {bot.bot_id: at(5) - JOIN_LEAD}


async def test_a_patch_written_from_a_stale_copy_keeps_a_concurrent_move(calbot: Calbot) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))
    bots = Paused(calbot.stores.bots, "update_bot")
    patching = asyncio.create_task(
        scheduling_over(calbot, bots=bots).update_bot(
            ACCOUNT, bot.bot_id, BotChanges(frozenset({"bot_name"}), bot_name="Renamed")
        )
    )
    await bots.reached()  # the PATCH has its copy of the bot, renamed, about to write it

    calbot.google.put_event(CAL, meeting("m1", at(5), at(6)))
    await calbot.refresh()
    bots.release()
    answered = await patching

    after = await stored(calbot, bot.bot_id)
    assert (after.bot_name, after.occurrence_start, after.join_at) == (
        "Renamed",
        at(5),
        at(5) - JOIN_LEAD,
    )
    assert answered == after  # the PATCH answers the bot as stored


async def test_a_patched_join_time_is_checked_against_the_meeting_as_it_is_now(
    calbot: Calbot,
) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))
    bots = Paused(calbot.stores.bots, "update_bot")
    patching = asyncio.create_task(
        scheduling_over(calbot, bots=bots).update_bot(
            ACCOUNT, bot.bot_id, BotChanges(frozenset({"join_at"}), join_at=at(1.5))
        )
    )
    await bots.reached()  # fine for the meeting as it was read (1:00 to 2:00)

    calbot.google.put_event(CAL, meeting("m1", at(0.5), at(1)))  # now it ends before 1:30
    await calbot.refresh()
    bots.release()

    with pytest.raises(InvalidBotUpdate):
        await patching
    after = await stored(calbot, bot.bot_id)
    assert (after.occurrence_end, after.join_at) == (at(1), at(0.5) - JOIN_LEAD)


# -- a series: the recurrence pass and the user's unschedule -----------------------------------


async def test_a_series_pass_that_read_before_an_unschedule_does_not_resume_it(
    calbot: Calbot,
) -> None:
    bot = await scheduled(calbot, meeting("s1", at(1), at(2), **WEEKLY))
    calbot.clock.set(at(2))  # this week's occurrence is over: the series is due
    series = Paused(calbot.stores.series, "advance_series_schedule")
    a_pass = asyncio.create_task(scheduling_over(calbot, series=series).advance_due_series())
    await series.reached()  # it has read the schedule (active) and found next week's meeting

    await calbot.scheduling.unschedule(ACCOUNT, bot.event_id)
    series.release()

    assert await a_pass == 0
    schedule = await calbot.stores.series.get_series_schedule(ACCOUNT, bot.event_id)
    assert schedule is not None
    assert schedule.active is False
    assert await pending(calbot) == []
    calbot.clock.set(at(2 + 168))
    assert await calbot.scheduling.advance_due_series() == 0
    assert await pending(calbot) == []


async def test_a_series_bot_made_just_after_an_unschedule_is_cancelled_again(
    calbot: Calbot,
) -> None:
    bot = await scheduled(calbot, meeting("s1", at(1), at(2), **WEEKLY))
    calbot.clock.set(at(2))
    bots = Paused(calbot.stores.bots, "insert_or_update_pending_bot")
    a_pass = asyncio.create_task(scheduling_over(calbot, bots=bots).advance_due_series())
    await bots.reached()  # it has advanced the schedule and is about to make next week's bot

    await calbot.scheduling.unschedule(ACCOUNT, bot.event_id)
    bots.release()
    await a_pass

    assert await pending(calbot) == []
    made = [b for b in await calbot.bots() if b.occurrence_start == at(1 + 168)]
    assert [b.status for b in made] == [BotStatus.CANCELLED]
    assert made[0].bot_id not in calbot.scheduler.join_at


async def test_a_series_bot_given_back_after_a_sync_does_not_outlive_an_unschedule(
    calbot: Calbot,
) -> None:
    bot = await scheduled(calbot, meeting("s1", at(1), at(2), **WEEKLY))
    await calbot.scheduling.cancel_bot(ACCOUNT, bot.bot_id)  # the series stays scheduled
    calbot.clock.set(at(2))
    event = await calbot.stores.events.get_event(ACCOUNT, bot.event_id)
    assert event is not None
    bots = Paused(calbot.stores.bots, "insert_bots_unless_exist")
    ensuring = asyncio.create_task(
        scheduling_over(calbot, bots=bots).ensure_series_bot(ACCOUNT, event)
    )
    await bots.reached()  # it read the schedule (active) and is about to give it a bot

    await calbot.scheduling.unschedule(ACCOUNT, bot.event_id)
    bots.release()

    assert await ensuring is False
    assert await pending(calbot) == []
    schedule = await calbot.stores.series.get_series_schedule(ACCOUNT, bot.event_id)
    assert schedule is not None
    assert schedule.active is False
