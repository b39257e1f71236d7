"""The embedded storage backend: one SQLite file (`database.py`), one store per aggregate."""

from __future__ import annotations

from app.adapters.ports import Stores
from app.adapters.sqlite.accounts import SqliteAccountStore
from app.adapters.sqlite.auto_schedule import SqliteAutoScheduleStore
from app.adapters.sqlite.bots import SqliteBotStore
from app.adapters.sqlite.channels import SqliteChannelStore
from app.adapters.sqlite.connections import SqliteConnectionStore
from app.adapters.sqlite.database import Database
from app.adapters.sqlite.events import SqliteEventStore
from app.adapters.sqlite.leases import SqliteLeaseStore
from app.adapters.sqlite.outbox import SqliteOutboxStore, SqliteWebhookEndpointStore
from app.adapters.sqlite.sealed_secrets import SqliteSealedSecretStore
from app.adapters.sqlite.series import SqliteSeriesScheduleStore
from app.adapters.sqlite.sync_health import SqliteSyncHealthStore


def sqlite_stores(database: Database) -> Stores:
    """Every aggregate's store over one open database."""
    return Stores(
        accounts=SqliteAccountStore(database),
        connections=SqliteConnectionStore(database),
        sealed_secrets=SqliteSealedSecretStore(database),
        events=SqliteEventStore(database),
        bots=SqliteBotStore(database),
        series=SqliteSeriesScheduleStore(database),
        auto_schedule=SqliteAutoScheduleStore(database),
        channels=SqliteChannelStore(database),
        leases=SqliteLeaseStore(database),
        sync_health=SqliteSyncHealthStore(database),
        outbox=SqliteOutboxStore(database),
        webhook_endpoints=SqliteWebhookEndpointStore(database),
    )


__all__ = [
    "SqliteAccountStore",
    "SqliteAutoScheduleStore",
    "SqliteBotStore",
    "SqliteChannelStore",
    "SqliteConnectionStore",
    "SqliteEventStore",
    "SqliteLeaseStore",
    "SqliteOutboxStore",
    "SqliteSealedSecretStore",
    "SqliteSeriesScheduleStore",
    "SqliteSyncHealthStore",
    "SqliteWebhookEndpointStore",
    "sqlite_stores",
]
