"""The in-memory storage backend: what the store contract suite and service unit tests run on.

It keeps the same contract as SQLite and DynamoDB (tests/adapters/store_contract/), and calls
the storage rules of `app.domain` directly.
"""

from __future__ import annotations

from app.adapters.memory.accounts import MemoryAccountStore
from app.adapters.memory.auto_schedule import MemoryAutoScheduleStore
from app.adapters.memory.bots import MemoryBotStore
from app.adapters.memory.channels import MemoryChannelStore
from app.adapters.memory.connections import MemoryConnectionStore
from app.adapters.memory.events import MemoryEventStore
from app.adapters.memory.idempotency import MemoryIdempotencyStore
from app.adapters.memory.leases import MemoryLeaseStore
from app.adapters.memory.outbox import MemoryOutboxStore, MemoryWebhookEndpointStore
from app.adapters.memory.sealed_secrets import MemorySealedSecretStore
from app.adapters.memory.series import MemorySeriesScheduleStore
from app.adapters.memory.sync_health import MemorySyncHealthStore
from app.adapters.memory.tables import MemoryTables
from app.adapters.ports import Stores


def memory_stores(tables: MemoryTables | None = None) -> Stores:
    """Every aggregate's store over one set of tables (new and empty unless given)."""
    tables = tables or MemoryTables()
    return Stores(
        accounts=MemoryAccountStore(tables),
        connections=MemoryConnectionStore(tables),
        sealed_secrets=MemorySealedSecretStore(tables),
        events=MemoryEventStore(tables),
        bots=MemoryBotStore(tables),
        series=MemorySeriesScheduleStore(tables),
        auto_schedule=MemoryAutoScheduleStore(tables),
        channels=MemoryChannelStore(tables),
        leases=MemoryLeaseStore(tables),
        sync_health=MemorySyncHealthStore(tables),
        outbox=MemoryOutboxStore(tables),
        webhook_endpoints=MemoryWebhookEndpointStore(tables),
    )


__all__ = ["MemoryIdempotencyStore", "MemoryTables", "memory_stores"]
