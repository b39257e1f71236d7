"""Two calbot replicas on one database (issue 12, case 8): two apps on the same settings, so the
same SQLite file and key, as tests/api/test_consent.py runs connect links across replicas.

A calendar is synced by one replica at a time. While another replica holds a calendar's sync
lease, `GET /events` on this one waits up to SYNC_LEASE_WAIT_SECONDS for it, then answers 200
from what the store holds (what the other replica has written so far) without calling Google.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx

from app.config import Settings
from app.container import Container
from app.main import create_app
from app.services.sync import SYNC_LEASE_SECONDS, SYNC_LEASE_WAIT_SECONDS, sync_lease_name
from tests.conftest import meeting
from tests.fake_google import FakeGoogle
from tests.fakes import FakeClock

PRIMARY = "user@example.com"
EVENTS = "/api/v1/calendar/events"


@asynccontextmanager
async def another_replica(settings: Settings, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    replica = create_app(settings, clock=clock, run_background=False)
    async with replica.router.lifespan_context(replica):
        transport = httpx.ASGITransport(app=replica)
        async with httpx.AsyncClient(transport=transport, base_url="http://calbot.test") as http:
            yield http


def listed(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [event["google_event_id"] for event in response.json()["events"]]


def full_syncs(google: FakeGoogle) -> int:
    """events.list runs started without a sync token (a page token continues a run)."""
    return sum(
        "syncToken" not in r.url.params and "pageToken" not in r.url.params
        for r in google.api_requests("/events")
    )


async def test_events_answer_from_the_store_while_another_replica_syncs_the_calendar(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    container: Container,
    fake_google: FakeGoogle,
    settings: Settings,
    clock: FakeClock,
) -> None:
    fake_google.put_event(PRIMARY, meeting("m1", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"))
    assert listed(await client.get(EVENTS, headers=connected)) == ["m1"]
    account_id = await container.api_keys.authenticate(connected["Authorization"].split()[1])
    lease = sync_lease_name(account_id, PRIMARY)
    fake_google.put_event(PRIMARY, meeting("m2", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z"))

    async with another_replica(settings, clock) as second:
        now = clock.now()  # replica one is syncing the calendar: it holds the lease
        until = now + timedelta(seconds=SYNC_LEASE_SECONDS)
        assert await container.stores.leases.try_acquire_lease(
            lease, container.replica_id, now, until
        )
        asked_google = len(fake_google.api_requests("/events"))
        started = clock.now()

        during = await second.get(EVENTS, headers=connected)

        assert listed(during) == ["m1"]  # what the store holds
        assert len(fake_google.api_requests("/events")) == asked_google
        assert clock.now() - started == timedelta(seconds=SYNC_LEASE_WAIT_SECONDS)
        await container.stores.leases.release_lease(lease, container.replica_id)

        after = await second.get(EVENTS, headers=connected)

    assert listed(after) == ["m1", "m2"]
    since = fake_google.api_requests("/events")[asked_google:]
    assert ["syncToken" in r.url.params for r in since] == [True]  # an incremental sync


async def test_two_replicas_listing_a_new_calendar_at_once_run_one_full_sync(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    settings: Settings,
    clock: FakeClock,
) -> None:
    fake_google.page_size = 1  # a full sync of several pages, so the two overlap
    for hour in range(13, 18):
        start, end = f"2026-11-25T{hour}:00:00Z", f"2026-11-25T{hour}:30:00Z"
        fake_google.put_event(PRIMARY, meeting(f"m{hour}", start, end))

    async with another_replica(settings, clock) as second:
        one, two = await asyncio.gather(
            client.get(EVENTS, headers=connected), second.get(EVENTS, headers=connected)
        )
        later = await second.get(EVENTS, headers=connected)

    assert (one.status_code, two.status_code) == (200, 200)
    assert full_syncs(fake_google) == 1
    assert listed(later) == ["m13", "m14", "m15", "m16", "m17"]
