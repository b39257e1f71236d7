"""Webhook endpoints and the delivery log of an account (CONTRACT section 8).

Endpoints belong to the account, not to its Google connection: these work before connecting
and outlive a disconnect. A new endpoint's secret is returned once, by `create`; only its
sealed form is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from app.adapters.ports import Clock, OutboxStore, WebhookEndpointStore
from app.adapters.ports.outbox import DeliveryCursor
from app.adapters.ports.webhooks import HostResolver
from app.errors import (
    InvalidWebhookEndpoint,
    TooManyWebhookEndpoints,
    WebhookDeliveryNotFound,
    WebhookEndpointNotFound,
)
from app.services.paging import Page, SortKey, page
from app.services.webhook_addresses import AddressRefused, check_target, parse_target
from app.services.webhook_dispatch import RetryPlan, new_delivery
from app.services.webhook_secrets import WebhookSecrets
from app.webhook_messages import MESSAGE_TYPES, PING, new_endpoint_id, new_message
from app.webhook_records import DeliveryStatus, WebhookDelivery, WebhookEndpoint, precise_text
from app.webhook_signing import new_secret

MAX_ENDPOINTS_PER_ACCOUNT: Final = 10
SUBSCRIBABLE_TYPES: Final = tuple(t for t in MESSAGE_TYPES if t != PING)
"""What `event_types` may name (a `ping` is sent only by the test route)."""


@dataclass(frozen=True, slots=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str


class WebhookEndpointService:
    def __init__(
        self,
        *,
        endpoints: WebhookEndpointStore,
        outbox: OutboxStore,
        resolver: HostResolver,
        secrets_box: WebhookSecrets,
        clock: Clock,
        allow_insecure_loopback: bool,
        retry: RetryPlan,
        wake: Callable[[], None],
    ) -> None:
        self._endpoints = endpoints
        self._outbox = outbox
        self._resolver = resolver
        self._secrets = secrets_box
        self._clock = clock
        self._allow_loopback = allow_insecure_loopback
        self._retry = retry
        self._wake = wake

    async def create(
        self,
        account_id: str,
        *,
        url: str,
        event_types: Sequence[str] | None,
        description: str | None,
    ) -> CreatedEndpoint:
        types = _checked_types(event_types)
        await self._check_url(url)
        endpoint_id = new_endpoint_id()
        secret = new_secret()
        endpoint = WebhookEndpoint(
            endpoint_id=endpoint_id,
            account_id=account_id,
            url=url,
            event_types=types,
            description=description,
            created_at=self._clock.now(),
            sealed_secret=self._secrets.seal(endpoint_id, secret),
        )
        if not await self._endpoints.add_endpoint(
            endpoint, max_per_account=MAX_ENDPOINTS_PER_ACCOUNT
        ):
            raise TooManyWebhookEndpoints()
        return CreatedEndpoint(endpoint, secret)

    async def _check_url(self, url: str) -> None:
        try:
            target = parse_target(url, allow_insecure_loopback=self._allow_loopback)
            await check_target(target, self._resolver)
        except AddressRefused as refused:
            raise InvalidWebhookEndpoint(str(refused)) from refused
        except OSError as error:
            raise InvalidWebhookEndpoint(
                "The URL's host name does not resolve; check it and try again."
            ) from error

    async def list_endpoints(
        self, account_id: str, *, after: SortKey | None, limit: int
    ) -> Page[WebhookEndpoint]:
        endpoints = await self._endpoints.list_endpoints(account_id)
        return page(endpoints, endpoint_sort_key, after=after, limit=limit)

    async def delete(self, account_id: str, endpoint_id: str) -> None:
        if not await self._endpoints.delete_endpoint(account_id, endpoint_id):
            raise WebhookEndpointNotFound()

    async def send_test(self, account_id: str, endpoint_id: str) -> WebhookDelivery:
        """Queue a `ping` to this endpoint alone, due now."""
        if await self._endpoints.get_endpoint(account_id, endpoint_id) is None:
            raise WebhookEndpointNotFound()
        now = self._clock.now()
        ping = new_message(account_id, PING, {}, now)
        delivery = new_delivery(ping, endpoint_id, now, self._retry.window)
        await self._outbox.add_delivery(delivery)
        self._wake()
        return delivery

    async def deliveries(
        self,
        account_id: str,
        *,
        endpoint_id: str | None,
        status: DeliveryStatus | None,
        before: DeliveryCursor | None,
        limit: int,
    ) -> tuple[list[WebhookDelivery], DeliveryCursor | None]:
        """A page of the log, newest first, and where the next one starts (None: the end)."""
        found = await self._outbox.list_deliveries(
            account_id, endpoint_id=endpoint_id, status=status, before=before, limit=limit + 1
        )
        shown = found[:limit]
        more = len(found) > limit
        last = shown[-1] if shown else None
        return shown, ((precise_text(last.created_at), last.delivery_id) if more and last else None)

    async def retry(self, account_id: str, delivery_id: str) -> WebhookDelivery:
        """Send the delivery again now, whatever its status (a delivered one is sent once
        more, with the same `webhook-id`), retried for a new window if it fails."""
        now = self._clock.now()
        requeued = await self._outbox.requeue_delivery(
            account_id, delivery_id, now, _later(now, self._retry)
        )
        if requeued is None:
            raise WebhookDeliveryNotFound()
        self._wake()
        return requeued


def _later(now: datetime, retry: RetryPlan) -> datetime:
    return now + retry.window


def endpoint_sort_key(endpoint: WebhookEndpoint) -> SortKey:
    return precise_text(endpoint.created_at), endpoint.endpoint_id


def _checked_types(event_types: Sequence[str] | None) -> tuple[str, ...] | None:
    if event_types is None:
        return None
    for name in event_types:
        if name not in SUBSCRIBABLE_TYPES:
            raise InvalidWebhookEndpoint(
                f"'{name[:60]}' is not a webhook event type; use any of "
                + ", ".join(SUBSCRIBABLE_TYPES)
                + ", or null for all of them."
            )
    if not event_types:
        raise InvalidWebhookEndpoint(
            "event_types is empty: name at least one type, or send null for all of them."
        )
    return tuple(dict.fromkeys(event_types))
