"""Request ids, JSON logs with the account, and Prometheus metrics."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from app.observability import JsonFormatter
from tests.conftest import meeting
from tests.fake_google import GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN, FakeGoogle


async def test_every_answer_carries_a_request_id(client: httpx.AsyncClient) -> None:
    generated = await client.get("/healthz")
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert len(generated.headers["x-request-id"]) == 32
    assert echoed.headers["x-request-id"] == "abc-123"


async def test_log_lines_are_json_with_request_and_account_ids(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    fake_google.fail_next = [503]  # makes the Google adapter log a retry
    await client.get("/api/v1/calendar/events", headers={**connected, "X-Request-ID": "req-9"})

    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    retry = next(line for line in lines if "retry" in line["message"])
    assert retry["request_id"] == "req-9"
    assert retry["account_id"].startswith("acc_")
    assert retry["level"] == "warning"
    text = "\n".join(json.dumps(line) for line in lines)
    assert GOOD_CLIENT_SECRET not in text
    assert GOOD_REFRESH_TOKEN not in text


async def test_metrics_count_requests_syncs_and_schedules(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(
        "user@example.com", meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    events = (await client.get("/api/v1/calendar/events", headers=connected)).json()["events"]
    await client.post(
        f"/api/v1/calendar/schedule/{events[0]['event_id']}",
        json={"bot_config": {}},
        headers=connected,
    )

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'calbot_http_requests_total{method="GET",route="/api/v1/calendar/events",status="200"}'
        in text
    )
    assert 'calbot_syncs_total{kind="full",outcome="ok"}' in text
    assert "calbot_sync_seconds_bucket" in text
    assert 'calbot_bots_scheduled_total{source="manual"}' in text
    assert "calbot_launch_delay_seconds_bucket" in text
    assert 'calbot_google_requests_total{endpoint="token",outcome="ok"}' in text
    assert 'calbot_google_requests_total{endpoint="calendar",outcome="ok"}' in text
