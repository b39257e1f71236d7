"""Scheduling bots for meetings: one-off events, single occurrences and whole series.

Deduplication is the store's job (unique keys on account, event and occurrence, and on account
and meeting occurrence, the same meeting on several calendars), so this module never
reads-then-writes to decide whether a bot exists. An occurrence is identified by its original
start (`OccurrenceKey`), so a moved occurrence keeps its bot.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from app.adapters.ports import BotScheduler, BotStore, Clock, EventStore, SeriesScheduleStore
from app.domain import (
    BotSource,
    BotStatus,
    Event,
    EventStatus,
    MeetingLink,
    Occurrence,
    OccurrenceKey,
    OccurrenceOverride,
    ScheduledBot,
    ScheduleStatus,
    SeriesSchedule,
    SeriesSpec,
    meeting_key_for,
    occurrence_key_for,
)
from app.errors import (
    BotNotFound,
    BotNotPending,
    EventCancelled,
    EventNotFound,
    InvalidBotUpdate,
    NoFurtherOccurrence,
    NoMeetingLink,
    NoOccurrenceOnDate,
    NotRecurring,
    OccurrenceEnded,
    StorageUnavailable,
    Unprocessable,
    UnreadableEvent,
)
from app.observability import BOTS_SCHEDULED
from app.services.event_mapping import series_spec
from app.services.paging import DEFAULT_LIMIT, Page, SortKey, page
from app.services.recurrence import (
    RecurrenceError,
    next_occurrence,
    occurrence_after,
    occurrence_on_date,
)
from app.services.zones import resolve_zone, unreadable_zone_reason

log = logging.getLogger(__name__)

MAX_BOT_CONFIG_BYTES = 16 * 1024
# Sent along with bot_config in the Create Bot body, and stored with it: the same bound.
MAX_CUSTOM_ATTRIBUTES_BYTES = 16 * 1024
# A series left unattended (calbot down) is caught up by skipping at most this many ended
# occurrences one by one before jumping straight to the next one from now.
_CATCH_UP_LIMIT = 1000
# A compare-and-set lost this many times in a row means a writer is racing in a loop: give up
# with a 503 rather than spin (one retry is all a user's own change ever needs).
_CAS_ATTEMPTS = 5
# A scheduled series calbot cannot follow (its zone or rule became unreadable) is looked at
# again after this long, rather than on every pass: the event shows why in the meantime.
UNREADABLE_SERIES_RETRY = timedelta(hours=1)


def _kept_changing() -> StorageUnavailable:
    return StorageUnavailable("The bot kept changing while calbot tried to update it; try again.")


def bot_sort_key(bot: ScheduledBot) -> SortKey:
    return (bot.join_at.isoformat(), bot.bot_id)


def new_bot_id() -> str:
    return "bot_" + secrets.token_hex(12)


def check_bot_config(bot_config: dict[str, Any]) -> None:
    """`bot_config` is passed through as it is; only its size is limited."""
    _check_size("bot_config", bot_config, MAX_BOT_CONFIG_BYTES)


def check_custom_attributes(custom_attributes: dict[str, Any]) -> None:
    _check_size("custom_attributes", custom_attributes, MAX_CUSTOM_ATTRIBUTES_BYTES)


def _check_size(field: str, value: dict[str, Any], limit: int) -> None:
    if len(orjson.dumps(value)) > limit:
        raise Unprocessable(f"{field} is larger than {limit // 1024} KiB once encoded as JSON.")


@dataclass(frozen=True, slots=True)
class BotChanges:
    """A PATCH: only the fields named in `fields` are changed."""

    fields: frozenset[str]
    join_at: datetime | None = None
    bot_name: str | None = None
    custom_attributes: dict[str, Any] | None = None
    bot_config: dict[str, Any] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class Target:
    occurrence: Occurrence
    occurrence_key: OccurrenceKey
    meeting_link: MeetingLink


def new_bot(
    account_id: str,
    event: Event,
    target: Target,
    bot_config: dict[str, Any],
    *,
    source: BotSource,
    now: datetime,
    join_lead: timedelta,
    bot_name: str | None = None,
    custom_attributes: dict[str, Any] | None = None,
) -> ScheduledBot:
    """A scheduled bot for one occurrence; a meeting already under way is joined at once."""
    occurrence = target.occurrence
    meeting_key = meeting_key_for(
        event.ical_uid, target.occurrence_key, occurrence.start, target.meeting_link.url
    )
    return ScheduledBot(
        bot_id=new_bot_id(),
        account_id=account_id,
        event_id=event.event_id,
        calendar_id=event.calendar_id,
        google_event_id=event.google_event_id,
        occurrence_key=target.occurrence_key,
        occurrence_start=occurrence.start,
        occurrence_end=occurrence.end,
        join_at=max(occurrence.start - join_lead, now),
        meeting_link=target.meeting_link.url,
        meeting_platform=target.meeting_link.platform,
        bot_config=bot_config,
        source=source,
        status=BotStatus.SCHEDULED,
        created_at=now,
        updated_at=now,
        bot_name=bot_name,
        custom_attributes=custom_attributes,
        meeting_key=meeting_key,
    )


class SchedulingService:
    def __init__(
        self,
        *,
        events: EventStore,
        bots: BotStore,
        series: SeriesScheduleStore,
        scheduler: BotScheduler,
        clock: Clock,
        join_lead: timedelta,
    ) -> None:
        self._events = events
        self._bots = bots
        self._series = series
        self._scheduler = scheduler
        self._clock = clock
        self._join_lead = join_lead

    # -- routes -------------------------------------------------------------------------

    async def schedule(
        self,
        account_id: str,
        event_id: str,
        bot_config: dict[str, Any],
        *,
        occurrence_date: date | None = None,
        source: BotSource = BotSource.MANUAL,
    ) -> tuple[ScheduledBot, bool]:
        """A bot for the event's next occurrence (or the one on `occurrence_date`).

        For a series without a date, every later occurrence gets one too, one at a time, while
        the series' `recurring_enabled` is on. Returns the bot and whether it is new: the
        pending bot of the same meeting occurrence, maybe from another calendar, is reused.
        """
        check_bot_config(bot_config)
        event = await self._event(account_id, event_id)
        now = self._clock.now()
        target = await self._target(account_id, event, occurrence_date, now)
        bot, created = await self._put_bot(
            account_id, event, target, bot_config, source=source, now=now
        )
        if bot.event_id == event_id:  # else the meeting's bot is another calendar's copy's
            await self._events.set_schedule_status(account_id, event_id, ScheduleStatus.SCHEDULED)
        if event.is_recurring and occurrence_date is None and source is not BotSource.AUTO_SCHEDULE:
            await self._series.save_series_schedule(
                SeriesSchedule(
                    account_id=account_id,
                    event_id=event_id,
                    bot_config=bot_config,
                    bot_name=bot.bot_name,
                    custom_attributes=bot.custom_attributes,
                    source=BotSource.RECURRENCE,
                    active=True,
                    last_original_start=target.occurrence.original_start,
                    next_check_at=target.occurrence.end,
                )
            )
        return bot, created

    async def unschedule(self, account_id: str, event_id: str) -> int:
        """Cancel every pending bot of the event and stop scheduling its series.

        The series is paused before its bots are cancelled: a series pass running meanwhile
        either sees it paused, or made its bot before the cancellation (which takes it), or
        checks again after making it and cancels it itself (`_keep_if_series_active`).
        """
        await self._event(account_id, event_id)
        await self._series.set_series_schedule_active(account_id, event_id, False)
        cancelled = await self._bots.cancel_pending_bots(account_id, event_id, self._clock.now())
        for bot in cancelled:
            await self._scheduler.bot_cancelled(bot)
        await self._events.set_schedule_status(account_id, event_id, ScheduleStatus.UNSCHEDULED)
        return len(cancelled)

    async def list_bots(
        self,
        account_id: str,
        *,
        status: BotStatus | None,
        event_id: str | None,
        after: SortKey | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> Page[ScheduledBot]:
        """The account's bots ordered by join_at, one page."""
        bots = await self._bots.list_bots(account_id, status=status, event_id=event_id)
        return page(bots, bot_sort_key, after=after, limit=limit)

    async def update_bot(self, account_id: str, bot_id: str, changes: BotChanges) -> ScheduledBot:
        """Apply a PATCH. A bot changed meanwhile (moved by a sync, re-scheduled) makes the
        write lose its compare-and-set; the changes are then applied again to the bot as
        stored, so neither side's change is lost."""
        for _ in range(_CAS_ATTEMPTS):
            bot = await self._bot(account_id, bot_id)
            if bot.status is not BotStatus.SCHEDULED:
                raise BotNotPending()
            if await self._apply_changes(bot, changes):
                if "join_at" in changes.fields:
                    await self._scheduler.bot_scheduled(bot)
                return bot
        raise _kept_changing()

    async def _apply_changes(self, bot: ScheduledBot, changes: BotChanges) -> bool:
        """Check and apply the changes to the bot as read, and write it back if nothing
        changed it since; False when something did."""
        now = self._clock.now()
        if "join_at" in changes.fields:
            join_at = changes.join_at
            if join_at is None or join_at <= now or join_at >= bot.occurrence_end:
                raise InvalidBotUpdate(
                    "join_at must be in the future and before the occurrence ends "
                    f"({bot.occurrence_end.isoformat()})."
                )
            bot.join_at = join_at
        if "bot_name" in changes.fields:
            bot.bot_name = changes.bot_name
        if "custom_attributes" in changes.fields:
            if changes.custom_attributes is not None:
                check_custom_attributes(changes.custom_attributes)
            bot.custom_attributes = changes.custom_attributes
        if "bot_config" in changes.fields:
            if changes.bot_config is None:
                raise InvalidBotUpdate("bot_config must be an object.")
            check_bot_config(changes.bot_config)
            bot.bot_config = changes.bot_config
        bot.updated_at = now
        return await self._bots.update_bot(bot, expected_status=BotStatus.SCHEDULED)

    async def cancel_bot(self, account_id: str, bot_id: str) -> ScheduledBot:
        for _ in range(_CAS_ATTEMPTS):
            bot = await self._bot(account_id, bot_id)
            if bot.status is BotStatus.CANCELLED:
                return bot
            if bot.status is not BotStatus.SCHEDULED:
                raise BotNotPending(
                    "This bot has already been launched or has ended; it can't be cancelled."
                )
            bot.status = BotStatus.CANCELLED
            bot.updated_at = self._clock.now()
            if await self._bots.update_bot(bot, expected_status=BotStatus.SCHEDULED):
                await self._scheduler.bot_cancelled(bot)
                return bot
        raise _kept_changing()

    async def auto_reschedule(self, account_id: str, event_id: str) -> ScheduledBot:
        """A bot for the occurrence after the series' latest pending or launched one."""
        event = await self._event(account_id, event_id)
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
        overrides = await self._overrides(account_id, event)
        # A bot of the meeting from before it became a series (a one-off's) stands for the
        # occurrence it joins: the one that starts when it did.
        after = latest.occurrence_key.original_start or latest.occurrence_start
        try:
            occurrence = self._occurrence_after(event, overrides, after, now)
        except RecurrenceError as error:
            raise UnreadableEvent(str(error)) from error
        if occurrence is None:
            raise NoFurtherOccurrence()
        link = self._link_for(event, overrides, occurrence)
        if link is None:
            raise NoMeetingLink("The next occurrence has no meeting link a bot could join.")
        target = Target(occurrence, occurrence_key_for(occurrence.original_start), link)
        bot, _ = await self._put_bot(
            account_id,
            event,
            target,
            latest.bot_config,
            source=BotSource.RECURRENCE,
            now=now,
            bot_name=latest.bot_name,
            custom_attributes=latest.custom_attributes,
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
        event = await self._event(account_id, event_id)
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
        overrides = await self._overrides(account_id, event)
        try:
            occurrence = self._occurrence_after(event, overrides, schedule.last_original_start, now)
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
        link = self._link_for(event, overrides, occurrence)
        if not won or link is None:
            return False
        target = Target(occurrence, occurrence_key_for(occurrence.original_start), link)
        bot, created = await self._put_bot(
            account_id,
            event,
            target,
            schedule.bot_config,
            source=BotSource.RECURRENCE,
            now=now,
            bot_name=schedule.bot_name,
            custom_attributes=schedule.custom_attributes,
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
        overrides = await self._overrides(account_id, event)
        try:
            occurrence = next_occurrence(series_spec(event), overrides, now)
        except RecurrenceError as error:
            log.warning("series %s cannot be followed: %s", event.google_event_id, error)
            return False
        if occurrence is None:
            await self._series.set_series_schedule_active(account_id, event.event_id, False)
            return False
        link = self._link_for(event, overrides, occurrence)
        if link is None:
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

    async def _keep_if_series_active(self, bot: ScheduledBot) -> bool:
        """A series bot was just made from a schedule read a moment ago: if the user paused
        the series since (unschedule cancels bots only after pausing it, so one made after
        that cancellation is seen here), cancel the bot again. True if it stays."""
        schedule = await self._series.get_series_schedule(bot.account_id, bot.event_id)
        if schedule is not None and schedule.active:
            return True
        for _ in range(_CAS_ATTEMPTS):
            current = await self._bots.get_bot(bot.account_id, bot.bot_id)
            if current is None or current.status is not BotStatus.SCHEDULED:
                return False
            current.status, current.updated_at = BotStatus.CANCELLED, self._clock.now()
            if await self._bots.update_bot(current, expected_status=BotStatus.SCHEDULED):
                await self._scheduler.bot_cancelled(current)
                log.info("bot %s cancelled: its series was unscheduled meanwhile", bot.bot_id)
                return False
        raise _kept_changing()

    # -- helpers ------------------------------------------------------------------------

    async def _event(self, account_id: str, event_id: str) -> Event:
        event = await self._events.get_event(account_id, event_id)
        if event is None:
            raise EventNotFound()
        return event

    async def _bot(self, account_id: str, bot_id: str) -> ScheduledBot:
        bot = await self._bots.get_bot(account_id, bot_id)
        if bot is None:
            raise BotNotFound()
        return bot

    async def _overrides(self, account_id: str, event: Event) -> list[OccurrenceOverride]:
        found = await self._events.list_overrides(
            account_id, event.calendar_id, [event.google_event_id]
        )
        return found.get(event.google_event_id, [])

    async def _target(
        self, account_id: str, event: Event, occurrence_date: date | None, now: datetime
    ) -> Target:
        if event.status is EventStatus.CANCELLED:
            raise EventCancelled()
        if event.meeting_link is None:
            raise NoMeetingLink()
        if not event.is_recurring:
            if occurrence_date is not None:
                local_zone = resolve_zone(event.time_zone)
                if local_zone is None:
                    raise UnreadableEvent(
                        unreadable_zone_reason(event.time_zone)
                        + " Schedule it without occurrence_date."
                    )
                local_day = event.start_time.astimezone(local_zone).date()
                if occurrence_date != local_day:
                    raise NoOccurrenceOnDate(
                        f"This event takes place on {local_day.isoformat()} only."
                    )
            if event.end_time <= now:
                raise OccurrenceEnded()
            occurrence = Occurrence(event.start_time, event.start_time, event.end_time)
            return Target(occurrence, occurrence_key_for(None), event.meeting_link)
        overrides = await self._overrides(account_id, event)
        try:
            found = self._series_target(series_spec(event), overrides, occurrence_date, now)
        except RecurrenceError as error:
            raise UnreadableEvent(str(error)) from error
        link = self._link_for(event, overrides, found)
        if link is None:
            raise NoMeetingLink("This occurrence has no meeting link a bot could join.")
        return Target(found, occurrence_key_for(found.original_start), link)

    @staticmethod
    def _series_target(
        spec: SeriesSpec,
        overrides: list[OccurrenceOverride],
        occurrence_date: date | None,
        now: datetime,
    ) -> Occurrence:
        if occurrence_date is not None:
            found = occurrence_on_date(spec, overrides, occurrence_date)
            if found is None:
                raise NoOccurrenceOnDate(
                    f"The series has no occurrence on {occurrence_date.isoformat()}."
                )
            if found.end <= now:
                raise OccurrenceEnded("That occurrence has already ended.")
        else:
            found = next_occurrence(spec, overrides, now)
            if found is None:
                raise OccurrenceEnded("The series' last occurrence has already ended.")
        return found

    def _occurrence_after(
        self,
        event: Event,
        overrides: list[OccurrenceOverride],
        after_original_start: datetime,
        now: datetime,
    ) -> Occurrence | None:
        """The first occurrence after the given one that has not ended by `now`."""
        return occurrence_after(
            series_spec(event), overrides, after_original_start, ending_after=now
        )

    @staticmethod
    def _link_for(
        event: Event, overrides: list[OccurrenceOverride], occurrence: Occurrence
    ) -> MeetingLink | None:
        for override in overrides:
            if override.original_start == occurrence.original_start and override.meeting_link:
                return override.meeting_link
        return event.meeting_link

    async def _put_bot(
        self,
        account_id: str,
        event: Event,
        target: Target,
        bot_config: dict[str, Any],
        *,
        source: BotSource,
        now: datetime,
        bot_name: str | None = None,
        custom_attributes: dict[str, Any] | None = None,
    ) -> tuple[ScheduledBot, bool]:
        bot = new_bot(
            account_id,
            event,
            target,
            bot_config,
            source=source,
            now=now,
            join_lead=self._join_lead,
            bot_name=bot_name,
            custom_attributes=custom_attributes,
        )
        stored, created = await self._bots.insert_or_update_pending_bot(bot)
        if created:
            BOTS_SCHEDULED.labels(source.value).inc()
        if stored.status is BotStatus.SCHEDULED:
            await self._scheduler.bot_scheduled(stored)
        return stored, created
