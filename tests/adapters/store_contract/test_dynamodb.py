"""What only the DynamoDB backend has: its table, and a missing one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.adapters.aws.dynamodb import (
    DynamoDbIdempotencyStore,
    create_table,
    dynamodb_stores,
    enable_expiry,
    index_event_starts,
)
from app.adapters.aws.dynamodb.consent import TTL_ATTRIBUTE
from app.adapters.aws.dynamodb.table import GSI1, GSI2, GSI3
from app.errors import StorageUnavailable
from tests.adapters.store_contract.builders import ACCOUNT, CAL, NOW, TABLE, at, event, synced


async def test_create_table_is_idempotent(dynamodb_client: Any) -> None:
    assert await create_table(dynamodb_client, TABLE) is True
    assert await create_table(dynamodb_client, TABLE) is False

    described = await dynamodb_client.describe_table(TableName=TABLE)
    table = described["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {GSI1, GSI2, GSI3}


async def test_a_missing_table_is_storage_unavailable(dynamodb_client: Any) -> None:
    stores = dynamodb_stores(dynamodb_client, "no-such-table")

    with pytest.raises(StorageUnavailable):
        await stores.accounts.get_account(ACCOUNT)


async def test_idempotency_records_carry_their_expiry_as_the_tables_ttl_attribute(
    dynamodb_client: Any,
) -> None:
    await create_table(dynamodb_client, TABLE)
    records = DynamoDbIdempotencyStore(dynamodb_client, TABLE)
    claimed_until = NOW + timedelta(minutes=2)
    await records.start("running", "hash", "claim-a", NOW, claimed_until)
    await records.start("renewed", "hash", "claim-b", NOW, claimed_until)
    await records.renew("renewed", "claim-b", NOW + timedelta(minutes=3))
    await records.start("done", "hash", "claim-c", NOW, claimed_until)
    await records.finish("done", "claim-c", 201, b"{}", "application/json", at(24))

    items = (await dynamodb_client.scan(TableName=TABLE))["Items"]
    expiries = {item["PK"]["S"]: int(item[TTL_ATTRIBUTE]["N"]) for item in items}

    assert sorted(expiries.values()) == [
        int(claimed_until.timestamp()),
        int((NOW + timedelta(minutes=3)).timestamp()),
        int(at(24).timestamp()),
    ]
    # `calbot aws bootstrap` turns the table's TTL on for exactly this attribute.
    assert await enable_expiry(dynamodb_client, TABLE)
    described = await dynamodb_client.describe_time_to_live(TableName=TABLE)
    assert described["TimeToLiveDescription"]["AttributeName"] == TTL_ATTRIBUTE


async def test_events_stored_before_the_start_index_are_listed_once_bootstrap_indexes_them(
    dynamodb_client: Any,
) -> None:
    await create_table(dynamodb_client, TABLE)
    stores = dynamodb_stores(dynamodb_client, TABLE)
    late, early = event("late", at(2)), event("early", at(1))
    await synced(stores.events, late, early)
    # As an older calbot wrote them: no GSI2 entry.
    for typed in (await dynamodb_client.scan(TableName=TABLE))["Items"]:
        if typed.get("kind", {}).get("S") == "event":
            await dynamodb_client.update_item(
                TableName=TABLE,
                Key={"PK": typed["PK"], "SK": typed["SK"]},
                UpdateExpression="REMOVE GSI2PK, GSI2SK",
            )
    assert await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10) == []

    assert await index_event_starts(dynamodb_client, TABLE) == 2
    assert await index_event_starts(dynamodb_client, TABLE) == 0

    rows = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)
    assert [row.event for row in rows] == [early, late]
