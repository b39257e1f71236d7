"""calbot's own webhooks: endpoints and the delivery log (CONTRACT section 8).

Not to be confused with `routers/webhooks.py` (Google's push notifications to calbot) or with
`bot_config.callback_url` (the Create Bot API's webhooks, which calbot passes through untouched).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.deps import CurrentAccount, WebhookEndpointServiceDep
from app.errors import (
    InvalidCursor,
    InvalidWebhookEndpoint,
    StorageUnavailable,
    TooManyWebhookEndpoints,
    WebhookDeliveryNotFound,
    WebhookEndpointNotFound,
)
from app.routers.cursors import decode_cursor, encode_cursor
from app.routers.responses import error_responses
from app.schemas import (
    WebhookDeliveryList,
    WebhookDeliveryQueued,
    WebhookDeliveryRead,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointDeleted,
    WebhookEndpointList,
    WebhookEndpointRead,
)
from app.services.paging import DEFAULT_LIMIT, MAX_LIMIT
from app.webhook_records import DeliveryStatus, WebhookDelivery, WebhookEndpoint

TAG = "Webhooks to your app"
ENDPOINTS_CURSOR = "webhook_endpoints"
DELIVERIES_CURSOR = "webhook_deliveries"

router = APIRouter(prefix="/api/v1/calendar", tags=[TAG])

Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description="Page size; `next_cursor` when more follow.")
]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page.")]


def endpoint_read(endpoint: WebhookEndpoint) -> WebhookEndpointRead:
    return WebhookEndpointRead(
        endpoint_id=endpoint.endpoint_id,
        url=endpoint.url,
        event_types=None if endpoint.event_types is None else list(endpoint.event_types),
        description=endpoint.description,
        created_at=endpoint.created_at.replace(microsecond=0),
    )


def _delivery_fields(delivery: WebhookDelivery) -> dict[str, object]:
    next_at = delivery.next_attempt_at
    return {
        "delivery_id": delivery.delivery_id,
        "endpoint_id": delivery.endpoint_id,
        "message_id": delivery.message_id,
        "type": delivery.type,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "next_attempt_at": None if next_at is None else next_at.replace(microsecond=0),
        "created_at": delivery.created_at.replace(microsecond=0),
    }


@router.post(
    "/webhook-endpoints",
    status_code=status.HTTP_201_CREATED,
    summary="Add a webhook endpoint",
    response_model=WebhookEndpointCreated,
    responses=error_responses(InvalidWebhookEndpoint, TooManyWebhookEndpoints, StorageUnavailable),
)
async def create_endpoint(
    body: WebhookEndpointCreate, account_id: CurrentAccount, webhooks: WebhookEndpointServiceDep
) -> WebhookEndpointCreated:
    """From now on, calbot POSTs a signed JSON message to `url` on every change of a scheduled
    bot or calendar of this account (of the `event_types` given; all when null): see the
    README's "Webhooks". The answer carries the endpoint's signing `secret`, shown only here.
    The URL must be https and its host public: a host that is or resolves to a loopback,
    private, link-local, multicast, reserved or cloud metadata address is refused (422), and
    checked again before each delivery. At most 10 endpoints per account (409 beyond).
    Works before a calendar is connected; a disconnect keeps the endpoints."""
    created = await webhooks.create(
        account_id, url=body.url, event_types=body.event_types, description=body.description
    )
    read = endpoint_read(created.endpoint)
    return WebhookEndpointCreated(**read.model_dump(), secret=created.secret)


@router.get(
    "/webhook-endpoints",
    summary="List webhook endpoints",
    response_model=WebhookEndpointList,
    responses=error_responses(InvalidCursor, StorageUnavailable),
)
async def list_endpoints(
    account_id: CurrentAccount,
    webhooks: WebhookEndpointServiceDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> WebhookEndpointList:
    """The account's endpoints, oldest first, without their secrets."""
    result = await webhooks.list_endpoints(
        account_id, after=decode_cursor(ENDPOINTS_CURSOR, cursor), limit=limit
    )
    return WebhookEndpointList(
        webhook_endpoints=[endpoint_read(endpoint) for endpoint in result.items],
        next_cursor=encode_cursor(ENDPOINTS_CURSOR, result.next_after),
    )


@router.delete(
    "/webhook-endpoints/{endpoint_id}",
    summary="Delete a webhook endpoint",
    response_model=WebhookEndpointDeleted,
    responses=error_responses(WebhookEndpointNotFound, StorageUnavailable),
)
async def delete_endpoint(
    endpoint_id: str, account_id: CurrentAccount, webhooks: WebhookEndpointServiceDep
) -> WebhookEndpointDeleted:
    """Nothing more is sent to this endpoint; deliveries not sent yet are marked failed when
    their turn comes. Its deliveries stay in the log."""
    await webhooks.delete(account_id, endpoint_id)
    return WebhookEndpointDeleted(endpoint_id=endpoint_id)


@router.post(
    "/webhook-endpoints/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a test ping",
    response_model=WebhookDeliveryQueued,
    responses=error_responses(WebhookEndpointNotFound, StorageUnavailable),
)
async def test_endpoint(
    endpoint_id: str, account_id: CurrentAccount, webhooks: WebhookEndpointServiceDep
) -> WebhookDeliveryQueued:
    """Queues a `ping` message (`data` is `{}`) to this endpoint alone, signed like every
    other message; the answer is its delivery, whose outcome the delivery log shows."""
    delivery = await webhooks.send_test(account_id, endpoint_id)
    return WebhookDeliveryQueued.model_validate(_delivery_fields(delivery))


@router.get(
    "/webhook-deliveries",
    summary="The delivery log",
    response_model=WebhookDeliveryList,
    responses=error_responses(InvalidCursor, StorageUnavailable),
)
async def list_deliveries(
    account_id: CurrentAccount,
    webhooks: WebhookEndpointServiceDep,
    endpoint_id: Annotated[str | None, Query(description="Only this endpoint's.")] = None,
    delivery_status: Annotated[
        DeliveryStatus | None,
        Query(alias="status", description="Only deliveries in this status."),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> WebhookDeliveryList:
    """Every message sent (or being sent) to each endpoint, newest first: its status
    (`pending` while attempts go on, `delivered` after a 2xx, `failed` once retries ran out,
    24 hours after the change), attempts so far, and the last attempt's outcome."""
    before = decode_cursor(DELIVERIES_CURSOR, cursor)
    if before is not None and len(before) != 2:
        raise InvalidCursor()
    shown, next_before = await webhooks.deliveries(
        account_id,
        endpoint_id=endpoint_id,
        status=delivery_status,
        before=None if before is None else (before[0], before[1]),
        limit=limit,
    )
    return WebhookDeliveryList(
        deliveries=[WebhookDeliveryRead.model_validate(_delivery_fields(d)) for d in shown],
        next_cursor=encode_cursor(DELIVERIES_CURSOR, next_before),
    )


@router.post(
    "/webhook-deliveries/{delivery_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery again",
    response_model=WebhookDeliveryQueued,
    responses=error_responses(WebhookDeliveryNotFound, StorageUnavailable),
)
async def retry_delivery(
    delivery_id: str, account_id: CurrentAccount, webhooks: WebhookEndpointServiceDep
) -> WebhookDeliveryQueued:
    """Queues the delivery to be sent now, whatever its status: a failed one gets a new 24
    hours of retries, a delivered one is sent once more. Same message, same `webhook-id`, so a
    receiver that deduplicates on it sees the repeat as one."""
    delivery = await webhooks.retry(account_id, delivery_id)
    return WebhookDeliveryQueued.model_validate(_delivery_fields(delivery))
