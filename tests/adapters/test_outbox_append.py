"""The in-transaction outbox helpers: a message commits with the write that carries it, or not
at all (SQLite transaction, DynamoDB TransactWriteItems, the memory tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.adapters.aws.dynamodb import create_table, dynamodb_stores
from app.adapters.aws.dynamodb.outbox import outbox_put_items
from app.adapters.aws.dynamodb.table import key
from app.adapters.memory import memory_stores
from app.adapters.memory.outbox import append_outbox as append_in_memory
from app.adapters.memory.tables import MemoryTables
from app.adapters.sqlite import sqlite_stores
from app.adapters.sqlite.database import Database
from app.adapters.sqlite.outbox import append_outbox
from app.webhook_messages import new_message
from tests.adapters.store_contract.builders import ACCOUNT, NOW
from tests.aws import (  # noqa: F401  (fixtures, found by name)
    aws_endpoint,
    aws_env,
    dynamodb_client,
    moto_reset,
    moto_server,
)

TABLE = "calbot-outbox-append"


async def test_sqlite_messages_commit_and_roll_back_with_the_callers_transaction(
    tmp_path: Path,
) -> None:
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    try:
        stores = sqlite_stores(database)
        kept, lost = new_message(ACCOUNT, "ping", {}, NOW), new_message(ACCOUNT, "ping", {}, NOW)
        async with database.transaction() as tx:
            await tx.execute("INSERT INTO leases VALUES ('x', 'holder', '2026-01-01T00:00:00Z')")
            await append_outbox(tx, [kept])

        async def failing_change() -> None:
            async with database.transaction() as tx:
                await append_outbox(tx, [lost])
                raise RuntimeError("the change failed")

        with pytest.raises(RuntimeError):
            await failing_change()
        assert await stores.outbox.unrouted_messages(10) == [kept]
    finally:
        await database.close()


async def test_dynamodb_messages_commit_only_with_the_callers_transaction(
    dynamodb_client: Any,  # noqa: F811  (the fixture imported above)
) -> None:
    await create_table(dynamodb_client, TABLE)
    stores = dynamodb_stores(dynamodb_client, TABLE)
    kept, lost = new_message(ACCOUNT, "ping", {}, NOW), new_message(ACCOUNT, "ping", {}, NOW)
    change = {"Put": {"TableName": TABLE, "Item": key("THING#1", "THING")}}
    await dynamodb_client.transact_write_items(
        TransactItems=[change, *outbox_put_items(TABLE, [kept])]
    )
    refused = {
        "Put": {**change["Put"], "ConditionExpression": "attribute_not_exists(PK)"}
    }  # the thing exists now: the caller's condition fails, so its message is not written
    with pytest.raises(dynamodb_client.exceptions.TransactionCanceledException):
        await dynamodb_client.transact_write_items(
            TransactItems=[refused, *outbox_put_items(TABLE, [lost])]
        )
    assert await stores.outbox.unrouted_messages(10) == [kept]


async def test_memory_messages_are_appended_to_the_tables() -> None:
    tables = MemoryTables()
    message = new_message(ACCOUNT, "ping", {}, NOW)
    append_in_memory(tables, [message])
    assert await memory_stores(tables).outbox.unrouted_messages(10) == [message]
