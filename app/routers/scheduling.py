"""Schedule, inspect, change and cancel bots (CONTRACT.md sections 2 and 3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.bot_payload import bot_payload
from app.deps import ConnectedAccount, SchedulingServiceDep
from app.domain import BotStatus, ScheduledBot, ScheduleStatus
from app.errors import (
    BotNotFound,
    BotNotPending,
    EventCancelled,
    EventNotFound,
    InvalidBotUpdate,
    InvalidCursor,
    NeverRecordGuard,
    NoCalendarConnected,
    NoFurtherOccurrence,
    NoMeetingLink,
    NoOccurrenceOnDate,
    NotRecurring,
    OccurrenceEnded,
    StorageUnavailable,
    Unprocessable,
)
from app.routers.cursors import decode_cursor, encode_cursor
from app.routers.responses import error_responses
from app.schemas import (
    AutoRescheduleRequest,
    ScheduledBotList,
    ScheduledBotRead,
    ScheduledBotUpdate,
    ScheduleRequest,
    ToggleRecurrenceRequest,
    ToggleRecurrenceResult,
    UnscheduleResult,
)
from app.services.paging import DEFAULT_LIMIT, MAX_LIMIT
from app.services.scheduling import BotChanges

router = APIRouter(prefix="/api/v1/calendar")

SCHEDULE_TAG = "Schedule a bot for a meeting"
MANAGE_TAG = "Manage scheduled bots"
RECURRING_TAG = "Recurring meetings"

EventIdPath = Annotated[str, Path(description="calbot's event_id, from GET /events.")]
BotIdPath = Annotated[str, Path(description="A bot_id from GET /scheduled_bots.")]


def bot_read(bot: ScheduledBot) -> ScheduledBotRead:
    """The bot as the API shows it: `bot_payload`, the same object webhook messages carry."""
    return ScheduledBotRead.model_validate(bot_payload(bot))


@router.post(
    "/schedule/{event_id}",
    tags=[SCHEDULE_TAG],
    summary="Schedule a bot for a meeting",
    status_code=status.HTTP_201_CREATED,
    response_model=ScheduledBotRead,
    responses={
        200: {"model": ScheduledBotRead, "description": "Deduplicated into the pending bot."},
        **error_responses(
            NoCalendarConnected,
            EventNotFound,
            NoMeetingLink,
            NoOccurrenceOnDate,
            Unprocessable,
            EventCancelled,
            OccurrenceEnded,
            NeverRecordGuard,
            StorageUnavailable,
        ),
    },
)
async def schedule(
    event_id: EventIdPath,
    body: ScheduleRequest,
    account_id: ConnectedAccount,
    scheduling: SchedulingServiceDep,
    response: Response,
) -> ScheduledBotRead:
    """Schedule a bot that joins `BOT_JOIN_LEAD_SECONDS` (180 s) before the meeting starts.

    For a recurring series without `occurrence_date`, the next occurrence that has not ended
    gets a bot now, and each following one as soon as the previous occurrence ends, while the
    series' `recurring_enabled` is on. With `occurrence_date`, only that occurrence.

    There is at most one pending bot per meeting occurrence: scheduling again updates that
    bot's config and answers 200 with the same `bot_id`. That holds across calendars too: the
    same meeting on another calendar (the same `meeting_key`, as a shared team calendar shows
    your meetings) answers 200 with the bot it already has. A meeting already under way is
    joined at once.

    A meeting with someone from one of the rules' `never_record_domains` (the do-not-record
    guard) answers 409, naming the guard and the domain.
    """
    bot, created = await scheduling.schedule(
        account_id, event_id, body.bot_config, occurrence_date=body.occurrence_date
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return bot_read(bot)


@router.delete(
    "/schedule/{event_id}",
    tags=[SCHEDULE_TAG],
    summary="Unschedule a meeting",
    response_model=UnscheduleResult,
    responses=error_responses(NoCalendarConnected, EventNotFound, StorageUnavailable),
)
async def unschedule(
    event_id: EventIdPath, account_id: ConnectedAccount, scheduling: SchedulingServiceDep
) -> UnscheduleResult:
    """Cancel every pending bot of the event and stop scheduling its later occurrences.
    Safe to repeat: `cancelled_bots` is then 0."""
    cancelled = await scheduling.unschedule(account_id, event_id)
    return UnscheduleResult(
        event_id=event_id, schedule_status=ScheduleStatus.UNSCHEDULED, cancelled_bots=cancelled
    )


@router.get(
    "/scheduled_bots",
    tags=[MANAGE_TAG],
    summary="List scheduled bots",
    response_model=ScheduledBotList,
    responses=error_responses(NoCalendarConnected, InvalidCursor, StorageUnavailable),
)
async def scheduled_bots(
    account_id: ConnectedAccount,
    scheduling: SchedulingServiceDep,
    bot_status: Annotated[
        BotStatus | None, Query(alias="status", description="Only bots in this status.")
    ] = None,
    event_id: Annotated[str | None, Query(description="Only bots of this event.")] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Page size; `next_cursor` when more follow.")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> ScheduledBotList:
    """Every bot of the account, ordered by `join_at`, with its launch outcome
    (`status`, `external_bot_id`, `last_error`)."""
    result = await scheduling.list_bots(
        account_id,
        status=bot_status,
        event_id=event_id,
        after=decode_cursor("scheduled_bots", cursor),
        limit=limit,
    )
    return ScheduledBotList(
        scheduled_bots=[bot_read(bot) for bot in result.items],
        next_cursor=encode_cursor("scheduled_bots", result.next_after),
    )


@router.patch(
    "/scheduled_bots/{bot_id}",
    tags=[MANAGE_TAG],
    summary="Change a scheduled bot",
    response_model=ScheduledBotRead,
    responses=error_responses(
        NoCalendarConnected,
        BotNotFound,
        InvalidBotUpdate,
        BotNotPending,
        NeverRecordGuard,
        StorageUnavailable,
    ),
)
async def update_scheduled_bot(
    bot_id: BotIdPath,
    body: ScheduledBotUpdate,
    account_id: ConnectedAccount,
    scheduling: SchedulingServiceDep,
) -> ScheduledBotRead:
    """Change any of `join_at` (in the future, before the occurrence ends), `bot_name`,
    `custom_attributes` and `bot_config`. Only a bot still `scheduled` can change (else 409)."""
    if not body.model_fields_set:
        raise InvalidBotUpdate(
            "Send at least one of join_at, bot_name, custom_attributes or bot_config."
        )
    changes = BotChanges(
        fields=frozenset(body.model_fields_set),
        join_at=body.join_at,
        bot_name=body.bot_name,
        custom_attributes=body.custom_attributes,
        bot_config=body.bot_config,
    )
    return bot_read(await scheduling.update_bot(account_id, bot_id, changes))


@router.delete(
    "/scheduled_bots/{bot_id}",
    tags=[MANAGE_TAG],
    summary="Cancel a scheduled bot",
    response_model=ScheduledBotRead,
    responses=error_responses(NoCalendarConnected, BotNotFound, BotNotPending, StorageUnavailable),
)
async def cancel_scheduled_bot(
    bot_id: BotIdPath, account_id: ConnectedAccount, scheduling: SchedulingServiceDep
) -> ScheduledBotRead:
    """Cancel one bot (status `cancelled`). Cancelling a cancelled bot answers it unchanged;
    a bot already launched or ended answers 409. A series keeps scheduling its later
    occurrences: use DELETE /schedule/{event_id} to stop it."""
    return bot_read(await scheduling.cancel_bot(account_id, bot_id))


@router.post(
    "/auto-reschedule",
    tags=[RECURRING_TAG],
    summary="Schedule the next occurrence of a series",
    response_model=ScheduledBotRead,
    responses=error_responses(
        NoCalendarConnected,
        EventNotFound,
        NotRecurring,
        NoMeetingLink,
        NoFurtherOccurrence,
        NeverRecordGuard,
        StorageUnavailable,
    ),
)
async def auto_reschedule(
    body: AutoRescheduleRequest, account_id: ConnectedAccount, scheduling: SchedulingServiceDep
) -> ScheduledBotRead:
    """Schedule a bot for the occurrence after the series' latest pending or launched one,
    with that bot's config."""
    return bot_read(await scheduling.auto_reschedule(account_id, body.event_id))


@router.post(
    "/toggle-recurrence",
    tags=[RECURRING_TAG],
    summary="Turn auto-rescheduling of a series on or off",
    response_model=ToggleRecurrenceResult,
    responses=error_responses(NoCalendarConnected, EventNotFound, NotRecurring, StorageUnavailable),
)
async def toggle_recurrence(
    body: ToggleRecurrenceRequest, account_id: ConnectedAccount, scheduling: SchedulingServiceDep
) -> ToggleRecurrenceResult:
    """With `recurring_enabled: false`, no further occurrence of the series gets a bot after the
    current one; turning it back on resumes with the next occurrence that has not ended."""
    enabled = await scheduling.toggle_recurrence(account_id, body.event_id, body.recurring_enabled)
    return ToggleRecurrenceResult(event_id=body.event_id, recurring_enabled=enabled)
