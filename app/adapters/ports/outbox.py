"""Storage of webhook messages (the outbox), endpoints and deliveries (CONTRACT section 8).

A message is written in the same store write as the change it reports: a store method that
changes a bot or a calendar appends its messages with its backend's in-transaction helper
(`app.adapters.sqlite.outbox.append_outbox`, `app.adapters.aws.dynamodb.outbox.outbox_put_items`,
`app.adapters.memory.outbox.append_outbox`). `OutboxStore.append_messages` is for messages that
report no stored change of their own. The dispatcher then routes each message to the account's
endpoints (one delivery per endpoint) and sends the deliveries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from app.domain import OutboxMessage
from app.webhook_records import DeliveryStatus, WebhookDelivery, WebhookEndpoint

DeliveryCursor = tuple[str, str]
"""Where a page of the delivery log continues: the last (created_at text, delivery_id) shown."""


class OutboxStore(Protocol):
    """Messages waiting to be routed, and the deliveries made of them."""

    async def append_messages(self, messages: Sequence[OutboxMessage]) -> None:
        """Append messages on their own (a message reporting a stored change is appended in
        that change's write instead, with the backend's in-transaction helper)."""
        ...

    async def unrouted_messages(self, limit: int) -> list[OutboxMessage]:
        """Up to `limit` messages not routed yet, oldest first (a cheap indexed read: the
        dispatcher calls it every fraction of a second)."""
        ...

    async def route_message(
        self, message: OutboxMessage, deliveries: Sequence[WebhookDelivery]
    ) -> bool:
        """In one write: store the deliveries and take the message out of the outbox. False
        (and nothing written) when the message was routed already, by this or another replica,
        so a message never yields two deliveries to one endpoint."""
        ...

    async def add_delivery(self, delivery: WebhookDelivery) -> None:
        """Store a delivery made without an outbox message (a test ping); one that exists
        already is left as it is."""
        ...

    async def due_deliveries(self, now: datetime, limit: int) -> list[WebhookDelivery]:
        """Up to `limit` pending deliveries whose `due_at` is not after `now`, earliest first
        (not claimed, or claimed by an attempt whose claim expired)."""
        ...

    async def claim_delivery(
        self, delivery_id: str, token: str, now: datetime, until: datetime
    ) -> WebhookDelivery | None:
        """Take a due pending delivery for one attempt: sets `claim = token` and `due_at =
        until`; the delivery as claimed, or None when it is not pending, not due by `now`, or
        claimed by another attempt whose claim has not expired."""
        ...

    async def record_attempt(self, delivery: WebhookDelivery, token: str) -> bool:
        """Write an attempt's outcome (status, attempts, last_status_code, last_error,
        next_attempt_at, due_at; the claim cleared) if the claim `token` still holds; False
        when another attempt took the delivery over (its outcome is then not written)."""
        ...

    async def requeue_delivery(
        self, account_id: str, delivery_id: str, now: datetime, give_up_at: datetime
    ) -> WebhookDelivery | None:
        """Make the account's delivery pending and due now, retried until `give_up_at`
        (whatever its status); the delivery as stored, or None when the account has none
        with this id."""
        ...

    async def get_delivery(self, account_id: str, delivery_id: str) -> WebhookDelivery | None:
        """The account's delivery, or None."""
        ...

    async def purge_finished_deliveries(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` delivered or failed deliveries created before `before`; how
        many went. A backend whose storage expires items itself (DynamoDB's TTL, set on every
        finished delivery to its `created_at` + the retention) may delete them later instead,
        and answer 0."""
        ...

    async def list_deliveries(
        self,
        account_id: str,
        *,
        endpoint_id: str | None,
        status: DeliveryStatus | None,
        before: DeliveryCursor | None,
        limit: int,
    ) -> list[WebhookDelivery]:
        """The account's deliveries, newest first by (created_at, delivery_id), only those
        before the cursor when given, filtered by endpoint and status; at most `limit`."""
        ...


class WebhookEndpointStore(Protocol):
    """Each account's webhook endpoints (their secrets sealed)."""

    async def add_endpoint(self, endpoint: WebhookEndpoint, *, max_per_account: int) -> bool:
        """Store a new endpoint; False (nothing stored) when the account already has
        `max_per_account` of them."""
        ...

    async def list_endpoints(self, account_id: str) -> list[WebhookEndpoint]:
        """The account's endpoints, oldest first by (created_at, endpoint_id)."""
        ...

    async def get_endpoint(self, account_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        """The account's endpoint, or None."""
        ...

    async def delete_endpoint(self, account_id: str, endpoint_id: str) -> bool:
        """Forget the endpoint; False when the account has none with this id. Its deliveries
        stay in the log."""
        ...
