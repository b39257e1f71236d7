"""The embedded BotScheduler: one asyncio task that launches bots at their join_at.

The store is the source of truth, so nothing here needs persisting: after a restart (even
`kill -9`) the first pass finds every overdue bot. The loop sleeps until the earliest join_at or
series check it knows of (less `wake_ahead`, the launcher's check window, while that is still
ahead), is woken early when this process schedules a bot, and looks at the store at least every
`poll_seconds` so bots written by another process on the same database are seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from app.adapters.ports import BotStore, Clock, SeriesScheduleStore
from app.domain import ScheduledBot

log = logging.getLogger(__name__)

Pass = Callable[[], Awaitable[int]]


class LocalBotScheduler:
    def __init__(
        self,
        *,
        bots: BotStore,
        series: SeriesScheduleStore,
        clock: Clock,
        poll_seconds: float = 1.0,
        wake_ahead: timedelta = timedelta(0),
    ) -> None:
        self._bots = bots
        self._series = series
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._wake_ahead = wake_ahead
        self._wake = asyncio.Event()

    async def bot_scheduled(self, bot: ScheduledBot) -> None:
        self._wake.set()

    async def bot_cancelled(self, bot: ScheduledBot) -> None:
        """Nothing to undo: a cancelled bot is no longer due in the store."""

    async def run(self, passes: list[Pass]) -> None:
        """Run the passes (launch due bots, advance series) whenever something falls due."""
        while True:
            self._wake.clear()
            failed = False
            for each_pass in passes:
                try:
                    await each_pass()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    failed = True
                    log.exception("scheduler pass failed; retrying on the next tick")
            wait = await self._seconds_to_wait()
            if failed:
                # Whatever is due is what failed: retry at the poll pace, never in a tight loop.
                wait = max(wait, self._poll_seconds)
            if wait <= 0:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _seconds_to_wait(self) -> float:
        now = self._clock.now()
        try:
            join_at = await self._bots.next_join_at()
            candidates = [await self._series.next_series_check_at()]
        except Exception:
            log.exception("could not read the next due time")
            return self._poll_seconds
        if join_at is not None:
            # Wake when the launcher's check window opens, then again at join_at itself.
            check_at = join_at - self._wake_ahead
            candidates.append(check_at if check_at > now else join_at)
        upcoming = [when for when in candidates if when is not None]
        if not upcoming:
            return self._poll_seconds
        until = (min(upcoming) - now).total_seconds()
        return max(0.0, min(self._poll_seconds, until))
