"""The embedded scheduler's loop: a pass that keeps failing is retried at the poll pace."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from app.adapters.local_scheduler import LocalBotScheduler
from app.adapters.ports import BotStore, SeriesScheduleStore
from tests.fakes import FakeClock

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


class OverdueStore:
    """Only what the loop reads: something was due a minute ago, and stays due."""

    async def next_join_at(self) -> datetime | None:
        return None

    async def next_series_check_at(self) -> datetime | None:
        return NOW - timedelta(minutes=1)


async def _passes_in(seconds: float, failing: bool) -> int:
    runs = 0

    async def each_pass() -> int:
        nonlocal runs
        runs += 1
        if failing:
            raise RuntimeError("this series cannot be read")
        return 0

    overdue = OverdueStore()
    scheduler = LocalBotScheduler(
        bots=cast(BotStore, overdue),
        series=cast(SeriesScheduleStore, overdue),
        clock=FakeClock(NOW),
        poll_seconds=0.05,
    )
    task = asyncio.create_task(scheduler.run([each_pass]))
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return runs


async def test_a_pass_that_keeps_failing_is_retried_at_the_poll_pace_not_in_a_tight_loop() -> None:
    assert 1 <= await _passes_in(0.3, failing=True) <= 10  # 0.3 s / 0.05 s, not thousands


async def test_a_pass_that_succeeds_runs_again_at_once_while_work_is_overdue() -> None:
    """The other side of the guard: overdue work that a pass can do is not slowed down."""
    assert await _passes_in(0.1, failing=False) > 50


class OneBotStore:
    """A bot due at `join_at`, and no series."""

    def __init__(self, join_at: datetime) -> None:
        self.join_at = join_at

    async def next_join_at(self) -> datetime | None:
        return self.join_at

    async def next_series_check_at(self) -> datetime | None:
        return None


@pytest.mark.parametrize(("wake_ahead", "passes"), [(timedelta(seconds=10), 2), (timedelta(0), 1)])
async def test_the_loop_wakes_when_the_launch_check_window_opens(
    wake_ahead: timedelta, passes: int
) -> None:
    """A bot due in 10.2 s, a poll every 5 s: with the launcher's 10 s check window the loop
    runs a pass 0.2 s from now (to check the meeting), not only at the next poll."""
    runs = 0

    async def each_pass() -> int:
        nonlocal runs
        runs += 1
        return 0

    store = OneBotStore(NOW + timedelta(seconds=10.2))
    scheduler = LocalBotScheduler(
        bots=cast(BotStore, store),
        series=cast(SeriesScheduleStore, store),
        clock=FakeClock(NOW),
        poll_seconds=5,
        wake_ahead=wake_ahead,
    )
    task = asyncio.create_task(scheduler.run([each_pass]))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert runs == passes
