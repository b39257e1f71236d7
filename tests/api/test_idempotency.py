"""Idempotency-Key on POST: same key and body, same answer and nothing done twice."""

from __future__ import annotations

import asyncio

import httpx
import respx

from app.container import Container
from app.idempotency import CLAIM_TTL
from tests.conftest import GOOD_CREDENTIALS, meeting, new_auth
from tests.fake_google import FakeGoogle
from tests.fakes import FakeClock

CONNECT = "/api/v1/calendar/create_calendar"


async def _event_id(
    client: httpx.AsyncClient, auth: dict[str, str], fake_google: FakeGoogle
) -> str:
    fake_google.put_event(
        "user@example.com", meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    events = (await client.get("/api/v1/calendar/events", headers=auth)).json()["events"]
    return str(events[0]["event_id"])


async def test_a_repeated_post_gets_the_first_answer_and_does_nothing_twice(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    event_id = await _event_id(client, connected, fake_google)
    headers = {**connected, "Idempotency-Key": "schedule-1"}
    body = {"bot_config": {"a": 1}}

    first = await client.post(f"/api/v1/calendar/schedule/{event_id}", json=body, headers=headers)
    second = await client.post(f"/api/v1/calendar/schedule/{event_id}", json=body, headers=headers)

    assert (first.status_code, second.status_code) == (201, 201)  # not the dedup's 200
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


async def test_the_same_key_with_another_body_is_refused(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    event_id = await _event_id(client, connected, fake_google)
    headers = {**connected, "Idempotency-Key": "k"}
    await client.post(
        f"/api/v1/calendar/schedule/{event_id}", json={"bot_config": {}}, headers=headers
    )
    other = await client.post(
        f"/api/v1/calendar/schedule/{event_id}", json={"bot_config": {"b": 2}}, headers=headers
    )
    assert other.status_code == 422
    assert "different request body" in other.json()["detail"]
    bots = await client.get("/api/v1/calendar/scheduled_bots", headers=connected)
    assert bots.json()["scheduled_bots"][0]["bot_config"] == {}


async def test_keys_expire_after_a_day_and_belong_to_one_api_key(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    container: Container,
    clock: FakeClock,
) -> None:
    headers = {**connected, "Idempotency-Key": "enable"}
    body = {"default_bot_config": {"x": 1}}
    url = "/api/v1/calendar/auto-schedule/enable"
    first = await client.post(url, json=body, headers=headers)
    other_key = await new_auth(container, "other")
    theirs = await client.post(
        url, json={"default_bot_config": {}}, headers={**other_key, "Idempotency-Key": "enable"}
    )
    assert theirs.status_code == 200  # another caller's key space

    clock.advance(25 * 3600)
    later = await client.post(url, json={"default_bot_config": {"y": 2}}, headers=headers)
    assert first.status_code == later.status_code == 200
    assert later.json()["default_bot_config"] == {"y": 2}


async def test_failures_that_mean_try_again_are_not_remembered(
    client: httpx.AsyncClient, auth: dict[str, str], fake_google: FakeGoogle
) -> None:
    headers = {**auth, "Idempotency-Key": "connect"}
    fake_google.fail_next = [503] * 30
    failed = await client.post(
        "/api/v1/calendar/create_calendar", json=GOOD_CREDENTIALS, headers=headers
    )
    fake_google.fail_next = []
    retried = await client.post(
        "/api/v1/calendar/create_calendar", json=GOOD_CREDENTIALS, headers=headers
    )
    assert (failed.status_code, retried.status_code) == (502, 201)


async def test_concurrent_requests_with_one_key_run_once(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    event_id = await _event_id(client, connected, fake_google)
    headers = {**connected, "Idempotency-Key": "race"}
    responses = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/calendar/schedule/{event_id}", json={"bot_config": {}}, headers=headers
            )
            for _ in range(10)
        )
    )
    originals = [
        r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers
    ]
    assert len(originals) == 1
    for response in responses:
        if response is not originals[0]:
            assert response.status_code == 409 or response.headers["idempotent-replayed"] == "true"
    bots = await client.get("/api/v1/calendar/scheduled_bots", headers=connected)
    assert len(bots.json()["scheduled_bots"]) == 1


async def test_requests_without_the_header_are_untouched(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/calendar/auto-schedule/enable", json={"default_bot_config": {}}, headers=auth
    )
    assert response.status_code == 200
    assert "idempotent-replayed" not in response.headers


async def test_a_request_whose_process_stopped_blocks_its_key_only_for_minutes(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    fake_google: FakeGoogle,
    google_mock: respx.MockRouter,
    clock: FakeClock,
) -> None:
    reached_google, let_it_go = asyncio.Event(), asyncio.Event()

    async def first_call_stalls(request: httpx.Request) -> httpx.Response:
        if not reached_google.is_set():
            reached_google.set()
            await let_it_go.wait()
        return fake_google.handle(request)

    google_mock.routes["google-api"].side_effect = first_call_stalls
    headers = {**auth, "Idempotency-Key": "connect"}
    first = asyncio.create_task(client.post(CONNECT, json=GOOD_CREDENTIALS, headers=headers))
    await reached_google.wait()

    while_running = await client.post(CONNECT, json=GOOD_CREDENTIALS, headers=headers)
    # Its process froze (or died): nothing renews the claim, nothing releases it.
    clock.advance(CLAIM_TTL.total_seconds())
    retried = await client.post(CONNECT, json=GOOD_CREDENTIALS, headers=headers)

    assert while_running.status_code == 409
    assert retried.status_code == 201, retried.text
    let_it_go.set()
    await first  # it does finish, late; whatever it answered, the key is the retry's now
    replayed = await client.post(CONNECT, json=GOOD_CREDENTIALS, headers=headers)
    assert (replayed.status_code, replayed.headers["idempotent-replayed"]) == (201, "true")
    assert replayed.json() == retried.json()
