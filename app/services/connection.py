"""Connecting and disconnecting a Google account."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.adapters.ports import (
    BotScheduler,
    BotStore,
    Clock,
    ConnectionStore,
    GoogleCalendar,
    SecretBox,
)
from app.domain import (
    CALENDAR_DROPPED,
    BotStatus,
    Calendar,
    Connection,
    ConnectionStatus,
    GoogleCredentials,
    credentials_fingerprint,
)
from app.errors import (
    CalendarNotFound,
    CredentialsRevoked,
    InvalidGoogleCredentials,
    NoCalendarConnected,
)
from app.services.notifications import PushService
from app.services.reconcile import settle_cancel

log = logging.getLogger(__name__)

# calendarList.list needs one of these (discovery: calendarList.list.scopes).
CALENDAR_LIST_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/calendar.readonly",
        "https://www.googleapis.com/auth/calendar",
    }
)


@dataclass(frozen=True, slots=True)
class ConnectedCalendars:
    calendars: list[Calendar]
    primary_calendar_id: str
    connection_status: ConnectionStatus
    replaced: bool = False


@dataclass(frozen=True, slots=True)
class Disconnected:
    channels_stopped: int
    bots_cancelled: int


class ConnectionService:
    def __init__(
        self,
        *,
        connections: ConnectionStore,
        bots: BotStore,
        secrets: SecretBox,
        google: GoogleCalendar,
        clock: Clock,
        push: PushService,
        bot_scheduler: BotScheduler,
    ) -> None:
        self._connections = connections
        self._bots = bots
        self._secrets = secrets
        self._google = google
        self._clock = clock
        self._push = push
        self._bot_scheduler = bot_scheduler

    async def connect(self, account_id: str, credentials: GoogleCredentials) -> ConnectedCalendars:
        """Check the credentials with Google, list the calendars, then store everything.

        Nothing is stored unless Google accepted the credentials and listed the calendars.
        """
        try:
            token = await self._google.refresh_access_token(credentials)
        except CredentialsRevoked as error:
            said = error.google_reason or "invalid_grant"
            raise InvalidGoogleCredentials(
                f"Google rejected the refresh token ({said}). It is expired, revoked or was "
                "issued to another OAuth client: run the consent flow again for a new one."
            ) from error
        if token.scopes and not CALENDAR_LIST_SCOPES & set(token.scopes):
            raise InvalidGoogleCredentials(
                "The refresh token was granted without the calendar.readonly scope. Run the "
                "consent flow again and allow calbot to see your calendars."
            )
        calendars = await self._google.list_calendars(credentials)
        if not calendars:
            raise InvalidGoogleCredentials("This Google account has no calendar calbot can read.")
        primary = next((c for c in calendars if c.primary), calendars[0])
        connection = Connection(
            account_id=account_id,
            client_id=credentials.client_id,
            primary_calendar_id=primary.calendar_id,
            status=ConnectionStatus.ACTIVE,
            connected_at=self._clock.now(),
            credentials_fingerprint=credentials_fingerprint(credentials),
        )
        # Fresh: another replica may have replaced them since this one cached them.
        previous = await self._secrets.get(account_id, fresh=True)
        await self._secrets.put(account_id, credentials)
        try:
            replaced = await self._connections.save_connection(connection, calendars)
        except BaseException:
            # Leave the secret store as it was: no half-made connection.
            if previous is None:
                await self._secrets.delete(account_id)
            else:
                await self._secrets.put(account_id, previous)
            raise
        if replaced:
            await self._settle_dropped_calendars(account_id, calendars)
        # Channels of a replaced connection belong to its old credentials: stop them first.
        await self._push.stop_channels(account_id, previous)
        await self._push.open_channels(account_id, credentials, calendars)
        return ConnectedCalendars(calendars, primary.calendar_id, ConnectionStatus.ACTIVE, replaced)

    async def _settle_dropped_calendars(self, account_id: str, calendars: list[Calendar]) -> None:
        """The store dropped the events of calendars the new connection does not list (another
        Google account): their scheduled bots are cancelled, as their meetings are gone."""
        kept = {calendar.calendar_id for calendar in calendars}
        now = self._clock.now()
        for bot in await self._bots.list_bots(account_id, status=BotStatus.SCHEDULED):
            if bot.calendar_id not in kept:
                await settle_cancel(self._bots, self._bot_scheduler, bot, CALENDAR_DROPPED, now)

    async def require_connection(self, account_id: str) -> Connection:
        """The account's connection, else `NoCalendarConnected`."""
        connection = await self._connections.get_connection(account_id)
        if connection is None:
            raise NoCalendarConnected()
        return connection

    async def calendars(self, account_id: str) -> ConnectedCalendars:
        found = await self._connections.connection_and_calendars(account_id)
        if found is None:
            raise NoCalendarConnected()
        connection, calendars = found
        return ConnectedCalendars(calendars, connection.primary_calendar_id, connection.status)

    async def resolve_calendar(self, account_id: str, calendar_id: str | None) -> Calendar:
        """The named calendar of the account, or its primary one when none is named."""
        connected = await self.calendars(account_id)
        wanted = calendar_id or connected.primary_calendar_id
        for calendar in connected.calendars:
            if calendar.calendar_id == wanted:
                return calendar
        raise CalendarNotFound()  # never quoting the id: an error does not echo what was sent

    async def disconnect(self, account_id: str) -> Disconnected:
        """Stop push channels at Google, cancel pending bots, forget everything else."""
        connection = await self._connections.get_connection(account_id)
        if connection is None:
            await self._secrets.delete(account_id)
            raise NoCalendarConnected()
        credentials = await self._secrets.get(account_id, fresh=True)
        channels_stopped = await self._push.stop_channels(account_id, credentials)
        pending = await self._bots.list_bots(account_id, status=BotStatus.SCHEDULED)
        bots_cancelled = await self._connections.delete_connection(
            account_id, self._clock.now(), channels_stopped=channels_stopped
        )
        for bot in pending:  # e.g. their EventBridge schedules go too
            await self._bot_scheduler.bot_cancelled(bot)
        await self._secrets.delete(account_id)
        return Disconnected(channels_stopped=channels_stopped, bots_cancelled=bots_cancelled)
