"""The outbox, webhook endpoints and deliveries on calbot's table.

Items (docs/dynamodb.md):
- message (`outbox_message`): `OUTBOX#{message_id}` / `OUTBOX`, GSI1 `OUTBOX#{s}` /
  `{created_at}#{message_id}` (the dispatcher's queue); deleted in the transaction that routes it.
- endpoint (`webhook_endpoint`): `ACCOUNT#{a}` / `WHENDPOINT#{endpoint_id}`; the count of the
  account's endpoints (`webhook_endpoint_count`): `ACCOUNT#{a}` / `WHENDPOINTCOUNT`, changed in
  the same transaction as each add or delete, so the limit holds under concurrent adds.
- delivery (`webhook_delivery`): `WHDELIVERY#{delivery_id}` / `WHDELIVERY`, GSI1 `WHDUE#{s}` /
  `{due_at}#{delivery_id}` while pending, GSI2 `WHLOG#{a}` / `{created_at}#{delivery_id}` (the
  account's log, newest first).
Times in these items are `webhook_records.precise_text` (microseconds; sorts as text).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import orjson

from app.adapters.aws.dynamodb.codec import item, plain
from app.adapters.aws.dynamodb.table import (
    GSI2,
    GSI2_PK,
    GSI2_SK,
    PK,
    Item,
    account_pk,
    base_key,
    key,
    shard,
)
from app.adapters.aws.dynamodb.transactions import OUTBOX_KIND, TableClient, expression
from app.adapters.ports.outbox import DeliveryCursor
from app.domain import OutboxMessage
from app.webhook_messages import data_from_json, data_json
from app.webhook_records import (
    DELIVERY_RETENTION,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    from_precise_text,
    precise_text,
)

OUTBOX_QUEUE: Final = "OUTBOX#"
DUE_QUEUE: Final = "WHDUE#"
ENDPOINT_PREFIX: Final = "WHENDPOINT#"
_QUEUE_READ: Final = 50
_LOG_READ: Final = 100


def message_key(message_id: str) -> Item:
    return key(f"OUTBOX#{message_id}", "OUTBOX")


def endpoint_key(account_id: str, endpoint_id: str) -> Item:
    return key(account_pk(account_id), f"{ENDPOINT_PREFIX}{endpoint_id}")


def endpoint_count_key(account_id: str) -> Item:
    return key(account_pk(account_id), "WHENDPOINTCOUNT")


DELIVERY_PARTITION: Final = "WHDELIVERY#"


def delivery_key(delivery_id: str) -> Item:
    return key(f"{DELIVERY_PARTITION}{delivery_id}", "WHDELIVERY")


def log_pk(account_id: str) -> str:
    return f"WHLOG#{account_id}"


def _message_item(message: OutboxMessage) -> Item:
    created = precise_text(message.created_at)
    return item(
        message_key(message.message_id),
        kind=OUTBOX_KIND,
        message_id=message.message_id,
        account_id=message.account_id,
        type=message.type,
        created_at=created,
        data=data_json(message),
        GSI1PK=f"{OUTBOX_QUEUE}{shard(message.message_id)}",
        GSI1SK=f"{created}#{message.message_id}",
    )


def outbox_put_items(table_name: str, messages: Sequence[OutboxMessage]) -> list[dict[str, Any]]:
    """TransactWriteItems actions (`{"Put": ...}`) that add the messages to the outbox. The
    caller adds them to its own transaction, the one that writes the change they report, so
    they commit with it or not at all; never send them on their own. They carry no condition:
    they never cancel the caller's transaction."""
    return [{"Put": {"TableName": table_name, "Item": _message_item(m)}} for m in messages]


def _message_from(typed: Item) -> OutboxMessage:
    data = plain(typed)
    return OutboxMessage(
        message_id=data["message_id"],
        account_id=data["account_id"],
        type=data["type"],
        created_at=from_precise_text(data["created_at"]),
        data=data_from_json(data["data"]),
    )


def _text_or_none(when: datetime | None) -> str | None:
    return None if when is None else precise_text(when)


def _delivery_item(delivery: WebhookDelivery) -> Item:
    created = precise_text(delivery.created_at)
    pending = delivery.status is DeliveryStatus.PENDING and delivery.due_at is not None
    due = _text_or_none(delivery.due_at)
    return item(
        delivery_key(delivery.delivery_id),
        kind="webhook_delivery",
        delivery_id=delivery.delivery_id,
        account_id=delivery.account_id,
        endpoint_id=delivery.endpoint_id,
        message_id=delivery.message_id,
        type=delivery.type,
        body=delivery.body,
        status=delivery.status.value,
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        next_attempt_at=_text_or_none(delivery.next_attempt_at),
        created_at=created,
        give_up_at=precise_text(delivery.give_up_at),
        due_at=due,
        claim=delivery.claim,
        GSI1PK=f"{DUE_QUEUE}{shard(delivery.delivery_id)}" if pending else None,
        GSI1SK=f"{due}#{delivery.delivery_id}" if pending else None,
        GSI2PK=log_pk(delivery.account_id),
        # Finished: DynamoDB's TTL deletes it once the log's retention is over.
        expires_at_epoch=None
        if delivery.status is DeliveryStatus.PENDING
        else int((delivery.created_at + DELIVERY_RETENTION).timestamp()),
        GSI2SK=f"{created}#{delivery.delivery_id}",
    )


def _delivery_from(typed: Item) -> WebhookDelivery:
    data = plain(typed)
    next_at, due = data.get("next_attempt_at"), data.get("due_at")
    return WebhookDelivery(
        delivery_id=data["delivery_id"],
        account_id=data["account_id"],
        endpoint_id=data["endpoint_id"],
        message_id=data["message_id"],
        type=data["type"],
        body=data["body"],
        status=DeliveryStatus(data["status"]),
        attempts=data["attempts"],
        last_status_code=data.get("last_status_code"),
        last_error=data.get("last_error"),
        next_attempt_at=None if next_at is None else from_precise_text(next_at),
        created_at=from_precise_text(data["created_at"]),
        give_up_at=from_precise_text(data["give_up_at"]),
        due_at=None if due is None else from_precise_text(due),
        claim=data.get("claim"),
    )


def _endpoint_item(endpoint: WebhookEndpoint) -> Item:
    return item(
        endpoint_key(endpoint.account_id, endpoint.endpoint_id),
        kind="webhook_endpoint",
        endpoint_id=endpoint.endpoint_id,
        account_id=endpoint.account_id,
        url=endpoint.url,
        event_types=None
        if endpoint.event_types is None
        else orjson.dumps(endpoint.event_types).decode(),
        description=endpoint.description,
        created_at=precise_text(endpoint.created_at),
        sealed_secret=endpoint.sealed_secret,
    )


def _types_from(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(orjson.loads(text))


def _endpoint_from(typed: Item) -> WebhookEndpoint:
    data = plain(typed)
    return WebhookEndpoint(
        endpoint_id=data["endpoint_id"],
        account_id=data["account_id"],
        url=data["url"],
        event_types=_types_from(data.get("event_types")),
        description=data.get("description"),
        created_at=from_precise_text(data["created_at"]),
        sealed_secret=data["sealed_secret"],
    )


class DynamoDbOutboxStore:
    """`OutboxStore` on calbot's table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def append_messages(self, messages: Sequence[OutboxMessage]) -> None:
        await self._table.put_items(_message_item(message) for message in messages)

    async def unrouted_messages(self, limit: int) -> list[OutboxMessage]:
        found = await self._table.queued(OUTBOX_QUEUE, below=None, max_items=limit)
        messages = sorted(
            (_message_from(typed) for typed in found), key=lambda m: (m.created_at, m.message_id)
        )
        return messages[:limit]

    async def route_message(
        self, message: OutboxMessage, deliveries: Sequence[WebhookDelivery]
    ) -> bool:
        table = self._table
        actions = [
            table.action(
                "Delete", Key=message_key(message.message_id), condition="attribute_exists(#PK)"
            )
        ]
        actions += [table.action("Put", Item=_delivery_item(d)) for d in deliveries]
        return await table.transact(actions) is None

    async def add_delivery(self, delivery: WebhookDelivery) -> None:
        await self._table.put(_delivery_item(delivery), "attribute_not_exists(#PK)")

    async def due_deliveries(self, now: datetime, limit: int) -> list[WebhookDelivery]:
        cutoff = precise_text(now)
        found = await self._table.queued(DUE_QUEUE, below=cutoff + "$", max_items=_QUEUE_READ)
        due = [
            delivery
            for delivery in map(_delivery_from, found)
            if delivery.status is DeliveryStatus.PENDING
            and delivery.due_at is not None
            and precise_text(delivery.due_at) <= cutoff
        ]
        due.sort(key=lambda d: (precise_text(d.due_at or now), d.delivery_id))
        return due[:limit]

    async def claim_delivery(
        self, delivery_id: str, token: str, now: datetime, until: datetime
    ) -> WebhookDelivery | None:
        until_text = precise_text(until)
        attributes = await self._table.update(
            delivery_key(delivery_id),
            "SET #claim = :token, #due_at = :until, #GSI1SK = :queue_sort",
            {
                ":token": token,
                ":until": until_text,
                ":queue_sort": f"{until_text}#{delivery_id}",
                ":pending": DeliveryStatus.PENDING.value,
                ":now": precise_text(now),
            },
            "#status = :pending AND #due_at <= :now",
            return_values="ALL_NEW",
        )
        return None if attributes is None else _delivery_from(attributes)

    async def record_attempt(self, delivery: WebhookDelivery, token: str) -> bool:
        written = _delivery_item(delivery)
        written.pop("claim", None)
        return await self._table.put(written, "#claim = :token", {":token": token})

    async def requeue_delivery(
        self, account_id: str, delivery_id: str, now: datetime, give_up_at: datetime
    ) -> WebhookDelivery | None:
        now_text = precise_text(now)
        attributes = await self._table.update(
            delivery_key(delivery_id),
            "SET #status = :pending, #next_attempt_at = :now, #due_at = :now, "
            "#give_up_at = :give_up, #GSI1PK = :queue, #GSI1SK = :queue_sort REMOVE #claim",
            {
                ":pending": DeliveryStatus.PENDING.value,
                ":now": now_text,
                ":give_up": precise_text(give_up_at),
                ":queue": f"{DUE_QUEUE}{shard(delivery_id)}",
                ":queue_sort": f"{now_text}#{delivery_id}",
                ":account": account_id,
            },
            "#account_id = :account",
            return_values="ALL_NEW",
        )
        return None if attributes is None else _delivery_from(attributes)

    async def get_delivery(self, account_id: str, delivery_id: str) -> WebhookDelivery | None:
        typed = await self._table.get(delivery_key(delivery_id))
        if typed is None:
            return None
        delivery = _delivery_from(typed)
        return delivery if delivery.account_id == account_id else None

    async def purge_finished_deliveries(self, before: datetime, limit: int) -> int:
        """Nothing to do: finished deliveries carry `expires_at_epoch`, the table's TTL."""
        return 0

    async def list_deliveries(
        self,
        account_id: str,
        *,
        endpoint_id: str | None,
        status: DeliveryStatus | None,
        before: DeliveryCursor | None,
        limit: int,
    ) -> list[WebhookDelivery]:
        """Reads the log index newest first, a batch of keys at a time, re-reading each item
        (the index may lag) and filtering, until `limit` are found or the log ends."""
        found: list[WebhookDelivery] = []
        bound = None if before is None else f"{before[0]}#{before[1]}"
        while len(found) < limit:
            condition = f"#{GSI2_PK} = :pk" + ("" if bound is None else f" AND #{GSI2_SK} < :b")
            values: dict[str, object] = {":pk": log_pk(account_id)}
            if bound is not None:
                values[":b"] = bound
            params: dict[str, Any] = {
                "TableName": self._table.name,
                "IndexName": GSI2,
                "KeyConditionExpression": condition,
                "ScanIndexForward": False,
                "Limit": _LOG_READ,
            }
            response = await self._table.call("query", **expression(params, values, condition))
            entries: list[Item] = response.get("Items", [])
            if not entries:
                break
            bound = entries[-1][GSI2_SK]["S"]
            by_id = {
                d.delivery_id: d
                for d in map(_delivery_from, await self._table.batch_get(map(base_key, entries)))
            }
            for entry in entries:
                delivery = by_id.get(entry[PK]["S"].removeprefix(DELIVERY_PARTITION))
                if (
                    delivery is not None
                    and delivery.account_id == account_id
                    and (endpoint_id is None or delivery.endpoint_id == endpoint_id)
                    and (status is None or delivery.status is status)
                ):
                    found.append(delivery)
            if not response.get("LastEvaluatedKey"):
                break
        return found[:limit]


class DynamoDbWebhookEndpointStore:
    """`WebhookEndpointStore` on calbot's table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def add_endpoint(self, endpoint: WebhookEndpoint, *, max_per_account: int) -> bool:
        table = self._table
        reasons = await table.transact(
            [
                table.action(
                    "Update",
                    Key=endpoint_count_key(endpoint.account_id),
                    update="SET #kind = :kind ADD #count :one",
                    condition="attribute_not_exists(#count) OR #count < :limit",
                    values={
                        ":kind": "webhook_endpoint_count",
                        ":one": 1,
                        ":limit": max_per_account,
                    },
                ),
                table.action(
                    "Put", Item=_endpoint_item(endpoint), condition="attribute_not_exists(#PK)"
                ),
            ]
        )
        return reasons is None

    async def list_endpoints(self, account_id: str) -> list[WebhookEndpoint]:
        found = await self._table.partition(account_pk(account_id), ENDPOINT_PREFIX)
        endpoints = [_endpoint_from(typed) for typed in found]
        return sorted(endpoints, key=lambda e: (e.created_at, e.endpoint_id))

    async def get_endpoint(self, account_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        typed = await self._table.get(endpoint_key(account_id, endpoint_id))
        return None if typed is None else _endpoint_from(typed)

    async def delete_endpoint(self, account_id: str, endpoint_id: str) -> bool:
        table = self._table
        reasons = await table.transact(
            [
                table.action(
                    "Delete",
                    Key=endpoint_key(account_id, endpoint_id),
                    condition="attribute_exists(#PK)",
                ),
                table.action(
                    "Update",
                    Key=endpoint_count_key(account_id),
                    update="ADD #count :minus_one",
                    values={":minus_one": -1},
                ),
            ]
        )
        return reasons is None
