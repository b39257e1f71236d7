"""The webhook routes (CONTRACT section 8): endpoints, the test ping, the delivery log and
manual retry, through the real app. Deliveries go to a receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import respx

from app.config import Settings
from app.container import Container
from app.webhook_signing import signature
from tests.conftest import new_auth
from tests.webhook_receiver import Receiver

ENDPOINTS = "/api/v1/calendar/webhook-endpoints"
DELIVERIES = "/api/v1/calendar/webhook-deliveries"
PUBLIC_URL = "https://93.184.216.34/hooks"  # a public address literal: no DNS involved


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_allow_insecure_loopback": True})


@pytest.fixture
async def receiver(google_mock: respx.MockRouter) -> AsyncIterator[Receiver]:
    google_mock.route(host="127.0.0.1").pass_through()
    started = await Receiver().start()
    yield started
    await started.stop()


async def create(client: httpx.AsyncClient, auth: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post(ENDPOINTS, json={"url": PUBLIC_URL, **body}, headers=auth)


async def deliver_all(container: Container) -> None:
    await container.webhook_dispatcher.run_pass()
    await container.webhook_dispatcher.settle()


async def test_an_endpoint_is_created_with_its_secret_shown_once(
    client: httpx.AsyncClient, auth: dict[str, str], settings: Settings
) -> None:
    response = await create(
        client, auth, event_types=["bot.updated", "bot.cancelled"], description="dashboard"
    )
    assert response.status_code == 201, response.text
    created = response.json()
    secret = created.pop("secret")
    assert secret.startswith("whsec_")
    assert len(__import__("base64").b64decode(secret.removeprefix("whsec_"))) >= 24
    assert created == {
        "endpoint_id": created["endpoint_id"],
        "url": PUBLIC_URL,
        "event_types": ["bot.updated", "bot.cancelled"],
        "description": "dashboard",
        "created_at": "2026-11-25T12:00:00Z",
    }
    listed = await client.get(ENDPOINTS, headers=auth)
    assert listed.json() == {"webhook_endpoints": [created], "next_cursor": None}
    database = (settings.data_dir / "calbot.sqlite3").read_bytes()
    wal = settings.data_dir / "calbot.sqlite3-wal"
    stored = database + (wal.read_bytes() if wal.exists() else b"")
    assert secret.encode() not in stored
    assert secret.removeprefix("whsec_").encode() not in stored


@pytest.mark.parametrize(
    ("url", "sentence"),
    [
        ("http://93.184.216.34/hooks", "The URL must use https."),
        ("https://127.0.0.1/hooks", "is a loopback address"),  # no port: not the exception
        ("http://127.0.0.2:8000/hooks", "must use https"),  # only the literal 127.0.0.1
        ("ftp://127.0.0.1:8443/hooks", "must use https"),  # the exception is http(s) only
        ("https://10.0.0.7/hooks", "is a private address"),
        ("https://192.168.1.1/hooks", "is a private address"),
        ("https://[fd00::1]/hooks", "is a private address"),
        ("https://169.254.169.254/latest/meta-data", "is a cloud metadata address"),
        ("https://[fd00:ec2::254]/", "is a cloud metadata address"),
        ("https://[fe80::1]/hooks", "is a link-local address"),
        ("https://224.0.0.1/hooks", "is a multicast address"),
        ("https://[::ffff:10.0.0.1]/hooks", "is a private address"),
        ("https://localhost/hooks", "loopback name"),
        ("https://user:pw@93.184.216.34/hooks", "user name or password"),
        ("hooks.example.com/in", "must be an absolute https URL"),
    ],
)
async def test_an_address_calbot_must_not_post_to_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], url: str, sentence: str
) -> None:
    response = await client.post(ENDPOINTS, json={"url": url}, headers=auth)
    assert response.status_code == 422, response.text
    assert sentence in response.json()["detail"]
    assert (await client.get(ENDPOINTS, headers=auth)).json()["webhook_endpoints"] == []


async def test_unknown_event_types_are_refused_by_name(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await create(client, auth, event_types=["bot.scheduled", "bot.exploded"])
    assert response.status_code == 422
    assert response.json()["detail"].startswith("'bot.exploded' is not a webhook event type")
    empty = await create(client, auth, event_types=[])
    assert empty.status_code == 422
    assert "event_types is empty" in empty.json()["detail"]


async def test_an_account_has_at_most_ten_endpoints(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    made = sorted([(await create(client, auth)).json()["endpoint_id"] for _ in range(10)])
    # (one created_at on the test clock: listed by endpoint id)
    refused = await create(client, auth)
    assert refused.status_code == 409
    assert "already has 10 webhook endpoints" in refused.json()["detail"]
    page = await client.get(ENDPOINTS, params={"limit": 4}, headers=auth)
    assert [e["endpoint_id"] for e in page.json()["webhook_endpoints"]] == made[:4]
    rest = await client.get(
        ENDPOINTS, params={"limit": 10, "cursor": page.json()["next_cursor"]}, headers=auth
    )
    assert [e["endpoint_id"] for e in rest.json()["webhook_endpoints"]] == made[4:]
    assert rest.json()["next_cursor"] is None
    deleted = await client.delete(f"{ENDPOINTS}/{made[0]}", headers=auth)
    assert deleted.status_code == 200
    assert deleted.json() == {"deleted": True, "endpoint_id": made[0]}
    assert (await client.delete(f"{ENDPOINTS}/{made[0]}", headers=auth)).status_code == 404
    assert (await create(client, auth)).status_code == 201


async def test_endpoints_and_deliveries_belong_to_their_account(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    endpoint_id = (await create(client, auth)).json()["endpoint_id"]
    ping = await client.post(f"{ENDPOINTS}/{endpoint_id}/test", headers=auth)
    other = await new_auth(container, "other")
    assert (await client.get(ENDPOINTS, headers=other)).json()["webhook_endpoints"] == []
    assert (await client.delete(f"{ENDPOINTS}/{endpoint_id}", headers=other)).status_code == 404
    assert (await client.post(f"{ENDPOINTS}/{endpoint_id}/test", headers=other)).status_code == 404
    assert (await client.get(DELIVERIES, headers=other)).json()["deliveries"] == []
    retry = f"{DELIVERIES}/{ping.json()['delivery_id']}/retry"
    assert (await client.post(retry, headers=other)).status_code == 404
    assert (await client.get(ENDPOINTS)).status_code == 401


async def test_a_ping_is_delivered_signed_and_shows_in_the_log(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    container: Container,
    receiver: Receiver,
) -> None:
    created = (await client.post(ENDPOINTS, json={"url": receiver.url}, headers=auth)).json()
    queued = await client.post(f"{ENDPOINTS}/{created['endpoint_id']}/test", headers=auth)
    assert queued.status_code == 202
    assert queued.json()["status"] == "pending"
    await deliver_all(container)
    (got,) = receiver.received
    body = orjson.loads(got.body)
    assert body == {
        "id": got.headers["webhook-id"],
        "type": "ping",
        "created_at": body["created_at"],
        "data": {},
    }
    assert got.headers["webhook-signature"] == signature(
        created["secret"], body["id"], int(got.headers["webhook-timestamp"]), got.body
    )
    logged = (await client.get(DELIVERIES, headers=auth)).json()
    assert logged == {
        "deliveries": [
            {
                "delivery_id": queued.json()["delivery_id"],
                "endpoint_id": created["endpoint_id"],
                "message_id": body["id"],
                "type": "ping",
                "status": "delivered",
                "attempts": 1,
                "last_status_code": 204,
                "last_error": None,
                "next_attempt_at": None,
                "created_at": "2026-11-25T12:00:00Z",
            }
        ],
        "next_cursor": None,
    }
    again = await client.post(f"{DELIVERIES}/{queued.json()['delivery_id']}/retry", headers=auth)
    assert again.status_code == 202
    assert again.json()["status"] == "pending"
    await deliver_all(container)
    assert [r.headers["webhook-id"] for r in receiver.received] == [body["id"]] * 2
    assert (await client.get(DELIVERIES, headers=auth)).json()["deliveries"][0]["attempts"] == 2


async def test_the_delivery_log_filters_and_pages_newest_first(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    container: Container,
    receiver: Receiver,
    clock: Any,
    google_mock: respx.MockRouter,
) -> None:
    google_mock.route(host="93.184.216.34").mock(return_value=httpx.Response(503))
    good = (await client.post(ENDPOINTS, json={"url": receiver.url}, headers=auth)).json()
    bad = (await client.post(ENDPOINTS, json={"url": PUBLIC_URL}, headers=auth)).json()
    made = []
    for _ in range(3):
        for endpoint in (good, bad):
            clock.advance(60)
            ping = await client.post(f"{ENDPOINTS}/{endpoint['endpoint_id']}/test", headers=auth)
            made.append(ping.json()["delivery_id"])
    await deliver_all(container)  # the public address answers 503 each time
    first = (await client.get(DELIVERIES, params={"limit": 4}, headers=auth)).json()
    assert [d["delivery_id"] for d in first["deliveries"]] == made[::-1][:4]
    rest = (
        await client.get(
            DELIVERIES, params={"limit": 4, "cursor": first["next_cursor"]}, headers=auth
        )
    ).json()
    assert [d["delivery_id"] for d in rest["deliveries"]] == made[::-1][4:]
    assert rest["next_cursor"] is None
    delivered = (
        await client.get(
            DELIVERIES,
            params={"status": "delivered", "endpoint_id": good["endpoint_id"]},
            headers=auth,
        )
    ).json()["deliveries"]
    assert [d["delivery_id"] for d in delivered] == made[::2][::-1]
    pending = (await client.get(DELIVERIES, params={"status": "pending"}, headers=auth)).json()
    assert {d["endpoint_id"] for d in pending["deliveries"]} == {bad["endpoint_id"]}
    assert {(d["attempts"], d["last_status_code"]) for d in pending["deliveries"]} == {(1, 503)}
    bad_cursor = await client.get(DELIVERIES, params={"cursor": "nope"}, headers=auth)
    assert bad_cursor.status_code == 422
    bad_status = await client.get(DELIVERIES, params={"status": "lost"}, headers=auth)
    assert bad_status.status_code == 422


async def test_endpoints_work_before_connecting_and_survive_a_disconnect(
    client: httpx.AsyncClient, connected: dict[str, str]
) -> None:
    endpoint = (await create(client, connected)).json()
    disconnect = await client.delete("/api/v1/calendar/disconnect", headers=connected)
    assert disconnect.status_code == 200
    listed = (await client.get(ENDPOINTS, headers=connected)).json()["webhook_endpoints"]
    assert [e["endpoint_id"] for e in listed] == [endpoint["endpoint_id"]]


async def test_the_metrics_count_delivery_attempts_by_outcome(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, receiver: Receiver
) -> None:
    before = (await client.get("/metrics")).text
    assert 'calbot_webhook_delivery_attempts_total{outcome="address_refused"}' in before
    created = (await client.post(ENDPOINTS, json={"url": receiver.url}, headers=auth)).json()
    await client.post(f"{ENDPOINTS}/{created['endpoint_id']}/test", headers=auth)
    await deliver_all(container)
    after = (await client.get("/metrics")).text

    def delivered(text: str) -> float:
        line = next(
            line
            for line in text.splitlines()
            if line.startswith('calbot_webhook_delivery_attempts_total{outcome="delivered"}')
        )
        return float(line.split()[-1])

    assert delivered(after) == delivered(before) + 1
