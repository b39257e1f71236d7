"""Auto-scheduling: every occurrence the rules let through, starting within the lookahead,
gets a bot (CONTRACT sections 2 and 7).

A pass works from the store (kept fresh by push notifications and polling), never re-lists
Google, and is idempotent: a bot is inserted only if its occurrence has no bot at all, nor its
meeting occurrence on another calendar (`meeting_key`: the store checks in the same
transaction), so two passes, two processes or two calendars showing one meeting create nothing
twice, and a manual schedule, or a bot the user cancelled, is never replaced. Which occurrences
qualify is `decisions.decide`, the same function the preview and explain call.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Collection
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
from app.bot_changes import MODE_NEVER, NEVER_RECORD_DOMAIN, UNSCHEDULED_BY_USER, cancelled
from app.domain import (
    AutoScheduleRules,
    AutoScheduleSettings,
    BotSource,
    BotStatus,
    ConnectionStatus,
    Event,
    OccurrenceKey,
    OccurrenceModes,
    OccurrenceOverride,
    ScheduledBot,
    auto_schedule_candidate,
)
from app.observability import BOTS_SCHEDULED
from app.services.bot_building import Target, check_bot_config, new_bot
from app.services.decisions import (
    RULES_CHANGED,
    Decision,
    OccurrenceView,
    Reason,
    ReasonCode,
    Situation,
    Verdict,
    cancelled_by_rules,
    decide,
)
from app.services.occurrence_views import views_between
from app.services.rules import RuleSet, with_defaults

log = logging.getLogger(__name__)

CANDIDATE_PAGE = 1000
"""Events a pass reads from the store at a time (and so holds at most)."""


# The skips a change of rules cancels a pending auto-scheduled bot for.
_RULE_SKIPS = frozenset(
    {
        ReasonCode.EXCLUDED_BY_RULE,
        ReasonCode.DECLINED,
        ReasonCode.NEVER_RECORD_DOMAIN,
        ReasonCode.MODE_NEVER,
        ReasonCode.RECURRENCE_DISABLED,
    }
)

# A bot of another copy of a meeting in one of these statuses keeps auto-scheduling away.
_KEEPS_THE_MEETING = frozenset({BotStatus.SCHEDULED, BotStatus.LAUNCHING, BotStatus.LAUNCHED})

# The webhook `reason` of such a cancellation: the guard and the mode have their own codes; a
# rule the user changed unscheduled the bot (the contract has no code of its own for rules).
_MESSAGE_REASONS = {
    ReasonCode.NEVER_RECORD_DOMAIN: NEVER_RECORD_DOMAIN,
    ReasonCode.MODE_NEVER: MODE_NEVER,
}


def cancel_cause(verdict: Verdict) -> tuple[Reason, str]:
    """Why a change of rules cancels a bot with this verdict: the skip its `last_error` names
    and its `bot.cancelled` reason. The guard, then the mode, come first, with their own codes;
    otherwise the first rule that skips it, and `unscheduled_by_user`."""
    for code, reason in _MESSAGE_REASONS.items():
        found = next((r for r in verdict.reasons if r.code is code), None)
        if found is not None:
            return found, reason
    return next(r for r in verdict.reasons if r.code in _RULE_SKIPS), UNSCHEDULED_BY_USER


def would_cancel(bot: ScheduledBot, verdict: Verdict) -> bool:
    """Whether a change of rules cancels this bot, given its occurrence's verdict (decided
    without the bot): a pending auto-scheduled bot the rules, the guard or the mode now skip."""
    return (
        bot.source is BotSource.AUTO_SCHEDULE
        and bot.status is BotStatus.SCHEDULED
        and verdict.decision is Decision.SKIP
        and any(reason.code in _RULE_SKIPS for reason in verdict.reasons)
    )


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
        self.join_lead = join_lead

    @property
    def lookahead_seconds(self) -> int:
        return int(self.lookahead.total_seconds())

    async def settings(self, account_id: str) -> AutoScheduleSettings:
        """The settings with the rules' defaults filled in, as every settings answer shows."""
        return await self._shown(
            account_id, await self._auto_schedule.get_auto_schedule(account_id)
        )

    async def enable(
        self,
        account_id: str,
        default_bot_config: dict[str, Any],
        rules: AutoScheduleRules | None = None,
    ) -> AutoScheduleSettings:
        """Turn auto-scheduling on (with new rules when given, else the saved ones) and run a
        pass for the account at once. When the rules changed, the pending auto-scheduled bots
        they no longer let through are cancelled in the same call."""
        check_bot_config(default_bot_config)
        before = await self._auto_schedule.get_auto_schedule(account_id)
        after = await self._auto_schedule.set_auto_schedule(
            account_id, enabled=True, default_bot_config=default_bot_config, rules=rules
        )
        # Only for an account with an active connection (the store's list says which).
        if account_id in await self._auto_schedule.accounts_with_auto_schedule():
            changed = before.rules != after.rules or not before.enabled
            await self._run_for(account_id, cancel_failing=changed)
        return await self.settings(account_id)

    async def disable(self, account_id: str) -> AutoScheduleSettings:
        """Turn auto-scheduling off; bots already scheduled stay (so do those of a pass that
        was already running, but that pass can no longer turn it back on)."""
        settings = await self._auto_schedule.set_auto_schedule(account_id, enabled=False)
        return await self._shown(account_id, settings)

    async def _shown(self, account_id: str, settings: AutoScheduleSettings) -> AutoScheduleSettings:
        email, zone = await self.account_defaults(account_id)
        rules = with_defaults(settings.rules, account_email=email, primary_zone=zone)
        return AutoScheduleSettings(
            enabled=settings.enabled,
            default_bot_config=settings.default_bot_config,
            last_run_at=settings.last_run_at,
            rules=rules,
            paused_until=settings.paused_until,
        )

    async def account_defaults(self, account_id: str) -> tuple[str | None, str | None]:
        """The connected account's email and its primary calendar's zone, for the rules'
        defaults. Google's primary calendar id is the account's email address; before a
        calendar is connected both are unknown (no internal domain, zone UTC)."""
        connection = await self._connections.get_connection(account_id)
        if connection is None:
            return None, None
        calendars = await self._connections.list_calendars(account_id)
        primary = next((c for c in calendars if c.primary), None)
        return connection.primary_calendar_id, primary.time_zone if primary else None

    async def situation(
        self,
        account_id: str,
        settings: AutoScheduleSettings,
        *,
        rules: AutoScheduleRules | None = None,
        enabled: bool | None = None,
        modes: OccurrenceModes | None = None,
    ) -> Situation:
        """What every decision of one account shares, read once: the rules (the saved ones
        unless `rules`), whether it is on (as stored unless `enabled`), the pause, the clock,
        and the single occurrences' own modes (the stored ones, in one read, unless `modes`)."""
        email, zone = await self.account_defaults(account_id)
        if modes is None:
            modes = await self._events.list_occurrence_modes(account_id)
        now = self._clock.now()
        return Situation(
            rules=RuleSet.of(
                settings.rules if rules is None else rules, account_email=email, primary_zone=zone
            ),
            enabled=settings.enabled if enabled is None else enabled,
            paused_until=settings.paused_until,
            now=now,
            lookahead_end=now + self.lookahead,
            join_lead=self.join_lead,
            modes=modes,
        )

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

    async def run_for_events(self, account_id: str, event_ids: Collection[str]) -> int:
        """A pass over these events of the account only (those a sync just changed), if
        auto-scheduling is on; returns how many bots were created.

        The work is proportional to the change, not to the calendar: meetings the sync did
        not touch keep the bots earlier passes gave them, and those the clock brings into the
        lookahead are the periodic pass's (it runs at least once per lookahead). Not recorded
        as the account's `last_run_at`, which tells when the last whole pass ran.
        """
        if not event_ids:
            return 0
        settings = await self._auto_schedule.get_auto_schedule(account_id)
        if not settings.enabled:
            return 0
        # As `run_pass` (accounts_with_auto_schedule): only while the account is connected, so
        # a disconnect during the sync leaves no new bot behind.
        connection = await self._connections.get_connection(account_id)
        if connection is None or connection.status is not ConnectionStatus.ACTIVE:
            return 0
        events = [await self._events.get_event(account_id, event_id) for event_id in event_ids]
        return await self._run_for(account_id, [e for e in events if e is not None], settings)

    async def _run_for(
        self,
        account_id: str,
        chosen: list[Event] | None = None,
        settings: AutoScheduleSettings | None = None,
        *,
        cancel_failing: bool = False,
    ) -> int:
        """One pass for the account: over every event in the lookahead, or over `chosen`."""
        if settings is None:
            settings = await self._auto_schedule.get_auto_schedule(account_id)
        situation = await self.situation(account_id, settings)
        now, window_end = situation.now, situation.lookahead_end
        if settings.paused_until is not None and now < settings.paused_until:
            return 0  # nothing is created while paused; resuming runs a pass
        revivable = await self._cancelled_by_rules(account_id)
        bots: list[ScheduledBot] = []
        revived: list[ScheduledBot] = []
        verdicts: dict[tuple[str, OccurrenceKey], Verdict] = {}
        # A page of events at a time: the pass holds one page of the account, never all of it
        # (what it keeps across pages is per occurrence in the lookahead, not per event).
        async for candidates in self._candidate_pages(account_id, chosen, now, window_end):
            overrides = await self._overrides(account_id, [e for e in candidates if e.is_recurring])
            for event in candidates:
                if event.is_recurring:
                    await asyncio.sleep(0)  # many series must not hold the event loop
                series_overrides = overrides.get((event.calendar_id, event.google_event_id), [])
                for view in views_between(event, series_overrides, now, window_end):
                    verdict = decide(view, situation, every=False)
                    if cancel_failing:
                        verdicts[(event.event_id, view.key)] = verdict
                    if verdict.decision is Decision.SCHEDULE:
                        bot = self._bot_for(account_id, view, settings.default_bot_config, now)
                        wanted = revived if (event.event_id, view.key) in revivable else bots
                        wanted.append(bot)
        if cancel_failing:
            await self._cancel_failing(account_id, verdicts)
        created = await self._bots.insert_bots_unless_exist(bots)
        created += [bot for bot in revived if await self._revive(bot)]
        if chosen is None:
            # Only the field the pass owns: the settings it read may be stale by now.
            await self._auto_schedule.record_auto_schedule_run(account_id, now)
        for bot in created:
            await self._scheduler.bot_scheduled(bot)
        if created:
            BOTS_SCHEDULED.labels(BotSource.AUTO_SCHEDULE.value).inc(len(created))
            log.info("auto-schedule created %d bots", len(created))
        return len(created)

    async def _candidate_pages(
        self, account_id: str, chosen: list[Event] | None, now: datetime, window_end: datetime
    ) -> AsyncIterator[list[Event]]:
        """The candidates among `chosen` at once, or among the account's events a page at a
        time (`CANDIDATE_PAGE` events read per page)."""
        if chosen is not None:
            yield [e for e in chosen if auto_schedule_candidate(e, now, window_end)]
            return
        after: str | None = None
        while True:
            candidates, after = await self._events.auto_schedule_candidates_page(
                account_id, now, window_end, after=after, limit=CANDIDATE_PAGE
            )
            yield candidates
            if after is None:
                return

    def _bot_for(
        self, account_id: str, view: OccurrenceView, config: dict[str, Any], now: datetime
    ) -> ScheduledBot:
        assert view.link is not None  # decide() skips an occurrence without one
        return new_bot(
            account_id,
            view.event,
            Target(view.occurrence, view.key, view.link),
            config,
            source=BotSource.AUTO_SCHEDULE,
            now=now,
            join_lead=self.join_lead,
        )

    async def _cancel_failing(
        self, account_id: str, verdicts: dict[tuple[str, OccurrenceKey], Verdict]
    ) -> None:
        """Cancel the pending auto-scheduled bots whose occurrence the rules now skip."""
        pending = await self._bots.list_bots(account_id, status=BotStatus.SCHEDULED)
        now = self._clock.now()
        for bot in pending:
            if bot.source is not BotSource.AUTO_SCHEDULE:
                continue  # rules never touch bots scheduled by hand
            verdict = verdicts.get((bot.event_id, bot.occurrence_key))
            if verdict is None or not would_cancel(bot, verdict):
                continue
            rule, reason = cancel_cause(verdict)
            bot.status = BotStatus.CANCELLED
            bot.last_error = RULES_CHANGED + rule.detail
            bot.updated_at = now
            change = cancelled(reason)
            if await self._bots.update_bot(bot, expected_status=BotStatus.SCHEDULED, change=change):
                await self._scheduler.bot_cancelled(bot)
                await self._bots.release_meeting_claim(bot)
                log.info("bot %s cancelled (rules changed: %s)", bot.bot_id, rule.code)

    async def _cancelled_by_rules(self, account_id: str) -> set[tuple[str, OccurrenceKey]]:
        """Occurrences whose auto-scheduled bot a change of rules cancelled: the rules may let
        them through again, and the store's insert refuses an occurrence with any bot."""
        cancelled = await self._bots.list_bots(account_id, status=BotStatus.CANCELLED)
        return {(bot.event_id, bot.occurrence_key) for bot in cancelled if cancelled_by_rules(bot)}

    async def _revive(self, bot: ScheduledBot) -> bool:
        """A new bot for an occurrence whose only bots a change of rules cancelled (none
        pending, launched, or cancelled by the user); False when it has another bot, or the
        same meeting on another calendar has one (the store's insert would otherwise take a
        pending one over, and rules never touch a bot scheduled by hand)."""
        found = await self._bots.list_bots(bot.account_id, event_id=bot.event_id)
        same = [b for b in found if b.occurrence_key == bot.occurrence_key]
        if not all(cancelled_by_rules(b) for b in same):
            return False
        if bot.meeting_key is not None and await self._meeting_has_bot(bot):
            return False
        _, created = await self._bots.insert_or_update_pending_bot(bot)
        return created

    async def _meeting_has_bot(self, bot: ScheduledBot) -> bool:
        """Whether another copy of the bot's meeting occurrence has a bot that keeps it:
        pending, launched, or one the user cancelled."""
        for other in await self._bots.list_bots(bot.account_id):
            if other.meeting_key != bot.meeting_key or other.event_id == bot.event_id:
                continue
            if other.status in _KEEPS_THE_MEETING or (
                other.status is BotStatus.CANCELLED and other.last_error is None
            ):
                return True
        return False

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
