"""What calbot keeps about webhook endpoints and deliveries (CONTRACT section 8): plain data.

Times are UTC. Endpoint secrets are kept sealed only (`sealed_secret`); a delivery carries its
message's body, so it can be sent (and re-sent) without the message.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

DELIVERY_RETENTION: Final = timedelta(days=30)
"""How long a delivered or failed delivery stays in the log after its message was made."""


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    endpoint_id: str
    account_id: str
    url: str
    event_types: tuple[str, ...] | None  # None: every type
    description: str | None
    created_at: datetime
    sealed_secret: bytes

    def wants(self, message_type: str) -> bool:
        """Whether a message of this type goes to this endpoint (`ping` goes only when asked)."""
        return self.event_types is None or message_type in self.event_types


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One message to one endpoint, and how sending it went.

    `due_at` is when a dispatcher may next take it: `next_attempt_at` while it waits, the end
    of the claim while one replica is sending it (so another takes it over if that replica
    dies). `give_up_at`: after this, a failed attempt marks it failed instead of retrying.
    `claim` is the token of the attempt in flight, if any.
    """

    delivery_id: str
    account_id: str
    endpoint_id: str
    message_id: str
    type: str
    body: bytes
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    give_up_at: datetime
    due_at: datetime | None
    claim: str | None = None


def precise_text(moment: datetime) -> str:
    """An instant as stored in the webhook tables: UTC with microseconds, `Z`; sorts as text
    in time order (retry delays and claims are shorter than a second in tests)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_precise_text(text: str) -> datetime:
    return datetime.fromisoformat(text)


def log_key(delivery: WebhookDelivery) -> tuple[str, str]:
    """The delivery log's order (newest first) and its cursor: (created_at text, delivery_id)."""
    return precise_text(delivery.created_at), delivery.delivery_id
