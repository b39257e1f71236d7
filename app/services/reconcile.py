"""After a sync: pending bots follow their meetings.

A moved meeting's bot gets the new `join_at`; a cancelled meeting's bots are cancelled; a changed
link is carried over; a meeting that lost its link loses its bot. A bot is tied to its occurrence
by the occurrence's original start, so a moved occurrence is still found.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.adapters.ports import BotScheduler, BotStore, Clock, EventStore
from app.domain import (
    SINGLE_OCCURRENCE,
    BotStatus,
    Event,
    EventStatus,
    MeetingLink,
    Occurrence,
    OccurrenceOverride,
    ScheduledBot,
    event_id_for,
)
from app.services.event_mapping import series_spec
from app.services.recurrence import RecurrenceError, occurrences_between
from app.services.scheduling import SchedulingService
from app.services.sync import SyncOutcome

log = logging.getLogger(__name__)

# Compare-and-set attempts on one bot before leaving it to the next sync.
_CAS_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    moved: int = 0
    cancelled: int = 0
    relinked: int = 0


class BotReconciler:
    def __init__(
        self,
        *,
        events: EventStore,
        bots: BotStore,
        scheduler: BotScheduler,
        scheduling: SchedulingService,
        clock: Clock,
        join_lead: timedelta,
    ) -> None:
        self._events = events
        self._bots = bots
        self._scheduler = scheduler
        self._scheduling = scheduling
        self._clock = clock
        self._join_lead = join_lead

    async def after_sync(self, account_id: str, outcome: SyncOutcome) -> ReconcileResult:
        calendar_id = outcome.calendar_id
        touched = {event.event_id for event in outcome.upserted}
        touched.update(
            event_id_for(account_id, calendar_id, google_id)
            for google_id in (*outcome.changed_series, *outcome.cancelled_google_ids)
        )
        if not touched:
            return ReconcileResult()
        pending = [
            bot
            for bot in await self._bots.list_bots(account_id, status=BotStatus.SCHEDULED)
            if bot.event_id in touched
        ]
        moved = cancelled = relinked = 0
        events: dict[str, Event | None] = {}
        for bot in pending:
            if bot.event_id not in events:
                events[bot.event_id] = await self._events.get_event(account_id, bot.event_id)
            change = await self.follow(bot, events[bot.event_id])
            moved += change == "moved"
            cancelled += change == "cancelled"
            relinked += change == "relinked"
        for event_id in touched:
            event = events.get(event_id) or await self._events.get_event(account_id, event_id)
            if (
                event is not None
                and event.is_recurring
                and event.status is not EventStatus.CANCELLED
            ):
                await self._scheduling.ensure_series_bot(account_id, event)
        return ReconcileResult(moved, cancelled, relinked)

    async def follow(
        self,
        bot: ScheduledBot,
        event: Event | None,
        *,
        overrides: list[OccurrenceOverride] | None = None,
    ) -> str:
        """Bring one scheduled bot in line with its event; returns what changed ("moved",
        "relinked", "cancelled" or "unchanged").

        `overrides` are the series' exceptions to go by (the stored ones when None): the launch
        check passes the one occurrence Google just showed it. The bot is written back with a
        compare-and-set on its version: when something wrote it since it was listed (a PATCH of
        its config, a re-schedule), the bot is read again and followed from what is stored, so
        that change is kept.
        """
        for _ in range(_CAS_ATTEMPTS):
            change = await self._follow_once(bot, event, overrides)
            if change is not None:
                return change
            fresh = await self._bots.get_bot(bot.account_id, bot.bot_id)
            if fresh is None or fresh.status is not BotStatus.SCHEDULED:
                return "unchanged"  # launched or cancelled meanwhile
            bot = fresh
        log.warning("bot %s kept changing; the next sync brings it in line", bot.bot_id)
        return "unchanged"

    async def _follow_once(
        self,
        bot: ScheduledBot,
        event: Event | None,
        overrides: list[OccurrenceOverride] | None,
    ) -> str | None:
        """One attempt of `follow`; None when the bot changed since it was read."""
        now = self._clock.now()
        if event is None or event.status is EventStatus.CANCELLED:
            return await self._cancel(bot, now, "the meeting was cancelled")
        try:
            found = await self._occurrence(bot, event, overrides)
        except RecurrenceError as error:
            # Unknown is not gone: the bot stays as it is, and the event shows why.
            log.warning("bot %s left as it is: %s", bot.bot_id, error)
            return "unchanged"
        if found is None:
            return await self._cancel(bot, now, "the occurrence no longer exists")
        occurrence, link = found
        if link is None:
            return await self._cancel(bot, now, "the meeting no longer has a meeting link")
        change = "unchanged"
        if (occurrence.start, occurrence.end) != (bot.occurrence_start, bot.occurrence_end):
            bot.occurrence_start, bot.occurrence_end = occurrence.start, occurrence.end
            bot.join_at = max(occurrence.start - self._join_lead, now)
            change = "moved"
        if link.url != bot.meeting_link:
            bot.meeting_link, bot.meeting_platform = link.url, link.platform
            change = "moved" if change == "moved" else "relinked"
        if change == "unchanged":
            return change
        bot.updated_at = now
        if await self._bots.update_bot(bot, expected_status=BotStatus.SCHEDULED):
            await self._scheduler.bot_scheduled(bot)
            return change
        return None

    async def _occurrence(
        self, bot: ScheduledBot, event: Event, overrides: list[OccurrenceOverride] | None
    ) -> tuple[Occurrence, MeetingLink | None] | None:
        if bot.occurrence_key == SINGLE_OCCURRENCE or not event.is_recurring:
            return Occurrence(
                event.start_time, event.start_time, event.end_time
            ), event.meeting_link
        original_start = datetime.fromisoformat(bot.occurrence_key)
        if overrides is None:
            overrides = (
                await self._events.list_overrides(
                    bot.account_id, event.calendar_id, [event.google_event_id]
                )
            ).get(event.google_event_id, [])
        override = _override_for(overrides, original_start)
        if override is not None:
            if override.cancelled:
                return None
            start = override.start or original_start
            end = override.end or start + (event.end_time - event.start_time)
            return Occurrence(
                original_start, start, end
            ), override.meeting_link or event.meeting_link
        generated = occurrences_between(
            series_spec(event), [], original_start, original_start + timedelta(seconds=1)
        )
        for occurrence in generated:
            if occurrence.original_start == original_start:
                return occurrence, event.meeting_link
        return None

    async def _cancel(self, bot: ScheduledBot, now: datetime, reason: str) -> str | None:
        bot.status = BotStatus.CANCELLED
        bot.updated_at = now
        bot.last_error = f"Cancelled: {reason}."
        if await self._bots.update_bot(bot, expected_status=BotStatus.SCHEDULED):
            await self._scheduler.bot_cancelled(bot)
            log.info("bot %s cancelled: %s", bot.bot_id, reason)
            return "cancelled"
        return None


def _override_for(
    overrides: list[OccurrenceOverride], original_start: datetime
) -> OccurrenceOverride | None:
    for override in overrides:
        if override.original_start == original_start:
            return override
    return None
