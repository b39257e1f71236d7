"""Launching bots (CONTRACT.md section 3): once, at join_at, with retries, across restarts.

The Create Bot API is mocked with respx on BOT_API_URL; time is a FakeClock, so retries and
backoff happen instantly and are recorded in `clock.slept`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from app.bot_changes import BotChange
from app.config import Settings
from app.container import Container, open_container
from app.domain import (
    MEETING_CANCELLED,
    MEETING_DELETED,
    OCCURRENCE_CANCELLED,
    STALE_LAUNCH_AFTER,
    BotStatus,
    ScheduledBot,
)
from app.errors import StorageUnavailable
from app.main import create_app
from app.services.launch_check import LAUNCH_CHECK_AHEAD
from app.services.launcher import LAUNCH_SHUTDOWN_SECONDS, Launcher
from tests.conftest import BOT_API_URL, GOOD_CREDENTIALS, NOW, meeting, new_auth
from tests.fake_google import FakeGoogle
from tests.fakes import FakeClock

PRIMARY = "user@example.com"
LINK = "https://meet.google.com/abc-defg-hij"
BOT_API_KEY = "ms-live-0123456789abcdef"
CONFIG: dict[str, Any] = {"video_required": False, "callback_url": "https://example.com/hook"}
BOTS = "/api/v1/calendar/scheduled_bots"


# -- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def bot_api_key() -> str | None:
    """BOT_API_KEY; parametrize a test with `bot_api_key=None` to leave it unset."""
    return BOT_API_KEY


@pytest.fixture
def settings(settings: Settings, bot_api_key: str | None) -> Settings:
    key = SecretStr(bot_api_key) if bot_api_key is not None else None
    return settings.model_copy(update={"bot_api_key": key})


@pytest.fixture
def create_bot(google_mock: respx.MockRouter) -> respx.Route:
    """The Create Bot API; answers 201 {"bot_id": "ext-1"} unless a test says otherwise."""
    return google_mock.post(BOT_API_URL).mock(
        return_value=httpx.Response(201, json={"bot_id": "ext-1"})
    )


@asynccontextmanager
async def running(
    settings: Settings, clock: FakeClock
) -> AsyncIterator[tuple[httpx.AsyncClient, Container]]:
    """One calbot "process": the app's lifespan, and a client talking to it."""
    application = create_app(settings, clock=clock, run_background=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://calbot.test") as http:
            yield http, application.state.container


async def schedule_meeting(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    fake_google: FakeGoogle,
    google_id: str,
    start: str,
    end: str,
    bot_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Put a meeting in Google, sync, schedule a bot for it; answers the ScheduledBot."""
    fake_google.put_event(PRIMARY, meeting(google_id, start, end))
    synced = await client.get("/api/v1/calendar/events", headers=auth)
    assert synced.status_code == 200, synced.text
    [event_id] = [
        e["event_id"] for e in synced.json()["events"] if e["google_event_id"] == google_id
    ]
    response = await client.post(
        f"/api/v1/calendar/schedule/{event_id}",
        json={"bot_config": CONFIG if bot_config is None else bot_config},
        headers=auth,
    )
    assert response.status_code == 201, response.text
    bot: dict[str, Any] = response.json()
    return bot


async def bots(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = await client.get(BOTS, headers=auth)
    assert response.status_code == 200, response.text
    return {bot["bot_id"]: bot for bot in response.json()["scheduled_bots"]}


async def launch(launcher: Launcher) -> int:
    """One pass of the scheduler, then let its launches finish."""
    started = await launcher.launch_due()
    await launcher.wait_for_launches()
    return started


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def keys(route: respx.Route) -> list[str]:
    return [call.request.headers["Idempotency-Key"] for call in route.calls]


def sent_body(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


# -- the request ----------------------------------------------------------------------------


async def test_a_due_bot_is_created_once_with_the_key_and_its_bot_id_as_idempotency_key(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    patched = await client.patch(
        f"{BOTS}/{bot['bot_id']}",
        json={"bot_name": "Notetaker", "custom_attributes": {"team": "sales", "tier": 2}},
        headers=connected,
    )
    assert patched.status_code == 200, patched.text
    clock.set(at(bot["join_at"]))

    assert await launch(container.launcher) == 1
    assert await launch(container.launcher) == 0  # a launched bot is never launched again

    assert create_bot.call_count == 1
    request = create_bot.calls.last.request
    assert request.headers["Authorization"] == f"Token {BOT_API_KEY}"
    assert request.headers["Idempotency-Key"] == bot["bot_id"]
    assert request.headers["Content-Type"] == "application/json"
    assert sent_body(create_bot) == {
        **CONFIG,
        "meeting_link": LINK,
        "bot_name": "Notetaker",
        "custom_attributes": {"team": "sales", "tier": 2},
    }


@pytest.mark.parametrize("bot_api_key", [None])
async def test_without_a_bot_api_key_no_authorization_is_sent_and_unset_fields_are_left_out(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    clock.set(at(bot["join_at"]))

    await launch(container.launcher)

    request = create_bot.calls.last.request
    assert "Authorization" not in request.headers
    assert request.headers["Idempotency-Key"] == bot["bot_id"]
    assert sent_body(create_bot) == {**CONFIG, "meeting_link": LINK}


async def test_the_meeting_link_and_the_bots_own_name_win_over_the_same_keys_in_bot_config(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    config = {"bot_name": "From config", "meeting_link": "https://zoom.us/j/1", "x": [1, {"y": 2}]}
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z", config
    )
    await client.patch(f"{BOTS}/{bot['bot_id']}", json={"bot_name": "Mine"}, headers=connected)
    clock.set(at(bot["join_at"]))

    await launch(container.launcher)

    assert sent_body(create_bot) == {"bot_name": "Mine", "meeting_link": LINK, "x": [1, {"y": 2}]}


# -- outcomes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "answer", "external_bot_id"),
    [
        (201, {"bot_id": "ext-1"}, "ext-1"),
        (200, {"id": "ext-2", "status": "joining"}, "ext-2"),
        (202, {"bot_id": "ext-3", "id": "other"}, "ext-3"),
        (201, {"id": 42}, "42"),
    ],
)
async def test_a_2xx_answer_marks_the_bot_launched_with_the_external_bot_id(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
    status: int,
    answer: dict[str, Any],
    external_bot_id: str,
) -> None:
    create_bot.mock(return_value=httpx.Response(status, json=answer))
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    clock.set(at(bot["join_at"]))

    await launch(container.launcher)

    shown = (await bots(client, connected))[bot["bot_id"]]
    assert shown["status"] == "launched"
    assert shown["external_bot_id"] == external_bot_id
    assert shown["last_error"] is None
    launched = await client.get(BOTS, headers=connected, params={"status": "launched"})
    assert [b["bot_id"] for b in launched.json()["scheduled_bots"]] == [bot["bot_id"]]


async def test_transient_failures_are_retried_with_the_same_key_and_body_until_success(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    create_bot.side_effect = [
        httpx.Response(503, json={"detail": "overloaded"}),
        httpx.Response(500),
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.ReadTimeout,
        httpx.ConnectError,
        httpx.Response(502, text="Bad Gateway"),
        httpx.Response(201, json={"bot_id": "ext-9"}),
    ]
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    clock.set(at(bot["join_at"]))
    slept_before = len(clock.slept)

    await launch(container.launcher)

    assert create_bot.call_count == 7
    assert keys(create_bot) == [bot["bot_id"]] * 7
    assert len({call.request.content for call in create_bot.calls}) == 1
    waits = clock.slept[slept_before:]
    assert len(waits) == 6  # one backoff between attempts, taken on the FakeClock
    assert waits[2] == 7.0  # the server's Retry-After
    assert all(0 <= wait <= 30 for wait in waits)
    waited = (clock.now() - at(bot["join_at"])).total_seconds()
    assert waited == pytest.approx(sum(waits), abs=1e-3)  # time moved only by those backoffs
    shown = (await bots(client, connected))[bot["bot_id"]]
    assert (shown["status"], shown["external_bot_id"]) == ("launched", "ext-9")


async def test_an_api_failing_until_the_meeting_ends_marks_the_bot_failed_with_the_reason(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    create_bot.mock(return_value=httpx.Response(503, json={"detail": "maintenance"}))
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T13:30:00Z"
    )
    clock.set(at(bot["join_at"]))

    await launch(container.launcher)

    ended = at("2026-11-25T13:30:00Z")
    assert ended - timedelta(seconds=30) <= clock.now() <= ended  # retried until the end
    assert create_bot.call_count > 10
    assert set(keys(create_bot)) == {bot["bot_id"]}
    shown = (await bots(client, connected))[bot["bot_id"]]
    assert shown["status"] == "failed"
    assert shown["external_bot_id"] is None
    assert "503" in shown["last_error"]
    assert "until the meeting ended" in shown["last_error"]


@pytest.mark.parametrize(
    ("status", "answer", "reason"),
    [
        (422, {"detail": "meeting_link is not a supported meeting URL"}, "not a supported"),
        (400, {"message": "video_required must be a boolean"}, "must be a boolean"),
        (401, {"error": "Invalid token."}, "Invalid token."),
        (403, {"detail": [{"loc": ["body"], "msg": "quota exceeded"}]}, "quota exceeded"),
    ],
)
async def test_a_rejected_bot_fails_at_once_with_the_apis_reason(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
    status: int,
    answer: dict[str, Any],
    reason: str,
) -> None:
    create_bot.mock(return_value=httpx.Response(status, json=answer))
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    clock.set(at(bot["join_at"]))
    slept_before = len(clock.slept)

    await launch(container.launcher)
    await launch(container.launcher)

    assert create_bot.call_count == 1
    assert clock.slept[slept_before:] == []
    shown = (await bots(client, connected))[bot["bot_id"]]
    assert shown["status"] == "failed"
    assert str(status) in shown["last_error"]
    assert reason in shown["last_error"]


async def test_last_error_never_echoes_the_bot_api_key(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    create_bot.mock(
        return_value=httpx.Response(401, json={"detail": f"Unknown token {BOT_API_KEY}"})
    )
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    clock.set(at(bot["join_at"]))

    await launch(container.launcher)

    response = await client.get(BOTS, headers=connected)
    assert "Unknown token" in response.text
    assert BOT_API_KEY not in response.text


# -- when -----------------------------------------------------------------------------------


async def test_a_bot_is_launched_at_join_at_and_not_a_second_before(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    assert bot["join_at"] == "2026-11-25T12:57:00Z"

    assert await launch(container.launcher) == 0
    clock.set(at(bot["join_at"]) - timedelta(seconds=1))
    assert await launch(container.launcher) == 0
    assert create_bot.call_count == 0
    assert (await bots(client, connected))[bot["bot_id"]]["status"] == "scheduled"

    clock.set(at(bot["join_at"]))
    assert await launch(container.launcher) == 1
    assert create_bot.call_count == 1


async def test_a_bot_whose_meeting_ended_before_it_could_be_launched_is_missed(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T13:30:00Z"
    )
    clock.set(at("2026-11-25T13:30:00Z"))

    await launch(container.launcher)

    assert create_bot.call_count == 0
    shown = (await bots(client, connected))[bot["bot_id"]]
    assert shown["status"] == "missed"
    assert "ended" in shown["last_error"]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-11-25T11:50:00Z", "2026-11-25T12:30:00Z"),  # under way
        ("2026-11-25T12:01:00Z", "2026-11-25T12:30:00Z"),  # starts within the join lead
    ],
)
async def test_scheduling_a_meeting_whose_join_at_has_passed_launches_it_on_the_next_pass(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
    start: str,
    end: str,
) -> None:
    bot = await schedule_meeting(client, connected, fake_google, "m", start, end)

    assert bot["join_at"] == "2026-11-25T12:00:00Z"  # now
    assert await launch(container.launcher) == 1
    assert keys(create_bot) == [bot["bot_id"]]
    assert (await bots(client, connected))[bot["bot_id"]]["status"] == "launched"


# -- never twice ----------------------------------------------------------------------------


async def test_concurrent_passes_launch_each_due_bot_once(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    scheduled = [
        await schedule_meeting(
            client, connected, fake_google, f"m{i}", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
        )
        for i in range(5)
    ]
    clock.set(at("2026-11-25T12:57:00Z"))

    started = await asyncio.gather(*(container.launcher.launch_due() for _ in range(3)))
    await container.launcher.wait_for_launches()

    assert sum(started) == 5
    assert Counter(keys(create_bot)) == {bot["bot_id"]: 1 for bot in scheduled}
    assert {b["status"] for b in (await bots(client, connected)).values()} == {"launched"}


async def test_cancelled_bots_are_never_launched(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    deleted = await schedule_meeting(
        client, connected, fake_google, "a", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    unscheduled = await schedule_meeting(
        client, connected, fake_google, "b", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    kept = await schedule_meeting(
        client, connected, fake_google, "c", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    response = await client.delete(f"{BOTS}/{deleted['bot_id']}", headers=connected)
    assert response.status_code == 200
    response = await client.delete(
        f"/api/v1/calendar/schedule/{unscheduled['event_id']}", headers=connected
    )
    assert response.json()["cancelled_bots"] == 1
    clock.set(at("2026-11-25T12:58:00Z"))

    assert await launch(container.launcher) == 1

    assert keys(create_bot) == [kept["bot_id"]]
    shown = await bots(client, connected)
    assert shown[deleted["bot_id"]]["status"] == "cancelled"
    assert shown[unscheduled["bot_id"]]["status"] == "cancelled"
    assert shown[kept["bot_id"]]["status"] == "launched"


async def test_a_launch_still_retrying_is_not_taken_over_by_the_next_pass(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    """The API answers 503 for longer than STALE_LAUNCH_AFTER; the scheduler keeps running
    passes meanwhile (every second in production). The live launch must stay the only one."""
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    join_at = at(bot["join_at"])
    recovered_at = join_at + STALE_LAUNCH_AFTER + timedelta(seconds=60)
    at_recovery = asyncio.Event()
    release = asyncio.Event()

    async def api(request: httpx.Request) -> httpx.Response:
        if clock.now() < recovered_at:
            return httpx.Response(503)
        at_recovery.set()
        await release.wait()
        return httpx.Response(201, json={"bot_id": "ext-1"})

    create_bot.side_effect = api
    clock.set(join_at)
    assert await container.launcher.launch_due() == 1
    await asyncio.wait_for(at_recovery.wait(), timeout=10)

    try:
        second_pass = await container.launcher.launch_due()
    finally:
        release.set()
        await container.launcher.wait_for_launches()

    assert second_pass == 0
    assert (await bots(client, connected))[bot["bot_id"]]["status"] == "launched"
    calls_after_recovery = [c for c in create_bot.calls if c.response.status_code == 201]
    assert len(calls_after_recovery) == 1


# -- crashes, restarts and other processes ---------------------------------------------------


async def test_after_a_restart_overdue_bots_are_launched_and_ended_ones_missed(
    settings: Settings, fake_google: FakeGoogle, create_bot: respx.Route
) -> None:
    async with running(settings, FakeClock(NOW)) as (client, container):
        auth = await new_auth(container)
        response = await client.post(
            "/api/v1/calendar/create_calendar", json=GOOD_CREDENTIALS, headers=auth
        )
        assert response.status_code == 201, response.text
        overdue = await schedule_meeting(
            client, auth, fake_google, "soon", "2026-11-25T12:30:00Z", "2026-11-25T13:30:00Z"
        )
        ended = await schedule_meeting(
            client, auth, fake_google, "short", "2026-11-25T12:05:00Z", "2026-11-25T12:20:00Z"
        )
        future = await schedule_meeting(
            client, auth, fake_google, "later", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z"
        )
    assert create_bot.call_count == 0  # calbot was down from 12:00 ...

    restarted_at = FakeClock(at("2026-11-25T12:40:00Z"))  # ... until 12:40
    async with running(settings, restarted_at) as (client, container):
        assert await launch(container.launcher) == 2
        shown = await bots(client, auth)

    assert keys(create_bot) == [overdue["bot_id"]]
    assert (shown[overdue["bot_id"]]["status"], shown[overdue["bot_id"]]["external_bot_id"]) == (
        "launched",
        "ext-1",
    )
    assert shown[ended["bot_id"]]["status"] == "missed"
    assert shown[future["bot_id"]]["status"] == "scheduled"


async def test_a_launch_abandoned_by_a_dead_process_is_taken_over_with_the_same_key(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    clock.set(at(bot["join_at"]))
    # The process that claimed it died before recording any outcome.
    claimed = await container.stores.bots.claim_bot(
        bot["bot_id"], clock.now(), stale_launching_before=clock.now() - STALE_LAUNCH_AFTER
    )
    assert claimed is not None
    assert (await bots(client, connected))[bot["bot_id"]]["status"] == "launching"
    fresh = Launcher(
        bots=container.stores.bots,
        auto_schedule=container.stores.auto_schedule,
        bot_api=container.bot_api,
        clock=clock,
    )

    clock.advance(STALE_LAUNCH_AFTER.total_seconds() - 1)
    assert await launch(fresh) == 0  # it might still be alive
    assert create_bot.call_count == 0

    clock.advance(2)
    assert await launch(fresh) == 1

    assert keys(create_bot) == [bot["bot_id"]]
    shown = (await bots(client, connected))[bot["bot_id"]]
    assert (shown["status"], shown["external_bot_id"]) == ("launched", "ext-1")


async def test_two_processes_on_one_database_launch_each_bot_once(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    settings: Settings,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    scheduled = [
        await schedule_meeting(
            client, connected, fake_google, f"m{i}", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
        )
        for i in range(8)
    ]
    clock.set(at("2026-11-25T12:57:00Z"))

    async with open_container(settings, clock=clock) as other:
        started = await asyncio.gather(
            container.launcher.launch_due(),
            other.launcher.launch_due(),
            container.launcher.launch_due(),
            other.launcher.launch_due(),
        )
        await asyncio.gather(
            container.launcher.wait_for_launches(), other.launcher.wait_for_launches()
        )

    assert sum(started) == 8
    assert Counter(keys(create_bot)) == {bot["bot_id"]: 1 for bot in scheduled}
    assert {b["status"] for b in (await bots(client, connected)).values()} == {"launched"}


async def test_a_bot_moved_later_while_a_pass_runs_is_not_launched_early(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PATCH join_at lands between the pass reading the due bots and claiming them."""
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    clock.set(at(bot["join_at"]))
    read_due_bots = container.stores.bots.due_bots

    async def due_bots_then_patch(
        before: datetime, limit: int, *, stale_launching_before: datetime
    ) -> list[ScheduledBot]:
        due = await read_due_bots(before, limit, stale_launching_before=stale_launching_before)
        moved = await client.patch(
            f"{BOTS}/{bot['bot_id']}", json={"join_at": "2026-11-25T13:20:00Z"}, headers=connected
        )
        assert moved.status_code == 200, moved.text
        return due

    monkeypatch.setattr(container.stores.bots, "due_bots", due_bots_then_patch)

    await launch(container.launcher)

    assert create_bot.call_count == 0
    shown = (await bots(client, connected))[bot["bot_id"]]
    assert (shown["status"], shown["join_at"]) == (BotStatus.SCHEDULED, "2026-11-25T13:20:00Z")


# -- a failing store, and shutdown during a Create Bot outage (issue 12, case 5) --------------


async def test_a_store_error_while_recording_the_outcome_is_retried_at_once_not_in_5_minutes(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    write_bot = container.stores.bots.update_bot
    failures = [StorageUnavailable()]  # the database is locked once, as the outcome is stored

    async def update_bot_failing_once(
        bot: ScheduledBot, *, expected_status: BotStatus, change: BotChange | None = None
    ) -> bool:
        if failures and bot.status is BotStatus.LAUNCHED:
            raise failures.pop()
        return await write_bot(bot, expected_status=expected_status, change=change)

    monkeypatch.setattr(container.stores.bots, "update_bot", update_bot_failing_once)
    clock.set(at(bot["join_at"]))

    with caplog.at_level(logging.WARNING, logger="app.services.launcher"):
        assert await launch(container.launcher) == 1

    shown = (await bots(client, connected))[bot["bot_id"]]
    assert (shown["status"], shown["external_bot_id"]) == ("launched", "ext-1")
    assert clock.now() - at(bot["join_at"]) < timedelta(seconds=5)  # not the 5-minute takeover
    assert keys(create_bot) == [bot["bot_id"]]
    assert "could not store its launch outcome" in caplog.text


async def test_shutdown_during_a_create_bot_outage_is_bounded_and_a_restart_resumes_the_launch(
    settings: Settings, fake_google: FakeGoogle, create_bot: respx.Route
) -> None:
    outage_over = asyncio.Event()
    sent_keys: list[str] = []  # as each request arrives (respx records a call once answered)

    async def api(request: httpx.Request) -> httpx.Response:
        sent_keys.append(request.headers["Idempotency-Key"])
        await outage_over.wait()  # a connection that never answers, while the outage lasts
        return httpx.Response(201, json={"bot_id": "ext-1"})

    create_bot.side_effect = api
    clock = FakeClock(NOW)
    first = running(settings, clock)
    client, container = await first.__aenter__()
    try:
        auth = await new_auth(container)
        response = await client.post(
            "/api/v1/calendar/create_calendar", json=GOOD_CREDENTIALS, headers=auth
        )
        assert response.status_code == 201, response.text
        bot = await schedule_meeting(
            client, auth, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
        )
        clock.set(at(bot["join_at"]))
        assert await container.launcher.launch_due() == 1
        for _ in range(500):
            if sent_keys:
                break
            await asyncio.sleep(0.01)
        assert sent_keys == [bot["bot_id"]]
    finally:
        stopping_at, started = clock.now(), time.monotonic()
        await asyncio.wait_for(first.__aexit__(None, None, None), timeout=5)

    assert time.monotonic() - started < 5  # (without the bound it would wait for the outage)
    assert clock.now() - stopping_at <= timedelta(seconds=LAUNCH_SHUTDOWN_SECONDS)
    outage_over.set()
    restarted = FakeClock(at(bot["join_at"]) + timedelta(seconds=30))
    async with running(settings, restarted) as (client, container):
        assert await launch(container.launcher) == 1
        shown = (await bots(client, auth))[bot["bot_id"]]

    assert sent_keys == [bot["bot_id"], bot["bot_id"]]  # the same Idempotency-Key
    assert (shown["status"], shown["external_bot_id"]) == ("launched", "ext-1")


# -- the check with Google just before the launch (issue 12, case 6) ------------------------

OTHER_LINK = "https://meet.google.com/xyz-wxyz-xyz"


async def check_ahead(launcher: Launcher, clock: FakeClock, bot: dict[str, Any]) -> None:
    """The scheduler's pass as the bot enters the check window: it reads Google, launches
    nothing."""
    clock.set(at(bot["join_at"]) - LAUNCH_CHECK_AHEAD)
    assert await launch(launcher) == 0


def reads_of(fake_google: FakeGoogle, google_id: str) -> list[httpx.Request]:
    """events.get / events.instances requests for one event."""
    return [
        r
        for r in fake_google.api_requests()
        if f"/events/{google_id}" in r.url.path and r.method == "GET"
    ]


async def test_an_unchanged_meeting_is_read_once_with_events_get_and_launched_at_join_at(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )

    await check_ahead(container.launcher, clock, bot)
    [read] = reads_of(fake_google, "m")
    assert read.url.raw_path.endswith(b"/calendars/user%40example.com/events/m")
    assert read.url.query == b""
    clock.set(at(bot["join_at"]))
    assert await launch(container.launcher) == 1

    assert len(reads_of(fake_google, "m")) == 1
    assert keys(create_bot) == [bot["bot_id"]]


async def test_a_meeting_moved_without_a_notification_moves_its_bot_at_the_check(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    fake_google.put_event(PRIMARY, meeting("m", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z"))

    await check_ahead(container.launcher, clock, bot)
    clock.set(at(bot["join_at"]))
    assert await launch(container.launcher) == 0

    shown = (await bots(client, connected))[bot["bot_id"]]
    assert (shown["status"], shown["occurrence_start"], shown["join_at"]) == (
        "scheduled",
        "2026-11-25T15:00:00Z",
        "2026-11-25T14:57:00Z",
    )
    assert create_bot.call_count == 0


async def test_a_meeting_relinked_without_a_notification_is_launched_with_its_new_link(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    fake_google.put_event(
        PRIMARY,
        meeting("m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z", link=OTHER_LINK),
    )

    await check_ahead(container.launcher, clock, bot)
    clock.set(at(bot["join_at"]))
    assert await launch(container.launcher) == 1

    assert sent_body(create_bot)["meeting_link"] == OTHER_LINK
    assert (await bots(client, connected))[bot["bot_id"]]["meeting_link"] == OTHER_LINK


@pytest.mark.parametrize("how", ["cancelled", "404 not found", "410 gone"])
async def test_a_meeting_deleted_without_a_notification_cancels_its_bot_with_the_reason(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
    how: str,
) -> None:
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    if how == "cancelled":
        fake_google.cancel_event(PRIMARY, "m")  # events.get: the event, status "cancelled"
    elif how == "404 not found":
        fake_google.forget_event(PRIMARY, "m")
    else:
        fake_google.gone.add("m")

    await check_ahead(container.launcher, clock, bot)
    clock.set(at(bot["join_at"]))
    assert await launch(container.launcher) == 0

    shown = (await bots(client, connected))[bot["bot_id"]]
    reason = MEETING_CANCELLED if how == "cancelled" else MEETING_DELETED
    assert (shown["status"], shown["last_error"]) == ("cancelled", reason.sentence)
    assert create_bot.call_count == 0


async def test_when_google_cannot_be_reached_the_bot_is_launched_as_scheduled_and_logged(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await schedule_meeting(
        client, connected, fake_google, "m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"
    )
    fake_google.put_event(PRIMARY, meeting("m", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z"))
    fake_google.fail_next = [503] * 10

    with caplog.at_level(logging.WARNING, logger="app.services.launch_check"):
        await check_ahead(container.launcher, clock, bot)
    fake_google.fail_next.clear()
    clock.set(at(bot["join_at"]))
    assert await launch(container.launcher) == 1

    assert keys(create_bot) == [bot["bot_id"]]  # at the time the bot knew of
    assert "launch check skipped, launching as scheduled" in caplog.text
    assert bot["bot_id"] in caplog.text


WEEKLY = ["RRULE:FREQ=WEEKLY;COUNT=4"]


async def schedule_series(
    client: httpx.AsyncClient, auth: dict[str, str], fake_google: FakeGoogle
) -> dict[str, Any]:
    """A weekly series at 13:00 UTC, scheduled for its next occurrence (today's)."""
    series = meeting("s", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z", recurrence=WEEKLY)
    series["start"]["timeZone"] = series["end"]["timeZone"] = "UTC"  # required for a series
    fake_google.put_event(PRIMARY, series)
    synced = await client.get("/api/v1/calendar/events", headers=auth)
    [event_id] = [e["event_id"] for e in synced.json()["events"] if e["google_event_id"] == "s"]
    response = await client.post(
        f"/api/v1/calendar/schedule/{event_id}", json={"bot_config": CONFIG}, headers=auth
    )
    assert response.status_code == 201, response.text
    bot: dict[str, Any] = response.json()
    assert bot["occurrence_start"] == "2026-11-25T13:00:00Z"
    return bot


async def test_an_occurrence_is_read_as_its_own_instance_by_its_original_start(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    bot = await schedule_series(client, connected, fake_google)

    await check_ahead(container.launcher, clock, bot)
    clock.set(at(bot["join_at"]))
    assert await launch(container.launcher) == 1

    [read] = reads_of(fake_google, "s")
    assert read.url.path.endswith("/events/s/instances")
    assert list(read.url.params.multi_items()) == [("originalStart", "2026-11-25T13:00:00Z")]
    assert keys(create_bot) == [bot["bot_id"]]


async def test_a_cancelled_occurrence_cancels_its_bot_at_the_check(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    bot = await schedule_series(client, connected, fake_google)
    fake_google.put_event(
        PRIMARY,
        {
            "id": "s_20261125T130000Z",
            "recurringEventId": "s",
            "originalStartTime": {"dateTime": "2026-11-25T13:00:00Z", "timeZone": "UTC"},
            "status": "cancelled",
        },
    )

    await check_ahead(container.launcher, clock, bot)
    clock.set(at(bot["join_at"]))
    assert await launch(container.launcher) == 0

    shown = (await bots(client, connected))[bot["bot_id"]]
    assert (shown["status"], shown["last_error"]) == ("cancelled", OCCURRENCE_CANCELLED.sentence)
    assert create_bot.call_count == 0
