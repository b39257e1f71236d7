"""Auto-scheduling: every meeting a bot can join, within the lookahead, gets one bot, once."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain import BotSource, BotStatus
from app.errors import CredentialsRevoked
from tests.unit.calbot import ACCOUNT, CAL, JOIN_LEAD, NOW, Calbot, at, meeting

AUTO = {"bot_name": "Auto"}
DECLINED: dict[str, Any] = {
    "attendees": [{"email": "me@example.com", "self": True, "responseStatus": "declined"}]
}


async def synced(calbot: Calbot, *resources: dict[str, Any]) -> None:
    for resource in resources:
        calbot.google.put_event(CAL, resource)
    await calbot.connect()
    await calbot.refresh()


async def bots_by_meeting(calbot: Calbot) -> dict[str, list[tuple[BotSource, BotStatus]]]:
    found: dict[str, list[tuple[BotSource, BotStatus]]] = {}
    for bot in await calbot.bots():
        found.setdefault(bot.google_event_id, []).append((bot.source, bot.status))
    return found


async def test_enabling_gives_every_upcoming_meeting_a_bot_at_once(calbot: Calbot) -> None:
    await synced(
        calbot,
        meeting("soon", at(1), at(2)),
        meeting("tonight", at(8), at(9)),
        meeting("next-week", at(170), at(171)),
    )

    settings = await calbot.auto_schedule.enable(ACCOUNT, AUTO)

    assert settings.enabled
    assert settings.last_run_at == NOW
    bots = await calbot.bots()
    assert [(b.google_event_id, b.bot_config, b.source) for b in bots] == [
        ("soon", AUTO, BotSource.AUTO_SCHEDULE),
        ("tonight", AUTO, BotSource.AUTO_SCHEDULE),
    ]
    assert calbot.scheduler.join_at == {b.bot_id: b.occurrence_start - JOIN_LEAD for b in bots}


async def test_declined_cancelled_linkless_and_ended_meetings_get_no_bot(calbot: Calbot) -> None:
    await synced(
        calbot,
        meeting("declined", at(1), at(2), **DECLINED),
        meeting("linkless", at(1), at(2), link=None),
        meeting("ended", at(-2), at(-1)),
        meeting("cancelled", at(1), at(2)),
        meeting("kept", at(3), at(4)),
    )
    calbot.google.cancel_event(CAL, "cancelled")
    await calbot.refresh()

    await calbot.auto_schedule.enable(ACCOUNT, AUTO)

    assert list(await bots_by_meeting(calbot)) == ["kept"]


async def test_a_meeting_that_already_has_a_bot_keeps_it(calbot: Calbot) -> None:
    await synced(calbot, meeting("m1", at(1), at(2)))
    manual, _ = await calbot.scheduling.schedule(
        ACCOUNT, await calbot.event_id("m1"), {"bot_name": "Mine"}
    )

    await calbot.auto_schedule.enable(ACCOUNT, AUTO)

    assert await calbot.bots() == [manual]


async def test_a_bot_the_user_cancelled_is_not_brought_back(calbot: Calbot) -> None:
    await synced(calbot, meeting("m1", at(1), at(2)))
    manual, _ = await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id("m1"), {})
    await calbot.scheduling.cancel_bot(ACCOUNT, manual.bot_id)

    await calbot.auto_schedule.enable(ACCOUNT, AUTO)
    await calbot.auto_schedule.run_pass()

    assert await bots_by_meeting(calbot) == {"m1": [(BotSource.MANUAL, BotStatus.CANCELLED)]}


async def test_a_series_gets_a_bot_for_each_occurrence_within_the_lookahead(
    calbot: Calbot,
) -> None:
    await synced(
        calbot,
        # Three a day at 06:00, 14:00 and 22:00 in the calendar's zone (Berlin, UTC+1).
        meeting("standup", at(1), at(1.25), recurrence=["RRULE:FREQ=DAILY;BYHOUR=6,14,22"]),
    )

    await calbot.auto_schedule.enable(ACCOUNT, AUTO)

    starts = [b.occurrence_start for b in await calbot.bots()]
    assert starts == [at(1), at(9), at(17)]


async def test_a_second_pass_creates_nothing_new(calbot: Calbot) -> None:
    await synced(calbot, meeting("m1", at(1), at(2)), meeting("m2", at(3), at(4)))
    await calbot.auto_schedule.enable(ACCOUNT, AUTO)

    assert await calbot.auto_schedule.run_pass() == 0
    calbot.clock.advance(3600)
    assert await calbot.auto_schedule.run_pass() == 0

    assert len(await calbot.bots()) == 2


async def test_a_meeting_synced_later_gets_its_bot_with_that_sync(calbot: Calbot) -> None:
    await synced(calbot)
    await calbot.auto_schedule.enable(ACCOUNT, AUTO)

    calbot.google.put_event(CAL, meeting("new", at(5), at(6)))
    await calbot.refresh()

    assert await bots_by_meeting(calbot) == {
        "new": [(BotSource.AUTO_SCHEDULE, BotStatus.SCHEDULED)]
    }


async def test_nothing_is_scheduled_while_auto_scheduling_is_off(calbot: Calbot) -> None:
    await synced(calbot, meeting("m1", at(1), at(2)))
    assert await calbot.auto_schedule.run_pass() == 0

    await calbot.auto_schedule.enable(ACCOUNT, AUTO)
    await calbot.auto_schedule.disable(ACCOUNT)
    calbot.google.put_event(CAL, meeting("m2", at(3), at(4)))
    await calbot.refresh()

    assert list(await bots_by_meeting(calbot)) == ["m1"]


async def test_an_account_whose_access_was_revoked_gets_no_new_bots(calbot: Calbot) -> None:
    await synced(calbot, meeting("m1", at(1), at(2)))
    calbot.google.refresh_tokens.clear()  # the user withdrew calbot's access at Google
    with pytest.raises(CredentialsRevoked):
        await calbot.refresh()

    await calbot.auto_schedule.enable(ACCOUNT, AUTO)

    assert await calbot.auto_schedule.run_pass() == 0
    assert await calbot.bots() == []


async def test_a_pass_reads_the_events_a_page_at_a_time_and_misses_none(
    calbot: Calbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.services.auto_schedule.CANDIDATE_PAGE", 2)
    await synced(
        calbot,
        *(meeting(f"m{n}", at(1 + n), at(2 + n)) for n in range(5)),
        meeting("ended", at(-2), at(-1)),
        meeting("next-week", at(170), at(171)),
    )
    pages: list[int] = []
    read_page = calbot.stores.events.auto_schedule_candidates_page

    async def counted(*args: Any, **kwargs: Any) -> Any:
        pages.append(kwargs["limit"])
        return await read_page(*args, **kwargs)

    monkeypatch.setattr(calbot.stores.events, "auto_schedule_candidates_page", counted)

    await calbot.auto_schedule.enable(ACCOUNT, AUTO)

    assert sorted(await bots_by_meeting(calbot)) == [f"m{n}" for n in range(5)]
    assert pages == [2, 2, 2, 2]  # seven events, two at a time, the last page short
