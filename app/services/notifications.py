"""Keeping up with Google: push channels, webhook notifications, coalesced syncs and polling.

Google's notifications say only "something changed in this calendar" (push guide), may be
dropped, duplicated or arrive out of order. So a valid notification only asks for an incremental
sync of its calendar; bursts collapse into at most one running sync plus one queued behind it;
and every calendar is also polled every SYNC_POLL_INTERVAL_SECONDS as a safety net.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from app.adapters.ports import (
    ChannelStore,
    Clock,
    ConnectionStore,
    GoogleCalendar,
    SecretBox,
    SyncHealthStore,
)
from app.bounded import BoundedCache
from app.domain import Calendar, Channel, GoogleCredentials, event_id_for
from app.errors import CalbotError
from app.observability import NOTIFICATIONS
from app.services.auto_schedule import AutoScheduleService
from app.services.reconcile import BotReconciler
from app.services.sync import PageProgress, SyncOutcome, SyncService

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/api/v1/calendar/webhooks/google"
# Renew a channel this long before it expires (capped at half its lifetime); the renewal job
# runs far more often than that, so a missed run never lets a channel lapse.
RENEW_BEFORE = timedelta(hours=24)
SEEN_MESSAGES = 4096
"""Message numbers remembered (oldest forgotten first) to drop Google's repeated deliveries."""
_TRIGGERING_STATES = frozenset({"exists", "not_exists"})


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CalendarRefresher:
    """One calendar brought up to date: sync, then bots follow, then new meetings get bots."""

    def __init__(
        self, sync: SyncService, reconciler: BotReconciler, auto_schedule: AutoScheduleService
    ) -> None:
        self._sync = sync
        self._reconciler = reconciler
        self._auto_schedule = auto_schedule

    async def refresh(
        self, account_id: str, calendar_id: str, on_page: PageProgress | None = None
    ) -> SyncOutcome:
        outcome = await self._sync.sync_calendar(account_id, calendar_id, on_page)
        settled = await self._reconciler.after_sync(account_id, outcome)
        if outcome.full_sync or settled.cancelled:
            # A full sync may have changed anything; a bot cancelled with its copy of a
            # meeting leaves the meeting to another copy, on any calendar: a whole pass.
            await self._auto_schedule.run_pass([account_id])
        elif outcome.upserted_ids or outcome.changed_series:
            # Only what the sync changed; the periodic pass covers what the clock brings in.
            changed = set(outcome.upserted_ids)
            changed.update(
                event_id_for(account_id, calendar_id, google_id)
                for google_id in outcome.changed_series
            )
            await self._auto_schedule.run_for_events(account_id, changed)
        return outcome


# A refresh asked for while one is running starts at least this long after that one began:
# a burst of notifications spread over a second costs two syncs, not one per notification.
MIN_SECONDS_BETWEEN_SYNCS = 0.5
# A refresh left to another replica (it was syncing the calendar, `SyncOutcome.skipped`) is
# asked for again, since that replica may have read Google before the change notified here;
# at most this many times in a row (each waits SYNC_LEASE_WAIT_SECONDS), then polling covers it.
MAX_BUSY_RETRIES = 12


class SyncCoalescer:
    """At most one background refresh per calendar, plus one queued if asked again meanwhile."""

    def __init__(self, refresh: Callable[[str, str], Awaitable[Any]], clock: Clock) -> None:
        self._refresh = refresh
        self._clock = clock
        self._running: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._again: set[tuple[str, str]] = set()
        self.runs = 0

    def request(self, account_id: str, calendar_id: str) -> None:
        key = (account_id, calendar_id)
        if key in self._running:
            self._again.add(key)
            return
        self._running[key] = asyncio.create_task(self._run(key))

    async def _run(self, key: tuple[str, str]) -> None:
        busy = 0
        try:
            while True:
                self._again.discard(key)
                self.runs += 1
                started = self._clock.now()
                try:
                    result = await self._refresh(*key)
                    busy = busy + 1 if isinstance(result, SyncOutcome) and result.skipped else 0
                    if 0 < busy <= MAX_BUSY_RETRIES:
                        self._again.add(key)
                except CalbotError as error:
                    log.warning("background sync failed: %s", error.code)
                except Exception:
                    log.exception("background sync failed")
                if key not in self._again:
                    return
                elapsed = (self._clock.now() - started).total_seconds()
                await self._clock.sleep(MIN_SECONDS_BETWEEN_SYNCS - elapsed)
        finally:
            self._running.pop(key, None)
            self._again.discard(key)  # a cancelled run leaves nothing queued behind

    async def drain(self) -> None:
        """Wait until no refresh is running or queued (shutdown, tests)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)


class PushService:
    def __init__(
        self,
        *,
        channels: ChannelStore,
        connections: ConnectionStore,
        secrets_box: SecretBox,
        google: GoogleCalendar,
        clock: Clock,
        refresher: CalendarRefresher,
        public_base_url: str | None,
        ttl_seconds: int,
        sync_health: SyncHealthStore,
        seen_messages: int = SEEN_MESSAGES,
    ) -> None:
        self._channels = channels
        self._sync_health = sync_health
        self._connections = connections
        self._secrets = secrets_box
        self._google = google
        self._clock = clock
        self._refresher = refresher
        self.coalescer = SyncCoalescer(refresher.refresh, clock)
        self._address = public_base_url.rstrip("/") + WEBHOOK_PATH if public_base_url else None
        self._ttl_seconds = ttl_seconds
        self._seen: BoundedCache[tuple[str, str], bool] = BoundedCache(seen_messages)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    # -- channels -------------------------------------------------------------------------

    async def open_channels(
        self, account_id: str, credentials: GoogleCredentials, calendars: list[Calendar]
    ) -> int:
        """A channel on each calendar; a calendar Google refuses is simply polled instead."""
        opened = 0
        for calendar in calendars:
            opened += await self._open(account_id, credentials, calendar.calendar_id) is not None
        return opened

    async def _open(
        self, account_id: str, credentials: GoogleCredentials, calendar_id: str
    ) -> Channel | None:
        if self._address is None:
            return None
        token = secrets.token_urlsafe(32)
        try:
            watched = await self._google.watch_events(
                credentials,
                calendar_id,
                channel_id=str(uuid.uuid4()),
                token=token,
                address=self._address,
                ttl_seconds=self._ttl_seconds,
            )
        except CalbotError as error:
            log.warning("no push channel for a calendar (%s); it will be polled", error.code)
            return None
        channel = Channel(
            channel_id=watched.channel_id,
            account_id=account_id,
            calendar_id=calendar_id,
            resource_id=watched.resource_id,
            token_hash=token_hash(token),
            expiration=watched.expiration,
        )
        await self._channels.save_channel(channel)
        return channel

    async def stop_channels(self, account_id: str, credentials: GoogleCredentials | None) -> int:
        """Stop every channel of the account at Google and forget them; returns how many
        Google confirmed stopped."""
        stopped = 0
        for channel in await self._channels.list_channels(account_id):
            if credentials is not None and await self._stop(credentials, channel):
                stopped += 1
            await self._channels.delete_channel(channel.channel_id)
        return stopped

    async def _stop(self, credentials: GoogleCredentials, channel: Channel) -> bool:
        try:
            await self._google.stop_channel(credentials, channel.channel_id, channel.resource_id)
        except CalbotError as error:
            log.warning("could not stop a push channel (%s); it will expire", error.code)
            return False
        return True

    async def renew_channels(self) -> int:
        """Replace channels close to expiry: the new channel first, then stop the old one."""
        margin = min(RENEW_BEFORE, timedelta(seconds=self._ttl_seconds / 2))
        renewed = 0
        for old in await self._channels.channels_expiring_before(self._clock.now() + margin):
            credentials = await self._secrets.get(old.account_id)
            if credentials is None:
                await self._channels.delete_channel(old.channel_id)
                continue
            if await self._open(old.account_id, credentials, old.calendar_id) is None:
                continue  # keep the old one; the next run tries again
            await self._stop(credentials, old)
            await self._channels.delete_channel(old.channel_id)
            renewed += 1
        return renewed

    # -- notifications ----------------------------------------------------------------------

    async def handle_notification(
        self,
        *,
        channel_id: str | None,
        channel_token: str | None,
        resource_state: str | None,
        message_number: str | None,
    ) -> bool:
        """True for a notification of a channel we opened (its token matches); it then asks
        for a sync of the channel's calendar unless it is the `sync` handshake or a repeat."""
        if not channel_id or channel_token is None:
            return False
        channel = await self._channels.get_channel(channel_id)
        if channel is None or not hmac.compare_digest(
            channel.token_hash, token_hash(channel_token)
        ):
            NOTIFICATIONS.labels("rejected").inc()
            return False
        await self._sync_health.record_notification(
            channel.account_id, channel.calendar_id, self._clock.now()
        )
        if resource_state not in _TRIGGERING_STATES:
            NOTIFICATIONS.labels("acknowledged").inc()
            return True
        if message_number is not None:
            seen_key = (channel_id, message_number)
            if self._seen.get(seen_key):
                NOTIFICATIONS.labels("duplicate").inc()
                return True
            self._seen.put(seen_key, True)
        NOTIFICATIONS.labels("sync_requested").inc()
        self.coalescer.request(channel.account_id, channel.calendar_id)
        return True

    async def refresh_calendar(
        self, account_id: str, calendar_id: str, on_page: PageProgress | None = None
    ) -> SyncOutcome:
        """Sync one calendar now and let its bots follow (CLI, polling)."""
        return await self._refresher.refresh(account_id, calendar_id, on_page)

    # -- polling ------------------------------------------------------------------------------

    async def poll_all(self) -> int:
        """Refresh every calendar of every connected account; returns how many were synced."""
        synced = 0
        for account_id in await self._connections.connected_accounts():
            for calendar in await self._connections.list_calendars(account_id):
                try:
                    await self._refresher.refresh(account_id, calendar.calendar_id)
                except CalbotError as error:
                    log.warning("safety-net sync failed: %s", error.code)
                    continue
                synced += 1
        return synced
