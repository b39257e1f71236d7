"""The Google connection (`CONNECTION`, in GSI2 `CONNECTED#` while active) and the calendar
list (`CAL#`), in the account partition. Dropping a calendar or the whole connection also
deletes the events, bots' pending state and the rest that hang on it, as SQLite does."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from app.adapters.aws.dynamodb.bots import (
    bot_items,
    cancel_pending_bot,
    release_occurrence_claims,
)
from app.adapters.aws.dynamodb.codec import bot_from, item, plain, time_of
from app.adapters.aws.dynamodb.events import calendars_with_data
from app.adapters.aws.dynamodb.outbox import outbox_put_items
from app.adapters.aws.dynamodb.table import (
    CALENDAR_PREFIX,
    CHANNEL_PREFIX,
    CONNECTED_SET,
    EVENT_POINTER_PREFIX,
    SERIES_PREFIX,
    Item,
    account_pk,
    base_key,
    calendar_data_key,
    calendar_key,
    calendar_pk,
    connected_set_pk,
    connection_key,
    event_pointer_key,
    time_text,
)
from app.adapters.aws.dynamodb.transactions import TableClient, bounded
from app.calendar_messages import credentials_revoked_message, disconnected_message
from app.domain import Calendar, Connection, ConnectionStatus, is_pending


def _connection_item(connection: Connection) -> Item:
    active = connection.status is ConnectionStatus.ACTIVE
    return item(
        connection_key(connection.account_id),
        kind="connection",
        account_id=connection.account_id,
        client_id=connection.client_id,
        primary_calendar_id=connection.primary_calendar_id,
        status=connection.status.value,
        connected_at=time_text(connection.connected_at),
        credentials_fingerprint=connection.credentials_fingerprint,
        GSI2PK=connected_set_pk(connection.account_id) if active else None,
        GSI2SK=connection.account_id,
    )


def _calendar_item(account_id: str, position: int, calendar: Calendar) -> Item:
    """A listed calendar; `position` keeps Google's order."""
    return item(
        calendar_key(account_id, calendar.calendar_id),
        kind="calendar",
        calendar_id=calendar.calendar_id,
        summary=calendar.summary,
        primary=calendar.primary,
        time_zone=calendar.time_zone,
        access_role=calendar.access_role,
        position=position,
    )


def _calendar_from(data: dict[str, Any]) -> Calendar:
    return Calendar(
        calendar_id=data["calendar_id"],
        summary=data.get("summary"),
        primary=data["primary"],
        time_zone=data.get("time_zone"),
        access_role=data.get("access_role"),
    )


async def active_connections(table: TableClient, account_ids: Iterable[str]) -> set[str]:
    """Those of the accounts whose connection is active, read from the base table."""
    items = await table.batch_get(connection_key(account_id) for account_id in account_ids)
    return {
        typed["account_id"]["S"]
        for typed in items
        if typed["status"]["S"] == ConnectionStatus.ACTIVE.value
    }


async def _drop_calendar(table: TableClient, account_id: str, calendar_id: str) -> None:
    """Delete a calendar: its events (with their pointers), exceptions and sync state, then
    its listing and marker."""
    items = await table.partition(
        calendar_pk(account_id, calendar_id), projection="#PK, #SK, #event_id"
    )
    keys = [base_key(typed) for typed in items]
    keys.extend(
        event_pointer_key(account_id, typed["event_id"]["S"])
        for typed in items
        if "event_id" in typed
    )
    await table.delete_keys(keys)
    await table.delete_keys(
        [calendar_key(account_id, calendar_id), calendar_data_key(account_id, calendar_id)]
    )


class DynamoDbConnectionStore:
    """`ConnectionStore` on calbot's table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def save_connection(self, connection: Connection, calendars: list[Calendar]) -> bool:
        # The connection, then dropped calendars, then the list: run again, it completes.
        account_id = connection.account_id
        response = await self._table.call(
            "put_item",
            TableName=self._table.name,
            Item=_connection_item(connection),
            ReturnValues="ALL_OLD",
        )
        kept = {calendar.calendar_id for calendar in calendars}
        for calendar_id in sorted(await calendars_with_data(self._table, account_id) - kept):
            await _drop_calendar(self._table, account_id, calendar_id)
        await self._table.put_items(
            _calendar_item(account_id, position, calendar)
            for position, calendar in enumerate(calendars)
        )
        return bool(response.get("Attributes"))

    async def get_connection(self, account_id: str) -> Connection | None:
        found = await self._table.get(connection_key(account_id))
        if found is None:
            return None
        data = plain(found)
        return Connection(
            account_id=data["account_id"],
            client_id=data["client_id"],
            primary_calendar_id=data["primary_calendar_id"],
            status=ConnectionStatus(data["status"]),
            connected_at=time_of(data["connected_at"]),
            credentials_fingerprint=data.get("credentials_fingerprint"),
        )

    async def set_connection_status(self, account_id: str, status: ConnectionStatus) -> None:
        values: dict[str, object] = {":status": status.value}
        if status is ConnectionStatus.ACTIVE:
            update = "SET #status = :status, #GSI2PK = :set"
            values[":set"] = connected_set_pk(account_id)
        else:
            update = "SET #status = :status REMOVE #GSI2PK"
        await self._table.update(
            connection_key(account_id), update, values, "attribute_exists(#PK)"
        )

    async def mark_revoked(
        self, account_id: str, credentials_fingerprint: str, when: datetime
    ) -> bool:
        calendar_ids = [c.calendar_id for c in await self.list_calendars(account_id)]
        message = credentials_revoked_message(account_id, calendar_ids, when)
        reasons = await self._table.transact(
            [
                self._table.action(
                    "Update",
                    Key=connection_key(account_id),
                    update="SET #status = :revoked REMOVE #GSI2PK",
                    condition="#status = :active AND (attribute_not_exists("
                    "#credentials_fingerprint) OR #credentials_fingerprint = :fingerprint)",
                    values={
                        ":revoked": ConnectionStatus.REVOKED.value,
                        ":active": ConnectionStatus.ACTIVE.value,
                        ":fingerprint": credentials_fingerprint,
                    },
                ),
                *outbox_put_items(self._table.name, [message]),
            ]
        )
        return reasons is None

    async def list_calendars(self, account_id: str) -> list[Calendar]:
        items = await self._table.partition(account_pk(account_id), CALENDAR_PREFIX)
        listed = sorted(map(plain, items), key=lambda data: (not data["primary"], data["position"]))
        return [_calendar_from(data) for data in listed]

    async def connection_and_calendars(
        self, account_id: str
    ) -> tuple[Connection, list[Calendar]] | None:
        connection = await self.get_connection(account_id)
        if connection is None:
            return None
        return connection, await self.list_calendars(account_id)

    async def delete_connection(
        self, account_id: str, when: datetime, *, channels_stopped: int = 0
    ) -> int:
        # Bots first (each with its message): once nothing is pending, a crash later only
        # leaves data to delete again.
        pending = [
            bot
            for bot in map(bot_from, await bot_items(self._table, account_id))
            if is_pending(bot.status)
        ]
        cancelled = sum(
            await bounded(cancel_pending_bot(self._table, bot, when) for bot in pending)
        )
        await release_occurrence_claims(self._table, account_id)
        for calendar_id in sorted(await calendars_with_data(self._table, account_id)):
            await _drop_calendar(self._table, account_id, calendar_id)
        keys: list[Item] = []
        for prefix in (EVENT_POINTER_PREFIX, SERIES_PREFIX, CHANNEL_PREFIX):
            items = await self._table.partition(account_pk(account_id), prefix, "#PK, #SK")
            keys.extend(base_key(typed) for typed in items)
        await self._table.delete_keys(keys)
        # The connection goes last, with the message reporting the disconnect.
        message = disconnected_message(account_id, channels_stopped, cancelled, when)
        await self._table.transact(
            [
                self._table.action("Delete", Key=connection_key(account_id)),
                *outbox_put_items(self._table.name, [message]),
            ]
        )
        return cancelled

    async def connected_accounts(self) -> list[str]:
        candidates = await self._table.account_set(CONNECTED_SET)
        return sorted(await active_connections(self._table, candidates))
