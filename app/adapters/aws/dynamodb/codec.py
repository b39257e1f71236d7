"""Attribute values, and events and bots as DynamoDB items and back.

Every item carries a `kind` and its ids as attributes (keys are never parsed). Absent means
null: `item()` drops None. Times are `table.time_text` strings; configs and other nested
values travel as JSON strings. Events and bots live here because more than one aggregate
store writes or reads them; the items of the other aggregates are built at the top of their
own module.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from app.adapters.aws.dynamodb.table import (
    Item,
    bot_end_index,
    bot_key,
    bot_pointer_key,
    calendar_data_key,
    event_key,
    event_pointer_key,
    event_start_pk,
    event_start_sk,
    launching_queue,
    occurrence_claim_key,
    override_key,
    pending_key,
    pending_meeting_key,
    pending_queue,
    time_text,
)
from app.adapters.json_documents import (
    attendees_document,
    attendees_from_document,
    attendees_text,
    override_attendees_from_text,
)
from app.adapters.ports import SeriesOverride
from app.domain import (
    AutoScheduleMode,
    BotSource,
    BotStatus,
    Event,
    EventStatus,
    MeetingLink,
    OccurrenceKey,
    OccurrenceOverride,
    Platform,
    ScheduledBot,
    ScheduleStatus,
    SyncState,
    schedule_status_after_upsert,
)

# -- attribute values --------------------------------------------------------------------------


def encode(value: object) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, frozenset) and value and all(isinstance(v, str) for v in value):
        return {"SS": sorted(value)}
    raise TypeError(f"no DynamoDB type for {type(value).__name__}")


def decode(value: dict[str, Any]) -> Any:
    ((kind, raw),) = value.items()
    if kind == "N":
        return int(raw)
    if kind == "B":
        return bytes(raw)
    if kind == "NULL":
        return None
    if kind == "SS":
        return frozenset(raw)
    return raw  # S, BOOL


def item(key: Item, **attributes: object) -> Item:
    """A typed item: the key plus every attribute that is not None (absent means null)."""
    typed = dict(key)
    typed.update({name: encode(value) for name, value in attributes.items() if value is not None})
    return typed


def plain(typed: Item) -> dict[str, Any]:
    return {name: decode(value) for name, value in typed.items()}


def text_or_none(when: datetime | None) -> str | None:
    return None if when is None else time_text(when)


def time_of(text: str) -> datetime:
    return datetime.fromisoformat(text)


def time_or_none(text: str | None) -> datetime | None:
    return None if text is None else time_of(text)


def stored(when: datetime) -> datetime:
    """A time as the table keeps it (second precision): what comparisons with stored times
    see, as in SQLite."""
    return time_of(time_text(when))


def json_text(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode()


def json_or_none(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json_text(value)


def json_value_or_none(text: str | None) -> dict[str, Any] | None:
    return None if text is None else orjson.loads(text)


def new_rev() -> str:
    """A fresh revision for a bot item: conditions on it detect any write in between."""
    return uuid.uuid4().hex


# -- events and sync state ---------------------------------------------------------------------


def calendar_data_item(account_id: str, calendar_id: str) -> Item:
    return item(
        calendar_data_key(account_id, calendar_id), kind="calendar_data", calendar_id=calendar_id
    )


def event_item(account_id: str, event: Event, generation: int) -> Item:
    """The Google-owned item of an event. Fields written and read only whole travel as one
    JSON attribute, `google`: events are the most numerous items, and attribute names count
    toward item size (so toward every Query's read units). Fields updated on their own
    (status, next occurrence) or used in conditions and projections stay attributes."""
    link = event.meeting_link
    google = {
        "calendar_id": event.calendar_id,
        "summary": event.summary,
        "start_time": time_text(event.start_time),
        "end_time": time_text(event.end_time),
        "all_day": event.all_day,
        "time_zone": event.time_zone,
        "recurrence": list(event.recurrence),
        "meeting_link": link.url if link else None,
        "meeting_platform": link.platform.value if link else None,
        "self_declined": event.self_declined,
        "updated": event.updated,
        "ical_uid": event.ical_uid,
        "attendees": attendees_document(event.attendees),
        "unsafe_link": event.unsafe_link,
    }
    return item(
        event_key(account_id, event.calendar_id, event.google_event_id),
        kind="event",
        event_id=event.event_id,
        google_event_id=event.google_event_id,
        status=event.status.value,
        next_occurrence_start=text_or_none(event.next_occurrence_start),
        next_occurrence_end=text_or_none(event.next_occurrence_end),
        generation=generation,
        google=json_text(google),
        GSI2PK=event_start_pk(account_id, event.calendar_id),
        GSI2SK=event_start_sk(event.start_time, event.event_id),
    )


def event_pointer_item(account_id: str, calendar_id: str, event: Event) -> Item:
    """Finds an event by calbot id; written with every upsert, never changes."""
    return item(
        event_pointer_key(account_id, event.event_id),
        kind="event_pointer",
        calendar_id=calendar_id,
        google_event_id=event.google_event_id,
    )


def override_item(
    account_id: str, calendar_id: str, entry: SeriesOverride, generation: int
) -> Item:
    override = entry.override
    original_start = time_text(override.original_start)
    link = override.meeting_link
    return item(
        override_key(account_id, calendar_id, entry.series_google_event_id, original_start),
        kind="override",
        series_google_event_id=entry.series_google_event_id,
        original_start=original_start,
        cancelled=override.cancelled,
        start_time=text_or_none(override.start),
        end_time=text_or_none(override.end),
        meeting_link=link.url if link else None,
        meeting_platform=link.platform.value if link else None,
        google_event_id=override.google_event_id,
        generation=generation,
        attendees=attendees_text(override.attendees),
    )


def override_from(data: dict[str, Any]) -> OccurrenceOverride:
    link = data.get("meeting_link")
    return OccurrenceOverride(
        original_start=time_of(data["original_start"]),
        cancelled=data["cancelled"],
        start=time_or_none(data.get("start_time")),
        end=time_or_none(data.get("end_time")),
        meeting_link=MeetingLink(link, Platform(data["meeting_platform"])) if link else None,
        google_event_id=data.get("google_event_id"),
        attendees=override_attendees_from_text(data.get("attendees")),
    )


def _schedule_status(data: dict[str, Any], state: dict[str, Any] | None) -> ScheduleStatus:
    """The event's schedule status from its two items (docs/dynamodb.md, "two items").

    `schedule_cancelled` on the event item says the last word was a cancellation. An upsert
    replaces the event item without it, so a stored status without the flag has been through
    an upsert since it was written: the domain says what an upsert leaves of it.
    """
    if data.get("schedule_cancelled"):
        return ScheduleStatus.CANCELLED
    written = (state or {}).get("schedule_status")
    return schedule_status_after_upsert(None if written is None else ScheduleStatus(written))


def event_from(data: dict[str, Any], state: dict[str, Any] | None) -> Event:
    """An event from its Google-owned item and its (maybe absent) calbot-owned state item."""
    google = orjson.loads(data["google"])
    link = google["meeting_link"]
    return Event(
        event_id=data["event_id"],
        calendar_id=google["calendar_id"],
        google_event_id=data["google_event_id"],
        summary=google["summary"],
        status=EventStatus(data["status"]),
        start_time=time_of(google["start_time"]),
        end_time=time_of(google["end_time"]),
        all_day=google["all_day"],
        time_zone=google["time_zone"],
        recurrence=tuple(google["recurrence"]),
        meeting_link=MeetingLink(link, Platform(google["meeting_platform"])) if link else None,
        self_declined=google["self_declined"],
        updated=google["updated"],
        recurring_enabled=(state or {}).get("recurring_enabled", True),
        schedule_status=_schedule_status(data, state),
        next_occurrence_start=time_or_none(data.get("next_occurrence_start")),
        next_occurrence_end=time_or_none(data.get("next_occurrence_end")),
        ical_uid=google.get("ical_uid"),
        attendees=attendees_from_document(google.get("attendees")),
        unsafe_link=bool(google.get("unsafe_link", False)),
        auto_schedule_mode=AutoScheduleMode((state or {}).get("auto_schedule_mode", "rules")),
    )


def events_from(items: Iterable[Item]) -> list[Event]:
    """Events from a calendar partition's `EVENT#` items (data and state, in any order)."""
    data: dict[str, dict[str, Any]] = {}
    states: dict[str, dict[str, Any]] = {}
    for typed in items:
        fields = plain(typed)
        if fields.get("kind") == "event":
            data[fields["google_event_id"]] = fields
        elif fields.get("kind") == "event_state":
            states[fields["google_event_id"]] = fields
    return [event_from(fields, states.get(google_id)) for google_id, fields in data.items()]


def sync_state_from(calendar_id: str, typed: Item) -> SyncState:
    data = plain(typed)
    return SyncState(
        calendar_id=calendar_id,
        sync_token=data.get("sync_token"),
        last_synced_at=time_or_none(data.get("last_synced_at")),
        generation=int(data.get("generation") or 0),
    )


# -- bots --------------------------------------------------------------------------------------


def _queue_keys(bot: ScheduledBot) -> tuple[str | None, str | None]:
    """GSI1 keys of a bot: scheduled ones by join_at, launching ones by their claim's age,
    none otherwise."""
    if bot.status is BotStatus.SCHEDULED:
        return pending_queue(bot.bot_id, bot.join_at)
    if bot.status is BotStatus.LAUNCHING:
        return launching_queue(bot.bot_id, bot.updated_at)
    return None, None


def bot_item(bot: ScheduledBot, rev: str) -> Item:
    queue_pk, queue_sk = _queue_keys(bot)
    end_pk, end_sk = bot_end_index(bot.bot_id, bot.occurrence_end)
    return item(
        bot_key(bot.account_id, bot.bot_id),
        kind="bot",
        rev=rev,
        bot_id=bot.bot_id,
        account_id=bot.account_id,
        event_id=bot.event_id,
        calendar_id=bot.calendar_id,
        google_event_id=bot.google_event_id,
        occurrence_key=str(bot.occurrence_key),
        occurrence_start=time_text(bot.occurrence_start),
        occurrence_end=time_text(bot.occurrence_end),
        join_at=time_text(bot.join_at),
        meeting_link=bot.meeting_link,
        meeting_platform=bot.meeting_platform.value,
        bot_config=json_text(bot.bot_config),
        bot_name=bot.bot_name,
        custom_attributes=json_or_none(bot.custom_attributes),
        source=bot.source.value,
        status=bot.status.value,
        external_bot_id=bot.external_bot_id,
        last_error=bot.last_error,
        attempts=bot.attempts,
        created_at=time_text(bot.created_at),
        updated_at=time_text(bot.updated_at),
        version=bot.version,
        meeting_key=bot.meeting_key,
        GSI1PK=queue_pk,
        GSI1SK=queue_sk,
        GSI2PK=end_pk,
        GSI2SK=end_sk,
    )


def bot_from(typed: Item) -> ScheduledBot:
    data = plain(typed)
    return ScheduledBot(
        bot_id=data["bot_id"],
        account_id=data["account_id"],
        event_id=data["event_id"],
        calendar_id=data["calendar_id"],
        google_event_id=data["google_event_id"],
        occurrence_key=OccurrenceKey.parse(data["occurrence_key"]),
        occurrence_start=time_of(data["occurrence_start"]),
        occurrence_end=time_of(data["occurrence_end"]),
        join_at=time_of(data["join_at"]),
        meeting_link=data["meeting_link"],
        meeting_platform=Platform(data["meeting_platform"]),
        bot_config=orjson.loads(data["bot_config"]),
        bot_name=data.get("bot_name"),
        custom_attributes=json_value_or_none(data.get("custom_attributes")),
        source=BotSource(data["source"]),
        status=BotStatus(data["status"]),
        external_bot_id=data.get("external_bot_id"),
        last_error=data.get("last_error"),
        attempts=data["attempts"],
        created_at=time_of(data["created_at"]),
        updated_at=time_of(data["updated_at"]),
        version=data.get("version", 0),  # items written before versions count as 0
        meeting_key=data.get("meeting_key"),
    )


def bot_pointer_item(bot: ScheduledBot) -> Item:
    """Finds a bot's account from its id alone; written with the bot, never changes."""
    return item(bot_pointer_key(bot.bot_id), kind="bot_pointer", account_id=bot.account_id)


def occurrence_claim_item(bot: ScheduledBot) -> Item:
    return item(
        occurrence_claim_key(bot.account_id, bot.event_id, bot.occurrence_key),
        kind="occurrence_claim",
        bot_id=bot.bot_id,
    )


def pending_item(bot: ScheduledBot) -> Item:
    return item(
        pending_key(bot.account_id, bot.event_id, bot.occurrence_key),
        kind="pending_bot",
        bot_id=bot.bot_id,
        event_id=bot.event_id,
        occurrence_key=str(bot.occurrence_key),
    )


def pending_meeting_item(bot: ScheduledBot, meeting_key: str) -> Item:
    return item(
        pending_meeting_key(bot.account_id, meeting_key),
        kind="pending_meeting",
        bot_id=bot.bot_id,
        event_id=bot.event_id,
        meeting_key=meeting_key,
    )
