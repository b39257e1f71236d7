"""Google push channels, in memory."""

from __future__ import annotations

from datetime import datetime

from app.adapters.memory.tables import MemoryTables
from app.domain import Channel


def _by_expiration(channels: list[Channel]) -> list[Channel]:
    return sorted(channels, key=lambda c: (c.expiration, c.channel_id))


class MemoryChannelStore:
    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    async def save_channel(self, channel: Channel) -> None:
        self._tables.channels[channel.channel_id] = channel

    async def get_channel(self, channel_id: str) -> Channel | None:
        return self._tables.channels.get(channel_id)

    async def list_channels(self, account_id: str) -> list[Channel]:
        channels = self._tables.channels.values()
        return _by_expiration([c for c in channels if c.account_id == account_id])

    async def channels_expiring_before(self, when: datetime) -> list[Channel]:
        channels = self._tables.channels.values()
        return _by_expiration([c for c in channels if c.expiration < when])

    async def delete_channel(self, channel_id: str) -> None:
        self._tables.channels.pop(channel_id, None)
