"""The dispatcher against real receivers on 127.0.0.1: signatures an independent verifier
accepts, retries and the delivery log, a receiver that comes back, address checks at delivery,
and isolation between endpoints. SQLite, and DynamoDB on moto where storage matters."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from app.adapters.sqlite import sqlite_stores
from app.adapters.sqlite.database import Database
from app.adapters.sqlite.outbox import append_outbox
from app.services.webhook_dispatch import RetryPlan
from app.webhook_messages import new_message
from app.webhook_records import DeliveryStatus, WebhookDelivery
from tests.aws import (  # noqa: F401  (fixtures, found by name)
    aws_endpoint,
    aws_env,
    moto_reset,
    moto_server,
)
from tests.webhook_receiver import Receiver
from tests.webhooks.hub import ACCOUNT, Hub, build_hub, open_stores


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = await Receiver().start()
    yield started
    await started.stop()


@pytest.fixture(params=["sqlite", "dynamodb"])
async def hub(
    request: pytest.FixtureRequest, tmp_path: Path, http: httpx.AsyncClient
) -> AsyncIterator[Hub]:
    endpoint = request.getfixturevalue("aws_endpoint") if request.param == "dynamodb" else None
    async with open_stores(request.param, tmp_path, endpoint) as stores:
        yield build_hub(stores, http)


@pytest.fixture
async def sqlite_hub(tmp_path: Path, http: httpx.AsyncClient) -> AsyncIterator[Hub]:
    async with open_stores("sqlite", tmp_path) as stores:
        yield build_hub(stores, http, timeout=1.0, per_endpoint=1)


async def running(hub: Hub) -> asyncio.Task[None]:
    return asyncio.create_task(hub.dispatcher.run())


async def stop(hub: Hub, task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await hub.dispatcher.stop(0)


async def log(hub: Hub, **filters: object) -> list[WebhookDelivery]:
    args: dict[str, object] = {"endpoint_id": None, "status": None, "before": None}
    args.update(filters)
    return await hub.stores.outbox.list_deliveries(ACCOUNT, limit=100, **args)  # type: ignore[arg-type]


async def log_when(
    hub: Hub, ready: Callable[[list[WebhookDelivery]], bool], within: float = 5.0
) -> list[WebhookDelivery]:
    """The log, read every 50 ms until `ready` holds for it (TimeoutError after `within`)."""
    async with asyncio.timeout(within):
        found = await log(hub)
        while not ready(found):
            await asyncio.sleep(0.05)
            found = await log(hub)
    return found


async def settled(hub: Hub, count: int) -> list[WebhookDelivery]:
    """The log once `count` deliveries are no longer pending."""
    return await log_when(
        hub, lambda found: sum(d.status is not DeliveryStatus.PENDING for d in found) >= count
    )


async def test_a_delivery_is_signed_so_the_standard_webhooks_verifier_accepts_it(
    hub: Hub, receiver: Receiver
) -> None:
    created = await hub.service.create(
        ACCOUNT, url=receiver.url, event_types=None, description=None
    )
    task = await running(hub)
    try:
        started = time.monotonic()
        message = await hub.message({"bot": {"bot_id": "bot_1", "join_at": "2026-11-25T12:00Z"}})
        hub.dispatcher.wake()
        (got,) = await receiver.wait_for(1)
        assert got.at - started < 1.0  # the first attempt starts within a second
        payload = Webhook(created.secret).verify(got.body, got.headers)
        assert payload == {
            "id": message.message_id,
            "type": "bot.scheduled",
            "created_at": orjson.loads(got.body)["created_at"],
            "data": message.data,
        }
        assert got.headers["webhook-id"] == message.message_id
        assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 5
        with pytest.raises(Exception, match="signature"):
            Webhook("whsec_" + "A" * 44).verify(got.body, got.headers)
        (delivery,) = await settled(hub, 1)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
            DeliveryStatus.DELIVERED,
            1,
            204,
        )
    finally:
        await stop(hub, task)


async def test_failed_attempts_are_retried_later_and_later_then_delivered_with_one_id(
    hub: Hub, receiver: Receiver
) -> None:
    hub.dispatcher.retry = RetryPlan(first_delay=0.4, max_delay=5, jitter=0.0)
    receiver.answers = deque([500, 503])
    await hub.service.create(ACCOUNT, url=receiver.url, event_types=None, description=None)
    await hub.message({"n": 1})
    dispatcher = hub.dispatcher

    async def attempt_when_due(delivery: WebhookDelivery | None) -> WebhookDelivery:
        if delivery is not None:
            assert delivery.next_attempt_at is not None
            await dispatcher.run_pass()  # not due yet: nothing is sent
            await dispatcher.settle()
            assert len(receiver.received) == delivery.attempts
            await asyncio.sleep(max(0.0, delivery.next_attempt_at.timestamp() - time.time()))
        await dispatcher.run_pass()
        await dispatcher.settle()
        (after,) = await log(hub)
        return after

    first = await attempt_when_due(None)
    assert (first.status, first.attempts, first.last_status_code) == (
        DeliveryStatus.PENDING,
        1,
        500,
    )
    assert first.last_error == "The endpoint answered 500."
    assert first.next_attempt_at is not None
    first_wait = first.next_attempt_at.timestamp() - receiver.received[0].wall
    assert 0.3 < first_wait < 0.5

    second = await attempt_when_due(first)
    assert (second.status, second.attempts, second.last_status_code) == (
        DeliveryStatus.PENDING,
        2,
        503,
    )
    assert second.next_attempt_at is not None
    second_wait = second.next_attempt_at.timestamp() - receiver.received[1].wall
    assert 0.7 < second_wait < 0.9  # the delay doubled

    third = await attempt_when_due(second)
    assert (third.status, third.attempts, third.last_status_code, third.last_error) == (
        DeliveryStatus.DELIVERED,
        3,
        204,
        None,
    )
    assert third.next_attempt_at is None
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1


async def test_a_delivery_whose_retries_ran_out_is_failed(
    tmp_path: Path, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.status = 500
    window = RetryPlan(
        first_delay=0.05,
        max_delay=0.05,
        jitter=0.0,
        window=timedelta(seconds=0.3),
    )
    async with open_stores("sqlite", tmp_path) as stores:
        hub = build_hub(stores, http, retry=window)
        await hub.service.create(ACCOUNT, url=receiver.url, event_types=None, description=None)
        await hub.message({"n": 1})
        task = await running(hub)
        try:
            (failed,) = await settled(hub, 1)
        finally:
            await stop(hub, task)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.attempts == len(receiver.received) >= 3
    assert (failed.last_status_code, failed.next_attempt_at) == (500, None)


async def test_a_receiver_down_for_a_while_then_gets_every_message(
    sqlite_hub: Hub, receiver: Receiver
) -> None:
    hub = sqlite_hub
    await receiver.stop()  # down: nothing listens on its port
    await hub.service.create(ACCOUNT, url=receiver.url, event_types=None, description=None)
    sent = [await hub.message({"n": n}) for n in range(5)]
    task = await running(hub)
    try:
        tried = await log_when(hub, lambda found: bool(found) and all(d.attempts for d in found))
        assert {d.last_error for d in tried} == {"Could not reach the endpoint (ConnectError)."}
        await receiver.start()  # back, on the same port
        await settled(hub, 5)
    finally:
        await stop(hub, task)
    assert {orjson.loads(r.body)["id"] for r in receiver.received} == {m.message_id for m in sent}
    assert all(d.status is DeliveryStatus.DELIVERED for d in await log(hub))


async def test_an_endpoint_now_resolving_to_a_private_address_is_refused_at_delivery(
    sqlite_hub: Hub, receiver: Receiver
) -> None:
    hub = sqlite_hub
    hub.resolver.addresses["hooks.example.com"] = ["93.184.216.34"]
    await hub.service.create(
        ACCOUNT, url="https://hooks.example.com/in", event_types=None, description=None
    )
    hub.resolver.addresses["hooks.example.com"] = ["10.1.2.3"]  # re-pointed since
    await hub.message({"n": 1})
    await hub.dispatcher.run_pass()
    await hub.dispatcher.settle()
    (refused,) = await log(hub)
    assert (refused.status, refused.attempts, refused.last_status_code) == (
        DeliveryStatus.PENDING,
        1,
        None,
    )
    assert refused.last_error == (
        "The URL's host resolves to a private address; webhooks go only to public addresses."
    )
    del hub.resolver.addresses["hooks.example.com"]  # now it does not resolve at all
    await asyncio.sleep(0.25)
    await hub.dispatcher.run_pass()
    await hub.dispatcher.settle()
    (unresolved,) = await log(hub)
    assert unresolved.attempts == 2
    assert unresolved.last_error == "The endpoint's host name did not resolve."


async def test_a_dead_endpoint_does_not_delay_another_endpoints_deliveries(
    tmp_path: Path, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    dead = await Receiver(hold=True).start()  # takes every request, never answers
    async with open_stores("sqlite", tmp_path) as stores:
        # A due page smaller than the dead endpoint's backlog: it must not hide the others.
        hub = build_hub(stores, http, timeout=1.0, per_endpoint=1, batch=3)
        try:
            await hub.service.create(ACCOUNT, url=dead.url, event_types=None, description=None)
            for n in range(8):
                await hub.message({"n": n})  # a backlog for the dead one
            task = await running(hub)
            try:
                await dead.wait_for(1)
                await hub.service.create(
                    ACCOUNT, url=receiver.url, event_types=None, description=None
                )
                for wave in range(2):  # while the dead one's first attempt hangs, and after
                    started = time.monotonic()
                    for n in range(3):
                        await hub.message({"live": n, "wave": wave})
                    hub.dispatcher.wake()
                    got = await receiver.wait_for(3 * (wave + 1), within=2)
                    assert max(r.at for r in got) - started < 1.0
                    await asyncio.sleep(1.2 * (1 - wave))
                assert 1 <= len(dead.received) <= 3  # one attempt at a time: each times out
            finally:
                await stop(hub, task)
        finally:
            await dead.stop()


async def test_a_committed_message_wakes_the_dispatcher_without_waiting_for_its_poll(
    tmp_path: Path, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    try:
        hub = build_hub(sqlite_stores(database), http, poll_seconds=60)
        database.outbox_bell.subscribe(hub.dispatcher.wake)
        await hub.service.create(ACCOUNT, url=receiver.url, event_types=None, description=None)
        task = await running(hub)
        try:
            await asyncio.sleep(0.1)  # the first pass is over: the next poll is a minute away
            started = time.monotonic()
            async with database.transaction() as tx:  # a writer's change and its message
                await append_outbox(tx, [new_message(ACCOUNT, "bot.launched", {}, hub.clock.now())])
            (got,) = await receiver.wait_for(1, within=2)
            assert got.at - started < 0.5
        finally:
            await stop(hub, task)
    finally:
        await database.close()
