"""The interfaces services are written against. Each docstring is the contract an adapter keeps.

Services import this package and `app.domain` only; concrete adapters are chosen by the
composition root. One module per outside thing: storage by aggregate (`accounts`, `events`,
`bots`, `operations`, bundled in `stores`), Google, the Create Bot API, secrets, the bot
scheduler, idempotency records, the consent flow's store and OAuth code exchange, and the clock.
"""

from app.adapters.ports.accounts import AccountStore, ConnectionStore, SealedSecretStore
from app.adapters.ports.bot_api import BotApi
from app.adapters.ports.bots import BotStore, SeriesScheduleStore
from app.adapters.ports.clock import Clock
from app.adapters.ports.consent import ConnectLinkRecord, ConsentStore
from app.adapters.ports.events import EventRow, EventsPageWrite, EventStore, SeriesOverride
from app.adapters.ports.google import EventLookup, EventsPage, GoogleCalendar, WatchChannel
from app.adapters.ports.idempotency import IdempotencyRecord, IdempotencyStore
from app.adapters.ports.oauth import OAuthCodeExchanger, TokenGrant
from app.adapters.ports.operations import AutoScheduleStore, ChannelStore, LeaseStore
from app.adapters.ports.outbox import DeliveryCursor, OutboxStore, WebhookEndpointStore
from app.adapters.ports.scheduler import BotScheduler
from app.adapters.ports.secrets import SecretBox
from app.adapters.ports.stores import ChangeStamp, Stores, no_change_stamp
from app.adapters.ports.sync_health import SyncHealthStore

__all__ = [
    "AccountStore",
    "AutoScheduleStore",
    "BotApi",
    "BotScheduler",
    "BotStore",
    "ChangeStamp",
    "ChannelStore",
    "Clock",
    "ConnectLinkRecord",
    "ConnectionStore",
    "ConsentStore",
    "DeliveryCursor",
    "EventLookup",
    "EventRow",
    "EventStore",
    "EventsPage",
    "EventsPageWrite",
    "GoogleCalendar",
    "IdempotencyRecord",
    "IdempotencyStore",
    "LeaseStore",
    "OAuthCodeExchanger",
    "OutboxStore",
    "SealedSecretStore",
    "SecretBox",
    "SeriesOverride",
    "SeriesScheduleStore",
    "Stores",
    "SyncHealthStore",
    "TokenGrant",
    "WatchChannel",
    "WebhookEndpointStore",
    "no_change_stamp",
]
