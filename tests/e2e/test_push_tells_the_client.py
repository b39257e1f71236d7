"""End to end on loopback, real clock: a push notification moves a meeting, and the client's
webhook receiver hears `bot.updated` (reason `meeting_moved`) within 1 s (issue 15).

calbot runs as `calbot serve` (tests/e2e/servers.py) with a fake Google and an https
PUBLIC_BASE_URL, as in test_push_moves_bot.py; the client's receiver is a stdlib HTTP server on
127.0.0.1 (allowed by WEBHOOK_ALLOW_INSECURE_LOOPBACK). The test plays Google's sender.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook

from tests.conftest import GOOD_CREDENTIALS, meeting
from tests.e2e.servers import (
    LOOPBACK,
    PRIMARY,
    QuietHandler,
    calbot_env,
    calbot_serving,
    create_api_key,
    fake_bot_api,
    fake_google_server,
    iso,
    poll,
    serving_http,
)

WEBHOOK_PATH = "/api/v1/calendar/webhooks/google"
PUBLIC_BASE_URL = "https://calbot.e2e.test"
GOOGLE_EVENT_ID = "e2e-told"
BUDGET_SECONDS = 1.0


@dataclass
class Delivery:
    at: float  # time.monotonic() on arrival
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)


def test_a_push_notification_that_moves_a_meeting_is_told_to_the_client_within_one_second(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    receiver = Receiver()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.body()
            with receiver.lock:
                receiver.deliveries.append(
                    Delivery(
                        time.monotonic(), {k.lower(): v for k, v in self.headers.items()}, body
                    )
                )
            self.answer(204, b"", "text/plain")

    with (
        fake_bot_api() as (_, bot_api_url),
        fake_google_server() as (google, token, api),
        serving_http(Handler) as receiver_port,
    ):
        google.add_calendar(PRIMARY, summary="Me", primary=True, tz="UTC")
        env = calbot_env(
            data_dir,
            google_oauth_token_url=token,
            google_calendar_api_url=api,
            bot_api_url=bot_api_url,
            public_base_url=PUBLIC_BASE_URL,
            webhook_allow_insecure_loopback="true",
        )
        auth = {"Authorization": f"Token {create_api_key(env)}"}
        log_path = tmp_path / "calbot.log"
        with (
            calbot_serving(env, log_path) as base_url,
            httpx.Client(
                base_url=f"{base_url}/api/v1/calendar", headers=auth, timeout=5, trust_env=False
            ) as http,
        ):
            endpoint = http.post(
                "/webhook-endpoints",
                json={
                    "url": f"http://{LOOPBACK}:{receiver_port}/hooks",
                    "event_types": ["bot.updated"],
                    "description": "e2e",
                },
            )
            assert endpoint.status_code == 201, endpoint.text
            secret = endpoint.json()["secret"]

            start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
            google.put_event(
                PRIMARY, meeting(GOOGLE_EVENT_ID, iso(start), iso(start + timedelta(minutes=30)))
            )
            connected = http.post("/create_calendar", json=GOOD_CREDENTIALS)
            assert connected.status_code == 201, connected.text
            [watch] = google.watch_requests
            [event] = http.get("/events").json()["events"]
            scheduled = http.post(
                f"/schedule/{event['event_id']}", json={"bot_config": {"bot_name": "E2E"}}
            )
            assert scheduled.status_code == 201, scheduled.text
            bot = scheduled.json()

            moved_start = start + timedelta(hours=1)
            google.put_event(
                PRIMARY,
                meeting(
                    GOOGLE_EVENT_ID, iso(moved_start), iso(moved_start + timedelta(minutes=30))
                ),
            )
            sent_at = time.monotonic()
            notified = httpx.post(
                f"{base_url}{WEBHOOK_PATH}",
                content=b"",
                headers={
                    "X-Goog-Channel-ID": watch["id"],
                    "X-Goog-Channel-Token": watch["token"],
                    "X-Goog-Resource-ID": f"res-{watch['id']}",
                    "X-Goog-Resource-State": "exists",
                    "X-Goog-Message-Number": "4821",
                },
                trust_env=False,
            )
            assert notified.status_code == 200, notified.text

            def told() -> Delivery | None:
                for delivery in receiver.received():
                    data = json.loads(delivery.body)["data"]
                    if data.get("reason") == "meeting_moved":
                        return delivery
                return None

            delivery = poll(told, timeout=BUDGET_SECONDS + 4)
            assert delivery is not None, "no bot.updated arrived:\n" + log_path.read_text(
                errors="replace"
            )
            latency = delivery.at - sent_at

    message: dict[str, Any] = Webhook(secret).verify(delivery.body, delivery.headers)
    assert latency <= BUDGET_SECONDS, f"told {latency:.3f} s after the push"
    assert message["type"] == "bot.updated"
    assert delivery.headers["webhook-id"] == message["id"]
    assert message["data"]["changes"] == ["join_at"]
    assert message["data"]["bot"]["bot_id"] == bot["bot_id"]
    assert message["data"]["bot"]["join_at"] == iso(moved_start - timedelta(seconds=180))
    assert [json.loads(d.body)["type"] for d in receiver.received()] == ["bot.updated"]
    print(f"bot.updated arrived {latency * 1000:.0f} ms after the push")  # noqa: T201
