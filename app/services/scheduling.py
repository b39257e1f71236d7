"""SchedulingService: schedule, unschedule, list, PATCH and cancel bots; series work is delegated.

Deduplication is the store's job (unique keys on account, event and occurrence, and on account
and meeting occurrence, the same meeting on several calendars), so this module never
reads-then-writes to decide whether a bot exists. An occurrence is identified by its original
start (`OccurrenceKey`), so a moved occurrence keeps its bot.

Where each part lives: building and storing a bot, and the limits on its fields, in
bot_building.py; following a series occurrence by occurrence in series_scheduling.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from app.adapters.ports import BotScheduler, BotStore, Clock, EventStore, SeriesScheduleStore
from app.bot_changes import (
    DELETED_BY_USER,
    UNSCHEDULED_BY_USER,
    UPDATED_BY_USER,
    cancelled,
    changed_fields,
    updated,
)
from app.domain import (
    BotSource,
    BotStatus,
    Event,
    EventStatus,
    Occurrence,
    OccurrenceOverride,
    ScheduledBot,
    ScheduleStatus,
    SeriesSchedule,
    SeriesSpec,
    occurrence_key_for,
)
from app.errors import (
    BotNotFound,
    BotNotPending,
    EventCancelled,
    InvalidBotUpdate,
    NoMeetingLink,
    NoOccurrenceOnDate,
    OccurrenceEnded,
    UnreadableEvent,
)
from app.services.bot_building import (
    CAS_ATTEMPTS,
    MAX_BOT_CONFIG_BYTES,
    MAX_CUSTOM_ATTRIBUTES_BYTES,
    Target,
    bot_sort_key,
    check_bot_config,
    check_custom_attributes,
    find_event,
    kept_changing,
    link_for,
    new_bot,
    new_bot_id,
    overrides_of,
    put_pending_bot,
)
from app.services.event_mapping import series_spec
from app.services.guard import DoNotRecordGuard
from app.services.paging import DEFAULT_LIMIT, Page, SortKey, page
from app.services.recurrence import RecurrenceError, next_occurrence, occurrence_on_date
from app.services.series_scheduling import UNREADABLE_SERIES_RETRY, SeriesScheduling
from app.services.zones import resolve_zone, unreadable_zone_reason

__all__ = [
    "MAX_BOT_CONFIG_BYTES",
    "MAX_CUSTOM_ATTRIBUTES_BYTES",
    "UNREADABLE_SERIES_RETRY",
    "BotChanges",
    "SchedulingService",
    "Target",
    "bot_sort_key",
    "check_bot_config",
    "check_custom_attributes",
    "new_bot",
    "new_bot_id",
]


@dataclass(frozen=True, slots=True)
class BotChanges:
    """A PATCH: only the fields named in `fields` are changed."""

    fields: frozenset[str]
    join_at: datetime | None = None
    bot_name: str | None = None
    custom_attributes: dict[str, Any] | None = None
    bot_config: dict[str, Any] | None = field(default=None)


class SchedulingService:
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
        self._events = events
        self._bots = bots
        self._series = series
        self._scheduler = scheduler
        self._guard = guard
        self._clock = clock
        self._join_lead = join_lead
        self._recurring = SeriesScheduling(
            events=events,
            bots=bots,
            series=series,
            scheduler=scheduler,
            guard=guard,
            clock=clock,
            join_lead=join_lead,
        )

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
        An occurrence the do-not-record guard covers gets no bot (`NeverRecordGuard`).
        """
        check_bot_config(bot_config)
        event = await find_event(self._events, account_id, event_id)
        now = self._clock.now()
        target = await self._target(account_id, event, occurrence_date, now)
        overrides = (
            await overrides_of(self._events, account_id, event) if event.is_recurring else []
        )
        await self._guard.check(account_id, event, overrides, target.occurrence_key.original_start)
        bot, created = await put_pending_bot(
            self._bots,
            self._scheduler,
            new_bot(
                account_id,
                event,
                target,
                bot_config,
                source=source,
                now=now,
                join_lead=self._join_lead,
            ),
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
        checks again after making it and cancels it itself (series_scheduling.py).
        """
        await find_event(self._events, account_id, event_id)
        await self._series.set_series_schedule_active(account_id, event_id, False)
        done = await self._bots.cancel_pending_bots(
            account_id, event_id, self._clock.now(), reason=UNSCHEDULED_BY_USER
        )
        for bot in done:
            await self._scheduler.bot_cancelled(bot)
        await self._events.set_schedule_status(account_id, event_id, ScheduleStatus.UNSCHEDULED)
        return len(done)

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
        for _ in range(CAS_ATTEMPTS):
            bot = await self._bot(account_id, bot_id)
            if bot.status is not BotStatus.SCHEDULED:
                raise BotNotPending()
            await self._check_guard(bot)
            if await self._apply_changes(bot, changes):
                if "join_at" in changes.fields:
                    await self._scheduler.bot_scheduled(bot)
                return bot
        raise kept_changing()

    async def _apply_changes(self, bot: ScheduledBot, changes: BotChanges) -> bool:
        """Check and apply the changes to the bot as read, and write it back if nothing
        changed it since; False when something did."""
        now = self._clock.now()
        before = dataclasses.replace(bot)
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
        changed = changed_fields(before, bot)
        return await self._bots.update_bot(
            bot,
            expected_status=BotStatus.SCHEDULED,
            change=updated(UPDATED_BY_USER, changed) if changed else None,
        )

    async def cancel_bot(self, account_id: str, bot_id: str) -> ScheduledBot:
        for _ in range(CAS_ATTEMPTS):
            bot = await self._bot(account_id, bot_id)
            if bot.status is BotStatus.CANCELLED:
                return bot
            if bot.status is not BotStatus.SCHEDULED:
                raise BotNotPending(
                    "This bot has already been launched or has ended; it can't be cancelled."
                )
            bot.status = BotStatus.CANCELLED
            bot.updated_at = self._clock.now()
            if await self._bots.update_bot(
                bot, expected_status=BotStatus.SCHEDULED, change=cancelled(DELETED_BY_USER)
            ):
                await self._scheduler.bot_cancelled(bot)
                return bot
        raise kept_changing()

    async def auto_reschedule(self, account_id: str, event_id: str) -> ScheduledBot:
        """A bot for the occurrence after the series' latest pending or launched one."""
        return await self._recurring.auto_reschedule(account_id, event_id)

    async def toggle_recurrence(self, account_id: str, event_id: str, enabled: bool) -> bool:
        """Turn the scheduling of a series' later occurrences off or back on."""
        return await self._recurring.toggle_recurrence(account_id, event_id, enabled)

    # -- the recurrence pass ------------------------------------------------------------

    async def advance_due_series(self, limit: int = 200) -> int:
        """Give each series whose current occurrence has ended a bot for its next one."""
        return await self._recurring.advance_due_series(limit)

    async def ensure_series_bot(self, account_id: str, event: Event) -> bool:
        """Give a scheduled series a bot again when it has none pending."""
        return await self._recurring.ensure_series_bot(account_id, event)

    # -- helpers ------------------------------------------------------------------------

    async def _check_guard(self, bot: ScheduledBot) -> None:
        """A bot whose meeting the do-not-record guard covers cannot be changed back into
        use: its next sync cancels it."""
        event = await self._events.get_event(bot.account_id, bot.event_id)
        if event is None:
            return
        overrides = (
            await overrides_of(self._events, bot.account_id, event) if event.is_recurring else []
        )
        await self._guard.check(bot.account_id, event, overrides, bot.occurrence_key.original_start)

    async def _bot(self, account_id: str, bot_id: str) -> ScheduledBot:
        bot = await self._bots.get_bot(account_id, bot_id)
        if bot is None:
            raise BotNotFound()
        return bot

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
        overrides = await overrides_of(self._events, account_id, event)
        try:
            found = self._series_target(series_spec(event), overrides, occurrence_date, now)
        except RecurrenceError as error:
            raise UnreadableEvent(str(error)) from error
        link = link_for(event, overrides, found)
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
