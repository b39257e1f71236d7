"""Meeting identity in the stores: events keep Google's iCalUID; bots are deduplicated by their
meeting occurrence (`meeting_key`) as by their event occurrence, as a store property; a bot can
be re-keyed when its meeting starts or stops repeating; calbot can release a meeting claim."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from app.adapters.ports import Stores
from app.domain import BotSource, BotStatus, OccurrenceKey, ScheduledBot
from tests.adapters.store_contract.builders import (
    ACCOUNT,
    CAL,
    NOW,
    PRIMARY,
    TEAM,
    WEEKLY,
    at,
    bot,
    connection,
    event,
    synced,
)

MEETING = "ical:shared@google.com"


def copy_of(google_id: str, *, calendar_id: str = CAL, bot_id: str, **fields: Any) -> ScheduledBot:
    """A bot for one calendar's copy of the shared meeting."""
    return bot(
        event(google_id, at(1), calendar_id=calendar_id, ical_uid="shared@google.com"),
        bot_id=bot_id,
        meeting_key=MEETING,
        **fields,
    )


async def test_events_keep_their_ical_uid(stores: Stores) -> None:
    copies = [
        event("on-primary", at(1), ical_uid="shared@google.com"),
        event("legacy", at(2)),
    ]
    await synced(stores.events, *copies)

    listed = await stores.events.list_events(ACCOUNT, CAL)
    assert [row.event.ical_uid for row in listed] == ["shared@google.com", None]
    stored = await stores.events.get_event(ACCOUNT, copies[0].event_id)
    assert stored is not None
    assert stored.ical_uid == "shared@google.com"


async def test_a_pending_bot_of_the_same_meeting_from_another_calendar_is_reused(
    stores: Stores,
) -> None:
    first = copy_of("on-primary", bot_id="bot_1")
    assert await stores.bots.insert_or_update_pending_bot(first) == (first, True)

    from_team = copy_of("on-team", calendar_id=TEAM, bot_id="bot_2", bot_config={"b": 2})
    stored, created = await stores.bots.insert_or_update_pending_bot(from_team)

    assert created is False
    assert (stored.bot_id, stored.calendar_id, stored.bot_config) == ("bot_1", CAL, {"b": 2})
    assert [b.bot_id for b in await stores.bots.list_bots(ACCOUNT)] == ["bot_1"]
    stored.status = BotStatus.CANCELLED  # written from the bot as stored now (its version)
    assert await stores.bots.update_bot(stored, expected_status=BotStatus.SCHEDULED)
    assert await stores.bots.insert_or_update_pending_bot(from_team) == (from_team, True)


async def test_fifty_concurrent_schedulings_of_one_meeting_on_two_calendars_make_one_bot(
    stores: Stores,
) -> None:
    candidates = [
        copy_of(f"copy-{n % 2}", calendar_id=(CAL, TEAM)[n % 2], bot_id=f"bot_{n:02d}")
        for n in range(50)
    ]

    results = await asyncio.gather(*map(stores.bots.insert_or_update_pending_bot, candidates))

    assert sum(created for _, created in results) == 1
    assert len({stored.bot_id for stored, _ in results}) == 1
    assert len(await stores.bots.list_bots(ACCOUNT)) == 1


async def test_auto_scheduling_skips_a_meeting_that_had_a_bot_on_any_calendar(
    stores: Stores,
) -> None:
    primary = copy_of("on-primary", bot_id="bot_1", source=BotSource.AUTO_SCHEDULE)
    team = copy_of("on-team", calendar_id=TEAM, bot_id="bot_2", source=BotSource.AUTO_SCHEDULE)

    [inserted] = await stores.bots.insert_bots_unless_exist([primary, team])
    [other] = [b for b in (primary, team) if b.bot_id != inserted.bot_id]
    inserted.status = BotStatus.CANCELLED  # the user cancelled it
    assert await stores.bots.update_bot(inserted, expected_status=BotStatus.SCHEDULED)
    assert await stores.bots.insert_bots_unless_exist([other]) == []


async def test_a_released_meeting_claim_lets_another_copy_get_a_bot(stores: Stores) -> None:
    primary = copy_of("on-primary", bot_id="bot_1", source=BotSource.AUTO_SCHEDULE)
    await stores.bots.insert_bots_unless_exist([primary])
    primary.status = BotStatus.CANCELLED  # calbot's: its copy vanished
    assert await stores.bots.update_bot(primary, expected_status=BotStatus.SCHEDULED)

    await stores.bots.release_meeting_claim(primary)
    team = copy_of("on-team", calendar_id=TEAM, bot_id="bot_2", source=BotSource.AUTO_SCHEDULE)

    assert await stores.bots.insert_bots_unless_exist([team]) == [team]
    assert await stores.bots.get_bot(ACCOUNT, "bot_1") == primary  # the bot itself is kept


async def test_releasing_one_bots_claim_keeps_the_claim_of_another(stores: Stores) -> None:
    manual = copy_of("on-primary", bot_id="bot_1")
    await stores.bots.insert_or_update_pending_bot(manual)
    manual.status = BotStatus.CANCELLED  # by the user
    assert await stores.bots.update_bot(manual, expected_status=BotStatus.SCHEDULED)
    later = copy_of("on-team", calendar_id=TEAM, bot_id="bot_2")
    await stores.bots.insert_or_update_pending_bot(later)
    later.status = BotStatus.CANCELLED  # by calbot
    assert await stores.bots.update_bot(later, expected_status=BotStatus.SCHEDULED)

    await stores.bots.release_meeting_claim(later)

    third = copy_of("third", calendar_id=TEAM, bot_id="bot_3", source=BotSource.AUTO_SCHEDULE)
    assert await stores.bots.insert_bots_unless_exist([third]) == []


async def test_a_bot_is_rekeyed_when_its_meeting_starts_repeating(stores: Stores) -> None:
    series = event("m1", at(1), recurrence=WEEKLY)
    await synced(stores.events, series)
    one_off = bot(series, bot_id="bot_1", meeting_key="ical:m1")
    await stores.bots.insert_or_update_pending_bot(one_off)
    rekeyed = dataclasses.replace(
        one_off,
        occurrence_key=OccurrenceKey(at(1)),
        meeting_key="ical:m1|2026-11-25T13:00:00Z",
        updated_at=NOW,
    )

    assert await stores.bots.rekey_bot(
        rekeyed,
        expected_status=BotStatus.SCHEDULED,
        previous_occurrence_key=OccurrenceKey.single(),
        previous_meeting_key="ical:m1",
    )

    assert await stores.bots.get_bot(ACCOUNT, "bot_1") == rekeyed
    twin = bot(series, bot_id="bot_2", occurrence_start=at(1), meeting_key=rekeyed.meeting_key)
    stored, created = await stores.bots.insert_or_update_pending_bot(twin)
    assert (stored.bot_id, created) == ("bot_1", False)
    # The old keys are free: a bot keyed as the one-off was is another occurrence now.
    fresh = bot(series, bot_id="bot_3", meeting_key="ical:m1")
    assert await stores.bots.insert_or_update_pending_bot(fresh) == (fresh, True)


async def test_a_rekey_is_refused_over_another_pending_bot_or_stale_keys(stores: Stores) -> None:
    series = event("m1", at(1), recurrence=WEEKLY)
    await synced(stores.events, series)
    holder = bot(series, bot_id="bot_1", occurrence_start=at(1), meeting_key="ical:m1|t")
    stale = bot(series, bot_id="bot_2", meeting_key="ical:m1")
    for each in (holder, stale):
        await stores.bots.insert_or_update_pending_bot(each)
    onto_holder = dataclasses.replace(
        stale, occurrence_key=holder.occurrence_key, meeting_key="ical:m1|t"
    )

    refused = await stores.bots.rekey_bot(
        onto_holder,
        expected_status=BotStatus.SCHEDULED,
        previous_occurrence_key=OccurrenceKey.single(),
        previous_meeting_key="ical:m1",
    )
    wrong_previous = await stores.bots.rekey_bot(
        dataclasses.replace(stale, occurrence_key=OccurrenceKey(at(169))),
        expected_status=BotStatus.SCHEDULED,
        previous_occurrence_key=OccurrenceKey(at(1)),
        previous_meeting_key="ical:m1",
    )

    assert (refused, wrong_previous) == (False, False)
    assert await stores.bots.list_bots(ACCOUNT) == [holder, stale]


async def test_a_finished_bot_is_rekeyed_with_its_claims(stores: Stores) -> None:
    series = event("m1", at(1), recurrence=WEEKLY)
    await synced(stores.events, series)
    launched = bot(series, bot_id="bot_1", meeting_key="ical:m1", status=BotStatus.LAUNCHED)
    await stores.bots.insert_bots_unless_exist([launched])
    rekeyed = dataclasses.replace(
        launched, occurrence_key=OccurrenceKey(at(1)), meeting_key="ical:m1|t"
    )

    assert await stores.bots.rekey_bot(
        rekeyed,
        expected_status=BotStatus.LAUNCHED,
        previous_occurrence_key=OccurrenceKey.single(),
        previous_meeting_key="ical:m1",
    )

    auto = bot(series, bot_id="bot_2", occurrence_start=at(1), meeting_key="ical:m1|t")
    assert await stores.bots.insert_bots_unless_exist([auto]) == []
    assert await stores.bots.get_bot(ACCOUNT, "bot_1") == rekeyed
    assert await stores.bots.list_bots(ACCOUNT, status=BotStatus.SCHEDULED) == []


async def test_a_meeting_key_longer_than_a_sort_key_may_be_is_stored(stores: Stores) -> None:
    link = "https://zoom.us/j/85512345678?pwd=" + "a" * 2000
    long_key = f"link:{link}|2026-11-25T13:00:00Z"
    first = bot(event("m1", at(1)), bot_id="bot_1", meeting_key=long_key)
    twin = bot(event("m2", at(1)), bot_id="bot_2", meeting_key=long_key)

    assert await stores.bots.insert_or_update_pending_bot(first) == (first, True)
    stored, created = await stores.bots.insert_or_update_pending_bot(twin)

    assert (stored.bot_id, stored.meeting_key, created) == ("bot_1", long_key, False)


async def test_a_bot_without_a_meeting_key_is_deduplicated_by_its_occurrence_only(
    stores: Stores,
) -> None:
    old = bot(event("m1", at(1)), bot_id="bot_1", meeting_key=None)
    other = bot(event("m2", at(1)), bot_id="bot_2", meeting_key=None)

    assert await stores.bots.insert_or_update_pending_bot(old) == (old, True)
    assert await stores.bots.insert_or_update_pending_bot(other) == (other, True)
    old.status = BotStatus.CANCELLED
    assert await stores.bots.update_bot(old, expected_status=BotStatus.SCHEDULED)
    await stores.bots.release_meeting_claim(old)
    assert (await stores.bots.get_bot(ACCOUNT, "bot_1")) == old


async def test_a_disconnect_cancels_pending_bots_with_its_reason(stores: Stores) -> None:
    await stores.connections.save_connection(connection(), [PRIMARY])
    meeting = event("m1", at(2))
    await synced(stores.events, meeting)
    await stores.bots.insert_or_update_pending_bot(bot(meeting, bot_id="bot_1"))

    assert await stores.connections.delete_connection(ACCOUNT, at(1)) == 1

    [cancelled] = await stores.bots.list_bots(ACCOUNT)
    assert (cancelled.status, cancelled.last_error) == (
        BotStatus.CANCELLED,
        "The Google account was disconnected.",
    )


async def test_a_bot_is_not_put_back_to_pending_over_another_of_its_meeting(
    stores: Stores,
) -> None:
    first = copy_of("on-primary", bot_id="bot_1")
    await stores.bots.insert_or_update_pending_bot(first)
    first.status = BotStatus.CANCELLED
    assert await stores.bots.update_bot(first, expected_status=BotStatus.SCHEDULED)
    second = copy_of("on-team", calendar_id=TEAM, bot_id="bot_2")
    await stores.bots.insert_or_update_pending_bot(second)

    first.status = BotStatus.SCHEDULED
    assert await stores.bots.update_bot(first, expected_status=BotStatus.CANCELLED) is False

    statuses = {b.bot_id: b.status for b in await stores.bots.list_bots(ACCOUNT)}
    assert statuses == {"bot_1": BotStatus.CANCELLED, "bot_2": BotStatus.SCHEDULED}
