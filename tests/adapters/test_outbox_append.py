"""The in-transaction outbox helpers: a message commits with the write that carries it, or not
at all (SQLite transaction, DynamoDB TransactWriteItems, the memory tables), and the outbox
bell rings once it has committed, so the dispatcher starts at once."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from app.adapters.aws.dynamodb import create_table, dynamodb_stores
from app.adapters.aws.dynamodb.outbox import delivery_key, outbox_put_items
from app.adapters.aws.dynamodb.table import key
from app.adapters.aws.dynamodb.transactions import TableClient
from app.adapters.memory import memory_stores
from app.adapters.memory.outbox import append_outbox as append_in_memory
from app.adapters.memory.tables import MemoryTables
from app.adapters.sqlite import sqlite_stores
from app.adapters.sqlite.database import Database
from app.adapters.sqlite.outbox import append_outbox, append_outbox_in_thread
from app.domain import ScheduleStatus
from app.outbox_bell import OutboxBell
from app.services.webhook_dispatch import new_delivery
from app.webhook_messages import new_message
from app.webhook_records import DELIVERY_RETENTION, DeliveryStatus
from tests.adapters.store_contract.builders import ACCOUNT, NOW, at, bot, event, synced
from tests.aws import (  # noqa: F401  (fixtures, found by name)
    aws_endpoint,
    aws_env,
    dynamodb_client,
    moto_reset,
    moto_server,
)

TABLE = "calbot-outbox-append"


@pytest.fixture
async def belled(tmp_path: Path) -> AsyncIterator[tuple[Database, list[str]]]:
    """An open SQLite database, and the rings of its outbox bell as they come."""
    rings: list[str] = []
    database = Database(tmp_path / "calbot.sqlite3")
    database.outbox_bell.subscribe(lambda: rings.append("ring"))
    await database.open()
    try:
        yield database, rings
    finally:
        await database.close()


async def test_sqlite_messages_commit_and_roll_back_with_the_callers_transaction(
    belled: tuple[Database, list[str]],
) -> None:
    database, rings = belled
    stores = sqlite_stores(database)
    kept, lost = new_message(ACCOUNT, "ping", {}, NOW), new_message(ACCOUNT, "ping", {}, NOW)
    async with database.transaction() as tx:
        await tx.execute("INSERT INTO leases VALUES ('x', 'holder', '2026-01-01T00:00:00Z')")
        await append_outbox(tx, [kept])
        assert rings == []  # not before the commit
    assert rings == ["ring"]

    async def failing_change() -> None:
        async with database.transaction() as tx:
            await append_outbox(tx, [lost])
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    assert await stores.outbox.unrouted_messages(10) == [kept]
    assert rings == ["ring"]  # the rolled-back write rang nothing
    await stores.leases.try_acquire_lease("y", "holder", NOW, NOW)
    assert rings == ["ring"]  # nor does a write without messages


async def test_sqlite_messages_appended_in_the_writers_thread_commit_and_ring_with_its_write(
    belled: tuple[Database, list[str]],
) -> None:
    database, rings = belled
    stores = sqlite_stores(database)
    kept, lost = new_message(ACCOUNT, "ping", {}, NOW), new_message(ACCOUNT, "ping", {}, NOW)

    def failing(connection: sqlite3.Connection) -> None:
        append_outbox_in_thread(connection, [lost])
        raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await database.write_in_thread(failing)
    assert rings == []  # rolled back: nothing rung
    await database.write_in_thread(partial(append_outbox_in_thread, messages=[kept]))
    assert rings == ["ring"]
    assert await stores.outbox.unrouted_messages(10) == [kept]
    await database.write_in_thread(lambda connection: None)
    assert rings == ["ring"]  # nor does a write without messages


async def test_sqlite_bots_inserted_together_commit_their_messages_and_ring_once(
    belled: tuple[Database, list[str]],
) -> None:
    """An auto-schedule pass inserts its bots in one write (in the writer's thread): each new
    bot's `bot.scheduled` message commits with it, and the bell rings once, after the commit;
    a bot that already exists is neither inserted again nor announced again."""
    database, rings = belled
    stores = sqlite_stores(database)
    first, second = event("m1", at(1)), event("m2", at(2))
    await synced(stores.events, first, second)
    existing = bot(first, bot_id="bot_existing")
    assert await stores.bots.insert_bots_unless_exist([existing]) == [existing]
    assert rings == ["ring"]

    new = bot(second, bot_id="bot_new")
    again = bot(first, bot_id="bot_again")  # the same occurrence as `existing`
    assert await stores.bots.insert_bots_unless_exist([again, new]) == [new]

    assert rings == ["ring", "ring"]
    announced = [m.data["bot"]["bot_id"] for m in await stores.outbox.unrouted_messages(10)]
    assert sorted(announced) == ["bot_existing", "bot_new"]
    assert await stores.bots.get_bot(ACCOUNT, "bot_again") is None
    listed = await stores.events.get_event(ACCOUNT, second.event_id)
    assert listed is not None
    assert listed.schedule_status is ScheduleStatus.SCHEDULED
    assert await stores.bots.insert_bots_unless_exist([again]) == []
    assert rings == ["ring", "ring"]  # nothing created, nothing rung


async def test_dynamodb_messages_commit_only_with_the_callers_transaction(
    dynamodb_client: Any,  # noqa: F811  (the fixture imported above)
) -> None:
    await create_table(dynamodb_client, TABLE)
    bell = OutboxBell()
    rings: list[str] = []
    bell.subscribe(lambda: rings.append("ring"))
    stores = dynamodb_stores(dynamodb_client, TABLE, outbox_bell=bell)
    table = TableClient(dynamodb_client, TABLE, outbox_bell=bell)
    kept, lost = new_message(ACCOUNT, "ping", {}, NOW), new_message(ACCOUNT, "ping", {}, NOW)
    change = {"Put": {"TableName": TABLE, "Item": key("THING#1", "THING")}}
    assert await table.transact([change, *outbox_put_items(TABLE, [kept])]) is None
    assert rings == ["ring"]
    refused = {
        "Put": {**change["Put"], "ConditionExpression": "attribute_not_exists(PK)"}
    }  # the thing exists now: the caller's condition fails, so its message is not written
    assert await table.transact([refused, *outbox_put_items(TABLE, [lost])]) is not None
    assert await stores.outbox.unrouted_messages(10) == [kept]
    assert rings == ["ring"]


async def test_memory_messages_are_appended_to_the_tables() -> None:
    tables = MemoryTables()
    rings: list[str] = []
    tables.outbox_bell.subscribe(lambda: rings.append("ring"))
    message = new_message(ACCOUNT, "ping", {}, NOW)
    append_in_memory(tables, [message])
    assert rings == ["ring"]
    assert await memory_stores(tables).outbox.unrouted_messages(10) == [message]


async def test_dynamodb_finished_deliveries_carry_the_tables_expiry(
    dynamodb_client: Any,  # noqa: F811  (the fixture imported above)
) -> None:
    await create_table(dynamodb_client, TABLE)
    outbox = dynamodb_stores(dynamodb_client, TABLE).outbox
    message = new_message(ACCOUNT, "ping", {}, NOW)
    pending = new_delivery(message, "whe_a", NOW, timedelta(days=1))
    finished = replace(
        new_delivery(message, "whe_b", NOW, timedelta(days=1)),
        status=DeliveryStatus.DELIVERED,
        due_at=None,
    )
    for delivery in (pending, finished):
        await outbox.add_delivery(delivery)

    async def expiry(delivery_id: str) -> str | None:
        found = await dynamodb_client.get_item(TableName=TABLE, Key=delivery_key(delivery_id))
        value: str | None = found["Item"].get("expires_at_epoch", {}).get("N")
        return value

    assert await expiry(pending.delivery_id) is None
    assert await expiry(finished.delivery_id) == str(int((NOW + DELIVERY_RETENTION).timestamp()))
