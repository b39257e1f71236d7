"""One meeting on several calendars is one meeting (issue 12, case 7): the copy on the primary
calendar and the copy on a shared team calendar share Google's iCalUID (sometimes the Google id
too), and get one bot between them, from auto-scheduling or by hand."""

from __future__ import annotations

from typing import Any

from app.domain import BotSource, BotStatus, ScheduledBot, event_meeting_key
from tests.unit.calbot import ACCOUNT, CAL, Calbot, at, meeting

TEAM = "team@group.calendar.google.com"
AUTO = {"bot_name": "Auto"}
UID = "7kukuqrfedlm2f9t5i4ugisvbc@google.com"


async def on_both(
    calbot: Calbot,
    primary: dict[str, Any],
    team: dict[str, Any],
) -> tuple[str, str]:
    """Both copies synced; their calbot event ids (primary's, team's)."""
    calbot.google.add_calendar(TEAM)
    calbot.google.put_event(CAL, primary)
    calbot.google.put_event(TEAM, team)
    await calbot.connect()
    await calbot.refresh(CAL)
    await calbot.refresh(TEAM)
    return await calbot.event_id(primary["id"]), await calbot.event_id(team["id"], TEAM)


def shared(google_id: str, start_hours: float = 1, **fields: Any) -> dict[str, Any]:
    return meeting(google_id, at(start_hours), at(start_hours + 1), iCalUID=UID, **fields)


async def pending(calbot: Calbot) -> list[ScheduledBot]:
    return await calbot.stores.bots.list_bots(ACCOUNT, status=BotStatus.SCHEDULED)


async def test_a_meeting_on_two_calendars_gets_one_auto_bot(calbot: Calbot) -> None:
    await on_both(calbot, shared("on-primary"), shared("on-team"))

    await calbot.auto_schedule.enable(ACCOUNT, AUTO)
    await calbot.auto_schedule.run_pass()

    [bot] = await calbot.bots()
    assert (bot.source, bot.meeting_key) == (BotSource.AUTO_SCHEDULE, f"ical:{UID}")


async def test_the_same_google_id_on_two_calendars_gets_one_auto_bot(calbot: Calbot) -> None:
    primary, team = await on_both(calbot, shared("same-id"), shared("same-id"))
    assert primary != team  # two calbot events, one meeting

    await calbot.auto_schedule.enable(ACCOUNT, AUTO)

    assert len(await calbot.bots()) == 1


async def test_each_occurrence_of_a_shared_series_gets_one_bot(calbot: Calbot) -> None:
    daily: dict[str, Any] = {"recurrence": ["RRULE:FREQ=DAILY;COUNT=3"]}
    await on_both(calbot, shared("s-primary", **daily), shared("s-team", **daily))
    calbot.auto_schedule.lookahead = at(72) - at(0)

    await calbot.auto_schedule.enable(ACCOUNT, AUTO)

    keys = sorted(str(b.meeting_key) for b in await calbot.bots())
    assert keys == [f"ical:{UID}|2026-11-{day}T13:00:00Z" for day in (25, 26, 27)]


async def test_scheduling_the_meeting_again_from_the_other_calendar_reuses_its_bot(
    calbot: Calbot,
) -> None:
    primary, team = await on_both(calbot, shared("on-primary"), shared("on-team"))
    first, created_first = await calbot.scheduling.schedule(ACCOUNT, primary, {"a": 1})

    again, created_again = await calbot.scheduling.schedule(ACCOUNT, team, {"b": 2})

    assert (created_first, created_again) == (True, False)
    assert again.bot_id == first.bot_id
    assert again.bot_config == {"b": 2}
    assert [b.bot_id for b in await pending(calbot)] == [first.bot_id]


async def test_a_bot_the_user_cancelled_is_not_brought_back_through_the_other_calendar(
    calbot: Calbot,
) -> None:
    await on_both(calbot, shared("on-primary"), shared("on-team"))
    await calbot.auto_schedule.enable(ACCOUNT, AUTO)
    [bot] = await calbot.bots()

    await calbot.scheduling.cancel_bot(ACCOUNT, bot.bot_id)
    await calbot.auto_schedule.run_pass()

    assert [(b.bot_id, b.status) for b in await calbot.bots()] == [
        (bot.bot_id, BotStatus.CANCELLED)
    ]


async def test_when_the_copy_with_the_bot_vanishes_the_other_copy_gets_one(
    calbot: Calbot,
) -> None:
    await on_both(calbot, shared("on-primary"), shared("on-team"))
    await calbot.auto_schedule.enable(ACCOUNT, AUTO)
    [first] = await calbot.bots()
    calendar_of_first = first.calendar_id
    other = TEAM if calendar_of_first == CAL else CAL
    calbot.google.forget_event(calendar_of_first, first.google_event_id)
    calbot.google.expire_sync_tokens = True

    await calbot.refresh(calendar_of_first)

    [now_pending] = await pending(calbot)
    assert now_pending.calendar_id == other
    assert now_pending.meeting_key == first.meeting_key


async def test_without_an_ical_uid_the_link_and_start_identify_the_meeting(
    calbot: Calbot,
) -> None:
    await on_both(
        calbot,
        meeting("a", at(1), at(2), iCalUID=""),
        meeting("b", at(1), at(2), iCalUID=""),
    )
    calbot.google.put_event(CAL, meeting("later", at(3), at(4), iCalUID=""))
    await calbot.refresh(CAL)

    await calbot.auto_schedule.enable(ACCOUNT, AUTO)

    keys = sorted(str(b.meeting_key) for b in await calbot.bots())
    link = "https://meet.google.com/abc-defg-hij"
    assert keys == [f"link:{link}|2026-11-25T13:00:00Z", f"link:{link}|2026-11-25T15:00:00Z"]


async def test_both_copies_list_the_same_meeting_key(calbot: Calbot) -> None:
    primary, team = await on_both(calbot, shared("on-primary"), shared("on-team"))

    events = [await calbot.stores.events.get_event(ACCOUNT, e) for e in (primary, team)]

    assert [event_meeting_key(e) for e in events if e] == [f"ical:{UID}", f"ical:{UID}"]
