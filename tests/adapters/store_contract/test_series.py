"""SeriesScheduleStore: due schedules and compare-and-set progress."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable
from datetime import datetime, timedelta

from app.adapters.ports import Stores
from tests.adapters.store_contract.builders import (
    ACCOUNT,
    NOW,
    at,
    event,
    series_schedule,
)

# -- series schedules --------------------------------------------------------------------------


async def test_series_schedules_fall_due_and_advance_by_compare_and_set(stores: Stores) -> None:
    first = series_schedule(event("s1"), at(-1))
    second = series_schedule(event("s2"), at(1))
    await stores.series.save_series_schedule(first)
    await stores.series.save_series_schedule(second)

    assert await stores.series.get_series_schedule(ACCOUNT, first.event_id) == first
    assert await stores.series.due_series_schedules(NOW, 10) == [first]
    assert await stores.series.next_series_check_at() == at(-1)

    await stores.series.set_series_schedule_active(ACCOUNT, first.event_id, False)
    assert await stores.series.due_series_schedules(NOW, 10) == []
    assert await stores.series.next_series_check_at() == at(1)
    await stores.series.set_series_schedule_active(ACCOUNT, "evt_none", True)
    assert await stores.series.get_series_schedule(ACCOUNT, "evt_none") is None
    await stores.series.set_series_schedule_active(ACCOUNT, first.event_id, True)

    assert not await stores.series.advance_series_schedule(
        ACCOUNT,
        first.event_id,
        expected_last_original_start=at(-1),
        last_original_start=NOW,
        next_check_at=at(168),
    )
    assert await stores.series.advance_series_schedule(
        ACCOUNT,
        first.event_id,
        expected_last_original_start=at(-168),
        last_original_start=NOW,
        next_check_at=at(168),
    )
    assert await stores.series.get_series_schedule(ACCOUNT, first.event_id) == dataclasses.replace(
        first, last_original_start=NOW, next_check_at=at(168)
    )
    assert await stores.series.due_series_schedules(at(200), 1) == [second]
    assert await stores.series.advance_series_schedule(
        ACCOUNT,
        second.event_id,
        expected_last_original_start=at(-168),
        last_original_start=NOW,
        next_check_at=at(2),
        active=False,
    )
    assert await stores.series.due_series_schedules(at(200), 10) == [
        dataclasses.replace(first, last_original_start=NOW, next_check_at=at(168))
    ]
    await stores.series.save_series_schedule(dataclasses.replace(first, active=False))
    assert await stores.series.next_series_check_at() is None


async def test_of_two_processes_advancing_one_series_at_once_one_wins(stores: Stores) -> None:
    schedule = series_schedule(event("s1"), at(-1))
    await stores.series.save_series_schedule(schedule)

    def advance(to: datetime) -> Awaitable[bool]:
        return stores.series.advance_series_schedule(
            ACCOUNT,
            schedule.event_id,
            expected_last_original_start=schedule.last_original_start,
            last_original_start=to,
            next_check_at=to + timedelta(hours=1),
        )

    won = await asyncio.gather(advance(NOW), advance(at(1)))

    assert sorted(won) == [False, True]
    stored = await stores.series.get_series_schedule(ACCOUNT, schedule.event_id)
    assert stored is not None
    assert stored.last_original_start == (NOW if won[0] else at(1))
