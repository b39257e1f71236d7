"""The in-memory backend's data: plain dicts, shared by its stores as one database.

A store method never awaits while it reads and writes these, so under asyncio each method is
atomic: compare-and-set and deduplication hold without a lock, as a transaction makes them hold
in SQLite. Everything handed in or out is copied, so a caller mutating a returned object (the
services do, to write a bot back) never changes what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.domain import (
    Account,
    ApiKey,
    AutoScheduleMode,
    AutoScheduleSettings,
    Calendar,
    Channel,
    Connection,
    Event,
    OccurrenceOverride,
    OutboxMessage,
    ScheduledBot,
    SeriesSchedule,
    SyncHealth,
)
from app.outbox_bell import OutboxBell
from app.webhook_records import WebhookDelivery, WebhookEndpoint


@dataclass(slots=True)
class StoredKey:
    key: ApiKey
    key_hash: str


@dataclass(slots=True)
class StoredEvent:
    """An event with the account it belongs to and the sync generation that last wrote it."""

    account_id: str
    event: Event
    generation: int


@dataclass(slots=True)
class StoredOverride:
    override: OccurrenceOverride
    generation: int


@dataclass(slots=True)
class SyncRecord:
    sync_token: str | None
    last_synced_at: datetime | None
    generation: int


@dataclass(slots=True)
class Lease:
    holder: str
    expires_at: datetime


AccountCalendar = tuple[str, str]
"""(account_id, calendar_id)"""


@dataclass(slots=True)
class MemoryTables:
    accounts: dict[str, Account] = field(default_factory=dict)
    api_keys: dict[str, StoredKey] = field(default_factory=dict)  # by key_id
    connections: dict[str, Connection] = field(default_factory=dict)  # by account_id
    calendars: dict[str, list[Calendar]] = field(default_factory=dict)  # by account_id
    sealed_secrets: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)
    sync_state: dict[AccountCalendar, SyncRecord] = field(default_factory=dict)
    sync_health: dict[AccountCalendar, SyncHealth] = field(default_factory=dict)
    events: dict[tuple[str, str], StoredEvent] = field(default_factory=dict)  # (acc, event_id)
    # (account_id, calendar_id, series Google id) -> original start -> exception
    overrides: dict[tuple[str, str, str], dict[datetime, StoredOverride]] = field(
        default_factory=dict
    )
    # (account_id, calendar_id, event_id, occurrence key text) -> that occurrence's own mode
    occurrence_modes: dict[tuple[str, str, str, str], AutoScheduleMode] = field(
        default_factory=dict
    )
    bots: dict[str, ScheduledBot] = field(default_factory=dict)  # by bot_id
    series: dict[tuple[str, str], SeriesSchedule] = field(default_factory=dict)  # (acc, event)
    auto_schedule: dict[str, AutoScheduleSettings] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)  # by channel_id
    leases: dict[str, Lease] = field(default_factory=dict)  # by name
    # Bots that no longer claim their meeting occurrence (BotStore.release_meeting_claim).
    released_meeting_claims: set[str] = field(default_factory=set)  # bot ids
    # Bots kept as history after a disconnect that no longer count for auto-scheduling.
    released_bots: set[str] = field(default_factory=set)  # bot ids
    # Webhooks: messages not routed yet, endpoints and deliveries (app/adapters/memory/outbox.py).
    outbox: dict[str, OutboxMessage] = field(default_factory=dict)  # by message_id
    webhook_endpoints: dict[str, WebhookEndpoint] = field(default_factory=dict)  # by endpoint_id
    deliveries: dict[str, WebhookDelivery] = field(default_factory=dict)  # by delivery_id
    outbox_bell: OutboxBell = field(default_factory=OutboxBell)
    # Each calendar's events by (start, event_id), sorted for bisecting: built on the first
    # page read after a write that may add, drop or move an event (which pops it).
    event_order: dict[AccountCalendar, list[tuple[datetime, str]]] = field(default_factory=dict)

    def events_in_order(self, account_id: str, calendar_id: str) -> list[tuple[datetime, str]]:
        """(start, event_id) of the calendar's events, sorted; kept until the next change."""
        key = (account_id, calendar_id)
        order = self.event_order.get(key)
        if order is None:
            order = sorted(
                (stored.event.start_time, stored.event.event_id)
                for stored in self.events_of(account_id, calendar_id)
            )
            self.event_order[key] = order
        return order

    def events_of(self, account_id: str, calendar_id: str | None = None) -> list[StoredEvent]:
        """The account's stored events (of one calendar when given)."""
        return [
            stored
            for stored in self.events.values()
            if stored.account_id == account_id
            and (calendar_id is None or stored.event.calendar_id == calendar_id)
        ]

    def drop_calendar_data(self, account_id: str, keep: set[str] | None = None) -> None:
        """Forget events, exceptions and sync state of the account's calendars not in `keep`
        (all of them when `keep` is None)."""

        def dropped(calendar_id: str) -> bool:
            return keep is None or calendar_id not in keep

        for key, stored in list(self.events.items()):
            if stored.account_id == account_id and dropped(stored.event.calendar_id):
                del self.events[key]
        for order_key in list(self.event_order):
            if order_key[0] == account_id and dropped(order_key[1]):
                del self.event_order[order_key]
        for override_key in list(self.overrides):
            if override_key[0] == account_id and dropped(override_key[1]):
                del self.overrides[override_key]
        for mode_key in list(self.occurrence_modes):
            if mode_key[0] == account_id and dropped(mode_key[1]):
                del self.occurrence_modes[mode_key]
        for state_key in list(self.sync_state):
            if state_key[0] == account_id and dropped(state_key[1]):
                del self.sync_state[state_key]
        for health_key in list(self.sync_health):
            if health_key[0] == account_id and dropped(health_key[1]):
                del self.sync_health[health_key]
