"""Google push channels (`CHANNEL#{id}` in the account partition), found by id through GSI3
(webhooks carry no account) and by expiration through GSI1 `CHANNELEXP#`."""

from __future__ import annotations

from datetime import datetime

from app.adapters.aws.dynamodb.codec import item, plain, time_of
from app.adapters.aws.dynamodb.table import (
    CHANNEL_PREFIX,
    CHANNEL_QUEUE,
    GSI3,
    Item,
    account_pk,
    base_key,
    channel_index_pk,
    channel_key,
    channel_queue,
    time_text,
)
from app.adapters.aws.dynamodb.transactions import TableClient
from app.domain import Channel


def _channel_item(channel: Channel) -> Item:
    queue_pk, queue_sk = channel_queue(channel.channel_id, channel.expiration)
    return item(
        channel_key(channel.account_id, channel.channel_id),
        kind="channel",
        channel_id=channel.channel_id,
        account_id=channel.account_id,
        calendar_id=channel.calendar_id,
        resource_id=channel.resource_id,
        token_hash=channel.token_hash,
        expiration=time_text(channel.expiration),
        GSI1PK=queue_pk,
        GSI1SK=queue_sk,
        GSI3PK=channel_index_pk(channel.channel_id),
    )


def _channel_from(typed: Item) -> Channel:
    data = plain(typed)
    return Channel(
        channel_id=data["channel_id"],
        account_id=data["account_id"],
        calendar_id=data["calendar_id"],
        resource_id=data["resource_id"],
        token_hash=data["token_hash"],
        expiration=time_of(data["expiration"]),
    )


def _by_expiration(channels: list[Channel]) -> list[Channel]:
    return sorted(channels, key=lambda channel: time_text(channel.expiration))


class DynamoDbChannelStore:
    """`ChannelStore` on calbot's table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def save_channel(self, channel: Channel) -> None:
        await self._table.put(_channel_item(channel))

    async def _channel_keys(self, channel_id: str) -> list[Item]:
        """Base keys of the channel, found through GSI3 (eventually consistent: a channel
        saved a moment ago may not be found yet)."""
        entries = await self._table.index(GSI3, channel_index_pk(channel_id))
        return [base_key(entry) for entry in entries]

    async def get_channel(self, channel_id: str) -> Channel | None:
        items = await self._table.batch_get(await self._channel_keys(channel_id))
        channels = [_channel_from(typed) for typed in items]
        return channels[0] if channels else None

    async def list_channels(self, account_id: str) -> list[Channel]:
        items = await self._table.partition(account_pk(account_id), CHANNEL_PREFIX)
        return _by_expiration([_channel_from(typed) for typed in items])

    async def channels_expiring_before(self, when: datetime) -> list[Channel]:
        cutoff = time_text(when)
        items = await self._table.queued(CHANNEL_QUEUE, below=cutoff)
        # Re-checked on the base items: the index may lag behind them.
        channels = [_channel_from(typed) for typed in items]
        return _by_expiration([c for c in channels if time_text(c.expiration) < cutoff])

    async def delete_channel(self, channel_id: str) -> None:
        await self._table.delete_keys(await self._channel_keys(channel_id))
