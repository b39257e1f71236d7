"""The interfaces services are written against. Each docstring is the contract an adapter keeps.

Services import this module and `app.domain` only; concrete adapters are chosen in `app.main`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from app.domain import (
    AccessToken,
    Account,
    ApiKey,
    AutoScheduleSettings,
    BotStatus,
    Calendar,
    Channel,
    Connection,
    ConnectionStatus,
    Event,
    GoogleCredentials,
    OccurrenceOverride,
    ScheduledBot,
    ScheduleStatus,
    SeriesSchedule,
    SyncState,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait; tests replace this with a clock they move by hand."""
        ...


@dataclass(frozen=True, slots=True)
class EventsPage:
    """One page of Google's events.list, as Google sent it.

    `items` are raw Google Event resources (dicts, see the discovery document's `Event` schema).
    `next_sync_token` is set only on the last page of a run.
    """

    items: list[Mapping[str, Any]]
    next_sync_token: str | None
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class WatchChannel:
    channel_id: str
    resource_id: str
    expiration: datetime
    token: str = field(repr=False)


class GoogleCalendar(Protocol):
    """Google's OAuth token endpoint and the Calendar v3 API.

    Every method retries transient failures itself (connect/read errors, 408, 429, 5xx,
    403 rateLimitExceeded/userRateLimitExceeded) with capped exponential backoff and jitter,
    then raises `GoogleUnavailable` (or `GoogleRateLimited`). Each call, its retries and the
    token refresh it may need included, ends within a total deadline (25 s, see
    `app.adapters.google.GOOGLE_CALL_DEADLINE`). A 401 from the API refreshes the access token
    once and resends once. Errors raised are those of `app.errors`.
    """

    async def refresh_access_token(self, credentials: GoogleCredentials) -> AccessToken:
        """Exchange the refresh token for a fresh access token (bypassing the cache).

        Raises `CredentialsRevoked` on `invalid_grant`, `InvalidGoogleCredentials` (with
        Google's reason in the sentence) on `invalid_client`/`unauthorized_client`/other 4xx.
        """
        ...

    async def list_calendars(self, credentials: GoogleCredentials) -> list[Calendar]:
        """Every calendar of the account (calendarList.list, all pages, readers and up)."""
        ...

    def list_events(
        self,
        credentials: GoogleCredentials,
        calendar_id: str,
        *,
        sync_token: str | None,
        time_min: datetime | None,
    ) -> AsyncIterator[EventsPage]:
        """Stream events.list pages (singleEvents=false, maxResults=2500, no showDeleted).

        With `sync_token` an incremental run (timeMin is never sent with it); without, a full
        run bounded below by `time_min`. Raises `SyncTokenExpired` on 410 Gone, on any page.
        """
        ...

    async def watch_events(
        self,
        credentials: GoogleCredentials,
        calendar_id: str,
        *,
        channel_id: str,
        token: str,
        address: str,
        ttl_seconds: int,
    ) -> WatchChannel:
        """Open a push channel on a calendar's events (events.watch, type web_hook)."""
        ...

    async def stop_channel(
        self, credentials: GoogleCredentials, channel_id: str, resource_id: str
    ) -> None:
        """Stop a push channel (channels.stop). A channel Google no longer knows is not an error."""
        ...


class BotApi(Protocol):
    """The Create Bot API (CONTRACT.md section 3)."""

    async def create_bot(
        self,
        *,
        idempotency_key: str,
        body: Mapping[str, Any],
        give_up_at: datetime,
        before_attempt: Callable[[], Awaitable[None]] | None = None,
    ) -> str | None:
        """POST the body with `Idempotency-Key` fixed for every attempt; return the bot's id.

        `before_attempt` is awaited before each attempt (the launcher renews its claim there).

        The id is `bot_id` (or `id`) of the JSON answer, None if neither is present.
        Timeouts, connection errors, 429 and 5xx are retried with backoff until `give_up_at`,
        then `BotApiUnavailable` is raised; any other 4xx raises `BotLaunchRejected` at once.
        """
        ...


@dataclass(frozen=True, slots=True)
class SeriesOverride:
    """An exception of a recurring series, as a sync stores it."""

    series_google_event_id: str
    override: OccurrenceOverride


@dataclass(slots=True)
class EventsPageWrite:
    """Everything one page of events.list changes, applied by the store in one transaction."""

    calendar_id: str
    upserts: list[Event]
    overrides: list[SeriesOverride]
    cancelled_google_ids: list[str]
    full_sync: bool
    generation: int
    sync_token: str | None
    synced_at: datetime


@dataclass(frozen=True, slots=True)
class EventRow:
    """An event as listed, with the bot state the listing joins in."""

    event: Event
    bot_join_status: bool


class Store(Protocol):
    """calbot's state, scoped by account. Every key is built from the authenticated account.

    Writes that belong together are one transaction. Times are UTC.
    """

    # accounts and keys
    async def create_account(self, account: Account) -> None:
        """Insert a new account."""
        ...

    async def get_account(self, account_id: str) -> Account | None:
        """The account, or None."""
        ...

    async def add_api_key(self, key: ApiKey, key_hash: str) -> None:
        """Store a key by the SHA-256 hex of its secret; the secret itself is never stored."""
        ...

    async def account_for_key_hash(self, key_hash: str) -> str | None:
        """The account id of a live (not revoked) key with this hash, else None."""
        ...

    async def list_api_keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        ...

    async def revoke_api_key(self, key_id: str, when: datetime) -> bool:
        """Mark a key revoked; False when no live key has this id."""
        ...

    # connection and calendars
    async def save_connection(self, connection: Connection, calendars: list[Calendar]) -> bool:
        """Create or replace the account's connection and calendar list; True if it replaced one.

        Calendars no longer in the list lose their events, exceptions and sync state.
        """
        ...

    async def get_connection(self, account_id: str) -> Connection | None:
        """The account's connection, or None."""
        ...

    async def set_connection_status(self, account_id: str, status: ConnectionStatus) -> None:
        """Mark the connection active or revoked."""
        ...

    async def list_calendars(self, account_id: str) -> list[Calendar]:
        """The connected calendars, primary first."""
        ...

    async def delete_connection(self, account_id: str, when: datetime) -> int:
        """Delete connection, calendars, events, exceptions and sync state; cancel pending bots.

        Returns the number of bots cancelled. Auto-schedule settings are kept.
        """
        ...

    # sync
    async def get_sync_state(self, account_id: str, calendar_id: str) -> SyncState | None:
        """The calendar's sync token and last sync time, or None before the first sync."""
        ...

    async def current_generation(self, account_id: str, calendar_id: str) -> int:
        """The generation of the calendar's last full sync (0 before any)."""
        ...

    async def begin_full_sync(self, account_id: str, calendar_id: str) -> int:
        """Forget the sync token and return a new generation number for a full sync."""
        ...

    async def apply_events_page(self, account_id: str, page: EventsPageWrite) -> None:
        """Apply one page in one transaction.

        Upserts keep calbot's own fields (`recurring_enabled`, `schedule_status`); exceptions
        are stored by (series, original start); cancelled ids mark their event cancelled (a
        recurring master's exceptions go with it). When `sync_token` is set the run is
        complete: it is stored, and after a full sync everything of the calendar not seen in
        this generation is deleted.
        """
        ...

    async def get_event(self, account_id: str, event_id: str) -> Event | None:
        """One event by calbot id, or None (also for another account's id)."""
        ...

    async def get_event_by_google_id(
        self, account_id: str, calendar_id: str, google_event_id: str
    ) -> Event | None:
        """One event by Google id, or None."""
        ...

    async def list_events(self, account_id: str, calendar_id: str) -> list[EventRow]:
        """The calendar's events ordered by start time (recurring series by their first start)."""
        ...

    async def list_overrides(
        self, account_id: str, calendar_id: str, series_google_event_ids: list[str]
    ) -> dict[str, list[OccurrenceOverride]]:
        """Stored exceptions of the given series, keyed by series Google id."""
        ...

    async def set_next_occurrences(
        self,
        account_id: str,
        values: list[tuple[str, datetime | None, datetime | None]],
    ) -> None:
        """Store (event_id, next occurrence start, its end) for recurring series."""
        ...

    async def list_series_needing_next_occurrence(
        self, account_id: str, calendar_id: str, now: datetime
    ) -> list[Event]:
        """Recurring series whose stored next occurrence is unknown or already ended."""
        ...

    async def set_schedule_status(
        self, account_id: str, event_id: str, status: ScheduleStatus
    ) -> None:
        """Record whether the event is scheduled, unscheduled or cancelled."""
        ...

    async def set_recurring_enabled(self, account_id: str, event_id: str, enabled: bool) -> None:
        """Turn auto-rescheduling of a series on or off."""
        ...

    # bots
    async def insert_or_update_pending_bot(self, bot: ScheduledBot) -> tuple[ScheduledBot, bool]:
        """Insert the bot unless one is pending for (account, event, occurrence_start).

        Deduplication is a property of the store (a unique key), not a read-then-write. When a
        pending bot exists its config, name and attributes are replaced by `bot`'s; returns the
        stored bot and True if it was created.
        """
        ...

    async def get_bot(self, account_id: str, bot_id: str) -> ScheduledBot | None:
        """One bot of the account, or None."""
        ...

    async def list_bots(
        self,
        account_id: str,
        *,
        status: BotStatus | None = None,
        event_id: str | None = None,
    ) -> list[ScheduledBot]:
        """The account's bots ordered by join_at."""
        ...

    async def update_bot(self, bot: ScheduledBot, *, expected_status: BotStatus) -> bool:
        """Write the bot back only if its stored status is still `expected_status`."""
        ...

    async def cancel_pending_bots(
        self, account_id: str, event_id: str, when: datetime
    ) -> list[ScheduledBot]:
        """Cancel every scheduled bot of an event; returns them."""
        ...

    async def due_bots(
        self, before: datetime, limit: int, *, stale_launching_before: datetime
    ) -> list[ScheduledBot]:
        """Bots of every account to launch now, earliest first: scheduled ones with
        join_at <= before, and launching ones whose claimer went quiet before the cutoff."""
        ...

    async def next_join_at(self) -> datetime | None:
        """The earliest join_at among scheduled bots of every account."""
        ...

    async def touch_launching_bot(self, bot_id: str, when: datetime) -> None:
        """Renew a launcher's claim on a bot it is still launching."""
        ...

    async def claim_bot(
        self, bot_id: str, when: datetime, *, stale_launching_before: datetime
    ) -> ScheduledBot | None:
        """Atomically move a due bot (join_at <= when) to launching; None if it is not due
        (any more) or another launcher holds it.

        A bot already launching is taken over only if its claim is older than the cutoff
        (its launcher died); the Create Bot call's Idempotency-Key keeps that safe.
        """
        ...

    # series schedules ("all future occurrences")

    async def save_series_schedule(self, schedule: SeriesSchedule) -> None:
        """Create or replace the series schedule of an event."""
        ...

    async def get_series_schedule(self, account_id: str, event_id: str) -> SeriesSchedule | None:
        """The event's series schedule, active or not, or None."""
        ...

    async def set_series_schedule_active(
        self, account_id: str, event_id: str, active: bool
    ) -> None:
        """Pause or resume a series schedule (no-op when there is none)."""
        ...

    async def due_series_schedules(self, now: datetime, limit: int) -> list[SeriesSchedule]:
        """Active series schedules of every account whose current occurrence has ended."""
        ...

    async def next_series_check_at(self) -> datetime | None:
        """When the next active series schedule falls due."""
        ...

    async def advance_series_schedule(
        self,
        account_id: str,
        event_id: str,
        *,
        expected_last_original_start: datetime,
        last_original_start: datetime,
        next_check_at: datetime,
        active: bool = True,
    ) -> bool:
        """Compare-and-set the series' progress; False if another process advanced it first."""
        ...

    # auto-scheduling

    async def get_auto_schedule(self, account_id: str) -> AutoScheduleSettings:
        """The account's auto-schedule settings (disabled defaults when never set)."""
        ...

    async def save_auto_schedule(self, account_id: str, settings: AutoScheduleSettings) -> None:
        """Store the account's auto-schedule settings."""
        ...

    async def accounts_with_auto_schedule(self) -> list[str]:
        """Accounts with auto-scheduling on and an active connection."""
        ...

    async def connected_accounts(self) -> list[str]:
        """Accounts with an active connection."""
        ...

    async def list_auto_schedule_candidates(
        self, account_id: str, window_start: datetime, window_end: datetime
    ) -> list[Event]:
        """Events with a link, not cancelled or declined, that may have an occurrence
        overlapping the window (one-offs by their times, series unless they are over)."""
        ...

    async def insert_bots_unless_exist(self, bots: list[ScheduledBot]) -> list[ScheduledBot]:
        """Insert each bot unless its (account, event, occurrence) already has a bot in any
        status; marks their events scheduled. Returns the bots actually inserted."""
        ...

    # push channels

    async def save_channel(self, channel: Channel) -> None:
        """Store a push channel."""
        ...

    async def get_channel(self, channel_id: str) -> Channel | None:
        """A channel by its id, whatever the account (webhooks carry no API key)."""
        ...

    async def list_channels(self, account_id: str) -> list[Channel]:
        """The account's channels."""
        ...

    async def channels_expiring_before(self, when: datetime) -> list[Channel]:
        """Channels of every account that expire before `when`."""
        ...

    async def delete_channel(self, channel_id: str) -> None:
        """Forget a channel."""
        ...

    # leases (one replica runs each periodic pass)

    async def try_acquire_lease(
        self, name: str, holder: str, now: datetime, until: datetime
    ) -> bool:
        """Take (or renew, when `holder` has it) the named lease until `until`; False when
        another holder's lease has not expired by `now`."""
        ...

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up if `holder` has it."""
        ...

    # sealed secrets (the local SecretBox keeps its ciphertexts here)

    async def put_sealed_secret(self, account_id: str, nonce: bytes, ciphertext: bytes) -> None:
        """Store (or replace) the account's encrypted credentials."""
        ...

    async def get_sealed_secret(self, account_id: str) -> tuple[bytes, bytes] | None:
        """The account's (nonce, ciphertext), or None."""
        ...

    async def delete_sealed_secret(self, account_id: str) -> None:
        """Forget the account's encrypted credentials (no error when absent)."""
        ...


class SecretBox(Protocol):
    """Where Google credentials live, encrypted; one entry per account."""

    async def put(self, account_id: str, credentials: GoogleCredentials) -> None:
        """Store (or replace) the account's credentials."""
        ...

    async def get(self, account_id: str) -> GoogleCredentials | None:
        """The account's credentials, or None."""
        ...

    async def delete(self, account_id: str) -> None:
        """Forget the account's credentials; deleting what is not there is not an error."""
        ...


class BotScheduler(Protocol):
    """Sees to it that every pending bot is launched at its join_at.

    The store stays the source of truth; a scheduler only has to be told when to look.
    """

    async def bot_scheduled(self, bot: ScheduledBot) -> None:
        """A bot was created or its join_at changed."""
        ...

    async def bot_cancelled(self, bot: ScheduledBot) -> None:
        """A pending bot will not be launched after all."""
        ...


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """A POST remembered under its Idempotency-Key: unfinished while `status_code` is None."""

    request_hash: str
    status_code: int | None
    body: bytes
    content_type: str | None


class IdempotencyStore(Protocol):
    """Answers to POSTs sent with an Idempotency-Key, kept for a day."""

    async def start(
        self, key: str, request_hash: str, now: datetime, expires_at: datetime
    ) -> IdempotencyRecord | None:
        """Claim the key for a new request (None), or return what is recorded under it.

        An expired record counts as absent and is replaced.
        """
        ...

    async def finish(
        self, key: str, status_code: int, body: bytes, content_type: str | None
    ) -> None:
        """Record the answer of a claimed key."""
        ...

    async def abandon(self, key: str) -> None:
        """Release a claimed key whose request failed, so that a retry runs again."""
        ...
