"""The per-event policy, the pause and the do-not-record guard, on memory stores and fakes."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest

from app.domain import (
    AutoScheduleMode,
    AutoScheduleRules,
    AutoScheduleSettings,
    BotSource,
    BotStatus,
    OccurrenceKey,
    ScheduledBot,
    auto_schedule_mode_for,
)
from app.errors import InvalidPause, NeverRecordGuard, NoOccurrenceOnDate
from app.services.guard import DoNotRecordGuard
from app.services.launcher import Launcher
from app.services.policy import PolicyService
from app.services.scheduling import BotChanges
from tests.unit.calbot import ACCOUNT, CAL, Calbot, at, meeting

AUTO = {"bot_name": "Auto"}
MINE = {"bot_name": "Mine"}
LEGAL: dict[str, Any] = {
    "attendees": [
        {"email": "user@example.com", "self": True, "responseStatus": "accepted"},
        {"email": "counsel@eu.legal.example", "responseStatus": "accepted"},
    ]
}


def policy_of(calbot: Calbot) -> PolicyService:
    return PolicyService(
        auto_schedule=calbot.stores.auto_schedule,
        events=calbot.stores.events,
        bots=calbot.stores.bots,
        scheduler=calbot.scheduler,
        sweep=calbot.auto_schedule,
        guard=DoNotRecordGuard(calbot.stores.auto_schedule),
        clock=calbot.clock,
    )


async def synced(calbot: Calbot, *resources: dict[str, Any]) -> None:
    for resource in resources:
        calbot.google.put_event(CAL, resource)
    await calbot.connect()
    await calbot.refresh()


async def launch(launcher: Launcher) -> int:
    started = await launcher.launch_due()
    await launcher.wait_for_launches()
    return started


async def bot_of(calbot: Calbot, google_id: str) -> ScheduledBot:
    [found] = [b for b in await calbot.bots() if b.google_event_id == google_id]
    return found


async def guard_domains(calbot: Calbot, *domains: str) -> None:
    """Save rules with a do-not-record list (as `enable` with rules does)."""
    current = await calbot.stores.auto_schedule.get_auto_schedule(ACCOUNT)
    rules = AutoScheduleRules(never_record_domains=domains)
    await calbot.stores.auto_schedule.save_auto_schedule(
        ACCOUNT, dataclasses.replace(current, rules=rules)
    )


# -- pause ------------------------------------------------------------------------------------


async def test_a_pause_cancels_the_bots_due_before_it_with_the_reason(calbot: Calbot) -> None:
    await synced(calbot, meeting("soon", at(1), at(2)), meeting("monday", at(120), at(121)))
    for google_id in ("soon", "monday"):
        await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id(google_id), MINE)

    settings = await policy_of(calbot).pause(ACCOUNT, at(48))

    assert settings.paused_until == at(48)
    soon, monday = await bot_of(calbot, "soon"), await bot_of(calbot, "monday")
    assert soon.status is BotStatus.CANCELLED
    assert soon.last_error is not None
    assert "paused until 2026-11-27T12:00:00Z" in soon.last_error
    assert calbot.scheduler.cancelled == [soon.bot_id]
    assert (monday.status, monday.last_error) == (BotStatus.SCHEDULED, None)


async def test_the_launcher_cancels_a_bot_that_comes_due_during_the_pause(calbot: Calbot) -> None:
    await synced(calbot, meeting("soon", at(1), at(2)))
    await policy_of(calbot).pause(ACCOUNT, at(5))
    # Scheduled during the pause, which did not see it.
    bot, _ = await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("soon"), MINE)

    calbot.clock.set(bot.join_at)
    await launch(calbot.launcher)

    stored = await bot_of(calbot, "soon")
    assert stored.status is BotStatus.CANCELLED
    assert stored.last_error is not None
    assert "paused" in stored.last_error
    assert calbot.bot_api.attempts == []


async def test_after_the_pause_bots_launch_again(calbot: Calbot) -> None:
    await synced(calbot, meeting("later", at(6), at(7)))
    await policy_of(calbot).pause(ACCOUNT, at(5))
    bot, _ = await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("later"), MINE)

    calbot.clock.set(bot.join_at)
    await launch(calbot.launcher)

    assert (await bot_of(calbot, "later")).status is BotStatus.LAUNCHED
    assert calbot.bot_api.attempts == [bot.bot_id]


@pytest.mark.parametrize("hours", [0, -1, 366 * 24 + 1], ids=["now", "past", "too-far"])
async def test_a_pause_must_end_in_the_future_within_366_days(calbot: Calbot, hours: float) -> None:
    with pytest.raises(InvalidPause):
        await policy_of(calbot).pause(ACCOUNT, at(hours))
    assert (await calbot.stores.auto_schedule.get_auto_schedule(ACCOUNT)).paused_until is None


async def test_auto_scheduling_creates_nothing_while_paused_and_sweeps_on_resume(
    calbot: Calbot,
) -> None:
    await synced(calbot, meeting("soon", at(1), at(2)))
    policy = policy_of(calbot)
    await policy.pause(ACCOUNT, at(10))

    await calbot.auto_schedule.enable(ACCOUNT, AUTO)
    await calbot.auto_schedule.run_pass()
    assert await calbot.bots() == []

    resumed = await policy.resume(ACCOUNT)

    assert resumed.paused_until is None
    assert [(b.google_event_id, b.source) for b in await calbot.bots()] == [
        ("soon", BotSource.AUTO_SCHEDULE)
    ]


async def test_a_pause_that_runs_out_is_ended_once_and_sweeps(calbot: Calbot) -> None:
    await synced(calbot, meeting("evening", at(8), at(9)))
    policy = policy_of(calbot)
    await policy.pause(ACCOUNT, at(2))
    await calbot.auto_schedule.enable(ACCOUNT, AUTO)
    assert await calbot.bots() == []

    assert await policy.resume_ended_pauses() == 0  # not yet
    calbot.clock.set(at(2))
    assert await policy.resume_ended_pauses() == 1
    assert await policy.resume_ended_pauses() == 0

    assert [b.google_event_id for b in await calbot.bots()] == ["evening"]
    assert (await calbot.stores.auto_schedule.get_auto_schedule(ACCOUNT)).paused_until is None


# -- per-event policy -------------------------------------------------------------------------


async def test_never_cancels_the_events_pending_auto_bots_and_leaves_manual_ones(
    calbot: Calbot,
) -> None:
    await synced(calbot, meeting("auto", at(1), at(2)), meeting("mine", at(3), at(4)))
    await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("mine"), MINE)
    await calbot.auto_schedule.enable(ACCOUNT, AUTO)
    policy = policy_of(calbot)

    for google_id in ("auto", "mine"):
        event_id = await calbot.event_id(google_id)
        result = await policy.set_mode(ACCOUNT, event_id, AutoScheduleMode.NEVER)
        assert (result.event_id, result.mode, result.occurrence_date) == (
            event_id,
            AutoScheduleMode.NEVER,
            None,
        )

    auto, mine = await bot_of(calbot, "auto"), await bot_of(calbot, "mine")
    assert auto.status is BotStatus.CANCELLED
    assert auto.last_error is not None
    assert "never" in auto.last_error
    assert (mine.source, mine.status) == (BotSource.MANUAL, BotStatus.SCHEDULED)
    stored = await calbot.stores.events.get_event(ACCOUNT, await calbot.event_id("auto"))
    assert stored is not None
    assert stored.auto_schedule_mode is AutoScheduleMode.NEVER


async def test_a_dated_mode_covers_that_occurrence_of_a_series_only(calbot: Calbot) -> None:
    daily = meeting("daily", at(1), at(2), recurrence=["RRULE:FREQ=DAILY"])
    daily["start"]["timeZone"] = daily["end"]["timeZone"] = "UTC"
    await synced(calbot, daily)
    event_id = await calbot.event_id("daily")
    policy = policy_of(calbot)

    tomorrow = date(2026, 11, 26)
    await policy.set_mode(ACCOUNT, event_id, AutoScheduleMode.NEVER, tomorrow)

    modes = await calbot.stores.events.list_occurrence_modes(ACCOUNT)
    assert modes == {(event_id, OccurrenceKey(at(25))): AutoScheduleMode.NEVER}
    event = await calbot.stores.events.get_event(ACCOUNT, event_id)
    assert event is not None
    assert event.auto_schedule_mode is AutoScheduleMode.RULES
    assert auto_schedule_mode_for(event, OccurrenceKey(at(25)), modes) is AutoScheduleMode.NEVER
    assert auto_schedule_mode_for(event, OccurrenceKey(at(1)), modes) is AutoScheduleMode.RULES

    # The whole series' mode then covers every occurrence again.
    await policy.set_mode(ACCOUNT, event_id, AutoScheduleMode.ALWAYS)
    assert await calbot.stores.events.list_occurrence_modes(ACCOUNT) == {}


async def test_a_date_without_an_occurrence_is_refused(calbot: Calbot) -> None:
    weekly = meeting("weekly", at(1), at(2), recurrence=["RRULE:FREQ=WEEKLY"])
    weekly["start"]["timeZone"] = weekly["end"]["timeZone"] = "UTC"
    await synced(calbot, weekly, meeting("once", at(3), at(4)))
    policy = policy_of(calbot)

    with pytest.raises(NoOccurrenceOnDate):
        await policy.set_mode(
            ACCOUNT, await calbot.event_id("weekly"), AutoScheduleMode.NEVER, date(2026, 11, 26)
        )
    with pytest.raises(NoOccurrenceOnDate):
        await policy.set_mode(
            ACCOUNT, await calbot.event_id("once"), AutoScheduleMode.NEVER, date(2026, 11, 26)
        )
    # A one-off's own date (Europe/Berlin, the calendar's zone) is the event itself.
    once = await calbot.event_id("once")
    await policy.set_mode(ACCOUNT, once, AutoScheduleMode.ALWAYS, date(2026, 11, 25))
    stored = await calbot.stores.events.get_event(ACCOUNT, once)
    assert stored is not None
    assert stored.auto_schedule_mode is AutoScheduleMode.ALWAYS


# -- the do-not-record guard ------------------------------------------------------------------


async def test_scheduling_a_guarded_meeting_by_hand_is_refused_naming_the_guard(
    calbot: Calbot,
) -> None:
    await synced(calbot, meeting("legal", at(1), at(2), **LEGAL))
    await guard_domains(calbot, "legal.example")

    with pytest.raises(NeverRecordGuard) as refused:
        await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("legal"), MINE)

    assert "never_record_domains" in refused.value.detail
    assert "legal.example" in refused.value.detail
    assert await calbot.bots() == []


async def test_a_sync_that_adds_a_guarded_attendee_cancels_a_manual_bot_before_its_launch(
    calbot: Calbot,
) -> None:
    await guard_domains(calbot, "LEGAL.example")
    await synced(calbot, meeting("review", at(1), at(2)))
    bot, _ = await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("review"), MINE)

    calbot.google.put_event(CAL, meeting("review", at(1), at(2), **LEGAL))
    await calbot.refresh()

    stored = await bot_of(calbot, "review")
    assert stored.status is BotStatus.CANCELLED
    assert stored.last_error is not None
    assert "never_record_domains" in stored.last_error
    assert "legal.example" in stored.last_error.lower()
    calbot.clock.set(bot.join_at)
    await launch(calbot.launcher)
    assert calbot.bot_api.attempts == []


async def test_changed_rules_cancel_pending_bots_of_guarded_meetings_of_any_source(
    calbot: Calbot,
) -> None:
    await synced(calbot, meeting("legal", at(1), at(2), **LEGAL), meeting("plain", at(3), at(4)))
    await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("legal"), MINE)
    await calbot.auto_schedule.enable(ACCOUNT, AUTO)
    await guard_domains(calbot, "legal.example")

    assert await policy_of(calbot).enforce_guard(ACCOUNT) == 1

    legal, plain = await bot_of(calbot, "legal"), await bot_of(calbot, "plain")
    assert (legal.source, legal.status) == (BotSource.MANUAL, BotStatus.CANCELLED)
    assert plain.status is BotStatus.SCHEDULED


async def test_a_patch_cannot_bring_a_guarded_meeting_back(calbot: Calbot) -> None:
    await synced(calbot, meeting("legal", at(1), at(2), **LEGAL))
    bot, _ = await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("legal"), MINE)
    await guard_domains(calbot, "legal.example")

    with pytest.raises(NeverRecordGuard):
        await calbot.scheduling.update_bot(
            ACCOUNT, bot.bot_id, BotChanges(frozenset({"bot_name"}), bot_name="Back")
        )
    assert (await bot_of(calbot, "legal")).bot_name is None


async def test_a_guarded_domain_does_not_match_a_lookalike(calbot: Calbot) -> None:
    lookalike: dict[str, Any] = {
        "attendees": [{"email": "a@notlegal.example", "responseStatus": "accepted"}]
    }
    await synced(calbot, meeting("fine", at(1), at(2), **lookalike))
    await guard_domains(calbot, "legal.example")

    bot, created = await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("fine"), MINE)

    assert created
    assert bot.status is BotStatus.SCHEDULED


async def test_settings_without_rules_guard_nothing(calbot: Calbot) -> None:
    await synced(calbot, meeting("legal", at(1), at(2), **LEGAL))
    await calbot.stores.auto_schedule.save_auto_schedule(ACCOUNT, AutoScheduleSettings())

    _, created = await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("legal"), MINE)

    assert created


async def test_a_dated_never_cancels_that_occurrences_auto_bot_only(calbot: Calbot) -> None:
    daily = meeting("daily", at(1), at(2), recurrence=["RRULE:FREQ=DAILY"])
    daily["start"]["timeZone"] = daily["end"]["timeZone"] = "UTC"
    await synced(calbot, daily)
    await calbot.auto_schedule.enable(ACCOUNT, AUTO)
    [today] = await calbot.bots()
    assert today.occurrence_key == OccurrenceKey(at(1))
    event_id = await calbot.event_id("daily")
    policy = policy_of(calbot)

    await policy.set_mode(ACCOUNT, event_id, AutoScheduleMode.NEVER, date(2026, 11, 26))
    assert (await calbot.bots())[0].status is BotStatus.SCHEDULED  # another day's mode

    await policy.set_mode(ACCOUNT, event_id, AutoScheduleMode.NEVER, date(2026, 11, 25))
    [cancelled] = await calbot.bots()
    assert cancelled.status is BotStatus.CANCELLED
    assert cancelled.last_error is not None
    assert "never" in cancelled.last_error
