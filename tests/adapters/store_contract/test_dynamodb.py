"""What only the DynamoDB backend has: its table, and a missing one."""

from __future__ import annotations

from typing import Any

import pytest

from app.adapters.aws.dynamodb import create_table, dynamodb_stores
from app.adapters.aws.dynamodb.table import GSI1, GSI2, GSI3
from app.errors import StorageUnavailable
from tests.adapters.store_contract.builders import ACCOUNT, TABLE


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
