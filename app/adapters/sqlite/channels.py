"""Google push channels in SQLite."""

from __future__ import annotations

from datetime import datetime

from app.adapters.sqlite.codec import CHANNEL_COLUMNS, channel_from_row, channel_params
from app.adapters.sqlite.database import Database, to_text
from app.domain import Channel


class SqliteChannelStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def save_channel(self, channel: Channel) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                f"INSERT OR REPLACE INTO channels ({CHANNEL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                channel_params(channel),
            )

    async def get_channel(self, channel_id: str) -> Channel | None:
        row = await self._db.fetch_one(
            f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE channel_id = ?", (channel_id,)
        )
        return None if row is None else channel_from_row(row)

    async def list_channels(self, account_id: str) -> list[Channel]:
        rows = await self._db.fetch_all(
            f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE account_id = ? ORDER BY expiration",
            (account_id,),
        )
        return [channel_from_row(row) for row in rows]

    async def channels_expiring_before(self, when: datetime) -> list[Channel]:
        rows = await self._db.fetch_all(
            f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE expiration < ? ORDER BY expiration",
            (to_text(when),),
        )
        return [channel_from_row(row) for row in rows]

    async def delete_channel(self, channel_id: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM channels WHERE channel_id = ?", (channel_id,))
