"""Storage of scheduled bots and of series schedules."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from app.bot_changes import UNSCHEDULED_BY_USER, UPDATED_BY_USER, BotChange
from app.domain import BotStatus, OccurrenceKey, ScheduledBot, SeriesSchedule


class BotStore(Protocol):
    """Scheduled bots, from scheduling to launch.

    Every write that changes what a client sees of a bot appends its webhook message
    (`app.bot_changes.bot_message`, built from the bot as written) in the same store write: a
    write that does not happen appends nothing, one that does appends exactly one message per
    bot it changed.
    """

    async def insert_or_update_pending_bot(
        self, bot: ScheduledBot, *, update_reason: str = UPDATED_BY_USER
    ) -> tuple[ScheduledBot, bool]:
        """Insert the bot unless one is pending for (account, event, occurrence) or for its
        meeting occurrence (account, `meeting_key`: the same meeting on another calendar).

        Deduplication is a property of the store (unique keys), not a read-then-write. When a
        pending bot exists its config, name and attributes are replaced by `bot`'s (the one of
        the same event and occurrence first, if both exist); returns the stored bot and True if
        it was created. Messages: `bot.scheduled` for an inserted bot; `bot.updated` with
        `update_reason` and the fields that changed for a scheduled bot updated (none when
        nothing changed, or the pending bot is already launching).
        """
        ...

    async def get_bot(self, account_id: str, bot_id: str) -> ScheduledBot | None:
        """One bot of the account, or None."""
        ...

    async def list_bots(
        self,
        account_id: str,
        *,
        status: BotStatus | None = None,
        event_id: str | None = None,
    ) -> list[ScheduledBot]:
        """The account's bots ordered by join_at."""
        ...

    async def list_bots_of_events(
        self, account_id: str, event_ids: Collection[str]
    ) -> list[ScheduledBot]:
        """The bots of these events of the account, ordered by join_at (then bot id), as
        `list_bots` orders them: what a sync that changed these events reconciles."""
        ...

    async def update_bot(
        self, bot: ScheduledBot, *, expected_status: BotStatus, change: BotChange | None = None
    ) -> bool:
        """Write the bot back only if its stored status is still `expected_status` and its
        stored `version` is still `bot.version` (nothing wrote it since it was read): a
        compare-and-set. On success the stored version, and `bot.version`, go up by one; False
        tells the caller to re-read the bot and decide again from what is stored.

        Every other write of a bot (re-scheduling, cancelling, claiming) bumps its version too;
        only `touch_launching_bot`, which renews a claim, leaves it. With `change`, its message
        is appended in the same write (nothing is appended when the write does not happen).
        """
        ...

    async def cancel_pending_bots(
        self, account_id: str, event_id: str, when: datetime, *, reason: str = UNSCHEDULED_BY_USER
    ) -> list[ScheduledBot]:
        """Cancel every scheduled bot of an event, each with its `bot.cancelled` message
        (`reason`); returns them."""
        ...

    async def due_bots(
        self, before: datetime, limit: int, *, stale_launching_before: datetime
    ) -> list[ScheduledBot]:
        """Bots of every account to launch now, earliest first: scheduled ones with
        join_at <= before, and launching ones whose claimer went quiet before the cutoff."""
        ...

    async def next_join_at(self) -> datetime | None:
        """The earliest join_at among scheduled bots of every account."""
        ...

    async def touch_launching_bot(self, bot_id: str, when: datetime) -> None:
        """Renew a launcher's claim on a bot it is still launching."""
        ...

    async def claim_bot(
        self, bot_id: str, when: datetime, *, stale_launching_before: datetime
    ) -> ScheduledBot | None:
        """Atomically move a due bot (join_at <= when) to launching; None if it is not due
        (any more) or another launcher holds it.

        A bot already launching is taken over only if its claim is older than the cutoff
        (its launcher died); the Create Bot call's Idempotency-Key keeps that safe.
        """
        ...

    async def insert_bots_unless_exist(self, bots: list[ScheduledBot]) -> list[ScheduledBot]:
        """Insert each bot unless its (account, event, occurrence) already has a bot in any
        status, or its meeting occurrence (`meeting_key`) has one that still claims it (see
        `release_meeting_claim`), bots released by a disconnect excepted (see `delete_connection`);
        marks their events scheduled. Returns the bots inserted, each written with its
        `bot.scheduled` message."""
        ...

    async def rekey_bot(
        self,
        bot: ScheduledBot,
        *,
        expected_status: BotStatus,
        previous_occurrence_key: OccurrenceKey,
        previous_meeting_key: str | None,
        change: BotChange | None = None,
    ) -> bool:
        """Write the bot back under a new occurrence key and meeting key (its meeting started
        or stopped repeating, or a key built from its link and start changed).

        Only if it is stored with `expected_status` and the previous keys, and, when it is
        pending, no other pending bot holds either new key: False otherwise, nothing written.
        Afterwards the bot counts as the new occurrence's and meeting's bot for deduplication,
        and no longer as the previous ones'. With `change`, its message is appended in the same
        write.
        """
        ...

    async def release_meeting_claim(self, bot: ScheduledBot) -> None:
        """Stop counting this (cancelled) bot as its meeting occurrence's: calbot cancelled it
        because its copy of the meeting was cancelled or left its calendar, so another copy on
        another calendar may still get a bot from auto-scheduling. A claim held by another bot
        of the same meeting stays."""
        ...

    async def purge_finished_bots(self, cutoff: datetime, limit: int) -> int:
        """Delete up to `limit` bots of every account that `domain.purgeable_bot` allows for
        the cutoff, earliest occurrence end first; returns how many were deleted."""
        ...


class SeriesScheduleStore(Protocol):
    """ "All future occurrences" schedules of recurring series."""

    async def save_series_schedule(self, schedule: SeriesSchedule) -> None:
        """Create or replace the series schedule of an event."""
        ...

    async def get_series_schedule(self, account_id: str, event_id: str) -> SeriesSchedule | None:
        """The event's series schedule, active or not, or None."""
        ...

    async def set_series_schedule_active(
        self, account_id: str, event_id: str, active: bool
    ) -> None:
        """Pause or resume a series schedule (no-op when there is none)."""
        ...

    async def due_series_schedules(self, now: datetime, limit: int) -> list[SeriesSchedule]:
        """Active series schedules of every account whose current occurrence has ended."""
        ...

    async def next_series_check_at(self) -> datetime | None:
        """When the next active series schedule falls due."""
        ...

    async def advance_series_schedule(
        self,
        account_id: str,
        event_id: str,
        *,
        expected_last_original_start: datetime,
        last_original_start: datetime,
        next_check_at: datetime,
        active: bool = True,
    ) -> bool:
        """Compare-and-set the series' progress; False if another process advanced it first.

        With `active` (the default) only an active schedule advances: a schedule paused
        meanwhile (the user unscheduled the series) stays paused and False is returned. With
        `active=False` the progress is recorded and the schedule paused, whatever its state.
        """
        ...
