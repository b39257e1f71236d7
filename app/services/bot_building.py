"""What manual and series scheduling share: building a bot for one occurrence and storing it.

Also the limits a bot's free-form fields are held to, the order bots are listed in, and the
compare-and-set retry bound both kinds of scheduling use.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from app.adapters.ports import BotScheduler, BotStore, EventStore
from app.domain import (
    BotSource,
    BotStatus,
    Event,
    MeetingLink,
    Occurrence,
    OccurrenceKey,
    OccurrenceOverride,
    ScheduledBot,
    meeting_key_for,
)
from app.errors import EventNotFound, StorageUnavailable, Unprocessable
from app.observability import BOTS_SCHEDULED
from app.services.paging import SortKey

MAX_BOT_CONFIG_BYTES = 16 * 1024
# Sent along with bot_config in the Create Bot body, and stored with it: the same bound.
MAX_CUSTOM_ATTRIBUTES_BYTES = 16 * 1024
# A compare-and-set lost this many times in a row means a writer is racing in a loop: give up
# with a 503 rather than spin (one retry is all a user's own change ever needs).
CAS_ATTEMPTS = 5


def kept_changing() -> StorageUnavailable:
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


async def put_pending_bot(
    bots: BotStore, scheduler: BotScheduler, bot: ScheduledBot
) -> tuple[ScheduledBot, bool]:
    """Store a new bot, or update the pending one of the same meeting occurrence; the stored
    bot and whether it is new. A bot left pending is handed to the scheduler."""
    stored, created = await bots.insert_or_update_pending_bot(bot)
    if created:
        BOTS_SCHEDULED.labels(bot.source.value).inc()
    if stored.status is BotStatus.SCHEDULED:
        await scheduler.bot_scheduled(stored)
    return stored, created


async def find_event(events: EventStore, account_id: str, event_id: str) -> Event:
    event = await events.get_event(account_id, event_id)
    if event is None:
        raise EventNotFound()
    return event


async def overrides_of(
    events: EventStore, account_id: str, event: Event
) -> list[OccurrenceOverride]:
    found = await events.list_overrides(account_id, event.calendar_id, [event.google_event_id])
    return found.get(event.google_event_id, [])


def link_for(
    event: Event, overrides: list[OccurrenceOverride], occurrence: Occurrence
) -> MeetingLink | None:
    """The occurrence's own meeting link when an override gives it one, else the event's."""
    for override in overrides:
        if override.original_start == occurrence.original_start and override.meeting_link:
            return override.meeting_link
    return event.meeting_link
