"""End to end on loopback, real clock: `calbot serve` delivers a signed test ping to an
endpoint within a second of the request, from the dispatcher its lifespan runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
from standardwebhooks.webhooks import Webhook

from tests.e2e.servers import (
    QuietHandler,
    calbot_env,
    calbot_serving,
    create_api_key,
    poll,
    serving_http,
)

PING_BUDGET_SECONDS = 1.0


def test_calbot_serve_delivers_a_signed_ping_within_a_second(tmp_path: Path) -> None:
    received: list[tuple[float, dict[str, str], bytes]] = []
    lock = threading.Lock()

    class Receiver(QuietHandler):
        def do_POST(self) -> None:
            body = self.body()
            with lock:
                received.append((time.monotonic(), dict(self.headers.items()), body))
            self.answer(204, b"", "text/plain")

    env = calbot_env(tmp_path, webhook_allow_insecure_loopback="true")
    key = create_api_key(env)
    auth = {"Authorization": f"Token {key}"}
    with serving_http(Receiver) as port, calbot_serving(env, tmp_path / "calbot.log") as base:
        with httpx.Client(base_url=base, headers=auth, trust_env=False, timeout=10) as http:
            created = http.post(
                "/api/v1/calendar/webhook-endpoints",
                json={"url": f"http://127.0.0.1:{port}/hooks", "event_types": None},
            )
            assert created.status_code == 201, created.text
            endpoint = created.json()
            asked = time.monotonic()
            queued = http.post(f"/api/v1/calendar/webhook-endpoints/{endpoint['endpoint_id']}/test")
            assert queued.status_code == 202, queued.text

            def arrived() -> tuple[float, dict[str, str], bytes] | None:
                with lock:
                    return received[0] if received else None

            got = poll(arrived, timeout=5)
            assert got is not None
            at, headers, body = got
            assert at - asked < PING_BUDGET_SECONDS
            ping = Webhook(endpoint["secret"]).verify(body, headers)
            assert ping["type"] == "ping"
            assert ping["id"] == queued.json()["message_id"] == headers["webhook-id"]

            def logged() -> dict[str, object] | None:
                deliveries = http.get("/api/v1/calendar/webhook-deliveries").json()["deliveries"]
                return deliveries[0] if deliveries[0]["status"] == "delivered" else None

            assert poll(logged, timeout=5) is not None
