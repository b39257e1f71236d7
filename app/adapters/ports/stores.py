"""What a storage backend provides: one store per aggregate, bundled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.adapters.ports.accounts import AccountStore, ConnectionStore, SealedSecretStore
from app.adapters.ports.bots import BotStore, SeriesScheduleStore
from app.adapters.ports.events import EventStore
from app.adapters.ports.operations import AutoScheduleStore, ChannelStore, LeaseStore


class Store(
    AccountStore,
    ConnectionStore,
    SealedSecretStore,
    EventStore,
    BotStore,
    SeriesScheduleStore,
    AutoScheduleStore,
    ChannelStore,
    LeaseStore,
    Protocol,
):
    """Every aggregate's store in one object: what a backend implemented before the split.

    Services take the aggregate stores they need (see `Stores`); this union remains only while
    callers move over.
    """


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
