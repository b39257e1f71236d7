"""BotStore: deduplication, conditional writes, claiming and due bots."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable
from datetime import datetime

from app.adapters.ports import Stores
from app.domain import (
    BotStatus,
    Platform,
    ScheduledBot,
    ScheduleStatus,
)
from tests.adapters.store_contract.builders import (
    ACCOUNT,
    CAL,
    NOW,
    OTHER,
    WEEKLY,
    at,
    bot,
    event,
    page,
    synced,
)

# -- bots --------------------------------------------------------------------------------------


async def test_a_pending_bot_is_deduplicated_and_updated_only_while_scheduled(
    stores: Stores,
) -> None:
    meeting = event("m1", at(1))
    first = bot(meeting, bot_id="bot_1", bot_name="First", custom_attributes={"a": 1})
    assert await stores.bots.insert_or_update_pending_bot(first) == (first, True)

    repeat = bot(meeting, bot_id="bot_2", bot_config={"x": 2}, updated_at=NOW)
    stored, created = await stores.bots.insert_or_update_pending_bot(repeat)

    assert created is False
    assert stored == dataclasses.replace(
        first,
        bot_config={"x": 2},
        bot_name=None,
        custom_attributes=None,
        updated_at=NOW,
        version=1,
    )
    assert await stores.bots.get_bot(ACCOUNT, "bot_2") is None
    claimed = await stores.bots.claim_bot("bot_1", at(1), stale_launching_before=NOW)
    assert claimed is not None
    stored, created = await stores.bots.insert_or_update_pending_bot(
        bot(meeting, bot_id="bot_3", bot_config={"y": 3})
    )
    assert (stored, created) == (claimed, False)

    claimed.status = BotStatus.LAUNCHED
    assert await stores.bots.update_bot(claimed, expected_status=BotStatus.LAUNCHING)
    fresh = bot(meeting, bot_id="bot_4")
    assert await stores.bots.insert_or_update_pending_bot(fresh) == (fresh, True)
    assert [b.bot_id for b in await stores.bots.list_bots(ACCOUNT)] == ["bot_1", "bot_4"]


async def test_fifty_concurrent_schedulings_of_one_occurrence_make_one_bot(stores: Stores) -> None:
    meeting = event("m1", at(1))
    candidates = [bot(meeting, bot_id=f"bot_{n:02d}", bot_config={"n": n}) for n in range(50)]

    results = await asyncio.gather(*map(stores.bots.insert_or_update_pending_bot, candidates))

    assert sum(created for _, created in results) == 1
    assert len({stored.bot_id for stored, _ in results}) == 1
    assert len(await stores.bots.list_bots(ACCOUNT)) == 1


async def test_two_auto_schedule_passes_at_once_insert_each_occurrence_once(
    stores: Stores,
) -> None:
    series = event("series", at(-200), recurrence=WEEKLY)
    await synced(stores.events, series)

    def one_pass(name: str) -> Awaitable[list[ScheduledBot]]:
        bots = [
            bot(series, bot_id=f"bot_{name}_{week}", occurrence_start=at(1 + 168 * week))
            for week in range(5)
        ]
        return stores.bots.insert_bots_unless_exist(bots)

    first, second = await asyncio.gather(one_pass("a"), one_pass("b"))

    assert len(first) + len(second) == 5
    stored = await stores.bots.list_bots(ACCOUNT)
    assert sorted(str(b.occurrence_key) for b in stored) == sorted(
        {str(b.occurrence_key) for b in [*first, *second]}
    )


async def test_inserting_bots_unless_they_exist_checks_bots_in_any_status(stores: Stores) -> None:
    series = event("series", at(-200), recurrence=WEEKLY)
    await synced(stores.events, series)
    await stores.events.apply_events_page(ACCOUNT, page(cancelled=("series",)))
    old = bot(series, bot_id="bot_old", occurrence_start=at(1))
    await stores.bots.insert_or_update_pending_bot(old)
    old.status = BotStatus.CANCELLED
    assert await stores.bots.update_bot(old, expected_status=BotStatus.SCHEDULED)

    again = bot(series, bot_id="bot_again", occurrence_start=at(1))
    next_week = bot(series, bot_id="bot_next", occurrence_start=at(169))
    twin = bot(series, bot_id="bot_twin", occurrence_start=at(169))
    lonely = bot(event("not-stored"), bot_id="bot_lonely")

    inserted = await stores.bots.insert_bots_unless_exist(
        [again, next_week, twin, lonely, next_week]
    )

    assert inserted == [next_week, lonely]
    assert await stores.bots.insert_bots_unless_exist([]) == []
    assert (
        await stores.bots.insert_bots_unless_exist(
            [bot(series, bot_id="x", occurrence_start=at(169))]
        )
        == []
    )
    stored = await stores.events.get_event(ACCOUNT, series.event_id)
    assert stored is not None
    assert stored.schedule_status is ScheduleStatus.SCHEDULED
    assert await stores.bots.get_bot(ACCOUNT, "bot_next") == next_week


async def test_update_bot_writes_only_over_the_expected_status(stores: Stores) -> None:
    meeting = event("m1", at(1))
    original = bot(meeting, bot_id="bot_1")
    await stores.bots.insert_or_update_pending_bot(original)
    moved = dataclasses.replace(original, join_at=at(0.5), meeting_link="https://zoom.us/j/9")
    moved.meeting_platform = Platform.ZOOM

    assert await stores.bots.update_bot(moved, expected_status=BotStatus.LAUNCHING) is False
    assert await stores.bots.get_bot(ACCOUNT, "bot_1") == original
    assert await stores.bots.update_bot(moved, expected_status=BotStatus.SCHEDULED) is True
    assert await stores.bots.get_bot(ACCOUNT, "bot_1") == moved
    assert await stores.bots.get_bot(OTHER, "bot_1") is None
    assert (
        await stores.bots.update_bot(
            dataclasses.replace(moved, account_id=OTHER), expected_status=BotStatus.SCHEDULED
        )
        is False
    )


async def test_a_bot_put_back_to_scheduled_is_pending_again(stores: Stores) -> None:
    meeting = event("m1", at(1))
    await synced(stores.events, meeting)
    original = bot(meeting, bot_id="bot_1")
    await stores.bots.insert_or_update_pending_bot(original)
    cancelled = dataclasses.replace(original, status=BotStatus.CANCELLED)
    assert await stores.bots.update_bot(cancelled, expected_status=BotStatus.SCHEDULED)
    assert [row.bot_join_status for row in await stores.events.list_events(ACCOUNT, CAL)] == [False]

    original = dataclasses.replace(cancelled, status=BotStatus.SCHEDULED)
    assert await stores.bots.update_bot(original, expected_status=BotStatus.CANCELLED)

    assert [row.bot_join_status for row in await stores.events.list_events(ACCOUNT, CAL)] == [True]
    stored, created = await stores.bots.insert_or_update_pending_bot(bot(meeting, bot_id="bot_2"))
    assert (stored.bot_id, created) == ("bot_1", False)
    assert await stores.bots.due_bots(at(1), 10, stale_launching_before=NOW) == [stored]


async def test_cancel_pending_bots_cancels_the_scheduled_bots_of_one_event(stores: Stores) -> None:
    series, other = event("series", recurrence=WEEKLY), event("other", at(2))
    await synced(stores.events, series, other)
    first = bot(series, bot_id="bot_1", occurrence_start=at(1))
    second = bot(series, bot_id="bot_2", occurrence_start=at(169))
    launching = bot(series, bot_id="bot_3", occurrence_start=at(-167), join_at=at(-1))
    elsewhere = bot(other, bot_id="bot_4")
    for each in (first, second, launching, elsewhere):
        await stores.bots.insert_or_update_pending_bot(each)
    await stores.bots.claim_bot("bot_3", NOW, stale_launching_before=at(-2))

    cancelled = await stores.bots.cancel_pending_bots(ACCOUNT, series.event_id, at(0.5))

    expected = [
        dataclasses.replace(b, status=BotStatus.CANCELLED, updated_at=at(0.5), version=1)
        for b in (first, second)
    ]
    assert sorted(cancelled, key=lambda b: b.bot_id) == expected
    statuses = {b.bot_id: b.status for b in await stores.bots.list_bots(ACCOUNT)}
    assert statuses == {
        "bot_1": BotStatus.CANCELLED,
        "bot_2": BotStatus.CANCELLED,
        "bot_3": BotStatus.LAUNCHING,
        "bot_4": BotStatus.SCHEDULED,
    }
    assert await stores.bots.cancel_pending_bots(ACCOUNT, series.event_id, at(1)) == []
    again = bot(series, bot_id="bot_5", occurrence_start=at(1))
    assert await stores.bots.insert_or_update_pending_bot(again) == (again, True)


async def test_bots_list_by_join_at_filtered_by_status_and_event(stores: Stores) -> None:
    one, two = event("one", at(5)), event("two", at(1))
    later = bot(one, bot_id="bot_a")
    sooner = bot(two, bot_id="bot_b")
    await stores.bots.insert_or_update_pending_bot(later)
    await stores.bots.insert_or_update_pending_bot(sooner)
    await stores.bots.insert_or_update_pending_bot(bot(two, bot_id="bot_c", account_id=OTHER))

    assert await stores.bots.list_bots(ACCOUNT) == [sooner, later]
    assert await stores.bots.list_bots(ACCOUNT, event_id=one.event_id) == [later]
    assert await stores.bots.list_bots(ACCOUNT, status=BotStatus.LAUNCHED) == []
    assert await stores.bots.list_bots(
        ACCOUNT, status=BotStatus.SCHEDULED, event_id=two.event_id
    ) == [sooner]


async def test_bots_of_some_events_list_by_join_at_of_the_account_only(stores: Stores) -> None:
    one, two, three = event("one", at(5)), event("two", at(1)), event("three", at(3))
    later = bot(one, bot_id="bot_a")
    sooner = bot(two, bot_id="bot_b")
    finished = bot(two, bot_id="bot_c", occurrence_start=at(-2), status=BotStatus.LAUNCHED)
    for stored in (later, sooner, finished, bot(three, bot_id="bot_d")):
        await stores.bots.insert_or_update_pending_bot(stored)
    await stores.bots.insert_or_update_pending_bot(bot(two, bot_id="bot_e", account_id=OTHER))

    wanted = [one.event_id, two.event_id, "evt_unknown"]
    listed = await stores.bots.list_bots_of_events(ACCOUNT, wanted)
    assert [b.bot_id for b in listed] == ["bot_c", "bot_b", "bot_a"]
    assert await stores.bots.list_bots_of_events(ACCOUNT, []) == []


async def test_due_bots_come_earliest_first_with_stale_launches(stores: Stores) -> None:
    meeting = event("m1", at(1))
    due_late = bot(meeting, bot_id="bot_late", occurrence_start=at(1), join_at=at(-0.1))
    due_early = bot(
        meeting, bot_id="bot_early", occurrence_start=at(2), join_at=at(-1), account_id=OTHER
    )
    exactly_now = bot(meeting, bot_id="bot_now", occurrence_start=at(3), join_at=NOW)
    future = bot(meeting, bot_id="bot_future", occurrence_start=at(4), join_at=at(0.5))
    stale = bot(meeting, bot_id="bot_stale", occurrence_start=at(5), join_at=at(-3))
    fresh = bot(meeting, bot_id="bot_fresh", occurrence_start=at(6), join_at=at(-2))
    for each in (due_late, due_early, exactly_now, future, stale, fresh):
        await stores.bots.insert_or_update_pending_bot(each)
    await stores.bots.claim_bot("bot_stale", at(-0.5), stale_launching_before=at(-1))
    await stores.bots.claim_bot("bot_fresh", NOW, stale_launching_before=at(-1))

    due = await stores.bots.due_bots(NOW, 10, stale_launching_before=at(-0.25))

    assert [b.bot_id for b in due] == ["bot_stale", "bot_early", "bot_late", "bot_now"]
    assert due[0].status is BotStatus.LAUNCHING
    limited = await stores.bots.due_bots(NOW, 2, stale_launching_before=at(-0.25))
    assert [b.bot_id for b in limited] == ["bot_stale", "bot_early"]
    assert await stores.bots.next_join_at() == at(-1)


async def test_next_join_at_is_none_without_scheduled_bots(stores: Stores) -> None:
    assert await stores.bots.next_join_at() is None
    meeting = event("m1", at(1))
    await stores.bots.insert_or_update_pending_bot(bot(meeting, bot_id="bot_1", join_at=at(-1)))
    await stores.bots.claim_bot("bot_1", NOW, stale_launching_before=at(-1))

    assert await stores.bots.next_join_at() is None
    assert await stores.bots.due_bots(at(10), 10, stale_launching_before=at(-1)) == []


async def test_of_twenty_launchers_claiming_one_due_bot_one_gets_it(stores: Stores) -> None:
    pending = bot(event("m1", at(1)), bot_id="bot_1", join_at=at(-0.1))
    await stores.bots.insert_or_update_pending_bot(pending)

    claims = await asyncio.gather(
        *(stores.bots.claim_bot("bot_1", NOW, stale_launching_before=at(-1)) for _ in range(20))
    )

    winners = [claim for claim in claims if claim is not None]
    assert len(winners) == 1
    assert winners[0].attempts == 1
    stored = await stores.bots.get_bot(ACCOUNT, "bot_1")
    assert stored is not None
    assert (stored.status, stored.attempts) == (BotStatus.LAUNCHING, 1)


async def test_only_a_scheduled_or_launching_bot_gives_its_meeting_a_bot(stores: Stores) -> None:
    """`app.domain.is_pending`: what the event listing's bot flag and deduplication follow."""
    launching_meeting, launched_meeting = event("launching", at(1)), event("launched", at(2))
    await synced(stores.events, launching_meeting, launched_meeting)
    for meeting, bot_id in ((launching_meeting, "bot_a"), (launched_meeting, "bot_b")):
        await stores.bots.insert_or_update_pending_bot(bot(meeting, bot_id=bot_id, join_at=NOW))
        claimed = await stores.bots.claim_bot(bot_id, NOW, stale_launching_before=at(-1))
        assert claimed is not None
    launched = await stores.bots.get_bot(ACCOUNT, "bot_b")
    assert launched is not None
    launched.status = BotStatus.LAUNCHED
    assert await stores.bots.update_bot(launched, expected_status=BotStatus.LAUNCHING)

    rows = await stores.events.list_events(ACCOUNT, CAL)

    assert [(row.event.google_event_id, row.bot_join_status) for row in rows] == [
        ("launching", True),
        ("launched", False),
    ]
    stored, created = await stores.bots.insert_or_update_pending_bot(
        bot(launching_meeting, bot_id="bot_c")
    )
    assert (stored.bot_id, created) == ("bot_a", False)
    again = bot(launched_meeting, bot_id="bot_d")
    assert await stores.bots.insert_or_update_pending_bot(again) == (again, True)


async def test_claiming_rechecks_join_at_and_takes_over_only_stale_launches(
    stores: Stores,
) -> None:
    meeting = event("m1", at(1))
    pending = bot(meeting, bot_id="bot_1", join_at=at(0.5))
    await stores.bots.insert_or_update_pending_bot(pending)

    assert await stores.bots.claim_bot("bot_1", NOW, stale_launching_before=at(-1)) is None
    claimed = await stores.bots.claim_bot("bot_1", at(0.5), stale_launching_before=at(-1))
    assert claimed == dataclasses.replace(
        pending, status=BotStatus.LAUNCHING, attempts=1, updated_at=at(0.5), version=1
    )
    assert await stores.bots.claim_bot("bot_1", at(0.6), stale_launching_before=at(0.5)) is None
    await stores.bots.touch_launching_bot("bot_1", at(0.7))
    assert await stores.bots.claim_bot("bot_1", at(0.8), stale_launching_before=at(0.7)) is None

    taken_over = await stores.bots.claim_bot("bot_1", at(0.9), stale_launching_before=at(0.75))

    assert taken_over == dataclasses.replace(claimed, attempts=2, updated_at=at(0.9), version=2)
    assert await stores.bots.claim_bot("bot_unknown", at(1), stale_launching_before=at(1)) is None
    taken_over.status = BotStatus.LAUNCHED
    assert await stores.bots.update_bot(taken_over, expected_status=BotStatus.LAUNCHING)
    await stores.bots.touch_launching_bot("bot_1", at(2))
    assert await stores.bots.claim_bot("bot_1", at(3), stale_launching_before=at(3)) is None
    assert await stores.bots.get_bot(ACCOUNT, "bot_1") == taken_over


# -- housekeeping ------------------------------------------------------------------------------


async def test_finished_bots_are_purged_once_meeting_and_last_change_are_past_the_cutoff(
    stores: Stores,
) -> None:
    """`app.domain.purgeable_bot`, earliest occurrence end first, `limit` at a time."""
    series, theirs = event("series", at(-2000), recurrence=WEEKLY), event("x", account_id=OTHER)
    await synced(stores.events, series)

    def finished(
        bot_id: str,
        hours: float,
        status: BotStatus,
        *,
        updated_at: datetime | None = None,
        account_id: str = ACCOUNT,
    ) -> ScheduledBot:
        return bot(
            series if account_id == ACCOUNT else theirs,
            bot_id=bot_id,
            occurrence_start=at(hours),
            status=status,
            account_id=account_id,
            updated_at=updated_at or at(hours),
        )

    cutoff = at(-720)  # thirty days before NOW
    await stores.bots.insert_bots_unless_exist(
        [
            finished("old_launched", -800, BotStatus.LAUNCHED),
            finished("old_cancelled", -900, BotStatus.CANCELLED),
            finished("their_missed", -1000, BotStatus.MISSED, account_id=OTHER),
            finished("recent_failed", -100, BotStatus.FAILED),
            finished("changed_lately", -950, BotStatus.CANCELLED, updated_at=at(-1)),
            finished("ahead_cancelled", 900, BotStatus.CANCELLED, updated_at=at(-900)),
            finished("old_but_pending", -1100, BotStatus.SCHEDULED),
        ]
    )

    counts = [await stores.bots.purge_finished_bots(cutoff, limit=2) for _ in range(3)]

    assert counts == [2, 1, 0]
    left = {b.bot_id for b in await stores.bots.list_bots(ACCOUNT)}
    assert left == {"recent_failed", "changed_lately", "ahead_cancelled", "old_but_pending"}
    assert await stores.bots.list_bots(OTHER) == []
    # Nothing of a purged bot is left behind to stand for its occurrence.
    again = bot(series, bot_id="again", occurrence_start=at(-900), status=BotStatus.CANCELLED)
    assert await stores.bots.insert_bots_unless_exist([again]) == [again]
