"""Auto-scheduling: every meeting with a link that starts within the lookahead gets a bot.

A pass works from the store (kept fresh by push notifications and polling), never re-lists
Google, and is idempotent: a bot is inserted only if its occurrence has no bot at all, nor its
meeting occurrence on another calendar (`meeting_key`: the store checks in the same
transaction), so two passes, two processes or two calendars showing one meeting create nothing
twice, and a manual schedule, or a bot the user cancelled, is never replaced.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from app.adapters.ports import (
    AutoScheduleStore,
    BotScheduler,
    BotStore,
    Clock,
    ConnectionStore,
    EventStore,
)
from app.domain import (
    AutoScheduleSettings,
    BotSource,
    Event,
    MeetingLink,
    Occurrence,
    OccurrenceKey,
    OccurrenceOverride,
    ScheduledBot,
    occurrence_key_for,
)
from app.observability import BOTS_SCHEDULED
from app.services.bot_building import Target, check_bot_config, new_bot
from app.services.event_mapping import series_spec
from app.services.recurrence import RecurrenceError, occurrences_between

log = logging.getLogger(__name__)

CANDIDATE_PAGE = 1000
"""Events a pass reads from the store at a time (and so holds at most)."""


class AutoScheduleService:
    def __init__(
        self,
        *,
        auto_schedule: AutoScheduleStore,
        connections: ConnectionStore,
        events: EventStore,
        bots: BotStore,
        scheduler: BotScheduler,
        clock: Clock,
        lookahead: timedelta,
        join_lead: timedelta,
    ) -> None:
        self._auto_schedule = auto_schedule
        self._connections = connections
        self._events = events
        self._bots = bots
        self._scheduler = scheduler
        self._clock = clock
        self.lookahead = lookahead
        self._join_lead = join_lead

    @property
    def lookahead_seconds(self) -> int:
        return int(self.lookahead.total_seconds())

    async def settings(self, account_id: str) -> AutoScheduleSettings:
        return await self._auto_schedule.get_auto_schedule(account_id)

    async def enable(
        self, account_id: str, default_bot_config: dict[str, Any]
    ) -> AutoScheduleSettings:
        """Turn auto-scheduling on and run a pass for the account at once."""
        check_bot_config(default_bot_config)
        await self._auto_schedule.set_auto_schedule(
            account_id, enabled=True, default_bot_config=default_bot_config
        )
        if await self._connections.get_connection(account_id) is not None:
            await self.run_pass([account_id])
        return await self._auto_schedule.get_auto_schedule(account_id)

    async def disable(self, account_id: str) -> AutoScheduleSettings:
        """Turn auto-scheduling off; bots already scheduled stay (so do those of a pass that
        was already running, but that pass can no longer turn it back on)."""
        return await self._auto_schedule.set_auto_schedule(account_id, enabled=False)

    async def run_pass(self, account_ids: list[str] | None = None) -> int:
        """One pass over the given accounts (default: every account with it on).

        Returns how many bots were created.
        """
        enabled = await self._auto_schedule.accounts_with_auto_schedule()
        chosen = enabled if account_ids is None else [a for a in account_ids if a in enabled]
        created = 0
        for account_id in chosen:
            created += await self._run_for(account_id)
        return created

    async def _run_for(self, account_id: str) -> int:
        settings = await self._auto_schedule.get_auto_schedule(account_id)
        now = self._clock.now()
        window_end = now + self.lookahead
        # The account's events a page at a time: a pass holds one page, never the account.
        created: list[ScheduledBot] = []
        after: str | None = None
        while True:
            candidates, after = await self._events.auto_schedule_candidates_page(
                account_id, now, window_end, after=after, limit=CANDIDATE_PAGE
            )
            bots = await self._bots_for(account_id, candidates, settings, now, window_end)
            created += await self._bots.insert_bots_unless_exist(bots)
            if after is None:
                break
        # Only the field the pass owns: the settings it read may be stale by now.
        await self._auto_schedule.record_auto_schedule_run(account_id, now)
        for bot in created:
            await self._scheduler.bot_scheduled(bot)
        if created:
            BOTS_SCHEDULED.labels(BotSource.AUTO_SCHEDULE.value).inc(len(created))
            log.info("auto-schedule created %d bots", len(created))
        return len(created)

    async def _bots_for(
        self,
        account_id: str,
        candidates: list[Event],
        settings: AutoScheduleSettings,
        now: datetime,
        window_end: datetime,
    ) -> list[ScheduledBot]:
        """A bot for every occurrence of these events within [now, window_end)."""
        overrides = await self._overrides(account_id, [e for e in candidates if e.is_recurring])
        bots: list[ScheduledBot] = []
        for event in candidates:
            if event.is_recurring:
                await asyncio.sleep(0)  # many series must not hold the event loop
            for occurrence, key, link in self._occurrences(event, overrides, now, window_end):
                target = Target(occurrence, key, link)
                bots.append(
                    new_bot(
                        account_id,
                        event,
                        target,
                        settings.default_bot_config,
                        source=BotSource.AUTO_SCHEDULE,
                        now=now,
                        join_lead=self._join_lead,
                    )
                )
        return bots

    async def _overrides(
        self, account_id: str, series: list[Event]
    ) -> dict[tuple[str, str], list[OccurrenceOverride]]:
        by_calendar: defaultdict[str, list[str]] = defaultdict(list)
        for event in series:
            by_calendar[event.calendar_id].append(event.google_event_id)
        found: dict[tuple[str, str], list[OccurrenceOverride]] = {}
        for calendar_id, google_ids in by_calendar.items():
            stored = await self._events.list_overrides(account_id, calendar_id, google_ids)
            for google_id, overrides in stored.items():
                found[(calendar_id, google_id)] = overrides
        return found

    @staticmethod
    def _occurrences(
        event: Event,
        overrides: dict[tuple[str, str], list[OccurrenceOverride]],
        now: datetime,
        window_end: datetime,
    ) -> list[tuple[Occurrence, OccurrenceKey, MeetingLink]]:
        if event.meeting_link is None:
            return []
        if not event.is_recurring:
            if event.start_time >= window_end or event.end_time <= now:
                return []
            occurrence = Occurrence(event.start_time, event.start_time, event.end_time)
            return [(occurrence, occurrence_key_for(None), event.meeting_link)]
        series_overrides = overrides.get((event.calendar_id, event.google_event_id), [])
        links = {o.original_start: o.meeting_link for o in series_overrides if o.meeting_link}
        try:
            found = occurrences_between(series_spec(event), series_overrides, now, window_end)
        except RecurrenceError as error:
            log.warning("series %s skipped: %s", event.google_event_id, error)
            return []
        return [
            (
                occurrence,
                occurrence_key_for(occurrence.original_start),
                links.get(occurrence.original_start, event.meeting_link),
            )
            for occurrence in found
            if occurrence.start < window_end and occurrence.end > now
        ]
