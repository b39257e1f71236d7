"""The ConsentStore contract (app/adapters/ports/consent.py), one suite for every backend: memory,
SQLite on a temporary file and DynamoDB on moto (tests/aws.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.adapters.aws.dynamodb import create_table, dynamodb_client_config
from app.adapters.aws.dynamodb.consent import TTL_ATTRIBUTE, DynamoDbConsentStore, enable_expiry
from app.adapters.memory.consent import MemoryConsentStore
from app.adapters.ports import ConnectLinkRecord, ConsentStore
from app.adapters.sqlite.consent import SqliteConsentStore
from app.adapters.sqlite.database import Database
from tests.aws import (  # noqa: F401  (fixtures, found by name)
    aws_endpoint,
    aws_env,
    dynamodb_client,
    moto_reset,
    moto_server,
    open_aws_client,
)

TABLE = "calbot-consent-contract"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConsentStore]:
    if request.param == "memory":
        yield MemoryConsentStore()
        return
    if request.param == "sqlite":
        database = Database(tmp_path / "calbot.sqlite3")
        await database.open()
        try:
            yield SqliteConsentStore(database)
        finally:
            await database.close()
        return
    endpoint: str = request.getfixturevalue("aws_endpoint")
    async with open_aws_client("dynamodb", endpoint, config=dynamodb_client_config()) as client:
        await create_table(client, TABLE)
        yield DynamoDbConsentStore(client, TABLE)


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def link(
    link_hash: str = "a" * 64,
    account_id: str = "acc_one",
    *,
    expires_at: datetime | None = None,
    sealed: bytes | None = None,
) -> ConnectLinkRecord:
    return ConnectLinkRecord(
        link_hash=link_hash,
        account_id=account_id,
        client_id="client-123.apps.googleusercontent.com",
        sealed_client_secret=sealed,
        expires_at=expires_at or at(15),
    )


# -- connect links -------------------------------------------------------------------------------


@pytest.mark.parametrize("sealed", [None, b"\x00nonce-and-ciphertext\xff"])
async def test_a_saved_link_reads_back_whole(store: ConsentStore, sealed: bytes | None) -> None:
    saved = link(sealed=sealed)
    await store.save_connect_link(saved, NOW)

    assert await store.get_connect_link(saved.link_hash, NOW) == saved
    assert await store.get_connect_link("b" * 64, NOW) is None


async def test_a_link_is_live_until_its_expiry(store: ConsentStore) -> None:
    saved = link(expires_at=at(15))
    await store.save_connect_link(saved, NOW)

    assert await store.get_connect_link(saved.link_hash, at(15) - timedelta(seconds=1)) == saved
    assert await store.get_connect_link(saved.link_hash, at(15)) is None
    assert await store.take_connect_link(saved.link_hash, at(15)) is None


async def test_a_link_is_taken_once(store: ConsentStore) -> None:
    saved = link()
    await store.save_connect_link(saved, NOW)

    assert await store.take_connect_link(saved.link_hash, NOW) == saved
    assert await store.take_connect_link(saved.link_hash, NOW) is None
    assert await store.get_connect_link(saved.link_hash, NOW) is None
    assert await store.connect_links_of(saved.account_id, NOW) == []


async def test_of_concurrent_takes_exactly_one_gets_the_link(store: ConsentStore) -> None:
    saved = link()
    await store.save_connect_link(saved, NOW)

    taken = await asyncio.gather(*(store.take_connect_link(saved.link_hash, NOW) for _ in range(6)))

    assert [record for record in taken if record is not None] == [saved]


async def test_a_taken_link_saved_again_is_live_again(store: ConsentStore) -> None:
    saved = link()
    await store.save_connect_link(saved, NOW)
    taken = await store.take_connect_link(saved.link_hash, NOW)
    assert taken is not None

    await store.save_connect_link(taken, at(1))

    assert await store.get_connect_link(saved.link_hash, at(1)) == saved
    assert await store.connect_links_of(saved.account_id, at(1)) == [saved.link_hash]
    assert await store.take_connect_link(saved.link_hash, at(1)) == saved


async def test_an_accounts_live_links_are_listed_soonest_expiry_first(store: ConsentStore) -> None:
    links = [
        link("c" * 64, expires_at=at(15)),
        link("a" * 64, expires_at=at(16)),
        link("b" * 64, expires_at=at(15)),
        link("d" * 64, expires_at=at(1)),
        link("e" * 64, "acc_two", expires_at=at(15)),
    ]
    for saved in links:
        await store.save_connect_link(saved, NOW)

    assert await store.connect_links_of("acc_one", NOW) == ["d" * 64, "b" * 64, "c" * 64, "a" * 64]
    assert await store.connect_links_of("acc_one", at(1)) == ["b" * 64, "c" * 64, "a" * 64]
    assert await store.connect_links_of("acc_two", NOW) == ["e" * 64]
    assert await store.connect_links_of("acc_three", NOW) == []


async def test_an_expired_link_stays_gone_after_later_writes(store: ConsentStore) -> None:
    old = link("a" * 64, expires_at=at(1))
    await store.save_connect_link(old, NOW)
    await store.save_connect_link(link("b" * 64, expires_at=at(20)), at(5))
    await store.spend_nonce("n" * 64, at(20), at(5))

    assert await store.get_connect_link(old.link_hash, at(5)) is None
    assert await store.connect_links_of("acc_one", at(5)) == ["b" * 64]


# -- nonces --------------------------------------------------------------------------------------


async def test_a_nonce_is_spent_once(store: ConsentStore) -> None:
    assert await store.spend_nonce("n" * 64, at(10), NOW) is True
    assert await store.spend_nonce("n" * 64, at(10), at(9)) is False
    assert await store.spend_nonce("m" * 64, at(10), NOW) is True


async def test_an_expired_nonce_record_no_longer_counts(store: ConsentStore) -> None:
    assert await store.spend_nonce("n" * 64, at(10), NOW) is True

    assert await store.spend_nonce("n" * 64, at(20), at(10)) is True
    assert await store.spend_nonce("n" * 64, at(20), at(19)) is False


async def test_of_concurrent_spends_exactly_one_wins(store: ConsentStore) -> None:
    spent = await asyncio.gather(*(store.spend_nonce("n" * 64, at(10), NOW) for _ in range(6)))

    assert sorted(spent) == [False] * 5 + [True]


# -- backend specifics ---------------------------------------------------------------------------


async def test_sqlite_deletes_expired_rows_on_write(tmp_path: Path) -> None:
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    try:
        store = SqliteConsentStore(database)
        await store.save_connect_link(link("a" * 64, expires_at=at(1)), NOW)
        await store.spend_nonce("n" * 64, at(1), NOW)

        await store.spend_nonce("m" * 64, at(30), at(2))

        links = await database.fetch_one("SELECT count(*) AS n FROM consent_links")
        nonces = await database.fetch_all("SELECT nonce_hash FROM consent_nonces")
    finally:
        await database.close()
    assert links is not None
    assert links["n"] == 0
    assert [row["nonce_hash"] for row in nonces] == ["m" * 64]


async def test_dynamodb_items_carry_the_ttl_attribute_and_ttl_is_turned_on_once(
    dynamodb_client: Any,  # noqa: F811  (the fixture imported above)
) -> None:
    await create_table(dynamodb_client, TABLE)
    store = DynamoDbConsentStore(dynamodb_client, TABLE)
    await store.save_connect_link(link(expires_at=at(15)), NOW)
    await store.spend_nonce("n" * 64, at(10), NOW)

    first = await enable_expiry(dynamodb_client, TABLE)
    again = await enable_expiry(dynamodb_client, TABLE)

    described = await dynamodb_client.describe_time_to_live(TableName=TABLE)
    assert (first, again) == (True, False)
    assert described["TimeToLiveDescription"]["AttributeName"] == TTL_ATTRIBUTE
    items = (await dynamodb_client.scan(TableName=TABLE))["Items"]
    expiries = sorted(int(item[TTL_ATTRIBUTE]["N"]) for item in items)
    assert len(items) == 3  # the link, its account pointer, the nonce
    assert expiries == sorted(
        [int(at(10).timestamp()), int(at(15).timestamp()), int(at(15).timestamp())]
    )
