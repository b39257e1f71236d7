"""After a sync: pending bots follow their meetings.

A moved meeting's bot gets the new `join_at`; a changed link is carried over. A bot whose meeting
or occurrence was cancelled, vanished without a cancelled item (a full resync no longer lists
it), or lost its link is cancelled, with the reason as its `last_error` (`settle_cancel`), and
the BotScheduler is told, so nothing launches into a meeting that is gone.

A bot is tied to its occurrence by its `OccurrenceKey`, so a moved occurrence is still found.
When a meeting starts or stops repeating under the same Google id, a bot keeps its occurrence:
- a one-off's bot becomes the bot of the series' occurrence whose original start is the start
  the bot was joining (the one-off's), else of the series' first occurrence (Google keeps the
  event's start as the series' first start when a recurrence is added); with neither, it is
  cancelled;
- a series occurrence's bot becomes the one-off's when the one-off starts at that occurrence's
  original or current start; the bots of every other occurrence are cancelled.
Finished bots are re-keyed the same way (never moved), so the occurrence they joined still
counts as having had a bot. A re-keyed bot also carries its meeting occurrence's new
`meeting_key`; when another pending bot already holds one of the new keys, it is cancelled.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.adapters.ports import BotScheduler, BotStore, Clock, EventStore
from app.bot_changes import LINK_CHANGED, MEETING_MOVED, cancelled, changed_fields, updated
from app.domain import (
    DUPLICATE_OCCURRENCE,
    LINK_REMOVED,
    MEETING_CANCELLED,
    MEETING_DELETED,
    OCCURRENCE_CANCELLED,
    OCCURRENCE_DELETED,
    SERIES_ENDED,
    AttendeeFacts,
    BotCancellation,
    BotStatus,
    Event,
    EventStatus,
    MeetingLink,
    Occurrence,
    OccurrenceKey,
    OccurrenceOverride,
    ScheduledBot,
    event_id_for,
    is_pending,
    meeting_key_for,
    never_record_cancellation,
)
from app.services.event_mapping import series_spec
from app.services.guard import DoNotRecordGuard
from app.services.recurrence import RecurrenceError, occurrence_after, occurrences_between
from app.services.rules import guard_hits
from app.services.scheduling import SchedulingService
from app.services.sync import SyncOutcome

log = logging.getLogger(__name__)

# How often a bot written meanwhile (a PATCH, a re-schedule) is read again and followed anew.
_CAS_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    moved: int = 0
    cancelled: int = 0
    relinked: int = 0


@dataclass(frozen=True, slots=True)
class Located:
    """Where a bot's occurrence is now, under the key it has now."""

    key: OccurrenceKey
    occurrence: Occurrence
    link: MeetingLink | None
    # Who is in it (a modified occurrence's own list, else the event's): the guard reads it.
    attendees: AttendeeFacts


async def settle_cancel(
    bots: BotStore,
    scheduler: BotScheduler,
    bot: ScheduledBot,
    why: BotCancellation,
    now: datetime,
    *,
    release_claim: bool = True,
) -> bool:
    """Cancel a scheduled bot because of what its calendar shows, with the reason as its
    `last_error`; False if it left `scheduled` meanwhile.

    Its meeting claim is released: the meeting may live on in another calendar's copy, which
    auto-scheduling may then give a bot. Not when calbot cancels it by the user's choice (a
    pause, a `never` mode, the do-not-record guard): no other copy should get a bot then.
    """
    bot.status = BotStatus.CANCELLED
    bot.last_error = why.sentence
    bot.updated_at = now
    if not await bots.update_bot(
        bot, expected_status=BotStatus.SCHEDULED, change=cancelled(why.reason)
    ):
        return False
    await scheduler.bot_cancelled(bot)
    if release_claim:
        await bots.release_meeting_claim(bot)
    log.info("bot %s cancelled (%s)", bot.bot_id, why.reason)
    return True


def _stopped_or_started_repeating(bot: ScheduledBot, is_recurring: bool) -> bool:
    return bot.occurrence_key.is_single == is_recurring


def _keeps_its_occurrence(bot: ScheduledBot, event: Event) -> bool:
    """A series occurrence's bot whose occurrence the one-off (the series became) is: it
    starts at the occurrence's original or current start."""
    return event.start_time in (bot.occurrence_key.original_start, bot.occurrence_start)


def _starts_at_its_occurrence(bot: ScheduledBot, event: Event | None) -> bool:
    """Followed first: a bot whose occurrence's original start is the event's start."""
    return event is not None and event.start_time == bot.occurrence_key.original_start


class BotReconciler:
    def __init__(
        self,
        *,
        events: EventStore,
        bots: BotStore,
        scheduler: BotScheduler,
        scheduling: SchedulingService,
        guard: DoNotRecordGuard,
        clock: Clock,
        join_lead: timedelta,
    ) -> None:
        self._guard = guard
        self._events = events
        self._bots = bots
        self._scheduler = scheduler
        self._scheduling = scheduling
        self._clock = clock
        self._join_lead = join_lead

    async def after_sync(self, account_id: str, outcome: SyncOutcome) -> ReconcileResult:
        calendar_id = outcome.calendar_id
        upserted, series = set(outcome.upserted_ids), outcome.recurring_ids
        touched = set(upserted)
        touched.update(
            event_id_for(account_id, calendar_id, google_id)
            for google_id in (*outcome.changed_series, *outcome.cancelled_google_ids)
        )
        if not touched and not outcome.full_sync:
            return ReconcileResult()
        bots = await self._bots_of(account_id, touched, every=outcome.full_sync)
        if outcome.full_sync:
            # A full resync drops the events Google no longer lists, with no cancelled item to
            # say so: the calendar's scheduled bots whose event is gone are settled too.
            touched.update(
                bot.event_id
                for bot in bots
                if bot.calendar_id == calendar_id and bot.status is BotStatus.SCHEDULED
            )
        pending = [b for b in bots if b.status is BotStatus.SCHEDULED and b.event_id in touched]
        events: dict[str, Event | None] = {}
        # The do-not-record list, read once for every bot this sync touched.
        never_record = await self._guard.domains(account_id) if pending else ()
        for bot in pending:
            if bot.event_id not in events:
                events[bot.event_id] = await self._events.get_event(account_id, bot.event_id)
        # A one-off that was a series keeps the bot of the occurrence it starts at, not another.
        pending.sort(key=lambda bot: not _starts_at_its_occurrence(bot, events[bot.event_id]))
        moved = cancelled = relinked = 0
        for bot in pending:
            change = await self.follow(bot, events[bot.event_id], never_record=never_record)
            moved += change == "moved"
            cancelled += change == "cancelled"
            relinked += change == "relinked"
        # Only an upsert can make a meeting start or stop repeating.
        for bot in bots:
            if (
                bot.event_id in upserted
                and not is_pending(bot.status)
                and _stopped_or_started_repeating(bot, bot.event_id in series)
            ):
                event = events.get(bot.event_id) or await self._events.get_event(
                    account_id, bot.event_id
                )
                if event is not None:
                    await self._rekey_finished(bot, event)
        for event_id in touched:
            if event_id in upserted and event_id not in series:
                continue  # stored as a one-off by this sync: not read again (a full sync's many)
            event = events.get(event_id) or await self._events.get_event(account_id, event_id)
            if (
                event is not None
                and event.is_recurring
                and event.status is not EventStatus.CANCELLED
            ):
                await self._scheduling.ensure_series_bot(account_id, event)
        return ReconcileResult(moved, cancelled, relinked)

    async def _bots_of(
        self, account_id: str, event_ids: set[str], *, every: bool
    ) -> list[ScheduledBot]:
        """The bots of these events (of the whole account when `every`), ordered by join_at:
        an incremental sync reads the bots of what it changed, not all of them."""
        if every:
            return await self._bots.list_bots(account_id)
        return await self._bots.list_bots_of_events(account_id, event_ids)

    async def follow(
        self,
        bot: ScheduledBot,
        event: Event | None,
        *,
        overrides: list[OccurrenceOverride] | None = None,
        never_record: tuple[str, ...] | None = None,
    ) -> str:
        """Bring one scheduled bot in line with its event; returns what changed ("moved",
        "relinked", "cancelled" or "unchanged").

        `overrides` are the series' exceptions to go by (the stored ones when None): the launch
        check passes the one occurrence Google just showed it. `never_record` is the account's
        do-not-record list (read here when None): a bot whose occurrence now has someone from
        one of those domains is cancelled, whatever its source. The bot is written back with a
        compare-and-set on its version: when something wrote it since it was listed (a PATCH of
        its config, a re-schedule), the bot is read again and followed from what is stored, so
        that change is kept.
        """
        if never_record is None:
            never_record = await self._guard.domains(bot.account_id)
        for _ in range(_CAS_ATTEMPTS):
            change = await self._follow_once(bot, event, overrides, never_record)
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
        never_record: tuple[str, ...] = (),
    ) -> str | None:
        """One attempt of `follow`; None when the bot was written since it was read."""
        if event is None:
            return await self._cancel(bot, MEETING_DELETED)
        if event.status is EventStatus.CANCELLED:
            return await self._cancel(bot, MEETING_CANCELLED)
        try:
            located = await self._locate(bot, event, overrides)
        except RecurrenceError as error:
            # Unknown is not gone: the bot stays as it is, and the event shows why.
            log.warning("bot %s left as it is: %s", bot.bot_id, error)
            return "unchanged"
        if isinstance(located, BotCancellation):
            return await self._cancel(bot, located)
        occurrence, link = located.occurrence, located.link
        if link is None:
            return await self._cancel(bot, LINK_REMOVED)
        guarded = guard_hits(located.attendees, never_record) if never_record else None
        if guarded is not None:
            return await self._cancel(bot, never_record_cancellation(guarded), release_claim=False)
        now = self._clock.now()
        before = dataclasses.replace(bot)
        change = "unchanged"
        if (occurrence.start, occurrence.end) != (bot.occurrence_start, bot.occurrence_end):
            bot.occurrence_start, bot.occurrence_end = occurrence.start, occurrence.end
            bot.join_at = max(occurrence.start - self._join_lead, now)
            change = "moved"
        if link.url != bot.meeting_link:
            bot.meeting_link, bot.meeting_platform = link.url, link.platform
            change = "moved" if change == "moved" else "relinked"
        previous_key, previous_meeting = bot.occurrence_key, bot.meeting_key
        bot.occurrence_key = located.key
        bot.meeting_key = meeting_key_for(event.ical_uid, located.key, occurrence.start, link.url)
        rekeyed = (bot.occurrence_key, bot.meeting_key) != (previous_key, previous_meeting)
        if change == "unchanged" and not rekeyed:
            return change
        bot.updated_at = now
        # What the client is told: a move (its time, maybe its link too) or a new link.
        reported = None
        if change != "unchanged":
            reason = MEETING_MOVED if change == "moved" else LINK_CHANGED
            reported = updated(reason, changed_fields(before, bot))
        if not rekeyed:
            written = await self._bots.update_bot(
                bot, expected_status=BotStatus.SCHEDULED, change=reported
            )
        else:
            written = await self._bots.rekey_bot(
                bot,
                expected_status=BotStatus.SCHEDULED,
                previous_occurrence_key=previous_key,
                previous_meeting_key=previous_meeting,
                change=reported,
            )
            if not written:
                return await self._cancel_duplicate(bot, previous_key, previous_meeting)
        if not written:
            return None  # written meanwhile: `follow` reads it again
        await self._scheduler.bot_scheduled(bot)
        return change

    async def _cancel_duplicate(
        self, bot: ScheduledBot, previous_key: OccurrenceKey, previous_meeting: str | None
    ) -> str:
        """A re-key was refused: cancel the bot if it is still as it was, as another pending
        bot then holds its new occurrence or meeting occurrence."""
        current = await self._bots.get_bot(bot.account_id, bot.bot_id)
        if (
            current is None
            or current.status is not BotStatus.SCHEDULED
            or (current.occurrence_key, current.meeting_key) != (previous_key, previous_meeting)
        ):
            return "unchanged"  # launched or changed meanwhile
        return await self._cancel(current, DUPLICATE_OCCURRENCE) or "unchanged"

    async def _rekey_finished(self, bot: ScheduledBot, event: Event) -> None:
        """A finished bot of a meeting that started or stopped repeating takes the key of the
        occurrence it joined, so auto-scheduling does not give that occurrence another bot."""
        if not _stopped_or_started_repeating(bot, event.is_recurring):
            return
        try:
            located = await self._locate(bot, event)
        except RecurrenceError:
            return
        if isinstance(located, BotCancellation):
            return  # not an occurrence of the meeting as it is now: history stays as it was
        previous_key, previous_meeting = bot.occurrence_key, bot.meeting_key
        bot.occurrence_key = located.key
        bot.meeting_key = meeting_key_for(
            event.ical_uid, located.key, bot.occurrence_start, bot.meeting_link
        )
        await self._bots.rekey_bot(
            bot,
            expected_status=bot.status,
            previous_occurrence_key=previous_key,
            previous_meeting_key=previous_meeting,
        )

    async def _locate(
        self,
        bot: ScheduledBot,
        event: Event,
        overrides: list[OccurrenceOverride] | None = None,
    ) -> Located | BotCancellation:
        """The bot's occurrence in the event as it is now, or why it no longer exists;
        `overrides` are the series' exceptions to go by (the stored ones when None)."""
        if not event.is_recurring:
            if bot.occurrence_key.is_single or _keeps_its_occurrence(bot, event):
                occurrence = Occurrence(event.start_time, event.start_time, event.end_time)
                return Located(
                    OccurrenceKey.single(), occurrence, event.meeting_link, event.attendees
                )
            return OCCURRENCE_DELETED
        if overrides is None:
            overrides = (
                await self._events.list_overrides(
                    bot.account_id, event.calendar_id, [event.google_event_id]
                )
            ).get(event.google_event_id, [])
        original_start = bot.occurrence_key.original_start
        if original_start is not None:
            return _series_occurrence(event, overrides, original_start)
        # The one-off became a series: the occurrence at the bot's start, else the first one.
        found = _series_occurrence(event, overrides, bot.occurrence_start)
        if found is OCCURRENCE_DELETED or found is SERIES_ENDED:
            found = _series_occurrence(event, overrides, event.start_time)
        # Not an occurrence the series ever had: the one-off is gone, not a series cut short.
        return OCCURRENCE_DELETED if found is SERIES_ENDED else found

    async def _cancel(
        self, bot: ScheduledBot, why: BotCancellation, *, release_claim: bool = True
    ) -> str | None:
        """None when the bot was written since it was read (`follow` reads it again)."""
        now = self._clock.now()
        if await settle_cancel(
            self._bots, self._scheduler, bot, why, now, release_claim=release_claim
        ):
            return "cancelled"
        return None


def _series_occurrence(
    event: Event, overrides: list[OccurrenceOverride], original_start: datetime
) -> Located | BotCancellation:
    """The series' occurrence with this original start (moved, relinked or as the rules make
    it), or why there is none."""
    key = OccurrenceKey(original_start)
    original_start = key.original_start or original_start  # in UTC, to the second
    for override in overrides:
        if override.original_start != original_start:
            continue
        if override.cancelled:
            return OCCURRENCE_CANCELLED
        start = override.start or original_start
        end = override.end or start + (event.end_time - event.start_time)
        return Located(
            key,
            Occurrence(original_start, start, end),
            override.meeting_link or event.meeting_link,
            override.attendees or event.attendees,
        )
    generated = occurrences_between(
        series_spec(event), [], original_start, original_start + timedelta(seconds=1)
    )
    for occurrence in generated:
        if occurrence.original_start == original_start:
            return Located(key, occurrence, event.meeting_link, event.attendees)
    if occurrence_after(series_spec(event), overrides, original_start) is None:
        return SERIES_ENDED  # nothing from here on: the series was cut short
    return OCCURRENCE_DELETED
