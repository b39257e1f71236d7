"""A meeting that vanishes without a cancelled item takes its bots with it (issue 12, case 1):
a full resync after 410 that no longer lists it, or a connection to another Google account that
no longer has its calendar. The bots are cancelled with the reason, and the scheduler is told."""

from __future__ import annotations

from app.domain import BotStatus
from tests.unit.calbot import ACCOUNT, CAL, Calbot, at, meeting

OTHER_ACCOUNTS_CALENDAR = "someone.else@example.com"


async def scheduled(calbot: Calbot, *google_ids: str) -> list[str]:
    """Bots (ids) for these meetings, synced from Google and scheduled by hand."""
    for hours, google_id in enumerate(google_ids, start=1):
        calbot.google.put_event(CAL, meeting(google_id, at(hours), at(hours + 1)))
    await calbot.connect()
    await calbot.refresh()
    bot_ids = []
    for google_id in google_ids:
        event_id = await calbot.event_id(google_id)
        bot, _ = await calbot.scheduling.schedule(ACCOUNT, event_id, {"bot_name": "Notes"})
        bot_ids.append(bot.bot_id)
    return bot_ids


async def status_and_reason(calbot: Calbot, bot_id: str) -> tuple[BotStatus, str | None]:
    bot = await calbot.stores.bots.get_bot(ACCOUNT, bot_id)
    assert bot is not None
    return bot.status, bot.last_error


async def test_a_full_resync_that_no_longer_lists_a_meeting_cancels_its_bot(
    calbot: Calbot,
) -> None:
    gone, kept = await scheduled(calbot, "gone", "kept")
    calbot.google.forget_event(CAL, "gone")  # deleted while no incremental sync could see it
    calbot.google.expire_sync_tokens = True

    outcome = await calbot.refresh()

    assert outcome.full_sync
    assert await status_and_reason(calbot, gone) == (
        BotStatus.CANCELLED,
        "The meeting was deleted in Google Calendar.",
    )
    assert await status_and_reason(calbot, kept) == (BotStatus.SCHEDULED, None)
    assert calbot.scheduler.cancelled == [gone]
    assert set(calbot.scheduler.join_at) == {kept}


async def test_the_bot_of_a_vanished_meeting_is_never_launched(calbot: Calbot) -> None:
    [gone] = await scheduled(calbot, "gone")
    calbot.google.forget_event(CAL, "gone")
    calbot.google.expire_sync_tokens = True
    await calbot.refresh()

    calbot.clock.set(at(1))
    await calbot.launcher.launch_due()
    await calbot.launcher.wait_for_launches()

    assert calbot.bot_api.attempts == []
    assert (await status_and_reason(calbot, gone))[0] is BotStatus.CANCELLED


async def test_connecting_another_google_account_cancels_the_bots_of_its_dropped_calendars(
    calbot: Calbot,
) -> None:
    [old] = await scheduled(calbot, "old")
    event_id = await calbot.event_id("old")
    calbot.google.remove_calendar(CAL)
    calbot.google.add_calendar(OTHER_ACCOUNTS_CALENDAR, primary=True)

    await calbot.connect()

    assert await calbot.stores.events.get_event(ACCOUNT, event_id) is None
    assert await status_and_reason(calbot, old) == (
        BotStatus.CANCELLED,
        "The meeting's calendar is no longer connected: create_calendar connected a Google "
        "account without it.",
    )
    assert calbot.scheduler.cancelled == [old]
    assert calbot.scheduler.join_at == {}


async def test_disconnecting_cancels_bots_with_the_reason(calbot: Calbot) -> None:
    [bot_id] = await scheduled(calbot, "m1")

    await calbot.connections.disconnect(ACCOUNT)

    assert await status_and_reason(calbot, bot_id) == (
        BotStatus.CANCELLED,
        "The Google account was disconnected.",
    )
    assert calbot.scheduler.cancelled == [bot_id]
