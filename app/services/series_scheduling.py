"""Following a scheduled series: a bot for each of its occurrences in turn.

The recurrence pass (`advance_due_series`), giving a series its bot back (`ensure_series_bot`),
`auto_reschedule` and `toggle_recurrence`; SchedulingService hands these to SeriesScheduling.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from app.adapters.ports import BotScheduler, BotStore, Clock, EventStore, SeriesScheduleStore
from app.bot_changes import UNSCHEDULED_BY_USER, cancelled
from app.domain import (
    BotSource,
    BotStatus,
    Event,
    EventStatus,
    Occurrence,
    OccurrenceOverride,
    ScheduledBot,
    SeriesSchedule,
    occurrence_key_for,
)
from app.errors import (
    NoFurtherOccurrence,
    NoMeetingLink,
    NotRecurring,
    Unprocessable,
    UnreadableEvent,
)
from app.observability import BOTS_SCHEDULED
from app.services.bot_building import (
    CAS_ATTEMPTS,
    Target,
    find_event,
    kept_changing,
    link_for,
    new_bot,
    overrides_of,
    put_pending_bot,
)
from app.services.event_mapping import series_spec
from app.services.guard import DoNotRecordGuard, guarded_domain
from app.services.recurrence import RecurrenceError, next_occurrence, occurrence_after

log = logging.getLogger(__name__)

# A scheduled series calbot cannot follow (its zone or rule became unreadable) is looked at
# again after this long, rather than on every pass: the event shows why in the meantime.
UNREADABLE_SERIES_RETRY = timedelta(hours=1)


class SeriesScheduling:
    def __init__(
        self,
        *,
        events: EventStore,
        bots: BotStore,
        series: SeriesScheduleStore,
        scheduler: BotScheduler,
        guard: DoNotRecordGuard,
        clock: Clock,
        join_lead: timedelta,
    ) -> None:
        self._guard = guard
        self._events = events
        self._bots = bots
        self._series = series
        self._scheduler = scheduler
        self._clock = clock
        self._join_lead = join_lead

    # -- routes -------------------------------------------------------------------------

    async def auto_reschedule(self, account_id: str, event_id: str) -> ScheduledBot:
        """A bot for the occurrence after the series' latest pending or launched one."""
        event = await find_event(self._events, account_id, event_id)
        if not event.is_recurring:
            raise NotRecurring()
        bots = await self._bots.list_bots(account_id, event_id=event_id)
        live = [
            b
            for b in bots
            if b.status in (BotStatus.SCHEDULED, BotStatus.LAUNCHING, BotStatus.LAUNCHED)
        ]
        if not live:
            raise Unprocessable(
                "No bot has been scheduled for this series yet: "
                "schedule one with POST /api/v1/calendar/schedule/{event_id} first."
            )
        latest = max(live, key=lambda b: b.occurrence_start)
        now = self._clock.now()
        overrides = await overrides_of(self._events, account_id, event)
        # A bot of the meeting from before it became a series (a one-off's) stands for the
        # occurrence it joins: the one that starts when it did.
        after = latest.occurrence_key.original_start or latest.occurrence_start
        try:
            occurrence = _occurrence_after(event, overrides, after, now)
        except RecurrenceError as error:
            raise UnreadableEvent(str(error)) from error
        if occurrence is None:
            raise NoFurtherOccurrence()
        link = link_for(event, overrides, occurrence)
        if link is None:
            raise NoMeetingLink("The next occurrence has no meeting link a bot could join.")
        await self._guard.check(account_id, event, overrides, occurrence.original_start)
        target = Target(occurrence, occurrence_key_for(occurrence.original_start), link)
        bot, _ = await put_pending_bot(
            self._bots,
            self._scheduler,
            new_bot(
                account_id,
                event,
                target,
                latest.bot_config,
                source=BotSource.RECURRENCE,
                now=now,
                join_lead=self._join_lead,
                bot_name=latest.bot_name,
                custom_attributes=latest.custom_attributes,
            ),
        )
        schedule = await self._series.get_series_schedule(account_id, event_id)
        if schedule is not None:
            await self._series.advance_series_schedule(
                account_id,
                event_id,
                expected_last_original_start=schedule.last_original_start,
                last_original_start=occurrence.original_start,
                next_check_at=occurrence.end,
                active=schedule.active,
            )
        return bot

    async def toggle_recurrence(self, account_id: str, event_id: str, enabled: bool) -> bool:
        event = await find_event(self._events, account_id, event_id)
        if not event.is_recurring:
            raise NotRecurring()
        await self._events.set_recurring_enabled(account_id, event_id, enabled)
        if enabled and await self._series.get_series_schedule(account_id, event_id):
            await self._series.set_series_schedule_active(account_id, event_id, True)
            event.recurring_enabled = True
            await self.ensure_series_bot(account_id, event)
        return enabled

    # -- the recurrence pass ------------------------------------------------------------

    async def advance_due_series(self, limit: int = 200) -> int:
        """Give each series whose current occurrence has ended a bot for its next one."""
        now = self._clock.now()
        scheduled = 0
        for schedule in await self._series.due_series_schedules(now, limit):
            if await self._advance(schedule, now):
                scheduled += 1
        return scheduled

    async def _advance(self, schedule: SeriesSchedule, now: datetime) -> bool:
        account_id, event_id = schedule.account_id, schedule.event_id
        event = await self._events.get_event(account_id, event_id)
        if (
            event is None
            or event.status is EventStatus.CANCELLED
            or not event.is_recurring
            or not event.recurring_enabled
        ):
            await self._series.set_series_schedule_active(account_id, event_id, False)
            return False
        overrides = await overrides_of(self._events, account_id, event)
        try:
            occurrence = _occurrence_after(event, overrides, schedule.last_original_start, now)
        except RecurrenceError as error:
            # Skipped, not retried on every pass: the schedule stays (the series may become
            # readable again with its next edit) but is not due again for a while.
            log.warning("series %s cannot be followed: %s", event.google_event_id, error)
            await self._series.advance_series_schedule(
                account_id,
                event_id,
                expected_last_original_start=schedule.last_original_start,
                last_original_start=schedule.last_original_start,
                next_check_at=now + UNREADABLE_SERIES_RETRY,
            )
            return False
        if occurrence is None:  # the series is over (COUNT/UNTIL reached)
            await self._series.set_series_schedule_active(account_id, event_id, False)
            return False
        won = await self._series.advance_series_schedule(
            account_id,
            event_id,
            expected_last_original_start=schedule.last_original_start,
            last_original_start=occurrence.original_start,
            next_check_at=occurrence.end,
        )
        link = link_for(event, overrides, occurrence)
        if not won or link is None:
            return False
        if await self._guarded(account_id, event, overrides, occurrence):
            return False  # the do-not-record guard: this occurrence is skipped
        target = Target(occurrence, occurrence_key_for(occurrence.original_start), link)
        bot, created = await put_pending_bot(
            self._bots,
            self._scheduler,
            new_bot(
                account_id,
                event,
                target,
                schedule.bot_config,
                source=BotSource.RECURRENCE,
                now=now,
                join_lead=self._join_lead,
                bot_name=schedule.bot_name,
                custom_attributes=schedule.custom_attributes,
            ),
        )
        return not created or await self._keep_if_series_active(bot)

    async def ensure_series_bot(self, account_id: str, event: Event) -> bool:
        """Give a scheduled series a bot again when it has none pending (its bot was cancelled
        because the occurrence moved out of the rule, or the series was turned back on)."""
        schedule = await self._series.get_series_schedule(account_id, event.event_id)
        if schedule is None or not schedule.active or not event.recurring_enabled:
            return False
        bots = await self._bots.list_bots(account_id, event_id=event.event_id)
        if any(b.status in (BotStatus.SCHEDULED, BotStatus.LAUNCHING) for b in bots):
            return False
        now = self._clock.now()
        overrides = await overrides_of(self._events, account_id, event)
        try:
            occurrence = next_occurrence(series_spec(event), overrides, now)
        except RecurrenceError as error:
            log.warning("series %s cannot be followed: %s", event.google_event_id, error)
            return False
        if occurrence is None:
            await self._series.set_series_schedule_active(account_id, event.event_id, False)
            return False
        link = link_for(event, overrides, occurrence)
        if link is None or await self._guarded(account_id, event, overrides, occurrence):
            return False
        bot = new_bot(
            account_id,
            event,
            Target(occurrence, occurrence_key_for(occurrence.original_start), link),
            schedule.bot_config,
            source=BotSource.RECURRENCE,
            now=now,
            join_lead=self._join_lead,
            bot_name=schedule.bot_name,
            custom_attributes=schedule.custom_attributes,
        )
        if not await self._bots.insert_bots_unless_exist([bot]):
            return False
        BOTS_SCHEDULED.labels(BotSource.RECURRENCE.value).inc()
        await self._series.advance_series_schedule(
            account_id,
            event.event_id,
            expected_last_original_start=schedule.last_original_start,
            last_original_start=occurrence.original_start,
            next_check_at=occurrence.end,
        )
        await self._scheduler.bot_scheduled(bot)
        return await self._keep_if_series_active(bot)

    async def _guarded(
        self,
        account_id: str,
        event: Event,
        overrides: list[OccurrenceOverride],
        occurrence: Occurrence,
    ) -> bool:
        never_record = await self._guard.domains(account_id)
        domain = guarded_domain(event, overrides, occurrence.original_start, never_record)
        if domain is not None:
            log.info("series %s: an occurrence skipped by the do-not-record guard", event.event_id)
        return domain is not None

    async def _keep_if_series_active(self, bot: ScheduledBot) -> bool:
        """A series bot was just made from a schedule read a moment ago: if the user paused
        the series since (unschedule cancels bots only after pausing it, so one made after
        that cancellation is seen here), cancel the bot again. True if it stays."""
        schedule = await self._series.get_series_schedule(bot.account_id, bot.event_id)
        if schedule is not None and schedule.active:
            return True
        for _ in range(CAS_ATTEMPTS):
            current = await self._bots.get_bot(bot.account_id, bot.bot_id)
            if current is None or current.status is not BotStatus.SCHEDULED:
                return False
            current.status, current.updated_at = BotStatus.CANCELLED, self._clock.now()
            if await self._bots.update_bot(
                current, expected_status=BotStatus.SCHEDULED, change=cancelled(UNSCHEDULED_BY_USER)
            ):
                await self._scheduler.bot_cancelled(current)
                log.info("bot %s cancelled: its series was unscheduled meanwhile", bot.bot_id)
                return False
        raise kept_changing()


def _occurrence_after(
    event: Event,
    overrides: list[OccurrenceOverride],
    after_original_start: datetime,
    now: datetime,
) -> Occurrence | None:
    """The first occurrence after the given one that has not ended by `now`."""
    return occurrence_after(series_spec(event), overrides, after_original_start, ending_after=now)
