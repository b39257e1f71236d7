"""The Google connection and its calendar list, in memory."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from app.adapters.memory.outbox import append_outbox
from app.adapters.memory.tables import MemoryTables
from app.bot_changes import DISCONNECTED as DISCONNECTED_REASON
from app.bot_changes import bot_message, cancelled
from app.calendar_messages import credentials_revoked_message, disconnected_message
from app.domain import (
    DISCONNECTED,
    BotStatus,
    Calendar,
    Connection,
    ConnectionStatus,
    claims_occurrence_after_disconnect,
    is_pending,
)


class MemoryConnectionStore:
    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    async def save_connection(self, connection: Connection, calendars: list[Calendar]) -> bool:
        tables = self._tables
        account_id = connection.account_id
        replaced = account_id in tables.connections
        tables.connections[account_id] = connection
        tables.drop_calendar_data(account_id, keep={c.calendar_id for c in calendars})
        tables.calendars[account_id] = list(calendars)
        return replaced

    async def get_connection(self, account_id: str) -> Connection | None:
        return self._tables.connections.get(account_id)

    async def set_connection_status(self, account_id: str, status: ConnectionStatus) -> None:
        connection = self._tables.connections.get(account_id)
        if connection is not None:
            self._tables.connections[account_id] = dataclasses.replace(connection, status=status)

    async def mark_revoked(
        self, account_id: str, credentials_fingerprint: str, when: datetime
    ) -> bool:
        connection = self._tables.connections.get(account_id)
        if connection is None or connection.status is ConnectionStatus.REVOKED:
            return False
        if connection.credentials_fingerprint not in (None, credentials_fingerprint):
            return False
        self._tables.connections[account_id] = dataclasses.replace(
            connection, status=ConnectionStatus.REVOKED
        )
        calendar_ids = [c.calendar_id for c in self._tables.calendars.get(account_id, [])]
        append_outbox(
            self._tables,
            [credentials_revoked_message(account_id, calendar_ids, when)],
        )
        return True

    async def list_calendars(self, account_id: str) -> list[Calendar]:
        # Primary first, then in the order Google listed them (sorted() is stable).
        return sorted(self._tables.calendars.get(account_id, []), key=lambda c: not c.primary)

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
        tables = self._tables
        messages = []
        for bot in tables.bots.values():
            if bot.account_id != account_id:
                continue
            if is_pending(bot.status):
                bot.status, bot.updated_at = BotStatus.CANCELLED, when
                bot.version += 1
                bot.last_error = DISCONNECTED.sentence
                messages.append(bot_message(bot, cancelled(DISCONNECTED_REASON), when))
            if not claims_occurrence_after_disconnect(bot.status):
                tables.released_bots.add(bot.bot_id)
        tables.connections.pop(account_id, None)
        tables.calendars.pop(account_id, None)
        tables.drop_calendar_data(account_id)
        tables.series = {key: s for key, s in tables.series.items() if key[0] != account_id}
        tables.channels = {
            channel_id: channel
            for channel_id, channel in tables.channels.items()
            if channel.account_id != account_id
        }
        count = len(messages)
        messages.append(disconnected_message(account_id, channels_stopped, count, when))
        append_outbox(tables, messages)
        return count

    async def connected_accounts(self) -> list[str]:
        return sorted(
            account_id
            for account_id, connection in self._tables.connections.items()
            if connection.status is ConnectionStatus.ACTIVE
        )
