"""After a sync, pending bots follow their meetings: moved, relinked, cancelled."""

from __future__ import annotations

from datetime import date
from typing import Any

from app.domain import BotStatus, Platform, ScheduledBot
from tests.unit.calbot import ACCOUNT, CAL, JOIN_LEAD, Calbot, at, google_time, meeting

WEEKLY: dict[str, Any] = {"recurrence": ["RRULE:FREQ=WEEKLY"]}
ZOOM = "https://us02web.zoom.us/j/81234567890"


async def scheduled(calbot: Calbot, resource: dict[str, Any], **options: Any) -> ScheduledBot:
    """The meeting synced from Google, with a bot scheduled for it."""
    calbot.google.put_event(CAL, resource)
    await calbot.connect()
    await calbot.refresh()
    event_id = await calbot.event_id(resource["id"])
    bot, _ = await calbot.scheduling.schedule(ACCOUNT, event_id, {"bot_name": "Notes"}, **options)
    return bot


async def stored(calbot: Calbot, bot_id: str) -> ScheduledBot:
    bot = await calbot.stores.bots.get_bot(ACCOUNT, bot_id)
    assert bot is not None
    return bot


def exception_of(series_id: str, original_start: Any, **fields: Any) -> dict[str, Any]:
    """A Google exception: one occurrence of the series moved, edited or cancelled."""
    return {
        "id": f"{series_id}_{original_start:%Y%m%dT%H%M%SZ}",
        "recurringEventId": series_id,
        "originalStartTime": google_time(original_start),
        **fields,
    }


async def test_a_moved_meeting_moves_its_bot(calbot: Calbot) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))

    calbot.google.put_event(CAL, meeting("m1", at(5), at(6)))
    await calbot.refresh()

    moved = await stored(calbot, bot.bot_id)
    assert (moved.occurrence_start, moved.occurrence_end, moved.join_at) == (
        at(5),
        at(6),
        at(5) - JOIN_LEAD,
    )
    assert calbot.scheduler.join_at == {bot.bot_id: at(5) - JOIN_LEAD}


async def test_a_cancelled_meeting_cancels_its_bot(calbot: Calbot) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))

    calbot.google.cancel_event(CAL, "m1")
    await calbot.refresh()

    assert (await stored(calbot, bot.bot_id)).status is BotStatus.CANCELLED
    assert calbot.scheduler.cancelled == [bot.bot_id]
    assert calbot.scheduler.join_at == {}


async def test_a_changed_meeting_link_is_carried_to_the_bot(calbot: Calbot) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))

    calbot.google.put_event(CAL, meeting("m1", at(1), at(2), link=None, location=ZOOM))
    await calbot.refresh()

    relinked = await stored(calbot, bot.bot_id)
    assert (relinked.meeting_link, relinked.meeting_platform) == (ZOOM, Platform.ZOOM)
    assert (relinked.status, relinked.join_at) == (BotStatus.SCHEDULED, bot.join_at)


async def test_a_meeting_that_lost_its_link_loses_its_bot(calbot: Calbot) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))

    calbot.google.put_event(CAL, meeting("m1", at(1), at(2), link=None))
    await calbot.refresh()

    assert (await stored(calbot, bot.bot_id)).status is BotStatus.CANCELLED
    assert calbot.scheduler.cancelled == [bot.bot_id]


async def test_a_moved_occurrence_moves_only_its_own_bot(calbot: Calbot) -> None:
    this_week = await scheduled(calbot, meeting("s1", at(1), at(2), **WEEKLY))
    next_week, _ = await calbot.scheduling.schedule(
        ACCOUNT, this_week.event_id, {}, occurrence_date=date(2026, 12, 2)
    )

    calbot.google.put_event(
        CAL,
        exception_of(
            "s1", at(1 + 168), start=google_time(at(3 + 168)), end=google_time(at(4 + 168))
        ),
    )
    await calbot.refresh()

    assert (await stored(calbot, this_week.bot_id)).join_at == this_week.join_at
    moved = await stored(calbot, next_week.bot_id)
    assert (moved.occurrence_start, moved.join_at) == (at(3 + 168), at(3 + 168) - JOIN_LEAD)
    assert moved.occurrence_key == next_week.occurrence_key  # still that occurrence's bot


async def test_a_cancelled_occurrence_cancels_its_bot_and_the_series_moves_on(
    calbot: Calbot,
) -> None:
    bot = await scheduled(calbot, meeting("s1", at(1), at(2), **WEEKLY))

    calbot.google.put_event(CAL, exception_of("s1", at(1), status="cancelled"))
    await calbot.refresh()

    assert (await stored(calbot, bot.bot_id)).status is BotStatus.CANCELLED
    pending = await calbot.stores.bots.list_bots(ACCOUNT, status=BotStatus.SCHEDULED)
    assert [b.occurrence_start for b in pending] == [at(1 + 168)]
    assert calbot.scheduler.join_at == {pending[0].bot_id: at(1 + 168) - JOIN_LEAD}


async def test_a_launched_bot_is_left_as_it_is(calbot: Calbot) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))
    calbot.clock.set(bot.join_at)
    await calbot.launcher.launch_due()
    await calbot.launcher.wait_for_launches()

    calbot.google.put_event(CAL, meeting("m1", at(5), at(6)))
    await calbot.refresh()

    launched = await stored(calbot, bot.bot_id)
    assert (launched.status, launched.occurrence_start) == (BotStatus.LAUNCHED, at(1))
    assert calbot.scheduler.cancelled == []


async def test_an_unchanged_meeting_leaves_its_bot_alone(calbot: Calbot) -> None:
    bot = await scheduled(calbot, meeting("m1", at(1), at(2)))

    calbot.google.put_event(CAL, meeting("m1", at(1), at(2), summary="Renamed"))
    outcome = await calbot.refresh()
    result = await calbot.reconciler.after_sync(ACCOUNT, outcome)

    assert (result.moved, result.cancelled, result.relinked) == (0, 0, 0)
    assert await stored(calbot, bot.bot_id) == bot
