"""IdempotencyStore: the answers remembered under an Idempotency-Key, on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
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


def minutes(count: float) -> datetime:
    return NOW + timedelta(minutes=count)


async def test_a_new_key_is_claimed_and_its_answer_then_replayed(
    records: IdempotencyStore,
) -> None:
    assert await records.start("key-1", "hash-1", "claim-a", NOW, minutes(2)) is None
    assert await records.start("key-1", "hash-1", "claim-b", NOW, minutes(2)) == (
        IdempotencyRecord("hash-1", None, b"", None)
    )
    assert await records.start("key-2", "hash-2", "claim-c", NOW, minutes(2)) is None

    await records.finish(
        "key-1", "claim-a", 201, b'{"bot_id": "bot_1"}', "application/json", at(24)
    )

    assert await records.start("key-1", "hash-other", "claim-d", at(1), minutes(62)) == (
        IdempotencyRecord("hash-1", 201, b'{"bot_id": "bot_1"}', "application/json")
    )


async def test_an_abandoned_key_runs_again_but_a_finished_one_stays(
    records: IdempotencyStore,
) -> None:
    await records.start("failed", "hash-1", "claim-a", NOW, minutes(2))
    await records.abandon("failed", "claim-a")
    assert await records.start("failed", "hash-2", "claim-b", NOW, minutes(2)) is None

    await records.start("done", "hash-1", "claim-c", NOW, minutes(2))
    await records.finish("done", "claim-c", 200, b"{}", None, at(24))
    await records.abandon("done", "claim-c")

    assert await records.start("done", "hash-1", "claim-d", NOW, minutes(2)) == (
        IdempotencyRecord("hash-1", 200, b"{}", None)
    )


async def test_an_expired_record_counts_as_absent(records: IdempotencyStore) -> None:
    await records.start("key-1", "hash-1", "claim-a", NOW, minutes(2))
    await records.finish("key-1", "claim-a", 201, b"old", None, at(24))

    assert (
        await records.start("key-1", "hash-2", "claim-b", at(24), at(24) + timedelta(minutes=2))
        is None
    )

    assert await records.start("key-1", "hash-3", "claim-c", at(24), at(25)) == (
        IdempotencyRecord("hash-2", None, b"", None)
    )


async def test_a_claim_nobody_renews_stops_blocking_its_key_when_it_expires(
    records: IdempotencyStore,
) -> None:
    await records.start("crashed", "hash-1", "claim-dead", NOW, minutes(2))
    assert await records.start("crashed", "hash-1", "claim-b", minutes(1), minutes(3)) == (
        IdempotencyRecord("hash-1", None, b"", None)
    )

    assert await records.start("crashed", "hash-1", "claim-b", minutes(2), minutes(4)) is None

    # The dead request's claim is gone: it can no longer renew, finish or abandon the key.
    assert not await records.renew("crashed", "claim-dead", minutes(10))
    await records.finish("crashed", "claim-dead", 500, b"late", None, at(24))
    await records.abandon("crashed", "claim-dead")
    await records.finish("crashed", "claim-b", 201, b"new", None, at(24))
    assert await records.start("crashed", "hash-1", "claim-c", minutes(5), minutes(7)) == (
        IdempotencyRecord("hash-1", 201, b"new", None)
    )


async def test_a_renewed_claim_keeps_its_key_until_it_finishes(records: IdempotencyStore) -> None:
    await records.start("slow", "hash-1", "claim-a", NOW, minutes(2))
    for minute in range(1, 10):
        assert await records.renew("slow", "claim-a", minutes(minute + 2))
        assert await records.start("slow", "hash-1", "claim-b", minutes(minute + 1), at(1)) == (
            IdempotencyRecord("hash-1", None, b"", None)
        )

    await records.finish("slow", "claim-a", 200, b"{}", None, at(24))

    assert not await records.renew("slow", "claim-a", at(48))  # finished: nothing to renew
    assert await records.start("slow", "hash-1", "claim-c", at(23), at(23.1)) == (
        IdempotencyRecord("hash-1", 200, b"{}", None)
    )
    assert await records.start("slow", "hash-1", "claim-c", at(24), at(24.1)) is None


async def _three_expired_and_one_running(records: IdempotencyStore) -> None:
    for name in ("a", "b", "c"):
        await records.start(f"old-{name}", "hash", f"claim-{name}", NOW, minutes(2))
        await records.finish(f"old-{name}", f"claim-{name}", 200, b"{}", None, at(24))
    await records.start("running", "hash", "claim-r", at(24), at(26))


async def test_after_a_purge_expired_records_are_gone_and_live_ones_stay(
    records: IdempotencyStore,
) -> None:
    await _three_expired_and_one_running(records)

    for _ in range(3):
        assert await records.purge_expired(at(25), limit=2) <= 2

    for name in ("a", "b", "c"):
        assert await records.start(f"old-{name}", "other", "claim-x", at(25), at(26)) is None
    assert await records.renew("running", "claim-r", at(27))


@pytest.mark.parametrize("records", ["memory", "sqlite"], indirect=True)
async def test_the_stores_without_a_ttl_delete_expired_records_in_batches(
    records: IdempotencyStore,
) -> None:
    await _three_expired_and_one_running(records)

    counts = [await records.purge_expired(at(25), limit=2) for _ in range(3)]

    assert counts == [2, 1, 0]
    assert await records.renew("running", "claim-r", at(27))
