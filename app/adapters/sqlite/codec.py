"""Rows to domain objects and back, shared by the SQLite stores (schema in `database.py`)."""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from typing import Any

import orjson

from app.adapters.json_documents import (
    attendees_from_text,
    attendees_text,
    override_attendees_from_text,
)
from app.adapters.sqlite.database import from_text, from_text_or_none, to_text, to_text_or_none
from app.domain import (
    AttendeeFacts,
    AutoScheduleMode,
    BotSource,
    BotStatus,
    Channel,
    Event,
    EventStatus,
    MeetingLink,
    OccurrenceKey,
    OccurrenceOverride,
    Platform,
    ScheduledBot,
    ScheduleStatus,
    SeriesSchedule,
    utc_text,
)

EVENT_COLUMNS = (
    "event_id, calendar_id, google_event_id, summary, status, start_time, end_time, all_day, "
    "time_zone, recurrence, meeting_link, meeting_platform, self_declined, updated, "
    "recurring_enabled, schedule_status, next_occurrence_start, next_occurrence_end, ical_uid, "
    "attendees, unsafe_link, auto_schedule_mode"
)

BOT_COLUMNS = (
    "bot_id, account_id, event_id, calendar_id, google_event_id, occurrence_key, occurrence_start, "
    "occurrence_end, join_at, meeting_link, meeting_platform, bot_config, bot_name, "
    "custom_attributes, source, status, external_bot_id, last_error, attempts, created_at, "
    "updated_at, version, meeting_key"
)
BOT_MARKS = ",".join("?" * len(BOT_COLUMNS.split(", ")))

SERIES_COLUMNS = (
    "account_id, event_id, bot_config, bot_name, custom_attributes, source, active, "
    "last_original_start, next_check_at"
)

CHANNEL_COLUMNS = "channel_id, account_id, calendar_id, resource_id, token_hash, expiration"

OVERRIDE_COLUMNS = (
    "series_google_event_id, original_start, cancelled, start_time, end_time, meeting_link, "
    "meeting_platform, google_event_id, attendees"
)


def json_or_none(value: dict[str, Any] | None) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


# Stored text to enum members by dict: a listing reads a thousand rows per request, and an
# enum's own lookup by value is a Python call each time.
_EVENT_STATUS = {member.value: member for member in EventStatus}
_SCHEDULE_STATUS = {member.value: member for member in ScheduleStatus}
_PLATFORM = {member.value: member for member in Platform}


def _link(url: str | None, platform: str | None) -> MeetingLink | None:
    return MeetingLink(url, _PLATFORM[platform]) if url and platform else None


# Where each of EVENT_COLUMNS comes in a row: every read that `event_from_row` decodes selects
# EVENT_COLUMNS first. A sqlite3.Row looked up by name compares the names one by one; by
# position, a row's 22 columns read in 1.1 us instead of 4.3 (an auto-schedule pass decodes
# 100,000 rows: a quarter of its CPU was in event_from_row, by py-spy).
(
    _EVENT_ID,
    _CALENDAR_ID,
    _GOOGLE_EVENT_ID,
    _SUMMARY,
    _STATUS,
    _START_TIME,
    _END_TIME,
    _ALL_DAY,
    _TIME_ZONE,
    _RECURRENCE,
    _MEETING_LINK,
    _MEETING_PLATFORM,
    _SELF_DECLINED,
    _UPDATED,
    _RECURRING_ENABLED,
    _SCHEDULE_STATUS_AT,
    _NEXT_OCCURRENCE_START,
    _NEXT_OCCURRENCE_END,
    _ICAL_UID,
    _ATTENDEES,
    _UNSAFE_LINK,
    _AUTO_SCHEDULE_MODE,
) = (
    EVENT_COLUMNS.split(", ").index(name)
    for name in (
        "event_id",
        "calendar_id",
        "google_event_id",
        "summary",
        "status",
        "start_time",
        "end_time",
        "all_day",
        "time_zone",
        "recurrence",
        "meeting_link",
        "meeting_platform",
        "self_declined",
        "updated",
        "recurring_enabled",
        "schedule_status",
        "next_occurrence_start",
        "next_occurrence_end",
        "ical_uid",
        "attendees",
        "unsafe_link",
        "auto_schedule_mode",
    )
)
_AUTO_SCHEDULE_MODE_OF = {member.value: member for member in AutoScheduleMode}


def event_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Event:
    """An event from a row that starts with EVENT_COLUMNS (a sqlite3.Row or a plain tuple)."""
    recurrence = row[_RECURRENCE]
    return Event(
        event_id=row[_EVENT_ID],
        calendar_id=row[_CALENDAR_ID],
        google_event_id=row[_GOOGLE_EVENT_ID],
        summary=row[_SUMMARY],
        status=_EVENT_STATUS[row[_STATUS]],
        start_time=from_text(row[_START_TIME]),
        end_time=from_text(row[_END_TIME]),
        all_day=bool(row[_ALL_DAY]),
        time_zone=row[_TIME_ZONE],
        recurrence=tuple(recurrence.split("\n")) if recurrence else (),
        meeting_link=_link(row[_MEETING_LINK], row[_MEETING_PLATFORM]),
        self_declined=bool(row[_SELF_DECLINED]),
        updated=row[_UPDATED],
        recurring_enabled=bool(row[_RECURRING_ENABLED]),
        schedule_status=_SCHEDULE_STATUS[row[_SCHEDULE_STATUS_AT]],
        next_occurrence_start=from_text_or_none(row[_NEXT_OCCURRENCE_START]),
        next_occurrence_end=from_text_or_none(row[_NEXT_OCCURRENCE_END]),
        ical_uid=row[_ICAL_UID],
        attendees=attendees_from_text(row[_ATTENDEES]),
        unsafe_link=bool(row[_UNSAFE_LINK]),
        auto_schedule_mode=_AUTO_SCHEDULE_MODE_OF[row[_AUTO_SCHEDULE_MODE]],
    )


def event_params(
    account_id: str, event: Event, generation: int, schedule_status: ScheduleStatus
) -> tuple[Any, ...]:
    """One row's parameters in `events._upsert_events`: Google's fields, then the
    `schedule_status` a new row takes (a stored row's is worked out by the statement, and
    calbot's other fields are left to it)."""
    link = event.meeting_link
    return (
        account_id,
        event.event_id,
        event.calendar_id,
        event.google_event_id,
        event.summary,
        _EVENT_STATUS_TEXT[event.status],
        utc_text(event.start_time),
        utc_text(event.end_time),
        int(event.all_day),
        event.time_zone,
        "\n".join(event.recurrence),
        link.url if link else None,
        _PLATFORM_TEXT[link.platform] if link else None,
        int(event.self_declined),
        event.updated,
        to_text_or_none(event.next_occurrence_start),
        to_text_or_none(event.next_occurrence_end),
        generation,
        event.ical_uid,
        _facts_text(event.attendees),
        int(event.unsafe_link),
        _SCHEDULE_STATUS_TEXT[schedule_status],
    )


# A page write encodes thousands of events: the texts of enum members by dict (an enum's
# `.value` is a Python call each time), and of attendee facts once per distinct facts (most
# events of a calendar share a few; facts are immutable).
_EVENT_STATUS_TEXT = {member: member.value for member in EventStatus}
_PLATFORM_TEXT = {member: member.value for member in Platform}
_SCHEDULE_STATUS_TEXT = {member: member.value for member in ScheduleStatus}


@lru_cache(maxsize=4096)
def _facts_text(facts: AttendeeFacts) -> str | None:
    return attendees_text(facts)


def override_from_row(row: sqlite3.Row) -> OccurrenceOverride:
    return OccurrenceOverride(
        original_start=from_text(row["original_start"]),
        cancelled=bool(row["cancelled"]),
        start=from_text_or_none(row["start_time"]),
        end=from_text_or_none(row["end_time"]),
        meeting_link=_link(row["meeting_link"], row["meeting_platform"]),
        google_event_id=row["google_event_id"],
        attendees=override_attendees_from_text(row["attendees"]),
    )


def override_params(
    account_id: str,
    calendar_id: str,
    series_google_event_id: str,
    override: OccurrenceOverride,
    generation: int,
) -> tuple[Any, ...]:
    link = override.meeting_link
    return (
        account_id,
        calendar_id,
        series_google_event_id,
        to_text(override.original_start),
        int(override.cancelled),
        to_text_or_none(override.start),
        to_text_or_none(override.end),
        link.url if link else None,
        link.platform.value if link else None,
        override.google_event_id,
        generation,
        attendees_text(override.attendees),
    )


def bot_params(bot: ScheduledBot) -> tuple[Any, ...]:
    """Every column of BOT_COLUMNS, in order."""
    return (
        bot.bot_id,
        bot.account_id,
        bot.event_id,
        bot.calendar_id,
        bot.google_event_id,
        str(bot.occurrence_key),
        to_text(bot.occurrence_start),
        to_text(bot.occurrence_end),
        to_text(bot.join_at),
        bot.meeting_link,
        bot.meeting_platform.value,
        orjson.dumps(bot.bot_config).decode(),
        bot.bot_name,
        json_or_none(bot.custom_attributes),
        bot.source.value,
        bot.status.value,
        bot.external_bot_id,
        bot.last_error,
        bot.attempts,
        to_text(bot.created_at),
        to_text(bot.updated_at),
        bot.version,
        bot.meeting_key,
    )


def bot_from_row(row: sqlite3.Row) -> ScheduledBot:
    custom = row["custom_attributes"]
    return ScheduledBot(
        bot_id=row["bot_id"],
        account_id=row["account_id"],
        event_id=row["event_id"],
        calendar_id=row["calendar_id"],
        google_event_id=row["google_event_id"],
        occurrence_key=OccurrenceKey.parse(row["occurrence_key"]),
        occurrence_start=from_text(row["occurrence_start"]),
        occurrence_end=from_text(row["occurrence_end"]),
        join_at=from_text(row["join_at"]),
        meeting_link=row["meeting_link"],
        meeting_platform=Platform(row["meeting_platform"]),
        bot_config=orjson.loads(row["bot_config"]),
        bot_name=row["bot_name"],
        custom_attributes=orjson.loads(custom) if custom is not None else None,
        source=BotSource(row["source"]),
        status=BotStatus(row["status"]),
        external_bot_id=row["external_bot_id"],
        last_error=row["last_error"],
        attempts=row["attempts"],
        created_at=from_text(row["created_at"]),
        updated_at=from_text(row["updated_at"]),
        version=row["version"],
        meeting_key=row["meeting_key"],
    )


def series_params(schedule: SeriesSchedule) -> tuple[Any, ...]:
    """Every column of SERIES_COLUMNS, in order."""
    return (
        schedule.account_id,
        schedule.event_id,
        orjson.dumps(schedule.bot_config).decode(),
        schedule.bot_name,
        json_or_none(schedule.custom_attributes),
        schedule.source.value,
        int(schedule.active),
        to_text(schedule.last_original_start),
        to_text(schedule.next_check_at),
    )


def series_from_row(row: sqlite3.Row) -> SeriesSchedule:
    custom = row["custom_attributes"]
    return SeriesSchedule(
        account_id=row["account_id"],
        event_id=row["event_id"],
        bot_config=orjson.loads(row["bot_config"]),
        bot_name=row["bot_name"],
        custom_attributes=orjson.loads(custom) if custom is not None else None,
        source=BotSource(row["source"]),
        active=bool(row["active"]),
        last_original_start=from_text(row["last_original_start"]),
        next_check_at=from_text(row["next_check_at"]),
    )


def channel_params(channel: Channel) -> tuple[Any, ...]:
    """Every column of CHANNEL_COLUMNS, in order."""
    return (
        channel.channel_id,
        channel.account_id,
        channel.calendar_id,
        channel.resource_id,
        channel.token_hash,
        to_text(channel.expiration),
    )


def channel_from_row(row: sqlite3.Row) -> Channel:
    return Channel(
        channel_id=row["channel_id"],
        account_id=row["account_id"],
        calendar_id=row["calendar_id"],
        resource_id=row["resource_id"],
        token_hash=row["token_hash"],
        expiration=from_text(row["expiration"]),
    )
