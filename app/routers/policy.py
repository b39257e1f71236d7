"""Per-event policy and pause (CONTRACT.md section 7)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.deps import ConnectedAccount, PolicyServiceDep
from app.errors import (
    EventNotFound,
    InvalidPause,
    NoCalendarConnected,
    NoOccurrenceOnDate,
    StorageUnavailable,
    UnreadableEvent,
)
from app.routers.responses import error_responses
from app.schemas import AutoScheduleModeRead, AutoScheduleModeUpdate, PauseRead, PauseRequest

router = APIRouter(prefix="/api/v1/calendar", tags=["Choosing which meetings get a bot"])

EventIdPath = Annotated[str, Path(description="calbot's event_id, from GET /events.")]


@router.put(
    "/events/{event_id}/auto-schedule",
    summary="Set an event's auto-schedule mode",
    response_model=AutoScheduleModeRead,
    responses=error_responses(
        NoCalendarConnected,
        EventNotFound,
        NoOccurrenceOnDate,
        UnreadableEvent,
        StorageUnavailable,
    ),
)
async def set_auto_schedule_mode(
    event_id: EventIdPath,
    body: AutoScheduleModeUpdate,
    account_id: ConnectedAccount,
    policy: PolicyServiceDep,
) -> AutoScheduleModeRead:
    """Override the rules for one meeting: `always` gives it a bot whatever the rules say
    (it still needs a meeting link and an occurrence within the lookahead, and the
    do-not-record guard still wins); `never` keeps auto-scheduling away from it and cancels
    its pending `auto_schedule` bots now (webhook `bot.cancelled`, `reason: mode_never`; bots
    you scheduled by hand stay); `rules` (the
    default) lets the rules decide.

    For a recurring series, without `occurrence_date` the mode covers every occurrence (and
    replaces the modes single occurrences had); with it, only the occurrence on that date
    (422 if there is none). The mode is kept across every sync, and shown as
    `auto_schedule_mode` on the event."""
    result = await policy.set_mode(account_id, event_id, body.mode, body.occurrence_date)
    return AutoScheduleModeRead(
        event_id=result.event_id, mode=result.mode, occurrence_date=result.occurrence_date
    )


@router.post(
    "/pause",
    summary="Pause every bot until a time",
    response_model=PauseRead,
    responses=error_responses(NoCalendarConnected, InvalidPause, StorageUnavailable),
)
async def pause(
    body: PauseRequest, account_id: ConnectedAccount, policy: PolicyServiceDep
) -> PauseRead:
    """Until `until` (in the future, at most 366 days ahead) no bot of the account is
    launched and auto-scheduling creates nothing. Pending bots due to join before `until`
    are cancelled at once, with `last_error` saying they were paused; a bot scheduled during
    the pause that comes due before `until` ends cancelled the same way. Each one's
    `bot.cancelled` webhook says `reason: paused`.

    When the pause ends (`until` passes, or `DELETE /pause`) auto-scheduling sweeps again at
    once. Pausing again replaces `until`."""
    settings = await policy.pause(account_id, body.until)
    return PauseRead(paused_until=settings.paused_until)


@router.delete(
    "/pause",
    summary="Resume now",
    response_model=PauseRead,
    responses=error_responses(NoCalendarConnected, StorageUnavailable),
)
async def resume(account_id: ConnectedAccount, policy: PolicyServiceDep) -> PauseRead:
    """End the pause now: bots launch again, and auto-scheduling sweeps at once. Bots the
    pause cancelled stay cancelled; schedule one again with `POST /schedule/{event_id}` if
    you want it. Safe to repeat."""
    settings = await policy.resume(account_id)
    return PauseRead(paused_until=settings.paused_until)
