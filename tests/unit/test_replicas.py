"""Two replicas over one store (issue 12, case 8): a calendar is synced by one replica at a time
(a lease in the store), and a reconnect made on one replica is not revoked by a sync still
holding the old credentials on another. Replica two is a second SyncService over calbot's
stores, with its own replica id (and, where it matters, its own secret cache)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from app.adapters.ports import EventsPage, SecretBox
from app.domain import ConnectionStatus, GoogleCredentials, credentials_fingerprint
from app.services.notifications import CalendarRefresher, SyncCoalescer
from app.services.sync import (
    SYNC_LEASE_SECONDS,
    SYNC_LEASE_WAIT_SECONDS,
    SyncService,
    sync_lease_name,
)
from tests.fakes import FakeClock, FakeGoogleCalendar
from tests.fakes.google import SyncRun
from tests.fakes.pausing import Paused
from tests.unit.calbot import ACCOUNT, CAL, CREDENTIALS, Calbot, at, event_ids, meeting

REPLICA_TWO = "unit-replica-two"
LEASE = sync_lease_name(ACCOUNT, CAL)
RECONNECTED = dataclasses.replace(CREDENTIALS, refresh_token="1//after-reconnecting")


def replica_two(calbot: Calbot, **replaced: Any) -> SyncService:
    parts: dict[str, Any] = {
        "connections": calbot.stores.connections,
        "events": calbot.stores.events,
        "secrets": calbot.secrets,
        "google": calbot.google,
        "clock": calbot.clock,
        "leases": calbot.stores.leases,
        "sync_health": calbot.stores.sync_health,
    }
    parts.update(replaced)
    return SyncService(**parts, replica_id=REPLICA_TWO)


async def connected(calbot: Calbot, *resources: dict[str, Any]) -> None:
    for resource in resources:
        calbot.google.put_event(CAL, resource)
    await calbot.connect()


# -- one sync of a calendar at a time ----------------------------------------------------------


async def test_a_calendar_another_replica_is_syncing_is_left_to_it(calbot: Calbot) -> None:
    await connected(calbot, meeting("m1", at(1), at(2)))
    events = Paused(calbot.stores.events, "apply_events_page")
    running = asyncio.create_task(replica_two(calbot, events=events).sync_calendar(ACCOUNT, CAL))
    await events.reached()  # replica two is in the middle of the first full sync

    outcome = await calbot.sync.sync_calendar(ACCOUNT, CAL)

    assert (outcome.skipped, outcome.pages) == (True, 0)
    assert calbot.google.runs == [SyncRun(CAL, full=True)]  # no second full sync
    assert sum(calbot.clock.slept) == SYNC_LEASE_WAIT_SECONDS  # it waited, then gave up
    events.release()
    first = await running
    assert (first.full_sync, first.skipped, first.pages) == (True, False, 1)
    after = await calbot.sync.sync_calendar(ACCOUNT, CAL)
    assert not after.skipped
    assert calbot.google.runs == [SyncRun(CAL, full=True), SyncRun(CAL, full=False)]


class ReleasingWhenBusy:
    """Replica one's leases: once the lease has been refused `times` times, the holder is let
    finish (before that refusal is answered)."""

    def __init__(
        self, inner: Any, let_finish: Callable[[], Awaitable[None]], *, times: int = 1
    ) -> None:
        self._inner = inner
        self._let_finish: Callable[[], Awaitable[None]] | None = let_finish
        self._times = times
        self.refused = 0

    async def try_acquire_lease(
        self, name: str, holder: str, now: datetime, until: datetime
    ) -> bool:
        taken: bool = await self._inner.try_acquire_lease(name, holder, now, until)
        if not taken:
            self.refused += 1
            if self._let_finish is not None and self.refused == self._times:
                let_finish, self._let_finish = self._let_finish, None
                await let_finish()
        return taken

    async def release_lease(self, name: str, holder: str) -> None:
        await self._inner.release_lease(name, holder)


async def test_a_replica_waits_for_another_ones_short_sync_then_catches_up(
    calbot: Calbot,
) -> None:
    await connected(calbot, meeting("m1", at(1), at(2)))
    events = Paused(calbot.stores.events, "apply_events_page")
    running = asyncio.create_task(replica_two(calbot, events=events).sync_calendar(ACCOUNT, CAL))
    await events.reached()  # replica two has read Google, before this meeting was added:
    calbot.google.put_event(CAL, meeting("m2", at(3), at(4)))

    async def let_it_finish() -> None:
        events.release()
        await running

    leases = ReleasingWhenBusy(calbot.stores.leases, let_it_finish)
    one = SyncService(
        connections=calbot.stores.connections,
        events=calbot.stores.events,
        secrets=calbot.secrets,
        google=calbot.google,
        clock=calbot.clock,
        leases=leases,
        replica_id="unit-replica",
        sync_health=calbot.stores.sync_health,
    )

    outcome = await one.sync_calendar(ACCOUNT, CAL)

    assert leases.refused == 1
    assert not outcome.skipped
    assert outcome.upserted_ids == event_ids("m2")
    assert calbot.google.runs == [SyncRun(CAL, full=True), SyncRun(CAL, full=False)]
    assert await calbot.stores.events.get_event_by_google_id(ACCOUNT, CAL, "m2") is not None


async def test_a_notification_for_a_calendar_another_replica_syncs_is_not_lost(
    calbot: Calbot,
) -> None:
    await connected(calbot, meeting("m1", at(1), at(2)))
    events = Paused(calbot.stores.events, "apply_events_page")
    running = asyncio.create_task(replica_two(calbot, events=events).sync_calendar(ACCOUNT, CAL))
    await events.reached()  # a long sync on replica two, which read Google before this change:
    calbot.google.put_event(CAL, meeting("m2", at(3), at(4)))

    async def let_it_finish() -> None:
        events.release()
        await running

    polls = int(SYNC_LEASE_WAIT_SECONDS / 0.5) + 1  # one refresh's worth of refused attempts
    leases = ReleasingWhenBusy(calbot.stores.leases, let_it_finish, times=polls + 1)
    one = SyncService(
        connections=calbot.stores.connections,
        events=calbot.stores.events,
        secrets=calbot.secrets,
        google=calbot.google,
        clock=calbot.clock,
        leases=leases,
        replica_id="unit-replica",
        sync_health=calbot.stores.sync_health,
    )
    coalescer = SyncCoalescer(
        CalendarRefresher(one, calbot.reconciler, calbot.auto_schedule).refresh, calbot.clock
    )

    coalescer.request(ACCOUNT, CAL)  # the notification arrives at replica one
    await coalescer.drain()

    assert coalescer.runs == 2  # left to replica two once, asked for again
    assert await calbot.stores.events.get_event_by_google_id(ACCOUNT, CAL, "m2") is not None


class SlowGoogle:
    """Google answering one page every `seconds` (the fake clock moves), with a hook run just
    before each page after the first is handed over."""

    def __init__(
        self,
        google: FakeGoogleCalendar,
        clock: FakeClock,
        seconds: float,
        before_page: Callable[[int], Awaitable[None]],
    ) -> None:
        self._google = google
        self._clock = clock
        self._seconds = seconds
        self._before_page = before_page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._google, name)

    async def list_events(
        self,
        credentials: GoogleCredentials,
        calendar_id: str,
        *,
        sync_token: str | None,
        time_min: datetime | None,
    ) -> AsyncIterator[EventsPage]:
        pages = self._google.list_events(
            credentials, calendar_id, sync_token=sync_token, time_min=time_min
        )
        number = 0
        async for page in pages:
            number += 1
            if number > 1:
                self._clock.advance(self._seconds)
                await self._before_page(number)
            yield page


async def test_a_long_sync_keeps_its_lease_until_it_ends(calbot: Calbot) -> None:
    calbot.google.page_size = 1
    await connected(calbot, *(meeting(f"m{n}", at(n), at(n + 0.5)) for n in range(1, 6)))
    taken_by_another: list[bool] = []

    async def another_replica_tries(page: int) -> None:
        now = calbot.clock.now()
        taken_by_another.append(
            await calbot.stores.leases.try_acquire_lease(LEASE, "thief", now, now)
        )

    slow = SlowGoogle(calbot.google, calbot.clock, 40, another_replica_tries)
    outcome = await replica_two(calbot, google=slow).sync_calendar(ACCOUNT, CAL)

    assert outcome.pages == 5
    assert calbot.clock.now() - at(0) == timedelta(seconds=160)  # well past one lease
    assert 160 > SYNC_LEASE_SECONDS
    assert taken_by_another == [False, False, False, False]
    now = calbot.clock.now()
    assert await calbot.stores.leases.try_acquire_lease(LEASE, "thief", now, now)  # released


async def test_a_sync_that_lost_its_lease_stops_writing_and_leaves_the_token(
    calbot: Calbot,
) -> None:
    calbot.google.page_size = 1
    await connected(calbot, meeting("m1", at(1), at(2)), meeting("m2", at(3), at(4)))

    async def another_replica_takes_over(page: int) -> None:
        now = calbot.clock.now()  # the stalled replica's lease has run out by now
        assert await calbot.stores.leases.try_acquire_lease(
            LEASE, "taker", now, now + timedelta(seconds=SYNC_LEASE_SECONDS)
        )

    stalled = SlowGoogle(
        calbot.google, calbot.clock, SYNC_LEASE_SECONDS + 10, another_replica_takes_over
    )
    outcome = await replica_two(calbot, google=stalled).sync_calendar(ACCOUNT, CAL)

    assert (outcome.skipped, outcome.pages) == (True, 1)
    assert await calbot.stores.events.get_event_by_google_id(ACCOUNT, CAL, "m2") is None
    state = await calbot.stores.events.get_sync_state(ACCOUNT, CAL)
    assert state is None or state.sync_token is None  # the next run starts over
    now = calbot.clock.now()
    assert not await calbot.stores.leases.try_acquire_lease(LEASE, "third", now, now)


# -- a reconnect is never revoked by a sync holding the old credentials -------------------------


async def test_a_sync_started_before_a_reconnect_does_not_revoke_it(calbot: Calbot) -> None:
    await connected(calbot, meeting("m1", at(1), at(2)))
    events = Paused(calbot.stores.events, "get_sync_state")
    running = asyncio.create_task(replica_two(calbot, events=events).sync_calendar(ACCOUNT, CAL))
    await events.reached()  # replica two holds the old credentials, about to ask Google

    calbot.google.refresh_tokens = {RECONNECTED.refresh_token}  # the old token is dead
    await calbot.connections.connect(ACCOUNT, RECONNECTED)  # on replica one
    events.release()
    outcome = await running  # refused, then run again with the new credentials

    connection = await calbot.stores.connections.get_connection(ACCOUNT)
    assert connection is not None
    assert connection.status is ConnectionStatus.ACTIVE
    assert connection.credentials_fingerprint == credentials_fingerprint(RECONNECTED)
    assert outcome.upserted_ids == event_ids("m1")


class CachingSecretBox:
    """One replica's view of shared secrets, with a cache only its own puts refresh (as the
    SSM box keeps one per process)."""

    def __init__(self, shared: SecretBox) -> None:
        self._shared = shared
        self._cache: dict[str, GoogleCredentials | None] = {}
        self.fresh_reads = 0

    async def put(self, account_id: str, credentials: GoogleCredentials) -> None:
        await self._shared.put(account_id, credentials)
        self._cache[account_id] = credentials

    async def get(self, account_id: str, *, fresh: bool = False) -> GoogleCredentials | None:
        if fresh or account_id not in self._cache:
            self.fresh_reads += fresh
            self._cache[account_id] = await self._shared.get(account_id)
        return self._cache[account_id]

    async def delete(self, account_id: str) -> None:
        await self._shared.delete(account_id)
        self._cache.pop(account_id, None)


async def test_a_replica_caching_the_old_credentials_syncs_with_the_new_ones(
    calbot: Calbot,
) -> None:
    await connected(calbot, meeting("m1", at(1), at(2)))
    cache = CachingSecretBox(calbot.secrets)
    two = replica_two(calbot, secrets=cache)
    await two.sync_calendar(ACCOUNT, CAL)  # replica two now caches the first credentials

    calbot.google.refresh_tokens = {RECONNECTED.refresh_token}
    await calbot.connections.connect(ACCOUNT, RECONNECTED)  # on replica one
    calbot.google.put_event(CAL, meeting("m2", at(3), at(4)))
    outcome = await two.sync_calendar(ACCOUNT, CAL)

    assert outcome.upserted_ids == event_ids("m2")
    assert cache.fresh_reads == 1
    connection = await calbot.stores.connections.get_connection(ACCOUNT)
    assert connection is not None
    assert connection.status is ConnectionStatus.ACTIVE
