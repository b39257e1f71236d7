"""Google push notifications: channels, the webhook, and bots following their meetings."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from app.config import Settings
from app.container import Container, open_container
from app.jobs import PeriodicJob, build_scheduler, leased
from tests.conftest import GOOD_CREDENTIALS, meeting
from tests.fake_google import FakeGoogle
from tests.fakes import FakeClock

PRIMARY = "user@example.com"
TEAM = "team@group.calendar.google.com"
WEBHOOK = "/api/v1/calendar/webhooks/google"
PUBLIC = "https://calbot.example.com"
CONFIG = {"video_required": False}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"public_base_url": PUBLIC})


def _channel(fake_google: FakeGoogle, calendar_id: str = PRIMARY) -> dict[str, Any]:
    return next(w for w in reversed(fake_google.watch_requests) if w["calendar_id"] == calendar_id)


async def _notify(
    client: httpx.AsyncClient,
    channel: dict[str, Any],
    *,
    state: str = "exists",
    number: str = "4821",
    token: str | None = None,
) -> httpx.Response:
    """A notification with Google's exact headers and an empty body."""
    return await client.post(
        WEBHOOK,
        headers={
            "X-Goog-Channel-ID": channel["id"],
            "X-Goog-Channel-Token": channel["token"] if token is None else token,
            "X-Goog-Channel-Expiration": "Fri, 01 Jan 2027 00:00:00 GMT",
            "X-Goog-Message-Number": number,
            "X-Goog-Resource-ID": f"res-{channel['id']}",
            "X-Goog-Resource-State": state,
            "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/x/events",
            "User-Agent": "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
            "Content-Length": "0",
        },
    )


async def _scheduled(
    client: httpx.AsyncClient, auth: dict[str, str], fake_google: FakeGoogle, event: dict[str, Any]
) -> dict[str, Any]:
    fake_google.put_event(PRIMARY, event)
    listed = (await client.get("/api/v1/calendar/events", headers=auth)).json()["events"]
    event_id = next(e["event_id"] for e in listed if e["google_event_id"] == event["id"])
    response = await client.post(
        f"/api/v1/calendar/schedule/{event_id}", json={"bot_config": CONFIG}, headers=auth
    )
    assert response.status_code == 201, response.text
    bot: dict[str, Any] = response.json()
    return bot


async def _bot(client: httpx.AsyncClient, auth: dict[str, str], bot_id: str) -> dict[str, Any]:
    bots = (await client.get("/api/v1/calendar/scheduled_bots", headers=auth)).json()
    found: dict[str, Any] = next(b for b in bots["scheduled_bots"] if b["bot_id"] == bot_id)
    return found


_message_numbers = itertools.count(5000, 7)  # increasing, not sequential, like Google's


async def _after_notification(
    client: httpx.AsyncClient, container: Container, fake_google: FakeGoogle
) -> None:
    response = await _notify(client, _channel(fake_google), number=str(next(_message_numbers)))
    assert response.status_code == 200
    await container.push.coalescer.drain()


async def test_connecting_opens_a_channel_on_every_calendar(
    connected: dict[str, str], fake_google: FakeGoogle, container: Container
) -> None:
    assert sorted(w["calendar_id"] for w in fake_google.watch_requests) == [TEAM, PRIMARY]
    for watch in fake_google.watch_requests:
        assert watch["address"] == f"{PUBLIC}/api/v1/calendar/webhooks/google"
        assert watch["type"] == "web_hook"
        assert watch["params"] == {"ttl": "604800"}
        assert len(watch["token"]) >= 32
    account_id = await container.api_keys.authenticate(connected["Authorization"].split()[1])
    channels = await container.stores.channels.list_channels(account_id)
    assert {c.calendar_id for c in channels} == {PRIMARY, TEAM}
    assert all(c.expiration == datetime(2027, 1, 1, tzinfo=UTC) for c in channels)
    assert all(w["token"] not in c.token_hash for c in channels for w in fake_google.watch_requests)


async def test_a_moved_meeting_moves_its_bot(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    bot = await _scheduled(
        client,
        connected,
        fake_google,
        meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z"),
    )
    fake_google.put_event(PRIMARY, meeting("m", "2026-11-26T15:00:00Z", "2026-11-26T16:00:00Z"))

    await _after_notification(client, container, fake_google)

    moved = await _bot(client, connected, bot["bot_id"])
    assert (moved["occurrence_start"], moved["join_at"]) == (
        "2026-11-26T15:00:00Z",
        "2026-11-26T14:57:00Z",
    )
    assert moved["status"] == "scheduled"


async def test_a_meeting_moved_far_ahead_keeps_its_bot(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    bot = await _scheduled(
        client, connected, fake_google, meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    fake_google.put_event(PRIMARY, meeting("m", "2027-06-01T10:00:00Z", "2027-06-01T11:00:00Z"))

    await _after_notification(client, container, fake_google)

    moved = await _bot(client, connected, bot["bot_id"])
    assert (moved["status"], moved["join_at"]) == ("scheduled", "2027-06-01T09:57:00Z")


async def test_a_cancelled_meeting_cancels_its_bot(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    bot = await _scheduled(
        client, connected, fake_google, meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    fake_google.cancel_event(PRIMARY, "m")

    await _after_notification(client, container, fake_google)

    assert (await _bot(client, connected, bot["bot_id"]))["status"] == "cancelled"
    [event] = (await client.get("/api/v1/calendar/get_events", headers=connected)).json()["events"]
    assert (event["schedule_status"], event["bot_join_status"]) == ("cancelled", False)


async def test_a_changed_link_follows_and_a_lost_link_cancels(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    bot = await _scheduled(
        client, connected, fake_google, meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    fake_google.put_event(
        PRIMARY,
        meeting(
            "m",
            "2026-11-26T10:00:00Z",
            "2026-11-26T11:00:00Z",
            link=None,
            location="https://acme.zoom.us/j/5551234567?pwd=XyZ",
        ),
    )
    await _after_notification(client, container, fake_google)
    relinked = await _bot(client, connected, bot["bot_id"])
    assert (relinked["meeting_link"], relinked["meeting_platform"]) == (
        "https://acme.zoom.us/j/5551234567?pwd=XyZ",
        "zoom",
    )

    fake_google.put_event(
        PRIMARY, meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z", link=None)
    )
    await _after_notification(client, container, fake_google)
    assert (await _bot(client, connected, bot["bot_id"]))["status"] == "cancelled"


async def test_a_moved_occurrence_of_a_series_moves_only_that_bot(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    series = meeting(
        "daily", "2026-11-26T10:00:00Z", "2026-11-26T10:30:00Z", recurrence=["RRULE:FREQ=DAILY"]
    )
    series["start"]["timeZone"] = "UTC"
    bot = await _scheduled(client, connected, fake_google, series)
    fake_google.put_event(
        PRIMARY,
        meeting(
            "daily_20261126T100000Z",
            "2026-11-26T12:00:00Z",
            "2026-11-26T12:30:00Z",
            recurringEventId="daily",
            originalStartTime={"dateTime": "2026-11-26T10:00:00Z"},
        ),
    )

    await _after_notification(client, container, fake_google)

    moved = await _bot(client, connected, bot["bot_id"])
    assert (moved["occurrence_start"], moved["join_at"]) == (
        "2026-11-26T12:00:00Z",
        "2026-11-26T11:57:00Z",
    )

    fake_google.cancel_event(PRIMARY, "daily_20261126T100000Z")
    await _after_notification(client, container, fake_google)
    bots = (await client.get("/api/v1/calendar/scheduled_bots", headers=connected)).json()
    assert [(b["occurrence_start"], b["status"]) for b in bots["scheduled_bots"]] == [
        ("2026-11-26T12:00:00Z", "cancelled"),
        ("2026-11-27T10:00:00Z", "scheduled"),  # the series goes on with the next one
    ]


async def test_a_new_meeting_is_auto_scheduled_when_auto_scheduling_is_on(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    await client.get("/api/v1/calendar/events", headers=connected)
    enabled = await client.post(
        "/api/v1/calendar/auto-schedule/enable",
        json={"default_bot_config": {"auto": True}},
        headers=connected,
    )
    assert enabled.status_code == 200
    fake_google.put_event(PRIMARY, meeting("new", "2026-11-26T09:00:00Z", "2026-11-26T10:00:00Z"))

    await _after_notification(client, container, fake_google)

    [bot] = (await client.get("/api/v1/calendar/scheduled_bots", headers=connected)).json()[
        "scheduled_bots"
    ]
    assert (bot["google_event_id"], bot["source"], bot["bot_config"]) == (
        "new",
        "auto_schedule",
        {"auto": True},
    )


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"X-Goog-Channel-Token": "forged"}, "wrong token"),
        ({"X-Goog-Channel-ID": "not-a-channel"}, "unknown channel"),
        ({"X-Goog-Channel-Token": None}, "no token"),
        ({"X-Goog-Channel-ID": None}, "no channel id"),
    ],
    ids=["forged-token", "unknown-channel", "no-token", "no-channel-id"],
)
async def test_forged_or_unknown_notifications_answer_404_and_do_nothing(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    change: dict[str, str | None],
    detail: str,
) -> None:
    channel = _channel(fake_google)
    headers = {
        "X-Goog-Channel-ID": channel["id"],
        "X-Goog-Channel-Token": channel["token"],
        "X-Goog-Resource-State": "exists",
        "X-Goog-Message-Number": "77",
    }
    headers.update(change)
    fake_google.requests.clear()

    response = await client.post(
        WEBHOOK, headers={k: v for k, v in headers.items() if v is not None}
    )
    await container.push.coalescer.drain()

    assert response.status_code == 404, detail
    assert fake_google.requests == []


async def test_sync_handshakes_are_only_acknowledged(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    fake_google.requests.clear()
    response = await _notify(client, _channel(fake_google), state="sync", number="1")
    await container.push.coalescer.drain()
    assert response.status_code == 200
    assert fake_google.requests == []


async def test_duplicates_and_bursts_coalesce_into_few_syncs(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    google_mock: respx.MockRouter,
) -> None:
    await client.get("/api/v1/calendar/events", headers=connected)
    fake_google.requests.clear()
    channel = _channel(fake_google)
    google_answers = asyncio.Event()
    sync_under_way = asyncio.Event()

    async def slow_google(request: httpx.Request) -> httpx.Response:
        sync_under_way.set()
        await google_answers.wait()  # the first sync is still running while the burst lands
        return fake_google.handle(request)

    google_mock.routes["google-api"].side_effect = slow_google
    first = await _notify(client, channel, number="100")
    await asyncio.wait_for(sync_under_way.wait(), timeout=5)
    numbers = ["120", "120", "98", "300", "300", "301", "150", "999", "998", "1000"]
    responses = [
        first,
        *await asyncio.gather(*(_notify(client, channel, number=n) for n in numbers)),
    ]
    google_answers.set()
    await container.push.coalescer.drain()

    assert {r.status_code for r in responses} == {200}
    syncs = fake_google.api_requests("/events")
    assert len(syncs) == 2  # the one under way, and one more for what arrived meanwhile
    assert all("syncToken" in r.url.params for r in syncs)


async def test_repeated_message_numbers_are_ignored(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    await client.get("/api/v1/calendar/events", headers=connected)
    channel = _channel(fake_google)
    await _notify(client, channel, number="42")
    await container.push.coalescer.drain()
    fake_google.requests.clear()

    again = await _notify(client, channel, number="42")
    await container.push.coalescer.drain()

    assert again.status_code == 200
    assert fake_google.requests == []


async def test_channels_are_renewed_before_they_expire(
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
) -> None:
    account_id = await container.api_keys.authenticate(connected["Authorization"].split()[1])
    old = {c.channel_id: c for c in await container.stores.channels.list_channels(account_id)}
    assert await container.push.renew_channels() == 0  # far from expiry

    clock.set(datetime(2026, 12, 31, 6, tzinfo=UTC))  # 18 hours before expiry
    fake_google.channel_expiration_ms = "1799366400000"  # the new ones last until 2027-01-08
    assert await container.push.renew_channels() == 2

    new = await container.stores.channels.list_channels(account_id)
    assert {c.calendar_id for c in new} == {PRIMARY, TEAM}
    assert not {c.channel_id for c in new} & old.keys()
    assert sorted(s["id"] for s in fake_google.stopped_channels) == sorted(old)
    assert all(s["resourceId"] == old[s["id"]].resource_id for s in fake_google.stopped_channels)
    assert await container.push.renew_channels() == 0


async def test_a_failed_renewal_keeps_the_old_channel_and_retries(
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
) -> None:
    account_id = await container.api_keys.authenticate(connected["Authorization"].split()[1])
    clock.set(datetime(2026, 12, 31, 6, tzinfo=UTC))
    fake_google.refuse_watch = {PRIMARY, TEAM}

    assert await container.push.renew_channels() == 0
    assert len(await container.stores.channels.list_channels(account_id)) == 2
    assert fake_google.stopped_channels == []


async def test_disconnect_stops_every_channel(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    ids = sorted(w["id"] for w in fake_google.watch_requests)
    response = await client.delete("/api/v1/calendar/disconnect", headers=connected)
    assert response.json()["channels_stopped"] == 2
    assert sorted(s["id"] for s in fake_google.stopped_channels) == ids
    after = await _notify(client, fake_google.watch_requests[0])
    assert after.status_code == 404  # late notifications of stopped channels are ignored


async def test_a_calendar_google_refuses_to_watch_is_polled_instead(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    fake_google.refuse_watch = {TEAM}
    response = await client.post(
        "/api/v1/calendar/create_calendar", json=GOOD_CREDENTIALS, headers=auth
    )
    assert response.status_code == 201
    account_id = await container.api_keys.authenticate(auth["Authorization"].split()[1])
    assert [c.calendar_id for c in await container.stores.channels.list_channels(account_id)] == [
        PRIMARY
    ]

    fake_google.put_event(TEAM, meeting("t", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z"))
    assert await container.push.poll_all() == 2
    listed = await client.get(
        "/api/v1/calendar/get_events", params={"calendar_id": TEAM}, headers=auth
    )
    assert [e["google_event_id"] for e in listed.json()["events"]] == ["t"]


async def test_reconnecting_replaces_the_channels(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    first = sorted(w["id"] for w in fake_google.watch_requests)
    response = await client.post(
        "/api/v1/calendar/create_calendar", json=GOOD_CREDENTIALS, headers=connected
    )
    assert response.status_code == 200
    account_id = await container.api_keys.authenticate(connected["Authorization"].split()[1])
    assert sorted(s["id"] for s in fake_google.stopped_channels) == first
    now_open = {c.channel_id for c in await container.stores.channels.list_channels(account_id)}
    assert len(now_open) == 2
    assert not now_open & set(first)


async def test_periodic_jobs_have_stable_names_and_the_configured_periods(
    container: Container,
) -> None:
    scheduler = build_scheduler(container.periodic_jobs())
    jobs = {job.id: job.trigger.interval.total_seconds() for job in scheduler.get_jobs()}
    assert jobs == {
        "auto-schedule": 86400,
        "safety-net-sync": 900,
        "channel-renewal": 3600,
        "housekeeping": 3600,
        "pause-resume": 30,
    }
    assert all(job.coalesce and job.max_instances == 1 for job in scheduler.get_jobs())


async def test_each_periodic_pass_runs_in_one_replica_per_period(
    container: Container, settings: Settings, clock: FakeClock
) -> None:
    ran: list[str] = []

    def job(job_id: str, replica: str) -> PeriodicJob:
        async def run() -> None:
            ran.append(f"{job_id}@{replica}")

        return PeriodicJob(job_id, run, 900)

    async with open_container(settings, clock=clock) as other:  # a second replica
        replicas = [(container, "a"), (other, "b")]
        jobs = [
            leased(job(job_id, name), replica.stores.leases, clock, name)
            for replica, name in replicas
            for job_id in ("auto-schedule", "safety-net-sync")
        ]
        for each in jobs:
            await each.run()
        assert sorted(ran) == ["auto-schedule@a", "safety-net-sync@a"]

        clock.advance(900)  # next period: the leases have expired, whoever comes first runs
        for each in reversed(jobs):
            await each.run()
        assert sorted(ran[2:]) == ["auto-schedule@b", "safety-net-sync@b"]
