"""Just before a launch: is the meeting still there, at the same time, with the same link?

Google drops a small share of push notifications, and the safety-net poll runs every 15 minutes,
so a meeting moved, relinked or deleted a few minutes before it starts may still hold a bot that
would join the old link. The launcher therefore asks Google about the bot's occurrence once, in
one request, `LAUNCH_CHECK_AHEAD` before `join_at`, and gives that request `LAUNCH_CHECK_DEADLINE`
in all (credentials included), so that a check never makes a launch late. What Google answers is
handed to the reconciler, which settles the bot exactly as a sync would: moved (new `join_at`),
relinked, or cancelled with the reason in `last_error`. When Google cannot tell in time, the bot
is launched as scheduled and the log says the check was skipped.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Final

from app.adapters.ports import Clock, EventLookup, EventStore, GoogleCalendar
from app.domain import Event, EventStatus, OccurrenceOverride, ScheduledBot
from app.errors import CalbotError
from app.services.event_mapping import map_items
from app.services.reconcile import BotReconciler
from app.services.sync import SYNC_WINDOW_BACK, SyncService
from app.services.zones import resolve_zone

log = logging.getLogger(__name__)

LAUNCH_CHECK_AHEAD: Final = timedelta(seconds=10)
"""How long before `join_at` the launcher asks Google about the bot's occurrence."""
LAUNCH_CHECK_DEADLINE: Final = timedelta(seconds=2)
"""All one check may take (credentials, token refresh, request, retries); then the bot is
launched as scheduled. With `LAUNCH_CHECK_AHEAD` it leaves 8 s to spare before `join_at`."""


class CheckOutcome(enum.Enum):
    CONFIRMED = "confirmed"  # Google agrees with the bot: launch it as scheduled
    MOVED = "moved"  # a new join_at (and maybe a new link)
    RELINKED = "relinked"  # same time, new link
    CANCELLED = "cancelled"  # the occurrence is gone, or has no link any more
    SKIPPED = "skipped"  # Google could not tell in time: launch as scheduled


class _CannotTell(Exception):
    """Google's answer does not say anything calbot can settle the bot by."""


class LaunchCheck:
    def __init__(
        self,
        *,
        events: EventStore,
        sync: SyncService,
        google: GoogleCalendar,
        reconciler: BotReconciler,
        clock: Clock,
        deadline: timedelta = LAUNCH_CHECK_DEADLINE,
    ) -> None:
        self._events = events
        self._sync = sync
        self._google = google
        self._reconciler = reconciler
        self._clock = clock
        self._deadline = deadline

    async def check(self, bot: ScheduledBot) -> CheckOutcome:
        """Settle a scheduled bot by what Google says about its occurrence now.

        Never raises for a Google or storage failure: the bot is then left as it is (SKIPPED).
        A settled bot is changed in place and in the store, as the reconciler leaves it.
        """
        try:
            async with asyncio.timeout(self._deadline.total_seconds()):
                lookup, stored = await self._look_up(bot)
            change = await self._settle(bot, lookup, stored)
        except (CalbotError, TimeoutError, ValueError, _CannotTell) as error:
            reason = str(error) or f"no answer within {self._deadline.total_seconds():g} s"
            log.warning(
                "bot %s: launch check skipped, launching as scheduled: %s", bot.bot_id, reason
            )
            return CheckOutcome.SKIPPED
        if change == "unchanged":
            log.info("bot %s: launch check: the meeting is as scheduled", bot.bot_id)
            return CheckOutcome.CONFIRMED
        log.info("bot %s: launch check: %s to match Google Calendar", bot.bot_id, change)
        return CheckOutcome(change)

    async def _look_up(self, bot: ScheduledBot) -> tuple[EventLookup, Event | None]:
        """One request to Google: events.get for a one-off, events.instances for an occurrence."""
        credentials = await self._sync.credentials(bot.account_id)
        stored = await self._events.get_event(bot.account_id, bot.event_id)
        original_start = _original_start(bot)
        lookup = await self._google.get_occurrence(
            credentials,
            bot.calendar_id,
            bot.google_event_id,
            original_start=None
            if original_start is None
            else _as_google_writes(original_start, stored),
            deadline=self._deadline,
        )
        return lookup, stored

    async def _settle(self, bot: ScheduledBot, lookup: EventLookup, stored: Event | None) -> str:
        original_start = _original_start(bot)
        if original_start is None:
            return await self._reconciler.follow(bot, self._event(bot, lookup, stored))
        if stored is None:
            if lookup.gone:
                return await self._reconciler.follow(bot, None)
            raise _CannotTell("the series is no longer stored")
        override = self._override(bot, lookup, stored, original_start)
        return await self._reconciler.follow(bot, stored, overrides=[override])

    def _event(self, bot: ScheduledBot, lookup: EventLookup, stored: Event | None) -> Event | None:
        """The one-off event as a sync would store it from Google's answer (None: deleted)."""
        if lookup.item is None:
            if lookup.gone:
                return None
            raise _CannotTell("Google's answer was empty")
        mapped = map_items(
            bot.account_id,
            bot.calendar_id,
            [lookup.item],
            calendar_zone=_zone(lookup, stored),
            keep_after=self._clock.now() - SYNC_WINDOW_BACK,
        )
        if mapped.cancelled_google_ids:  # Google's cancelled tombstone of the meeting
            return None if stored is None else replace(stored, status=EventStatus.CANCELLED)
        if not mapped.upserts:
            raise _CannotTell("Google's answer is no meeting calbot can read")
        return mapped.upserts[0]

    def _override(
        self, bot: ScheduledBot, lookup: EventLookup, stored: Event, original_start: datetime
    ) -> OccurrenceOverride:
        """The occurrence as a sync would store it from Google's answer: an exception of the
        series, cancelled when Google has no such occurrence."""
        if lookup.item is None:
            if lookup.gone:
                return OccurrenceOverride(original_start=original_start, cancelled=True)
            raise _CannotTell("Google's answer was an empty page")
        mapped = map_items(
            bot.account_id,
            bot.calendar_id,
            [lookup.item],
            calendar_zone=_zone(lookup, stored),
            keep_after=self._clock.now() - SYNC_WINDOW_BACK,
        )
        found = [
            each.override
            for each in mapped.overrides
            if each.series_google_event_id == stored.google_event_id
            and each.override.original_start == original_start
        ]
        if not found:
            raise _CannotTell("Google answered with another occurrence than the bot's")
        return found[0]


def _original_start(bot: ScheduledBot) -> datetime | None:
    return bot.occurrence_key.original_start


def _zone(lookup: EventLookup, stored: Event | None) -> str:
    return lookup.time_zone or (stored.time_zone if stored is not None else None) or "UTC"


def _as_google_writes(original_start: datetime, stored: Event | None) -> str:
    """An occurrence's original start as Google writes `originalStartTime`: the date of an
    all-day series (in its zone), else RFC3339 in UTC (the form of calbot's occurrence keys)."""
    if stored is not None and stored.all_day:
        zone = resolve_zone(stored.time_zone)
        local = original_start.astimezone(zone) if zone is not None else original_start
        return local.date().isoformat()
    return original_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
