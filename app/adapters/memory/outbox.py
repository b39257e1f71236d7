"""The outbox, webhook endpoints and deliveries, in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from app.adapters.memory.tables import MemoryTables
from app.adapters.ports.outbox import DeliveryCursor
from app.domain import OutboxMessage
from app.webhook_records import DeliveryStatus, WebhookDelivery, WebhookEndpoint, log_key


def append_outbox(tables: MemoryTables, messages: Sequence[OutboxMessage]) -> None:
    """Add messages to the outbox. Call it inside the caller's write, between its reads and
    writes of the tables with no await in between, so the messages exist exactly when the
    change they report does."""
    for message in messages:
        tables.outbox.setdefault(message.message_id, message)
    if messages:
        tables.outbox_bell.ring()  # the dispatcher wakes once this write's coroutine yields


class MemoryOutboxStore:
    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    async def append_messages(self, messages: Sequence[OutboxMessage]) -> None:
        append_outbox(self._tables, messages)

    async def unrouted_messages(self, limit: int) -> list[OutboxMessage]:
        messages = sorted(self._tables.outbox.values(), key=lambda m: (m.created_at, m.message_id))
        return messages[:limit]

    async def route_message(
        self, message: OutboxMessage, deliveries: Sequence[WebhookDelivery]
    ) -> bool:
        if self._tables.outbox.pop(message.message_id, None) is None:
            return False
        for delivery in deliveries:
            self._tables.deliveries.setdefault(delivery.delivery_id, delivery)
        return True

    async def add_delivery(self, delivery: WebhookDelivery) -> None:
        self._tables.deliveries.setdefault(delivery.delivery_id, delivery)

    async def due_deliveries(self, now: datetime, limit: int) -> list[WebhookDelivery]:
        due = [
            delivery
            for delivery in self._tables.deliveries.values()
            if delivery.status is DeliveryStatus.PENDING
            and delivery.due_at is not None
            and delivery.due_at <= now
        ]
        due.sort(key=lambda d: (d.due_at or now, d.delivery_id))
        return due[:limit]

    async def claim_delivery(
        self, delivery_id: str, token: str, now: datetime, until: datetime
    ) -> WebhookDelivery | None:
        delivery = self._tables.deliveries.get(delivery_id)
        if (
            delivery is None
            or delivery.status is not DeliveryStatus.PENDING
            or delivery.due_at is None
            or delivery.due_at > now
        ):
            return None
        claimed = replace(delivery, claim=token, due_at=until)
        self._tables.deliveries[delivery_id] = claimed
        return claimed

    async def record_attempt(self, delivery: WebhookDelivery, token: str) -> bool:
        stored = self._tables.deliveries.get(delivery.delivery_id)
        if stored is None or stored.claim != token:
            return False
        self._tables.deliveries[delivery.delivery_id] = replace(delivery, claim=None)
        return True

    async def requeue_delivery(
        self, account_id: str, delivery_id: str, now: datetime, give_up_at: datetime
    ) -> WebhookDelivery | None:
        stored = self._tables.deliveries.get(delivery_id)
        if stored is None or stored.account_id != account_id:
            return None
        requeued = replace(
            stored,
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            due_at=now,
            give_up_at=give_up_at,
            claim=None,
        )
        self._tables.deliveries[delivery_id] = requeued
        return requeued

    async def get_delivery(self, account_id: str, delivery_id: str) -> WebhookDelivery | None:
        stored = self._tables.deliveries.get(delivery_id)
        return stored if stored is not None and stored.account_id == account_id else None

    async def purge_finished_deliveries(self, before: datetime, limit: int) -> int:
        old = [
            delivery.delivery_id
            for delivery in self._tables.deliveries.values()
            if delivery.status is not DeliveryStatus.PENDING and delivery.created_at < before
        ][:limit]
        for delivery_id in old:
            del self._tables.deliveries[delivery_id]
        return len(old)

    async def list_deliveries(
        self,
        account_id: str,
        *,
        endpoint_id: str | None,
        status: DeliveryStatus | None,
        before: DeliveryCursor | None,
        limit: int,
    ) -> list[WebhookDelivery]:
        found = [
            delivery
            for delivery in self._tables.deliveries.values()
            if delivery.account_id == account_id
            and (endpoint_id is None or delivery.endpoint_id == endpoint_id)
            and (status is None or delivery.status is status)
            and (before is None or log_key(delivery) < before)
        ]
        found.sort(key=log_key, reverse=True)
        return found[:limit]


class MemoryWebhookEndpointStore:
    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    async def add_endpoint(self, endpoint: WebhookEndpoint, *, max_per_account: int) -> bool:
        if len(await self.list_endpoints(endpoint.account_id)) >= max_per_account:
            return False
        self._tables.webhook_endpoints[endpoint.endpoint_id] = endpoint
        return True

    async def list_endpoints(self, account_id: str) -> list[WebhookEndpoint]:
        found = [e for e in self._tables.webhook_endpoints.values() if e.account_id == account_id]
        return sorted(found, key=lambda e: (e.created_at, e.endpoint_id))

    async def get_endpoint(self, account_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        stored = self._tables.webhook_endpoints.get(endpoint_id)
        return stored if stored is not None and stored.account_id == account_id else None

    async def delete_endpoint(self, account_id: str, endpoint_id: str) -> bool:
        if await self.get_endpoint(account_id, endpoint_id) is None:
            return False
        del self._tables.webhook_endpoints[endpoint_id]
        return True
