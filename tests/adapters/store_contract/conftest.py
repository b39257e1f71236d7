"""The storage backends every contract test runs on: memory, SQLite on a temporary file, and
DynamoDB on moto (tests/aws.py). One suite, so the backends cannot drift apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.adapters.aws.dynamodb import create_table, dynamodb_client_config, dynamodb_stores
from app.adapters.memory import memory_stores
from app.adapters.ports import Stores
from app.adapters.sqlite import sqlite_stores
from app.adapters.sqlite.database import Database
from tests.adapters.store_contract.builders import TABLE
from tests.aws import (  # noqa: F401  (fixtures, found by name)
    aws_endpoint,
    aws_env,
    dynamodb_client,
    moto_reset,
    moto_server,
    open_aws_client,
)


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    if request.param == "memory":
        yield memory_stores()
        return
    if request.param == "sqlite":
        database = Database(tmp_path / "calbot.sqlite3")
        await database.open()
        try:
            yield sqlite_stores(database)
        finally:
            await database.close()
        return
    endpoint: str = request.getfixturevalue("aws_endpoint")
    async with open_aws_client("dynamodb", endpoint, config=dynamodb_client_config()) as client:
        await create_table(client, TABLE)
        yield dynamodb_stores(client, TABLE)
