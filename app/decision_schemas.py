"""The wire form of the preview and explain answers (CONTRACT section 7)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from app.rule_schemas import AutoScheduleRulesIn
from app.schemas import ScheduledBotRead

MAX_PREVIEW_HOURS: Final = 744

ReasonCodeText = Literal[
    "has_bot",
    "no_meeting_link",
    "unsafe_meeting_link",
    "cancelled",
    "ended",
    "declined",
    "outside_lookahead",
    "auto_schedule_disabled",
    "paused",
    "excluded_by_rule",
    "never_record_domain",
    "mode_never",
    "mode_always",
    "cancelled_by_user",
    "recurrence_disabled",
    "will_schedule",
]


class AutoSchedulePreviewRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"hours": 168},
                {
                    "rules": {"attendees": "external", "never_record_domains": ["legal.example"]},
                    "hours": 48,
                },
            ]
        },
    )

    rules: AutoScheduleRulesIn | None = Field(
        default=None, description="Candidate rules to try (absent: the saved rules)."
    )
    hours: Annotated[StrictInt, Field(ge=1, le=MAX_PREVIEW_HOURS)] = Field(
        default=168, description="How far ahead to look, in hours (1 to 744)."
    )


class PreviewRow(BaseModel):
    event_id: str
    calendar_id: str
    summary: str | None
    occurrence_start: datetime
    meeting_link: str | None
    decision: Literal["schedule", "has_bot", "skip"]
    reason: ReasonCodeText
    detail: str


class AutoSchedulePreview(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "occurrences": [
                        {
                            "event_id": "evt_k3j5x2m4q6w8e0r2t4y6u8i0",
                            "calendar_id": "user@example.com",
                            "summary": "Customer call",
                            "occurrence_start": "2026-11-30T09:00:00Z",
                            "meeting_link": "https://meet.google.com/abc-defg-hij",
                            "decision": "schedule",
                            "reason": "will_schedule",
                            "detail": "Will get a bot now, joining at 2026-11-30 08:57 UTC.",
                        },
                        {
                            "event_id": "evt_a1b2c3d4e5f6a7b8c9d0e1f2",
                            "calendar_id": "user@example.com",
                            "summary": "Contract review",
                            "occurrence_start": "2026-11-30T14:00:00Z",
                            "meeting_link": "https://zoom.us/j/123456789",
                            "decision": "skip",
                            "reason": "never_record_domain",
                            "detail": "Never recorded: someone from legal.example is invited "
                            "(the do-not-record guard).",
                        },
                    ]
                }
            ]
        }
    )

    occurrences: list[PreviewRow]


class ReasonRead(BaseModel):
    code: ReasonCodeText
    detail: str


class ExplainRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_id": "evt_k3j5x2m4q6w8e0r2t4y6u8i0",
                    "occurrence_start": "2026-12-02T09:00:00Z",
                    "bot": None,
                    "will_get_bot": False,
                    "reasons": [
                        {
                            "code": "declined",
                            "detail": "Skipped: you declined this meeting on 2 Dec.",
                        },
                        {
                            "code": "excluded_by_rule",
                            "detail": "Skipped by the rule weekdays: it is on a Saturday in "
                            "Europe/Berlin.",
                        },
                    ],
                }
            ]
        }
    )

    event_id: str
    occurrence_start: datetime | None
    bot: ScheduledBotRead | None
    will_get_bot: bool
    reasons: list[ReasonRead]
