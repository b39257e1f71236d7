"""Webhook messages on the wire (CONTRACT section 8), and the ids of messages and deliveries.

Pure: no I/O. A writer builds an `OutboxMessage` with `new_message(...)` and hands it to its
store in the same write as the change it reports; the dispatcher sends `envelope(message)`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any, Final

import orjson

from app.domain import OutboxMessage, utc_text

MESSAGE_ID_PREFIX: Final = "msg_"
DELIVERY_ID_PREFIX: Final = "dlv_"
ENDPOINT_ID_PREFIX: Final = "whe_"

BOT_SCHEDULED: Final = "bot.scheduled"
BOT_UPDATED: Final = "bot.updated"
BOT_CANCELLED: Final = "bot.cancelled"
BOT_LAUNCHED: Final = "bot.launched"
BOT_FAILED: Final = "bot.failed"
BOT_MISSED: Final = "bot.missed"
CALENDAR_SYNC_FAILED: Final = "calendar.sync_failed"
CALENDAR_CREDENTIALS_REVOKED: Final = "calendar.credentials_revoked"
CALENDAR_DISCONNECTED: Final = "calendar.disconnected"
PING: Final = "ping"

MESSAGE_TYPES: Final = (
    BOT_SCHEDULED,
    BOT_UPDATED,
    BOT_CANCELLED,
    BOT_LAUNCHED,
    BOT_FAILED,
    BOT_MISSED,
    CALENDAR_SYNC_FAILED,
    CALENDAR_CREDENTIALS_REVOKED,
    CALENDAR_DISCONNECTED,
    PING,
)
"""Every message type of the contract, in its order."""


def new_message_id() -> str:
    """`msg_` + 128 random bits: the message's `id` and the `webhook-id` of every attempt."""
    return MESSAGE_ID_PREFIX + secrets.token_hex(16)


def new_endpoint_id() -> str:
    return ENDPOINT_ID_PREFIX + secrets.token_hex(12)


def delivery_id_for(message_id: str, endpoint_id: str) -> str:
    """The one delivery of a message to an endpoint: derived from both, so a fan-out that runs
    twice (a crash, two replicas) writes the same record instead of a second one."""
    digest = hashlib.blake2b(
        f"{message_id}\x1f{endpoint_id}".encode(), digest_size=16, person=b"calbot-delivery"
    ).hexdigest()
    return DELIVERY_ID_PREFIX + digest


def new_message(
    account_id: str, message_type: str, data: dict[str, Any], created_at: datetime
) -> OutboxMessage:
    """A message with a fresh id, `data` as it will be sent."""
    return OutboxMessage(
        message_id=new_message_id(),
        account_id=account_id,
        type=message_type,
        created_at=created_at,
        data=data,
    )


def envelope(message: OutboxMessage) -> bytes:
    """The JSON body sent to an endpoint: `{"id", "type", "created_at", "data"}`."""
    return orjson.dumps(
        {
            "id": message.message_id,
            "type": message.type,
            "created_at": utc_text(message.created_at),
            "data": message.data,
        }
    )


def data_json(message: OutboxMessage) -> str:
    """The message's `data` as stored (JSON text)."""
    return orjson.dumps(message.data).decode()


def data_from_json(text: str) -> dict[str, Any]:
    data = orjson.loads(text)
    if not isinstance(data, dict):
        raise ValueError("a stored message's data is not a JSON object")
    return data
