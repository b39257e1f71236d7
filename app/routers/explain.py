"""Why a meeting gets a bot, or does not (CONTRACT.md section 7, explain)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from app.decision_schemas import ExplainRead, ReasonRead
from app.deps import ConnectedAccount, ExplainServiceDep
from app.errors import (
    EventNotFound,
    NoCalendarConnected,
    NoOccurrenceOnDate,
    StorageUnavailable,
    UnreadableEvent,
)
from app.routers.responses import error_responses
from app.routers.scheduling import bot_read

router = APIRouter(prefix="/api/v1/calendar", tags=["Auto-scheduling"])


@router.get(
    "/events/{event_id}/explain",
    summary="Explain why a meeting gets a bot, or not",
    response_model=ExplainRead,
    responses=error_responses(
        NoCalendarConnected, EventNotFound, NoOccurrenceOnDate, UnreadableEvent, StorageUnavailable
    ),
)
async def explain(
    event_id: str,
    account_id: ConnectedAccount,
    service: ExplainServiceDep,
    occurrence_date: Annotated[
        date | None,
        Query(
            description="The occurrence's date in the event's zone (default: the next one "
            "that has not ended)."
        ),
    ] = None,
) -> ExplainRead:
    """For one occurrence (`occurrence_start` is null when a series has no occurrence ahead):
    its bot (if any), whether it has or will get one (`will_get_bot`:
    a pending bot, or auto-scheduling gives it one now or when it enters the lookahead and no
    pause covers its join time), and **every** reason that applies, each a code and a
    sentence. Codes: `has_bot`, `no_meeting_link`, `unsafe_meeting_link`, `cancelled`,
    `ended`, `declined`, `outside_lookahead`, `auto_schedule_disabled`, `paused`,
    `excluded_by_rule` (the detail names the rule), `never_record_domain`, `mode_never`,
    `mode_always`, `cancelled_by_user`, `recurrence_disabled`, `will_schedule`. When Google
    omitted attendees, the detail says the attendee rules were checked on those it listed only.
    `422` when a series has no occurrence on `occurrence_date` (or a one-off is on another day).
    """
    found = await service.explain(account_id, event_id, occurrence_date)
    return ExplainRead(
        event_id=found.event_id,
        occurrence_start=found.occurrence_start,
        bot=None if found.bot is None else bot_read(found.bot),
        will_get_bot=found.will_get_bot,
        reasons=[ReasonRead(code=r.code.value, detail=r.detail) for r in found.reasons],
    )
