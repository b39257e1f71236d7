"""List a calendar's events, synced first or from the store alone (CONTRACT.md section 2)."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime

from app.adapters.ports import EventRow
from app.deps import CurrentAccount, EventServiceDep
from app.errors import (
    CalendarNotFound,
    CredentialsRevoked,
    GoogleRateLimited,
    GoogleUnavailable,
    InvalidCursor,
    NoCalendarConnected,
    StorageUnavailable,
    Unprocessable,
    UpstreamRejected,
)
from app.fresh_listing import kept_answer_slot
from app.routers.cursors import decode_cursor, encode_cursor
from app.routers.event_json import event_list_json
from app.routers.responses import error_responses
from app.schemas import EventList
from app.services.events import EventService
from app.services.paging import DEFAULT_LIMIT, MAX_LIMIT, Page

router = APIRouter(prefix="/api/v1/calendar", tags=["Sync and view your events"])

CalendarIdQuery = Annotated[
    str | None,
    Query(description="A calendar id from GET /calendars; defaults to the primary calendar."),
]


_LIST_ERRORS = (NoCalendarConnected, CalendarNotFound, InvalidCursor, StorageUnavailable)

LimitQuery = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description="Page size; `next_cursor` is set when more follow."),
]
CursorQuery = Annotated[
    str | None, Query(description="`next_cursor` of the previous page, to get the next one.")
]
TimeMinQuery = Annotated[
    AwareDatetime | None,
    Query(description="Only events (or series occurrences) that end after this time."),
]
TimeMaxQuery = Annotated[
    AwareDatetime | None,
    Query(description="Only events (or series occurrences) that start before this time."),
]


def _page_json(page: Page[EventRow]) -> bytes:
    # Joined from each event's JSON, encoded once per event content (app/routers/event_json.py);
    # the route's `response_model` documents the shape, EventRead defines it.
    return event_list_json(page.items, encode_cursor("events", page.next_after))


async def _list(
    event_service: EventService,
    account_id: str,
    calendar_id: str | None,
    *,
    sync_first: bool,
    limit: int,
    cursor: str | None,
    time_min: datetime | None,
    time_max: datetime | None,
    slot: tuple[Hashable, Hashable | None] | None = None,
) -> Response:
    if time_min is not None and time_max is not None and time_min >= time_max:
        raise Unprocessable("time_min must be earlier than time_max.")
    after = decode_cursor("events", cursor)  # a bad cursor is refused before Google is called
    body = await event_service.listing(
        account_id,
        calendar_id,
        sync_first=sync_first,
        limit=limit,
        cursor=cursor,
        after=after,
        time_min=time_min,
        time_max=time_max,
        encode=_page_json,
        also_keep_as=slot,
    )
    return Response(content=body, media_type="application/json")


@router.get(
    "/events",
    summary="Sync with Google, then list events",
    response_model=EventList,
    responses=error_responses(
        *_LIST_ERRORS, CredentialsRevoked, GoogleUnavailable, GoogleRateLimited, UpstreamRejected
    ),
)
async def events(
    account_id: CurrentAccount,
    event_service: EventServiceDep,
    calendar_id: CalendarIdQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    time_min: TimeMinQuery = None,
    time_max: TimeMaxQuery = None,
) -> Response:
    """Run an incremental sync of the calendar with Google (a full sync the first time, or when
    Google answers 410 Gone), then list its events ordered by start time.

    A recurring series is one event; its moved or cancelled occurrences are applied to
    `next_occurrence_start` rather than listed separately. An event whose time zone or
    recurrence rule calbot cannot follow is listed all the same, with `unreadable_reason`
    saying why.
    """
    return await _list(
        event_service,
        account_id,
        calendar_id,
        sync_first=True,
        limit=limit,
        cursor=cursor,
        time_min=time_min,
        time_max=time_max,
    )


@router.get(
    "/get_events",
    summary="List events from calbot's store (no Google call)",
    response_model=EventList,
    responses=error_responses(*_LIST_ERRORS),
)
async def get_events(
    request: Request,
    account_id: CurrentAccount,
    event_service: EventServiceDep,
    calendar_id: CalendarIdQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    time_min: TimeMinQuery = None,
    time_max: TimeMaxQuery = None,
) -> Response:
    """The events as of the last sync, ordered by start time, without calling Google."""
    return await _list(
        event_service,
        account_id,
        calendar_id,
        sync_first=False,
        limit=limit,
        cursor=cursor,
        time_min=time_min,
        time_max=time_max,
        slot=kept_answer_slot(request.scope),
    )
