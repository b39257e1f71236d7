"""The launcher at the port level: the check with Google just before a launch, a failing store,
and a shutdown during a Create Bot outage.

Google is the port fake; a change made there without a sync stands for a lost push
notification, which only the check before the launch can catch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from app.domain import (
    MEETING_CANCELLED,
    MEETING_DELETED,
    OCCURRENCE_CANCELLED,
    STALE_LAUNCH_AFTER,
    BotStatus,
    ScheduledBot,
)
from app.errors import StorageUnavailable
from app.services.launch_check import LAUNCH_CHECK_AHEAD, LAUNCH_CHECK_DEADLINE, LaunchCheck
from app.services.launcher import (
    LAUNCH_SHUTDOWN_SECONDS,
    RECORD_RETRY_DELAYS,
    RENEW_RETRY_DELAYS,
    Launcher,
)
from tests.fakes.google import OccurrenceRead
from tests.unit.calbot import ACCOUNT, CAL, JOIN_LEAD, Calbot, at, google_time, meeting

WEEKLY: dict[str, Any] = {"recurrence": ["RRULE:FREQ=WEEKLY"]}
ZOOM = "https://us02web.zoom.us/j/81234567890"


async def scheduled(calbot: Calbot, resource: dict[str, Any]) -> ScheduledBot:
    """The meeting synced from Google, with a bot scheduled for it."""
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


async def launch(launcher: Launcher) -> int:
    """One pass of the scheduler, then let what it started finish."""
    started = await launcher.launch_due()
    await launcher.wait_for_launches()
    return started


async def checked_ahead(calbot: Calbot, bot: ScheduledBot) -> None:
    """The scheduler's pass when the bot enters the check window: nothing is launched yet."""
    calbot.clock.set(bot.join_at - LAUNCH_CHECK_AHEAD)
    assert await launch(calbot.launcher) == 0


# -- the check before the launch (case 6) ---------------------------------------------------


async def test_an_unchanged_meeting_is_checked_once_ahead_and_launched_at_join_at(
    calbot: Calbot,
) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))
    calbot.clock.set(bot.join_at - LAUNCH_CHECK_AHEAD - timedelta(seconds=1))
    assert await launch(calbot.launcher) == 0
    assert calbot.google.occurrence_reads == []  # not yet in the window

    await checked_ahead(calbot, bot)
    assert calbot.google.occurrence_reads == [
        OccurrenceRead(CAL, "m1", None, LAUNCH_CHECK_DEADLINE)  # events.get, 2 s in all
    ]
    calbot.clock.set(bot.join_at - timedelta(seconds=5))
    assert await launch(calbot.launcher) == 0
    calbot.clock.set(bot.join_at)
    assert await launch(calbot.launcher) == 1

    assert len(calbot.google.occurrence_reads) == 1  # one call for the bot, not one per pass
    assert calbot.bot_api.attempts == [bot.bot_id]
    assert (await stored(calbot, bot.bot_id)).status is BotStatus.LAUNCHED


async def test_a_meeting_moved_later_moves_the_bot_and_nothing_is_launched_now(
    calbot: Calbot,
) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))
    calbot.google.put_event(CAL, meeting("m1", at(3), at(4)))  # its notification was lost

    await checked_ahead(calbot, bot)
    calbot.clock.set(bot.join_at)
    assert await launch(calbot.launcher) == 0

    moved = await stored(calbot, bot.bot_id)
    assert (moved.status, moved.occurrence_start, moved.join_at) == (
        BotStatus.SCHEDULED,
        at(3),
        at(3) - JOIN_LEAD,
    )
    assert calbot.scheduler.join_at == {bot.bot_id: at(3) - JOIN_LEAD}
    assert calbot.bot_api.attempts == []


async def test_a_meeting_moved_a_little_earlier_is_launched_at_once(calbot: Calbot) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))
    earlier = at(1) - timedelta(minutes=2)  # its new join_at has already passed
    calbot.google.put_event(CAL, meeting("m1", earlier, at(2)))

    await checked_ahead(calbot, bot)
    assert await launch(calbot.launcher) == 1  # the next pass: due now, and checked

    launched = await stored(calbot, bot.bot_id)
    assert (launched.status, launched.occurrence_start) == (BotStatus.LAUNCHED, earlier)
    assert len(calbot.google.occurrence_reads) == 1


async def test_a_relinked_meeting_is_launched_on_time_with_its_new_link(calbot: Calbot) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))
    calbot.google.put_event(CAL, meeting("m1", at(1), at(2), link=None, location=ZOOM))

    await checked_ahead(calbot, bot)
    assert (await stored(calbot, bot.bot_id)).meeting_link == ZOOM
    calbot.clock.set(bot.join_at)
    assert await launch(calbot.launcher) == 1

    assert calbot.bot_api.bots[bot.bot_id]["meeting_link"] == ZOOM


async def test_a_cancelled_meeting_cancels_the_bot_with_the_reason(calbot: Calbot) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))
    calbot.google.cancel_event(CAL, "m1")  # events.get returns its cancelled tombstone

    await checked_ahead(calbot, bot)
    calbot.clock.set(bot.join_at)
    assert await launch(calbot.launcher) == 0

    cancelled = await stored(calbot, bot.bot_id)
    assert cancelled.status is BotStatus.CANCELLED
    assert cancelled.last_error == MEETING_CANCELLED.sentence
    assert calbot.scheduler.cancelled == [bot.bot_id]
    assert calbot.bot_api.attempts == []


@pytest.mark.parametrize("answer", ["404 not found", "410 gone"])
async def test_a_deleted_meeting_cancels_the_bot(calbot: Calbot, answer: str) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))
    if answer == "404 not found":
        calbot.google.forget_event(CAL, "m1")
    else:
        calbot.google.gone.add("m1")

    await checked_ahead(calbot, bot)
    calbot.clock.set(bot.join_at)
    assert await launch(calbot.launcher) == 0

    cancelled = await stored(calbot, bot.bot_id)
    assert cancelled.status is BotStatus.CANCELLED
    assert cancelled.last_error == MEETING_DELETED.sentence
    assert calbot.bot_api.attempts == []


async def test_when_google_is_down_the_bot_is_launched_as_scheduled_and_the_log_says_so(
    calbot: Calbot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))
    calbot.google.unreachable = True

    with caplog.at_level(logging.WARNING, logger="app.services.launch_check"):
        await checked_ahead(calbot, bot)
    calbot.clock.set(bot.join_at)
    assert await launch(calbot.launcher) == 1

    assert (await stored(calbot, bot.bot_id)).status is BotStatus.LAUNCHED
    assert len(calbot.google.occurrence_reads) == 1  # skipped once, not retried at join_at
    [line] = [r.getMessage() for r in caplog.records if "launch check skipped" in r.getMessage()]
    assert bot.bot_id in line
    assert "launching as scheduled" in line


async def test_a_due_bot_whose_check_hangs_is_launched_once_the_deadline_passes(
    calbot: Calbot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))
    deadline = timedelta(milliseconds=50)  # real time: the deadline cuts a call that hangs
    check = LaunchCheck(
        events=calbot.stores.events,
        sync=calbot.sync,
        google=calbot.google,
        reconciler=calbot.reconciler,
        clock=calbot.clock,
        deadline=deadline,
    )
    launcher = Launcher(
        bots=calbot.stores.bots,
        auto_schedule=calbot.stores.auto_schedule,
        bot_api=calbot.bot_api,
        clock=calbot.clock,
        check=check,
    )
    calbot.google.hang = True
    calbot.clock.set(bot.join_at)  # due and never checked (say, overdue at start-up)

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="app.services.launch_check"):
        assert await launch(launcher) == 1

    assert time.monotonic() - started < 1.0
    assert calbot.bot_api.attempts == [bot.bot_id]
    assert "launch check skipped" in caplog.text


async def test_an_overdue_bot_found_at_start_up_is_checked_before_it_is_launched(
    calbot: Calbot,
) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))
    calbot.google.put_event(CAL, meeting("m1", at(1), at(2), link=None, location=ZOOM))
    calbot.clock.set(bot.join_at + timedelta(minutes=5))  # calbot was down at join_at

    assert await launch(calbot.launcher) == 1

    assert len(calbot.google.occurrence_reads) == 1
    assert calbot.bot_api.bots[bot.bot_id]["meeting_link"] == ZOOM


# -- an occurrence of a series: its own instance, in one call -------------------------------


def exception_of(series_id: str, original_start: Any, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"{series_id}_{original_start:%Y%m%dT%H%M%SZ}",
        "recurringEventId": series_id,
        "originalStartTime": google_time(original_start),
        **fields,
    }


async def test_an_unchanged_occurrence_is_read_by_its_original_start_and_launched(
    calbot: Calbot,
) -> None:
    bot = await scheduled(calbot, meeting("s1", at(1), at(2), **WEEKLY))

    await checked_ahead(calbot, bot)
    calbot.clock.set(bot.join_at)
    assert await launch(calbot.launcher) == 1

    assert calbot.google.occurrence_reads == [
        OccurrenceRead(CAL, "s1", "2026-11-25T13:00:00Z", LAUNCH_CHECK_DEADLINE)
    ]
    assert (await stored(calbot, bot.bot_id)).status is BotStatus.LAUNCHED


async def test_a_moved_occurrence_moves_its_bot(calbot: Calbot) -> None:
    bot = await scheduled(calbot, meeting("s1", at(1), at(2), **WEEKLY))
    calbot.google.put_event(
        CAL, exception_of("s1", at(1), start=google_time(at(5)), end=google_time(at(6)))
    )

    await checked_ahead(calbot, bot)

    moved = await stored(calbot, bot.bot_id)
    assert (moved.status, moved.occurrence_start, moved.join_at) == (
        BotStatus.SCHEDULED,
        at(5),
        at(5) - JOIN_LEAD,
    )
    assert moved.occurrence_key == bot.occurrence_key


@pytest.mark.parametrize("how", ["occurrence cancelled", "series deleted"])
async def test_a_cancelled_occurrence_or_series_cancels_its_bot(calbot: Calbot, how: str) -> None:
    bot = await scheduled(calbot, meeting("s1", at(1), at(2), **WEEKLY))
    if how == "occurrence cancelled":
        calbot.google.put_event(CAL, exception_of("s1", at(1), status="cancelled"))
    else:
        calbot.google.cancel_event(CAL, "s1")

    await checked_ahead(calbot, bot)
    calbot.clock.set(bot.join_at)
    assert await launch(calbot.launcher) == 0

    cancelled = await stored(calbot, bot.bot_id)
    assert cancelled.status is BotStatus.CANCELLED
    assert cancelled.last_error == OCCURRENCE_CANCELLED.sentence
    assert calbot.bot_api.attempts == []


async def test_an_occurrence_of_an_all_day_series_is_read_by_its_date(calbot: Calbot) -> None:
    all_day = {
        "id": "d1",
        "summary": "Offsite",
        "start": {"date": "2026-11-26"},
        "end": {"date": "2026-11-27"},
        "hangoutLink": "https://meet.google.com/abc-defg-hij",
        **WEEKLY,
    }
    bot = await scheduled(calbot, all_day)
    assert bot.occurrence_start == at(11)  # midnight in Berlin, the calendar's zone

    await checked_ahead(calbot, bot)
    calbot.clock.set(bot.join_at)
    assert await launch(calbot.launcher) == 1

    assert calbot.google.occurrence_reads == [
        OccurrenceRead(CAL, "d1", "2026-11-26", LAUNCH_CHECK_DEADLINE)
    ]


# -- a failing store (case 5) ---------------------------------------------------------------


class FlakyBots:
    """The memory bot store, with chosen calls failing as a store that is down would."""

    def __init__(self, bots: Any) -> None:
        self._bots = bots
        self.failures: dict[str, int] = {}  # method name -> how many more calls fail
        self.applied_then_failed: set[str] = set()  # these write, then fail (a lost answer)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._bots, name)
        if not callable(method):
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.failures.get(name, 0) > 0:
                self.failures[name] -= 1
                if name in self.applied_then_failed:
                    await method(*args, **kwargs)
                raise StorageUnavailable()
            return await method(*args, **kwargs)

        return call


def launcher_over(calbot: Calbot, bots: Any) -> Launcher:
    return Launcher(
        bots=bots,
        auto_schedule=calbot.stores.auto_schedule,
        bot_api=calbot.bot_api,
        clock=calbot.clock,
    )


async def due(calbot: Calbot) -> ScheduledBot:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))
    calbot.clock.set(bot.join_at)
    return bot


async def test_a_store_error_while_recording_is_retried_promptly_and_logged(
    calbot: Calbot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await due(calbot)
    flaky = FlakyBots(calbot.stores.bots)
    flaky.failures["update_bot"] = 2

    with caplog.at_level(logging.WARNING, logger="app.services.launcher"):
        assert await launch(launcher_over(calbot, flaky)) == 1

    recorded = await stored(calbot, bot.bot_id)
    assert (recorded.status, recorded.external_bot_id) == (BotStatus.LAUNCHED, "ext-1")
    assert calbot.clock.slept == list(RECORD_RETRY_DELAYS[:2])  # 0.5 s, then 1 s: not 5 min
    assert calbot.bot_api.attempts == [bot.bot_id]  # recording again never calls again
    assert caplog.text.count("could not store its launch outcome") == 2


async def test_an_outcome_stored_although_its_answer_was_lost_is_not_reported_as_a_conflict(
    calbot: Calbot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await due(calbot)
    flaky = FlakyBots(calbot.stores.bots)
    flaky.failures["update_bot"] = 1
    flaky.applied_then_failed.add("update_bot")

    with caplog.at_level(logging.WARNING, logger="app.services.launcher"):
        await launch(launcher_over(calbot, flaky))

    assert (await stored(calbot, bot.bot_id)).status is BotStatus.LAUNCHED
    assert "changed while launching" not in caplog.text


async def test_a_store_error_while_renewing_the_claim_does_not_stop_the_launch(
    calbot: Calbot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await due(calbot)
    flaky = FlakyBots(calbot.stores.bots)
    flaky.failures["touch_launching_bot"] = len(RENEW_RETRY_DELAYS) + 1  # every try fails

    with caplog.at_level(logging.WARNING, logger="app.services.launcher"):
        assert await launch(launcher_over(calbot, flaky)) == 1

    assert (await stored(calbot, bot.bot_id)).status is BotStatus.LAUNCHED
    assert calbot.clock.slept == list(RENEW_RETRY_DELAYS)
    assert "claim not renewed" in caplog.text
    assert calbot.bot_api.attempts == [bot.bot_id]


async def test_an_outcome_that_cannot_be_stored_is_taken_over_later_with_the_same_key(
    calbot: Calbot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await due(calbot)
    flaky = FlakyBots(calbot.stores.bots)
    flaky.failures["update_bot"] = len(RECORD_RETRY_DELAYS) + 1  # down for over a minute

    with caplog.at_level(logging.ERROR, logger="app.services.launcher"):
        await launch(launcher_over(calbot, flaky))

    assert (await stored(calbot, bot.bot_id)).status is BotStatus.LAUNCHING
    assert "could not be stored" in caplog.text
    calbot.clock.advance(STALE_LAUNCH_AFTER.total_seconds())
    assert await launch(launcher_over(calbot, calbot.stores.bots)) == 1  # another launcher

    assert calbot.bot_api.attempts == [bot.bot_id, bot.bot_id]
    assert len(calbot.bot_api.bots) == 1  # one bot on the API's side: the key is the same
    assert (await stored(calbot, bot.bot_id)).status is BotStatus.LAUNCHED


# -- shutdown during a Create Bot outage (case 5) --------------------------------------------


async def test_shutdown_during_an_outage_hands_the_bot_back_and_a_restart_launches_it(
    calbot: Calbot,
) -> None:
    bot = await due(calbot)
    calbot.bot_api.hang = True
    assert await calbot.launcher.launch_due() == 1
    await wait_until(lambda: calbot.bot_api.attempts == [bot.bot_id])

    stopped_at = calbot.clock.now()
    started = time.monotonic()
    await calbot.launcher.shutdown()

    assert time.monotonic() - started < 1.0  # the grace is on the Clock; no real 10 s here
    assert calbot.clock.now() - stopped_at <= timedelta(seconds=LAUNCH_SHUTDOWN_SECONDS)
    handed_back = await stored(calbot, bot.bot_id)
    assert handed_back.status is BotStatus.SCHEDULED  # not left "launching" for 5 minutes

    calbot.bot_api.hang = False
    restarted = launcher_over(calbot, calbot.stores.bots)
    assert await launch(restarted) == 1

    assert calbot.bot_api.attempts == [bot.bot_id, bot.bot_id]
    assert (await stored(calbot, bot.bot_id)).status is BotStatus.LAUNCHED


async def test_shutdown_with_nothing_in_flight_returns_at_once(calbot: Calbot) -> None:
    await calbot.launcher.shutdown()

    assert calbot.clock.slept == []


async def wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")
