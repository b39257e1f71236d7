"""Connect, list and disconnect a Google account (CONTRACT.md section 2)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.deps import ConnectionServiceDep, CurrentAccount
from app.domain import GoogleCredentials
from app.errors import (
    GoogleRateLimited,
    GoogleUnavailable,
    InvalidGoogleCredentials,
    NoCalendarConnected,
    StorageUnavailable,
    UpstreamRejected,
)
from app.routers.responses import error_responses
from app.schemas import CalendarList, CalendarRead, CreateCalendarRequest, DisconnectResult
from app.services.connection import ConnectedCalendars

router = APIRouter(prefix="/api/v1/calendar", tags=["Connect your Google Calendar"])


def _calendar_list(connected: ConnectedCalendars) -> CalendarList:
    return CalendarList(
        calendars=[
            CalendarRead(
                id=calendar.calendar_id,
                summary=calendar.summary,
                primary=calendar.primary,
                time_zone=calendar.time_zone,
                access_role=calendar.access_role,
                connection_status=connected.connection_status,
            )
            for calendar in connected.calendars
        ],
        primary_calendar_id=connected.primary_calendar_id,
        connection_status=connected.connection_status,
    )


@router.post(
    "/create_calendar",
    summary="Connect a Google Calendar",
    status_code=status.HTTP_201_CREATED,
    response_model=CalendarList,
    responses={
        200: {"model": CalendarList, "description": "Replaced the account's existing connection."},
        **error_responses(
            InvalidGoogleCredentials,
            GoogleUnavailable,
            UpstreamRejected,
            GoogleRateLimited,
            StorageUnavailable,
        ),
    },
)
async def create_calendar(
    body: CreateCalendarRequest,
    account_id: CurrentAccount,
    connections: ConnectionServiceDep,
    response: Response,
) -> CalendarList:
    """Check the credentials by refreshing an access token at Google, list every calendar of
    the account (primary, secondary, shared), and store the credentials encrypted.

    Answers 201 for a new connection and 200 when it replaces the account's existing one.
    Nothing is stored when Google rejects the credentials (400, with Google's reason) or cannot
    be reached (502). The client secret and tokens are never returned.
    """
    connected = await connections.connect(
        account_id,
        GoogleCredentials(
            client_id=body.google_client_id,
            client_secret=body.google_client_secret,
            refresh_token=body.google_refresh_token,
        ),
    )
    if connected.replaced:
        response.status_code = status.HTTP_200_OK
    return _calendar_list(connected)


@router.get(
    "/calendars",
    summary="List connected calendars",
    response_model=CalendarList,
    responses=error_responses(NoCalendarConnected, StorageUnavailable),
)
async def calendars(account_id: CurrentAccount, connections: ConnectionServiceDep) -> CalendarList:
    """The calendars of the connected Google account and which one is primary.

    `connection_status` is `revoked` once Google has refused the stored refresh token: connect
    again with `create_calendar` to resume syncing.
    """
    return _calendar_list(await connections.calendars(account_id))


@router.delete(
    "/disconnect",
    summary="Disconnect the Google Calendar",
    response_model=DisconnectResult,
    responses=error_responses(NoCalendarConnected, StorageUnavailable),
)
async def disconnect(
    account_id: CurrentAccount, connections: ConnectionServiceDep
) -> DisconnectResult:
    """Cancel every pending bot, delete synced events and sync state, and delete the stored
    credentials. Auto-schedule settings are kept. The account is then as if it had never
    connected.
    """
    result = await connections.disconnect(account_id)
    return DisconnectResult(
        channels_stopped=result.channels_stopped, bots_cancelled=result.bots_cancelled
    )
