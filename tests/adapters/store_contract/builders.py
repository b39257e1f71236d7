"""What the store contract tests build: events, pages, bots, schedules, channels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.adapters.ports import EventsPageWrite, EventStore, SeriesOverride
from app.domain import (
    BotSource,
    BotStatus,
    Calendar,
    Channel,
    Connection,
    ConnectionStatus,
    Event,
    EventStatus,
    MeetingLink,
    OccurrenceOverride,
    Platform,
    ScheduledBot,
    SeriesSchedule,
    SyncState,
    event_id_for,
    meeting_key_for,
    occurrence_key_for,
)

TABLE = "calbot-contract"  # the DynamoDB table the suite creates on moto
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ACCOUNT = "acc_one"
OTHER = "acc_two"
CAL = "user@example.com"
TEAM = "team@group.calendar.google.com"
LINK = MeetingLink("https://meet.google.com/abc-defg-hij", Platform.GOOGLE_MEET)
WEEKLY = ("RRULE:FREQ=WEEKLY",)


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def event(
    google_id: str,
    start: datetime = NOW,
    *,
    account_id: str = ACCOUNT,
    calendar_id: str = CAL,
    minutes: int = 30,
    **fields: Any,
) -> Event:
    fields.setdefault("meeting_link", LINK)
    return Event(
        event_id=event_id_for(account_id, calendar_id, google_id),
        calendar_id=calendar_id,
        google_event_id=google_id,
        summary=fields.pop("summary", f"Meeting {google_id}"),
        status=fields.pop("status", EventStatus.CONFIRMED),
        start_time=start,
        end_time=start + timedelta(minutes=minutes),
        all_day=False,
        time_zone="Europe/Berlin",
        **fields,
    )


def page(
    *upserts: Event,
    calendar_id: str = CAL,
    overrides: tuple[SeriesOverride, ...] = (),
    cancelled: tuple[str, ...] = (),
    full_sync: bool = False,
    generation: int = 1,
    token: str | None = None,
) -> EventsPageWrite:
    return EventsPageWrite(
        calendar_id=calendar_id,
        upserts=list(upserts),
        overrides=list(overrides),
        cancelled_google_ids=list(cancelled),
        full_sync=full_sync,
        generation=generation,
        sync_token=token,
        synced_at=NOW,
    )


def override(series_id: str, original_start: datetime, **fields: Any) -> SeriesOverride:
    fields.setdefault("cancelled", False)
    return SeriesOverride(series_id, OccurrenceOverride(original_start=original_start, **fields))


def bot(
    of: Event,
    *,
    bot_id: str,
    occurrence_start: datetime | None = None,
    join_at: datetime | None = None,
    status: BotStatus = BotStatus.SCHEDULED,
    account_id: str = ACCOUNT,
    **fields: Any,
) -> ScheduledBot:
    start = occurrence_start or of.start_time
    key = occurrence_key_for(occurrence_start)
    # Google gives every event an iCalUID; unless the event says, one of its own.
    ical_uid = of.ical_uid or f"{of.google_event_id}@google.com"
    fields.setdefault("meeting_key", meeting_key_for(ical_uid, key, start, LINK.url))
    return ScheduledBot(
        bot_id=bot_id,
        account_id=account_id,
        event_id=of.event_id,
        calendar_id=of.calendar_id,
        google_event_id=of.google_event_id,
        occurrence_key=key,
        occurrence_start=start,
        occurrence_end=start + timedelta(minutes=30),
        join_at=join_at or start - timedelta(minutes=1),
        meeting_link=LINK.url,
        meeting_platform=LINK.platform,
        bot_config=fields.pop("bot_config", {"bot_name": "Notes"}),
        source=fields.pop("source", BotSource.MANUAL),
        status=status,
        created_at=fields.pop("created_at", NOW - timedelta(hours=1)),
        updated_at=fields.pop("updated_at", NOW - timedelta(hours=1)),
        **fields,
    )


def connection(
    account_id: str = ACCOUNT, status: ConnectionStatus = ConnectionStatus.ACTIVE
) -> Connection:
    return Connection(account_id, "client-id", CAL, status, NOW)


PRIMARY = Calendar(CAL, "Me", True, "Europe/Berlin", "owner")
SHARED = Calendar(TEAM, "Team", False, "America/New_York", "reader")


async def synced(
    events: EventStore, *upserts: Event, calendar_id: str = CAL, account_id: str = ACCOUNT
) -> None:
    """One complete full sync of the calendar with these events."""
    generation = await events.begin_full_sync(account_id, calendar_id)
    await events.apply_events_page(
        account_id,
        page(*upserts, calendar_id=calendar_id, full_sync=True, generation=generation, token="t1"),
    )


def channel(channel_id: str, expiration: datetime = NOW, account_id: str = ACCOUNT) -> Channel:
    return Channel(
        channel_id, account_id, CAL, f"res-{channel_id}", f"hash-{channel_id}", expiration
    )


def series_schedule(of: Event, next_check_at: datetime = NOW) -> SeriesSchedule:
    return SeriesSchedule(
        account_id=ACCOUNT,
        event_id=of.event_id,
        bot_config={"bot_name": "Series"},
        bot_name="Series",
        custom_attributes={"team": "core"},
        source=BotSource.RECURRENCE,
        active=True,
        last_original_start=at(-168),
        next_check_at=next_check_at,
    )


def sync_state(token: str | None, generation: int = 1) -> SyncState:
    return SyncState(CAL, token, NOW, generation)
