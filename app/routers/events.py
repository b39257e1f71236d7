"""List a calendar's events, synced first or from the store alone (CONTRACT.md section 2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response

from app.adapters.ports import EventRow
from app.deps import ContainerDep, CurrentAccount
from app.errors import (
    CalendarNotFound,
    CredentialsRevoked,
    GoogleRateLimited,
    GoogleUnavailable,
    NoCalendarConnected,
    StorageUnavailable,
    UpstreamRejected,
)
from app.routers.responses import error_responses
from app.schemas import EventList
from app.services.event_mapping import zone

router = APIRouter(prefix="/api/v1/calendar", tags=["Sync and view your events"])

CalendarIdQuery = Annotated[
    str | None,
    Query(description="A calendar id from GET /calendars; defaults to the primary calendar."),
]


def _utc(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_json(row: EventRow) -> dict[str, Any]:
    event = row.event
    link = event.meeting_link
    if event.all_day:
        local = zone(event.time_zone)
        start: str | None = event.start_time.astimezone(local).isoformat()
        end: str | None = event.end_time.astimezone(local).isoformat()
    else:
        start = _utc(event.start_time)
        end = _utc(event.end_time)
    return {
        "event_id": event.event_id,
        "google_event_id": event.google_event_id,
        "calendar_id": event.calendar_id,
        "summary": event.summary,
        "start_time": start,
        "end_time": end,
        "all_day": event.all_day,
        "meeting_link": link.url if link else None,
        "meeting_platform": link.platform.value if link else None,
        "is_recurring": event.is_recurring,
        "recurring_enabled": event.recurring_enabled,
        "next_occurrence_start": _utc(event.next_occurrence_start),
        "bot_join_status": row.bot_join_status,
        "schedule_status": event.schedule_status.value,
        "status": event.status.value,
    }


def _events_response(rows: list[EventRow]) -> Response:
    # Encoded straight to JSON bytes: listing is the hottest read path, and going through
    # pydantic validation and jsonable_encoder would cost more than reading the store.
    body = orjson.dumps({"events": [_event_json(row) for row in rows]})
    return Response(content=body, media_type="application/json")


_LIST_ERRORS = (NoCalendarConnected, CalendarNotFound, StorageUnavailable)


@router.get(
    "/events",
    summary="Sync with Google, then list events",
    response_model=EventList,
    responses=error_responses(
        *_LIST_ERRORS, CredentialsRevoked, GoogleUnavailable, GoogleRateLimited, UpstreamRejected
    ),
)
async def events(
    account_id: CurrentAccount, container: ContainerDep, calendar_id: CalendarIdQuery = None
) -> Response:
    """Run an incremental sync of the calendar with Google (a full sync the first time, or when
    Google answers 410 Gone), then list its events ordered by start time.

    A recurring series is one event; its moved or cancelled occurrences are applied to
    `next_occurrence_start` rather than listed separately.
    """
    _, rows = await container.events.list_events(account_id, calendar_id, sync_first=True)
    return _events_response(rows)


@router.get(
    "/get_events",
    summary="List events from calbot's store (no Google call)",
    response_model=EventList,
    responses=error_responses(*_LIST_ERRORS),
)
async def get_events(
    account_id: CurrentAccount, container: ContainerDep, calendar_id: CalendarIdQuery = None
) -> Response:
    """The events as of the last sync, ordered by start time, without calling Google."""
    _, rows = await container.events.list_events(account_id, calendar_id, sync_first=False)
    return _events_response(rows)
