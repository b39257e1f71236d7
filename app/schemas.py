"""The wire: request and response models of the public API, with examples for /docs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from app.domain import (
    AutoScheduleMode,
    BotSource,
    BotStatus,
    ConnectionStatus,
    Platform,
    ScheduleStatus,
)
from app.rule_schemas import AutoScheduleRulesIn, AutoScheduleRulesRead

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4096)]


# How deep a JSON body may nest, counting from the body (enforced by app/json_bodies.py).
MAX_DEPTH: Final = 32

# What every free-form object must be to be stored and forwarded (app/json_bodies.py).
STRICT_JSON = (
    "Strict JSON: finite numbers, integers within signed 64 bits (else 422), arrays and objects "
    f"nested at most {MAX_DEPTH} levels deep counting from the body."
)


class ErrorBody(BaseModel):
    detail: str = Field(examples=["No calendar connected"])
    error: str | None = Field(default=None, examples=["no_calendar_connected"])


class CreateCalendarRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "google_client_id": "1234-abc.apps.googleusercontent.com",
                    "google_client_secret": "GOCSPX-...",
                    "google_refresh_token": "1//0g...",
                }
            ]
        }
    )

    google_client_id: NonEmpty
    google_client_secret: NonEmpty
    google_refresh_token: NonEmpty


class CalendarRead(BaseModel):
    id: str
    summary: str | None
    primary: bool
    time_zone: str | None = None
    access_role: str | None = None
    connection_status: ConnectionStatus


class CalendarList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "calendars": [
                        {
                            "id": "user@example.com",
                            "summary": "My Calendar",
                            "primary": True,
                            "time_zone": "Europe/Berlin",
                            "access_role": "owner",
                            "connection_status": "active",
                        },
                        {
                            "id": "team-meetings@group.calendar.google.com",
                            "summary": "Team Meetings",
                            "primary": False,
                            "time_zone": "Europe/Berlin",
                            "access_role": "reader",
                            "connection_status": "active",
                        },
                    ],
                    "primary_calendar_id": "user@example.com",
                    "connection_status": "active",
                }
            ]
        }
    )

    calendars: list[CalendarRead]
    primary_calendar_id: str
    connection_status: ConnectionStatus = Field(
        description="`revoked` when Google no longer accepts the stored refresh token: reconnect."
    )


class EventRead(BaseModel):
    event_id: str = Field(description="calbot's id of the event, stable across syncs.")
    google_event_id: str
    calendar_id: str
    summary: str | None
    start_time: datetime = Field(
        description="For an all-day event, midnight of its first date in the calendar's zone."
    )
    end_time: datetime
    all_day: bool
    meeting_link: str | None
    meeting_platform: Platform | None
    is_recurring: bool
    recurring_enabled: bool
    next_occurrence_start: datetime | None = Field(
        description="For a recurring series, the start of the next occurrence that has not ended."
    )
    bot_join_status: bool = Field(description="True while a bot is scheduled for the event.")
    schedule_status: ScheduleStatus
    status: str = Field(description="Google's status: confirmed, tentative or cancelled.")
    unreadable_reason: str | None = Field(
        default=None,
        description=(
            "Why calbot cannot follow this event, or null when it can: a time zone that is "
            "neither an IANA nor a Windows zone name (the times shown keep the offset Google "
            "gave), a recurrence rule it cannot read, a series repeating more often than daily, "
            "or one with no occurrence in the next 10 years. Such an event is listed, but "
            "scheduling what needs its zone or rule answers 422 with this sentence, and no bot "
            "is scheduled for its occurrences automatically."
        ),
        examples=[
            "calbot cannot read the recurrence rule 'FREQ=WEEKLY;BYDAY=XX': BYDAY=XX is not a "
            "weekday (MO to SU), optionally preceded by an ordinal from 1 to 53 or -53 to -1."
        ],
    )
    meeting_key: str | None = Field(
        default=None,
        description=(
            "The meeting's identity across calendars: the same meeting on several calendars "
            "(your primary calendar and a shared team calendar) has the same key, and gets one "
            "bot. `ical:` and Google's iCalUID, which every copy of a meeting shares; a bot for "
            "one occurrence of a series has the series' key followed by `|` and the "
            "occurrence's original start. Without an iCalUID, a one-off's key is `link:`, its "
            "meeting link, `|` and its start, and a series has none (null)."
        ),
        examples=["ical:5s9l2h0c3b1v7n4m8k6j0d2f1a@google.com"],
    )
    auto_schedule_mode: AutoScheduleMode = Field(
        default=AutoScheduleMode.RULES,
        description=(
            "The event's policy for auto-scheduling (PUT /events/{event_id}/auto-schedule): "
            "`always` gets a bot whatever the rules say, `never` never gets an automatic one, "
            "`rules` (the default) lets the rules decide. A series' single occurrences may have "
            "modes of their own. Kept across every sync."
        ),
    )


class EventList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {
                            "event_id": "evt_k3j5x2m4q6w8e0r2t4y6u8i0",
                            "google_event_id": "5s9l2h0c3b1v7n4m8k6j0d2f1a",
                            "calendar_id": "user@example.com",
                            "summary": "Weekly sync",
                            "start_time": "2026-11-30T09:00:00Z",
                            "end_time": "2026-11-30T09:30:00Z",
                            "all_day": False,
                            "meeting_link": "https://meet.google.com/abc-defg-hij",
                            "meeting_platform": "google_meet",
                            "is_recurring": True,
                            "recurring_enabled": True,
                            "next_occurrence_start": "2026-11-30T09:00:00Z",
                            "bot_join_status": False,
                            "schedule_status": "unscheduled",
                            "status": "confirmed",
                            "unreadable_reason": None,
                            "meeting_key": "ical:5s9l2h0c3b1v7n4m8k6j0d2f1a@google.com",
                            "auto_schedule_mode": "rules",
                        }
                    ],
                    "next_cursor": None,
                }
            ]
        }
    )

    events: list[EventRead]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )


class DisconnectResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"disconnected": True, "channels_stopped": 2, "bots_cancelled": 3}]
        }
    )

    disconnected: bool = True
    channels_stopped: int
    bots_cancelled: int


_BOT_EXAMPLE: dict[str, Any] = {
    "bot_id": "bot_5f2a9c0e1d3b4a6c8e7f9a1b",
    "event_id": "evt_k3j5x2m4q6w8e0r2t4y6u8i0",
    "calendar_id": "user@example.com",
    "google_event_id": "5s9l2h0c3b1v7n4m8k6j0d2f1a",
    "occurrence_start": "2026-11-30T09:00:00Z",
    "join_at": "2026-11-30T08:57:00Z",
    "meeting_link": "https://meet.google.com/abc-defg-hij",
    "meeting_platform": "google_meet",
    "bot_name": None,
    "custom_attributes": None,
    "bot_config": {"video_required": False},
    "source": "manual",
    "status": "scheduled",
    "external_bot_id": None,
    "last_error": None,
    "created_at": "2026-11-25T12:00:00Z",
    "updated_at": "2026-11-25T12:00:00Z",
    "meeting_key": "ical:5s9l2h0c3b1v7n4m8k6j0d2f1a@google.com|2026-11-30T09:00:00Z",
}


class ScheduledBotRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_BOT_EXAMPLE]})

    bot_id: str
    event_id: str
    calendar_id: str
    google_event_id: str
    occurrence_start: datetime
    join_at: datetime
    meeting_link: str
    meeting_platform: Platform
    bot_name: str | None
    custom_attributes: dict[str, Any] | None
    bot_config: dict[str, Any]
    source: BotSource
    status: BotStatus
    external_bot_id: str | None
    last_error: str | None = Field(
        description=(
            "Why the bot failed or was cancelled by calbot (the meeting was cancelled or "
            "deleted in Google Calendar, lost its link, its calendar was disconnected), else "
            "null."
        ),
        examples=["The meeting was deleted in Google Calendar."],
    )
    created_at: datetime
    updated_at: datetime
    meeting_key: str | None = Field(
        default=None,
        description=(
            "The meeting occurrence this bot joins, whichever calendar shows it: at most one "
            "pending bot has a given key, so scheduling the same meeting from another calendar "
            "answers 200 with this bot. `ical:{iCalUID}` for a one-off meeting, "
            "`ical:{iCalUID}|{original start}` for one occurrence of a series (its original "
            "start stays when the occurrence moves); without an iCalUID, `link:{meeting "
            "link}|{start}`. Null only for a bot scheduled before calbot kept meeting keys."
        ),
        examples=["ical:5s9l2h0c3b1v7n4m8k6j0d2f1a@google.com|2026-11-30T09:00:00Z"],
    )


_BOT_CONFIG_EXAMPLE: dict[str, Any] = {
    "video_required": False,
    "callback_url": "https://your-domain.com/webhooks/meetstream",
}


class ScheduleRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"bot_config": _BOT_CONFIG_EXAMPLE},
                {"bot_config": _BOT_CONFIG_EXAMPLE, "occurrence_date": "2026-12-07"},
            ]
        },
    )

    bot_config: dict[str, Any] = Field(
        description="Passed through to the Create Bot API as it is (16 KiB of JSON at most). "
        + STRICT_JSON
    )
    occurrence_date: date | None = Field(
        default=None,
        description="For a recurring series: schedule only the occurrence on this date "
        "(in the event's time zone). Without it, the next occurrence and every later one.",
    )


class ScheduledBotList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"scheduled_bots": [_BOT_EXAMPLE]}]})

    scheduled_bots: list[ScheduledBotRead]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )


class ScheduledBotUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"join_at": "2026-12-07T08:58:00Z"},
                {"bot_name": "Notetaker", "custom_attributes": {"team": "sales"}},
            ]
        },
    )

    join_at: AwareDatetime | None = Field(
        default=None, description="In the future and before the occurrence ends."
    )
    bot_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    custom_attributes: dict[str, Any] | None = Field(
        default=None,
        description="Sent with the bot to the Create Bot API (16 KiB of JSON at most). "
        + STRICT_JSON,
    )
    bot_config: dict[str, Any] | None = Field(
        default=None,
        description="Replaces the bot's config (16 KiB of JSON at most). " + STRICT_JSON,
    )


class UnscheduleResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_id": "evt_k3j5x2m4q6w8e0r2t4y6u8i0",
                    "schedule_status": "unscheduled",
                    "cancelled_bots": 1,
                }
            ]
        }
    )

    event_id: str
    schedule_status: ScheduleStatus
    cancelled_bots: int


class AutoRescheduleRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"event_id": "evt_k3j5x2m4q6w8e0r2t4y6u8i0"}]},
    )

    event_id: NonEmpty


class ToggleRecurrenceRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"event_id": "evt_k3j5x2m4q6w8", "recurring_enabled": False}]
        },
    )

    event_id: NonEmpty
    recurring_enabled: StrictBool


class ToggleRecurrenceResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"event_id": "evt_k3j5x2m4q6w8e0r2t4y6u8i0", "recurring_enabled": False}]
        }
    )

    event_id: str
    recurring_enabled: bool


class AutoScheduleEnable(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"default_bot_config": _BOT_CONFIG_EXAMPLE},
                {
                    "default_bot_config": _BOT_CONFIG_EXAMPLE,
                    "rules": {
                        "attendees": "external",
                        "weekdays": [1, 2, 3, 4, 5],
                        "never_record_domains": ["legal.example"],
                    },
                },
            ]
        },
    )

    default_bot_config: dict[str, Any] = Field(
        description="The bot_config every auto-scheduled bot is created with (16 KiB at most). "
        + STRICT_JSON
    )
    rules: AutoScheduleRulesIn | None = Field(
        default=None,
        description="Which meetings get a bot. Absent: the saved rules are kept; `{}`: every "
        "rule back to its default.",
    )


class AutoScheduleSettingsRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "enabled": True,
                    "default_bot_config": _BOT_CONFIG_EXAMPLE,
                    "lookahead_seconds": 86400,
                    "last_run_at": "2026-11-25T12:00:00Z",
                    "rules": AutoScheduleRulesRead.model_json_schema()["examples"][0],
                    "paused_until": None,
                }
            ]
        }
    )

    enabled: bool
    default_bot_config: dict[str, Any]
    lookahead_seconds: int
    last_run_at: datetime | None
    rules: AutoScheduleRulesRead = Field(description="The rules in force, defaults filled in.")
    paused_until: datetime | None = Field(
        description="No bot of the account launches, and auto-scheduling creates nothing, "
        "until this instant (POST /pause); null: not paused."
    )


class CalendarSyncStatusRead(BaseModel):
    calendar_id: str
    mode: str = Field(
        description="`push` while a Google push channel is open on the calendar, else `polling`.",
        examples=["push"],
    )
    last_sync_at: datetime | None = Field(
        description="The last sync attempt, whatever its outcome."
    )
    last_success_at: datetime | None = Field(description="The last sync that completed.")
    last_error: str | None = Field(description="Why the last sync failed; null once one succeeds.")
    consecutive_failures: int = Field(description="Failed syncs in a row since the last success.")
    channel_expires_at: datetime | None = Field(
        description="When the push channel expires (calbot renews it before); null when polling."
    )
    last_notification_at: datetime | None = Field(
        description="The last push notification Google sent for the calendar."
    )
    stale: bool = Field(
        description="The last success (or, never having succeeded, the connection or the first "
        "failure) is older than twice SYNC_POLL_INTERVAL_SECONDS."
    )


class SyncStatusList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "calendars": [
                        {
                            "calendar_id": "user@example.com",
                            "mode": "push",
                            "last_sync_at": "2026-11-24T15:00:00Z",
                            "last_success_at": "2026-11-24T15:00:00Z",
                            "last_error": None,
                            "consecutive_failures": 0,
                            "channel_expires_at": "2026-12-01T15:00:00Z",
                            "last_notification_at": "2026-11-24T14:59:58Z",
                            "stale": False,
                        },
                        {
                            "calendar_id": "team@group.calendar.google.com",
                            "mode": "polling",
                            "last_sync_at": "2026-11-24T14:45:00Z",
                            "last_success_at": "2026-11-24T13:30:00Z",
                            "last_error": "Google Calendar is unavailable; try again shortly.",
                            "consecutive_failures": 5,
                            "channel_expires_at": None,
                            "last_notification_at": None,
                            "stale": True,
                        },
                    ]
                }
            ]
        }
    )

    calendars: list[CalendarSyncStatusRead]


# -- webhooks (CONTRACT section 8) --------------------------------------------------------------

WEBHOOK_EVENT_TYPES_TEXT = (
    "The message types to send: any of bot.scheduled, bot.updated, bot.cancelled, "
    "bot.launched, bot.failed, bot.missed, calendar.sync_failed, "
    "calendar.credentials_revoked, calendar.disconnected; null for all of them."
)
_ENDPOINT_EXAMPLE: dict[str, Any] = {
    "endpoint_id": "whe_5b0c6f1e2d3a4b5c6d7e8f90",
    "url": "https://example.com/calbot-webhooks",
    "event_types": ["bot.scheduled", "bot.updated", "bot.cancelled"],
    "description": "Our scheduling dashboard",
    "created_at": "2026-11-25T12:00:00Z",
}
_DELIVERY_EXAMPLE: dict[str, Any] = {
    "delivery_id": "dlv_2f6c0b7d9e8a4c1b3d5e7f9a0b1c2d3e",
    "endpoint_id": "whe_5b0c6f1e2d3a4b5c6d7e8f90",
    "message_id": "msg_8d1e2f3a4b5c6d7e8f9a0b1c2d3e4f50",
    "type": "bot.updated",
    "status": "pending",
    "attempts": 2,
    "last_status_code": 503,
    "last_error": "The endpoint answered 503.",
    "next_attempt_at": "2026-11-25T12:00:20Z",
    "created_at": "2026-11-25T12:00:00Z",
}


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://example.com/calbot-webhooks",
                    "event_types": ["bot.scheduled", "bot.updated", "bot.cancelled"],
                    "description": "Our scheduling dashboard",
                }
            ]
        },
    )

    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)] = (
        Field(
            description="Where calbot POSTs messages: an https URL whose host is public (not "
            "loopback, private, link-local or a cloud metadata address)."
        )
    )
    event_types: list[Annotated[str, StringConstraints(max_length=100)]] | None = Field(
        default=None, max_length=20, description=WEBHOOK_EVENT_TYPES_TEXT
    )
    description: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="Your own note about this endpoint."
    )


class WebhookEndpointRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ENDPOINT_EXAMPLE]})

    endpoint_id: str
    url: str
    event_types: list[str] | None = Field(description=WEBHOOK_EVENT_TYPES_TEXT)
    description: str | None
    created_at: datetime


class WebhookEndpointCreated(WebhookEndpointRead):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_ENDPOINT_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]
        }
    )

    secret: str = Field(
        description="The signing secret (`whsec_` + base64 of 32 random bytes), shown only "
        "in this answer: keep it to verify the `webhook-signature` of every delivery."
    )


class WebhookEndpointList(BaseModel):
    webhook_endpoints: list[WebhookEndpointRead]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class WebhookEndpointDeleted(BaseModel):
    deleted: bool = True
    endpoint_id: str


class WebhookDeliveryRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_DELIVERY_EXAMPLE]})

    delivery_id: str
    endpoint_id: str
    message_id: str = Field(
        description="The message's `id`, sent as `webhook-id` on every attempt."
    )
    type: str
    status: str = Field(description="pending, delivered or failed.")
    attempts: int
    last_status_code: int | None = Field(description="The HTTP status of the last attempt.")
    last_error: str | None = Field(description="Why the last attempt failed, else null.")
    next_attempt_at: datetime | None = Field(
        description="When the next attempt is due (null once delivered or failed). While an "
        "attempt is in flight it is the time that attempt started being due."
    )
    created_at: datetime


class WebhookDeliveryList(BaseModel):
    deliveries: list[WebhookDeliveryRead]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class WebhookDeliveryQueued(WebhookDeliveryRead):
    """A delivery queued to be sent at once (the answer of the test and retry routes)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_DELIVERY_EXAMPLE, "queued": True}]}
    )

    queued: bool = True


class AutoScheduleModeUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"mode": "never"},
                {"mode": "always", "occurrence_date": "2026-12-07"},
                {"mode": "rules"},
            ]
        },
    )

    mode: AutoScheduleMode = Field(
        description="`always`: auto-scheduling gives it a bot whatever the rules say (it still "
        "needs a meeting link and an occurrence within the lookahead, and the do-not-record "
        "guard still wins); `never`: auto-scheduling never does, and its pending auto_schedule "
        "bots are cancelled now (bots scheduled by hand stay); `rules`: the rules decide."
    )
    occurrence_date: date | None = Field(
        default=None,
        description="For a recurring series: that occurrence only (its date in the event's "
        "time zone; 422 if the series has none that day). Without it the mode covers every "
        "occurrence, and replaces the modes single occurrences had. For a one-off event it "
        "must be the event's own date.",
    )


class AutoScheduleModeRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_id": "evt_k3j5x2m4q6w8e0r2t4y6u8i0",
                    "mode": "always",
                    "occurrence_date": "2026-12-07",
                }
            ]
        }
    )

    event_id: str
    mode: AutoScheduleMode
    occurrence_date: date | None


class PauseRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"until": "2026-11-30T08:00:00Z"}]}
    )

    until: AwareDatetime = Field(
        description="When bots may launch again: in the future, at most 366 days ahead, with "
        "an explicit offset."
    )


class PauseRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"paused_until": "2026-11-30T08:00:00Z"}, {"paused_until": None}]
        }
    )

    paused_until: datetime | None = Field(
        description="The end of the pause, or null when the account is not paused."
    )
