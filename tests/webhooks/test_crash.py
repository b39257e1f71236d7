"""kill -9 in the middle of a delivery loses nothing, and the retry keeps the `webhook-id`: a
dispatcher process (tests/webhooks/worker.py) is SIGKILLed while the receiver holds its request
open; a new process delivers the message once the first one's claim has run out."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from app.webhook_records import DeliveryStatus
from tests.webhook_receiver import Receiver
from tests.webhooks.hub import ACCOUNT, build_hub, open_stores

CLAIM_SECONDS = 1.0
ROOT = Path(__file__).resolve().parents[2]


async def dispatcher_process(database: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.webhooks.worker",
        str(database),
        str(CLAIM_SECONDS),
        cwd=ROOT,
        env=env,
    )


async def test_a_dispatcher_killed_mid_delivery_loses_nothing_and_the_retry_keeps_its_id(
    tmp_path: Path,
) -> None:
    receiver = await Receiver(hold=True).start()
    database = tmp_path / "calbot.sqlite3"
    first = second = None
    try:
        async with httpx.AsyncClient() as http, open_stores("sqlite", tmp_path) as stores:
            hub = build_hub(stores, http)
            await hub.service.create(ACCOUNT, url=receiver.url, event_types=None, description=None)
            message = await hub.message({"bot": {"bot_id": "bot_1"}}, "bot.cancelled")

            first = await dispatcher_process(database)
            await receiver.wait_for(1, within=20)
            first.send_signal(signal.SIGKILL)
            await first.wait()
            (in_flight,) = await stores.outbox.list_deliveries(
                ACCOUNT, endpoint_id=None, status=None, before=None, limit=10
            )
            assert (in_flight.status, in_flight.attempts) == (DeliveryStatus.PENDING, 0)
            assert in_flight.claim is not None  # killed mid-attempt: its claim is left behind
            assert await stores.outbox.unrouted_messages(10) == []

            receiver.hold = False
            second = await dispatcher_process(database)
            await receiver.wait_for(2, within=20)
            async with asyncio.timeout(10):
                while True:
                    delivery = await stores.outbox.get_delivery(ACCOUNT, in_flight.delivery_id)
                    assert delivery is not None
                    if delivery.status is DeliveryStatus.DELIVERED:
                        break
                    await asyncio.sleep(0.05)
            assert delivery.attempts == 1  # the killed attempt never recorded an outcome
            ids = [request.headers["webhook-id"] for request in receiver.received]
            assert ids == [message.message_id, message.message_id]
            assert receiver.received[0].body == receiver.received[1].body
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()
        await receiver.stop()
