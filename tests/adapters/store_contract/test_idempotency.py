"""IdempotencyStore: the answers remembered under an Idempotency-Key, on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.adapters.aws.dynamodb import (
    DynamoDbIdempotencyStore,
    create_table,
    dynamodb_client_config,
)
from app.adapters.memory import MemoryIdempotencyStore
from app.adapters.ports import IdempotencyRecord, IdempotencyStore
from app.adapters.sqlite.database import Database
from app.adapters.sqlite.idempotency import SqliteIdempotencyStore
from tests.adapters.store_contract.builders import NOW, TABLE, at
from tests.aws import open_aws_client


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
async def records(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[IdempotencyStore]:
    if request.param == "memory":
        yield MemoryIdempotencyStore()
        return
    if request.param == "sqlite":
        database = Database(tmp_path / "calbot.sqlite3")
        await database.open()
        try:
            yield SqliteIdempotencyStore(database)
        finally:
            await database.close()
        return
    endpoint: str = request.getfixturevalue("aws_endpoint")
    async with open_aws_client("dynamodb", endpoint, config=dynamodb_client_config()) as client:
        await create_table(client, TABLE)
        yield DynamoDbIdempotencyStore(client, TABLE)


async def test_a_new_key_is_claimed_and_its_answer_then_replayed(
    records: IdempotencyStore,
) -> None:
    assert await records.start("key-1", "hash-1", NOW, at(24)) is None
    assert await records.start("key-1", "hash-1", NOW, at(24)) == IdempotencyRecord(
        "hash-1", None, b"", None
    )
    assert await records.start("key-2", "hash-2", NOW, at(24)) is None

    await records.finish("key-1", 201, b'{"bot_id": "bot_1"}', "application/json")

    assert await records.start("key-1", "hash-other", at(1), at(25)) == IdempotencyRecord(
        "hash-1", 201, b'{"bot_id": "bot_1"}', "application/json"
    )


async def test_an_abandoned_key_runs_again_but_a_finished_one_stays(
    records: IdempotencyStore,
) -> None:
    await records.start("failed", "hash-1", NOW, at(24))
    await records.abandon("failed")
    assert await records.start("failed", "hash-2", NOW, at(24)) is None

    await records.start("done", "hash-1", NOW, at(24))
    await records.finish("done", 200, b"{}", None)
    await records.abandon("done")

    assert await records.start("done", "hash-1", NOW, at(24)) == IdempotencyRecord(
        "hash-1", 200, b"{}", None
    )


async def test_an_expired_record_counts_as_absent(records: IdempotencyStore) -> None:
    await records.start("key-1", "hash-1", NOW, at(24))
    await records.finish("key-1", 201, b"old", None)

    assert await records.start("key-1", "hash-2", at(24), at(48)) is None

    assert await records.start("key-1", "hash-3", at(25), at(49)) == IdempotencyRecord(
        "hash-2", None, b"", None
    )
