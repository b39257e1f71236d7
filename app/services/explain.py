"""Preview and explain (CONTRACT section 7): what auto-scheduling decides for each occurrence,
and why, from the store alone and changing nothing. Both call `decisions.decide`, the function
the pass calls, with the same rules, so they cannot disagree with what the pass then does."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from app.adapters.ports import BotStore, ConnectionStore, EventStore
from app.domain import (
    AutoScheduleRules,
    BotStatus,
    Event,
    Occurrence,
    OccurrenceKey,
    OccurrenceOverride,
    ScheduledBot,
    is_pending,
    meeting_key_for,
)
from app.errors import NoOccurrenceOnDate, UnreadableEvent
from app.services.auto_schedule import AutoScheduleService, would_cancel
from app.services.bot_building import find_event, overrides_of
from app.services.decisions import (
    Decision,
    OccurrenceView,
    Reason,
    ReasonCode,
    Situation,
    Verdict,
    decide,
)
from app.services.event_mapping import series_spec
from app.services.occurrence_views import view_of, views_between
from app.services.recurrence import RecurrenceError, next_occurrence, occurrence_on_date
from app.services.zones import resolve_zone, unreadable_zone_reason

_SHARED_MEETING = Reason(
    ReasonCode.HAS_BOT,
    "Another calendar's copy of this meeting has, or gets, the bot (one bot per meeting).",
)


@dataclass(frozen=True, slots=True)
class PreviewItem:
    view: OccurrenceView
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class Explanation:
    event_id: str
    occurrence_start: datetime | None
    bot: ScheduledBot | None
    will_get_bot: bool
    reasons: tuple[Reason, ...]


def _best_bot(bots: list[ScheduledBot]) -> ScheduledBot | None:
    """The bot that speaks for an occurrence: a pending or launched one, else the latest."""
    if not bots:
        return None
    return max(bots, key=lambda b: (_holds(b), b.updated_at))


def _holds(bot: ScheduledBot) -> bool:
    """A bot that has, or is about to have, its occurrence: pending or launched."""
    return is_pending(bot.status) or bot.status is BotStatus.LAUNCHED


class ExplainService:
    def __init__(
        self,
        *,
        auto_schedule: AutoScheduleService,
        connections: ConnectionStore,
        events: EventStore,
        bots: BotStore,
    ) -> None:
        self._auto = auto_schedule
        self._connections = connections
        self._events = events
        self._bots = bots

    async def preview(
        self, account_id: str, rules: AutoScheduleRules | None, hours: int
    ) -> list[PreviewItem]:
        """The decision for every occurrence starting within `hours` (one under way included,
        as the pass joins it at once), as if auto-scheduling were on with `rules` (default:
        the saved ones), by start."""
        settings = await self._auto.settings(account_id)
        situation = await self._auto.situation(
            account_id, settings, rules=rules if rules is not None else settings.rules, enabled=True
        )
        # Enabling these rules would cancel the pending auto-scheduled bots they skip (as it
        # does when the rules change, or auto-scheduling was off): those rows show the skip.
        cancels = situation.rules.rules != settings.rules or not settings.enabled
        now = situation.now
        end = now + timedelta(hours=hours)
        bots = _bots_by_occurrence(await self._bots.list_bots(account_id))
        claimed = {
            bot.meeting_key
            for found in bots.values()
            for bot in found
            if bot.meeting_key and _holds(bot)
        }
        items: list[PreviewItem] = []
        for calendar in await self._connections.list_calendars(account_id):
            rows = await self._events.list_events(account_id, calendar.calendar_id)
            events = [row.event for row in rows]
            series = [e.google_event_id for e in events if e.is_recurring]
            overrides = (
                await self._events.list_overrides(account_id, calendar.calendar_id, series)
                if series
                else {}
            )
            for event in events:
                for view in views_between(
                    event, overrides.get(event.google_event_id, []), now, end
                ):
                    bot = _best_bot(bots.get((event.event_id, view.key), []))
                    items.append(PreviewItem(view, _decide(view, situation, bot, cancels)))
        items.sort(key=lambda item: (item.view.start, item.view.event.event_id))
        return [_one_bot_per_meeting(item, claimed) for item in items]

    async def explain(
        self, account_id: str, event_id: str, occurrence_date: date | None
    ) -> Explanation:
        """Every reason that applies to one occurrence (default: the next that has not ended)."""
        event = await find_event(self._events, account_id, event_id)
        overrides = (
            await overrides_of(self._events, account_id, event) if event.is_recurring else []
        )
        settings = await self._auto.settings(account_id)
        situation = await self._auto.situation(account_id, settings)
        view = self._occurrence(event, overrides, occurrence_date, situation.now)
        if view is None:
            reason = Reason(ReasonCode.ENDED, "Skipped: the series has no occurrence ahead.")
            return Explanation(event.event_id, None, None, False, (reason,))
        found = await self._bots.list_bots(account_id, event_id=event.event_id)
        bot = _best_bot([b for b in found if b.occurrence_key == view.key])
        verdict = decide(view, situation, bot)
        pending = bot is not None and is_pending(bot.status)
        return Explanation(
            event_id=event.event_id,
            occurrence_start=view.start,
            bot=bot,
            will_get_bot=pending or verdict.decision is Decision.SCHEDULE,
            reasons=verdict.reasons,
        )

    @staticmethod
    def _occurrence(
        event: Event,
        overrides: list[OccurrenceOverride],
        occurrence_date: date | None,
        now: datetime,
    ) -> OccurrenceView | None:
        if not event.is_recurring:
            if occurrence_date is not None:
                zone = resolve_zone(event.time_zone)
                if zone is None:
                    raise UnreadableEvent(unreadable_zone_reason(event.time_zone))
                own = event.start_time.astimezone(zone).date()
                if own != occurrence_date:
                    raise NoOccurrenceOnDate(f"This event takes place on {own.isoformat()} only.")
            occurrence = Occurrence(event.start_time, event.start_time, event.end_time)
            return view_of(event, occurrence, None)
        spec = series_spec(event)
        try:
            if occurrence_date is None:
                found = next_occurrence(spec, overrides, now)
            else:
                found = occurrence_on_date(spec, overrides, occurrence_date)
        except RecurrenceError as error:
            raise UnreadableEvent(str(error)) from error
        by_original = {o.original_start: o for o in overrides}
        if found is not None:
            return view_of(event, found, by_original.get(found.original_start))
        if occurrence_date is None:
            return None
        cancelled = _cancelled_on(event, overrides, occurrence_date)
        if cancelled is None:
            raise NoOccurrenceOnDate(
                f"The series has no occurrence on {occurrence_date.isoformat()}."
            )
        return cancelled


def _cancelled_on(
    event: Event, overrides: list[OccurrenceOverride], day: date
) -> OccurrenceView | None:
    """A cancelled occurrence of the series on `day` (in the series' zone), to explain it."""
    zone = resolve_zone(event.time_zone)
    duration = event.end_time - event.start_time
    for override in overrides:
        start = override.original_start
        if override.cancelled and zone is not None and start.astimezone(zone).date() == day:
            return view_of(event, Occurrence(start, start, start + duration), override)
    return None


def _decide(
    view: OccurrenceView, situation: Situation, bot: ScheduledBot | None, cancels: bool
) -> Verdict:
    """A preview row's decision: up to the reason that decides, as in the pass."""
    if cancels and bot is not None:
        without = decide(view, situation, every=False)
        if would_cancel(bot, without):
            return without
    return decide(view, situation, bot, every=False)


def _bots_by_occurrence(
    bots: list[ScheduledBot],
) -> dict[tuple[str, OccurrenceKey], list[ScheduledBot]]:
    found: defaultdict[tuple[str, OccurrenceKey], list[ScheduledBot]] = defaultdict(list)
    for bot in bots:
        found[(bot.event_id, bot.occurrence_key)].append(bot)
    return found


def _one_bot_per_meeting(item: PreviewItem, claimed: set[str]) -> PreviewItem:
    """The pass gives one bot per meeting occurrence across calendars (`meeting_key`): a copy
    whose meeting already has a bot, or gets one from an earlier row, shows `has_bot`."""
    view, verdict = item.view, item.verdict
    if verdict.decision is not Decision.SCHEDULE or view.link is None:
        return item
    key = meeting_key_for(view.event.ical_uid, view.key, view.start, view.link.url)
    if key in claimed:
        shared = tuple(r for r in verdict.reasons if r.code is not ReasonCode.WILL_SCHEDULE)
        return dataclasses.replace(
            item, verdict=Verdict(Decision.HAS_BOT, (_SHARED_MEETING, *shared))
        )
    claimed.add(key)
    return item
