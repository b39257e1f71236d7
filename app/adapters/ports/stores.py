"""What a storage backend provides: one store per aggregate, bundled."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

from app.adapters.ports.accounts import AccountStore, ConnectionStore, SealedSecretStore
from app.adapters.ports.bots import BotStore, SeriesScheduleStore
from app.adapters.ports.events import EventStore
from app.adapters.ports.operations import AutoScheduleStore, ChannelStore, LeaseStore
from app.adapters.ports.outbox import OutboxStore, WebhookEndpointStore
from app.adapters.ports.sync_health import SyncHealthStore


@dataclass(frozen=True, slots=True)
class Stores:
    """One store per aggregate, from one backend."""

    accounts: AccountStore
    connections: ConnectionStore
    sealed_secrets: SealedSecretStore
    events: EventStore
    bots: BotStore
    series: SeriesScheduleStore
    auto_schedule: AutoScheduleStore
    channels: ChannelStore
    leases: LeaseStore
    sync_health: SyncHealthStore
    outbox: OutboxStore
    webhook_endpoints: WebhookEndpointStore


ChangeStamp = Callable[[], Hashable | None]
"""A backend's mark of everything it has stored: equal marks mean nothing was committed in
between, by this process or any other. None when the backend cannot tell cheaply (DynamoDB,
whose replicas write without telling each other): then nothing may be answered from memory."""


def no_change_stamp() -> None:
    """The mark of a backend that cannot tell whether anything changed."""
    return None
