"""The stores on DynamoDB: one table, every item type and access pattern in docs/dynamodb.md.

`table` is the key design (and `create_table`, `dynamodb_client_config`), `codec` the
attribute values and the event and bot items, `transactions` the retrying client every store
goes through; then one module per aggregate, each a class implementing one port of
`app.adapters.ports`, `idempotency` for the idempotency records and `consent` for the consent
flow's links and nonces.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from app.adapters.aws.dynamodb.accounts import DynamoDbAccountStore
from app.adapters.aws.dynamodb.auto_schedule import DynamoDbAutoScheduleStore
from app.adapters.aws.dynamodb.bots import DynamoDbBotStore
from app.adapters.aws.dynamodb.channels import DynamoDbChannelStore
from app.adapters.aws.dynamodb.connections import DynamoDbConnectionStore
from app.adapters.aws.dynamodb.consent import DynamoDbConsentStore, enable_expiry
from app.adapters.aws.dynamodb.events import DynamoDbEventStore, index_event_starts
from app.adapters.aws.dynamodb.idempotency import DynamoDbIdempotencyStore
from app.adapters.aws.dynamodb.leases import DynamoDbLeaseStore
from app.adapters.aws.dynamodb.outbox import DynamoDbOutboxStore, DynamoDbWebhookEndpointStore
from app.adapters.aws.dynamodb.sealed_secrets import DynamoDbSealedSecretStore
from app.adapters.aws.dynamodb.series import DynamoDbSeriesScheduleStore
from app.adapters.aws.dynamodb.sync_health import DynamoDbSyncHealthStore
from app.adapters.aws.dynamodb.table import create_table, dynamodb_client_config
from app.adapters.aws.dynamodb.transactions import TableClient
from app.adapters.ports import Stores
from app.outbox_bell import OutboxBell

__all__ = [
    "DynamoDbAccountStore",
    "DynamoDbAutoScheduleStore",
    "DynamoDbBotStore",
    "DynamoDbChannelStore",
    "DynamoDbConnectionStore",
    "DynamoDbConsentStore",
    "DynamoDbEventStore",
    "DynamoDbIdempotencyStore",
    "DynamoDbLeaseStore",
    "DynamoDbOutboxStore",
    "DynamoDbSealedSecretStore",
    "DynamoDbSeriesScheduleStore",
    "DynamoDbSyncHealthStore",
    "DynamoDbWebhookEndpointStore",
    "create_table",
    "dynamodb_client_config",
    "dynamodb_stores",
    "enable_expiry",
    "index_event_starts",
]


def dynamodb_stores(
    client: Any,
    table_name: str,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    outbox_bell: OutboxBell | None = None,
) -> Stores:
    """Every aggregate's store on one table; `client` is an entered aiobotocore DynamoDB
    client, shared by all of them. `outbox_bell` rings after writes that add outbox messages."""
    table = TableClient(client, table_name, sleep=sleep, outbox_bell=outbox_bell)
    return Stores(
        accounts=DynamoDbAccountStore(table),
        connections=DynamoDbConnectionStore(table),
        sealed_secrets=DynamoDbSealedSecretStore(table),
        events=DynamoDbEventStore(table),
        bots=DynamoDbBotStore(table),
        series=DynamoDbSeriesScheduleStore(table),
        auto_schedule=DynamoDbAutoScheduleStore(table),
        channels=DynamoDbChannelStore(table),
        leases=DynamoDbLeaseStore(table),
        sync_health=DynamoDbSyncHealthStore(table),
        outbox=DynamoDbOutboxStore(table),
        webhook_endpoints=DynamoDbWebhookEndpointStore(table),
    )
