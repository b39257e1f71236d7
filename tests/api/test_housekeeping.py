"""Housekeeping: finished bots and idempotency records go once their retention is over."""

from __future__ import annotations

from typing import Any

import httpx

from app.container import Container
from app.services.housekeeping import Purged
from tests.conftest import meeting
from tests.fake_google import FakeGoogle
from tests.fakes import FakeClock

PRIMARY = "user@example.com"
DAY = 86400


async def _event_ids(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, str]:
    events = (await client.get("/api/v1/calendar/events", headers=auth)).json()["events"]
    return {e["google_event_id"]: e["event_id"] for e in events}


async def _bot_ids(client: httpx.AsyncClient, auth: dict[str, str]) -> list[str]:
    listed = (await client.get("/api/v1/calendar/scheduled_bots", headers=auth)).json()
    bots: list[dict[str, Any]] = listed["scheduled_bots"]
    return [bot["bot_id"] for bot in bots]


async def _housekeeping(container: Container) -> Purged:
    job = next(j for j in container.periodic_jobs() if j.job_id == "housekeeping")
    purged: Purged = await job.run()
    return purged


async def test_finished_bots_go_thirty_days_after_their_meeting_and_answers_after_a_day(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
) -> None:
    fake_google.put_event(PRIMARY, meeting("today", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"))
    fake_google.put_event(
        PRIMARY, meeting("spring", "2027-03-01T09:00:00Z", "2027-03-01T10:00:00Z")
    )
    events = await _event_ids(client, connected)
    bots = {}
    for name, event_id in events.items():
        scheduled = await client.post(
            f"/api/v1/calendar/schedule/{event_id}",
            json={"bot_config": {}},
            headers={**connected, "Idempotency-Key": f"schedule-{name}"},
        )
        bots[name] = scheduled.json()["bot_id"]
        await client.delete(f"/api/v1/calendar/scheduled_bots/{bots[name]}", headers=connected)

    clock.advance(2 * DAY)  # the answers are a day old now, the bots are not
    assert await _housekeeping(container) == Purged(finished_bots=0, idempotency_records=2)
    clock.advance(29 * DAY)  # thirty days and some hours after "today" ended
    assert await _housekeeping(container) == Purged(finished_bots=1, idempotency_records=0)

    # The bot cancelled for a meeting still ahead stays: auto-scheduling must not bring it back.
    assert await _bot_ids(client, connected) == [bots["spring"]]
    gone = await client.delete(
        f"/api/v1/calendar/scheduled_bots/{bots['today']}", headers=connected
    )
    assert gone.status_code == 404
