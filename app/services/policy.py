"""What the user decides beyond the rules (CONTRACT section 7): the per-event policy, the
pause, and the do-not-record guard's sweep when the rules change.

The policy is data the auto-schedule pass reads (`Event.auto_schedule_mode`, and
`EventStore.list_occurrence_modes` once per pass, looked up per occurrence with
`domain.auto_schedule_mode_for`); setting `never` cancels the pending `auto_schedule` bots it
covers at once. A pause is `paused_until` in the auto-schedule settings: setting it cancels the
pending bots due before it, the launcher launches nothing of the account while it holds, and
when it ends (by `DELETE /pause`, or by running out, which `resume_ended_pauses` notices) the
auto-schedule sweep runs at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from app.adapters.ports import AutoScheduleStore, BotScheduler, BotStore, Clock, EventStore
from app.domain import (
    MODE_NEVER,
    AutoScheduleMode,
    AutoScheduleSettings,
    BotCancellation,
    BotSource,
    BotStatus,
    Event,
    OccurrenceKey,
    ScheduledBot,
    never_record_cancellation,
    paused_cancellation,
)
from app.errors import InvalidPause, NoOccurrenceOnDate, UnreadableEvent
from app.services.auto_schedule import AutoScheduleService
from app.services.bot_building import CAS_ATTEMPTS, find_event, overrides_of
from app.services.event_mapping import series_spec
from app.services.guard import DoNotRecordGuard, guarded_domain
from app.services.reconcile import settle_cancel
from app.services.recurrence import RecurrenceError, occurrence_on_date
from app.services.zones import resolve_zone, unreadable_zone_reason

log = logging.getLogger(__name__)

MAX_PAUSE: Final = timedelta(days=366)
"""The furthest ahead a pause may end (CONTRACT section 7)."""


@dataclass(frozen=True, slots=True)
class ModeSet:
    """What `PUT /events/{event_id}/auto-schedule` answers."""

    event_id: str
    mode: AutoScheduleMode
    occurrence_date: date | None


class PolicyService:
    def __init__(
        self,
        *,
        auto_schedule: AutoScheduleStore,
        events: EventStore,
        bots: BotStore,
        scheduler: BotScheduler,
        sweep: AutoScheduleService,
        guard: DoNotRecordGuard,
        clock: Clock,
    ) -> None:
        self._auto_schedule = auto_schedule
        self._events = events
        self._bots = bots
        self._scheduler = scheduler
        self._sweep = sweep
        self._guard = guard
        self._clock = clock

    # -- per-event policy -------------------------------------------------------------------

    async def set_mode(
        self,
        account_id: str,
        event_id: str,
        mode: AutoScheduleMode,
        occurrence_date: date | None = None,
    ) -> ModeSet:
        """Set the event's mode, or one occurrence's. `never` cancels the pending
        `auto_schedule` bots it covers at once (bots scheduled by hand stay); `always` and
        `rules` may make the occurrence eligible, so the account's sweep runs."""
        event = await find_event(self._events, account_id, event_id)
        occurrence = await self._occurrence_on(account_id, event, occurrence_date)
        if occurrence is None:
            await self._events.set_auto_schedule_mode(account_id, event_id, mode)
        else:
            await self._events.set_occurrence_mode(account_id, event_id, occurrence, mode)
        if mode is AutoScheduleMode.NEVER:
            await self._cancel_auto_bots(account_id, event_id, occurrence)
        else:
            await self._sweep.run_pass([account_id])
        return ModeSet(event_id, mode, occurrence_date)

    async def _occurrence_on(
        self, account_id: str, event: Event, occurrence_date: date | None
    ) -> OccurrenceKey | None:
        """The occurrence a dated mode is for; None for the whole event (no date, or the date
        of a one-off, whose only occurrence the event is)."""
        if occurrence_date is None:
            return None
        zone = resolve_zone(event.time_zone)
        if zone is None:
            raise UnreadableEvent(
                unreadable_zone_reason(event.time_zone) + " Set its mode without occurrence_date."
            )
        if not event.is_recurring:
            local_day = event.start_time.astimezone(zone).date()
            if occurrence_date != local_day:
                raise NoOccurrenceOnDate(f"This event takes place on {local_day.isoformat()} only.")
            return None
        overrides = await overrides_of(self._events, account_id, event)
        try:
            found = occurrence_on_date(series_spec(event), overrides, occurrence_date)
        except RecurrenceError as error:
            raise UnreadableEvent(str(error)) from error
        if found is None:
            raise NoOccurrenceOnDate(
                f"The series has no occurrence on {occurrence_date.isoformat()}."
            )
        return OccurrenceKey(found.original_start)

    async def _cancel_auto_bots(
        self, account_id: str, event_id: str, occurrence: OccurrenceKey | None
    ) -> int:
        pending = await self._bots.list_bots(
            account_id, status=BotStatus.SCHEDULED, event_id=event_id
        )
        covered = [
            bot
            for bot in pending
            if bot.source is BotSource.AUTO_SCHEDULE
            and (occurrence is None or bot.occurrence_key == occurrence)
        ]
        cancelled = 0
        for bot in covered:
            cancelled += await self._cancel(bot, MODE_NEVER)
        return cancelled

    # -- pause ------------------------------------------------------------------------------

    async def pause(self, account_id: str, until: datetime) -> AutoScheduleSettings:
        """Pause every bot of the account until `until` (future, at most 366 days ahead): the
        pending bots due before then are cancelled at once, with the reason; the launcher
        cancels any other that comes due meanwhile; auto-scheduling creates nothing."""
        now = self._clock.now()
        until = until.replace(microsecond=0)  # the stores keep whole seconds
        if until <= now or until > now + MAX_PAUSE:
            raise InvalidPause(
                "until must be in the future and at most 366 days ahead "
                f"(after {now.isoformat()} and no later than {(now + MAX_PAUSE).isoformat()})."
            )
        settings = await self._auto_schedule.set_paused_until(account_id, until)
        why = paused_cancellation(until)
        pending = await self._bots.list_bots(account_id, status=BotStatus.SCHEDULED)
        for bot in pending:
            if bot.join_at < until:
                await self._cancel(bot, why, still=lambda fresh: fresh.join_at < until)
        return settings

    async def resume(self, account_id: str) -> AutoScheduleSettings:
        """End the pause now and run the auto-schedule sweep at once. Bots the pause
        cancelled stay cancelled (schedule them again by hand if wanted)."""
        settings = await self._auto_schedule.set_paused_until(account_id, None)
        await self._sweep.run_pass([account_id])
        return settings

    async def resume_ended_pauses(self) -> int:
        """The periodic job: clear each pause that ran out and sweep its account at once.
        Returns how many accounts were resumed."""
        resumed = 0
        for account_id, until in await self._auto_schedule.ended_pauses(self._clock.now()):
            if await self._auto_schedule.end_pause(account_id, until):
                resumed += 1
                log.info("pause ended; auto-scheduling sweeps again")
                await self._sweep.run_pass([account_id])
        return resumed

    # -- the guard --------------------------------------------------------------------------

    async def enforce_guard(self, account_id: str) -> int:
        """Cancel every pending bot (any source) whose occurrence the do-not-record guard now
        covers: run when the rules change. Returns how many were cancelled."""
        never_record = await self._guard.domains(account_id)
        if not never_record:
            return 0
        pending = await self._bots.list_bots(account_id, status=BotStatus.SCHEDULED)
        by_event: dict[str, list[ScheduledBot]] = {}
        for bot in pending:
            by_event.setdefault(bot.event_id, []).append(bot)
        cancelled = 0
        for event_id, bots in by_event.items():
            event = await self._events.get_event(account_id, event_id)
            if event is None:
                continue
            overrides = await overrides_of(self._events, account_id, event)
            for bot in bots:
                original_start = bot.occurrence_key.original_start
                domain = guarded_domain(event, overrides, original_start, never_record)
                if domain is not None:
                    cancelled += await self._cancel(bot, never_record_cancellation(domain))
        return cancelled

    # -- helpers ----------------------------------------------------------------------------

    async def _cancel(
        self,
        bot: ScheduledBot,
        why: BotCancellation,
        still: Callable[[ScheduledBot], bool] = lambda _: True,
    ) -> int:
        """Cancel a scheduled bot by the user's choice, re-reading it when something wrote it
        since it was listed (and cancelling it only if `still` holds for it then); 1 if this
        call cancelled it."""
        for _ in range(CAS_ATTEMPTS):
            now = self._clock.now()
            if await settle_cancel(self._bots, self._scheduler, bot, why, now, release_claim=False):
                return 1
            fresh = await self._bots.get_bot(bot.account_id, bot.bot_id)
            if fresh is None or fresh.status is not BotStatus.SCHEDULED or not still(fresh):
                return 0
            bot = fresh
        log.warning("bot %s kept changing; not cancelled (%s)", bot.bot_id, why.reason)
        return 0
