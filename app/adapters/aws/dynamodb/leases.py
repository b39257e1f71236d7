"""Leases: one item per name (`LEASE#{name}`), taken with a conditional put."""

from __future__ import annotations

from datetime import datetime

from app.adapters.aws.dynamodb.codec import item
from app.adapters.aws.dynamodb.table import lease_key, time_text
from app.adapters.aws.dynamodb.transactions import TableClient


class DynamoDbLeaseStore:
    """`LeaseStore` on calbot's table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def try_acquire_lease(
        self, name: str, holder: str, now: datetime, until: datetime
    ) -> bool:
        return await self._table.put(
            item(
                lease_key(name), kind="lease", name=name, holder=holder, expires_at=time_text(until)
            ),
            "attribute_not_exists(#PK) OR #holder = :holder OR #expires_at <= :now",
            {":holder": holder, ":now": time_text(now)},
        )

    async def release_lease(self, name: str, holder: str) -> None:
        await self._table.delete(lease_key(name), "#holder = :holder", {":holder": holder})
