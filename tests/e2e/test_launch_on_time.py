"""End to end on loopback, real clock: `calbot serve` launches a bot within 2 s of join_at,
having read its meeting from Google once just before.

Three servers (tests/e2e/servers.py): a fake Google (tests.fake_google.FakeGoogle over HTTP), a
fake Create Bot API that records when each request arrived, and calbot itself as a subprocess
(`calbot serve`), with its API key made by `calbot api-key create` on the same DATA_DIR.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import GOOD_CREDENTIALS, meeting
from tests.e2e.servers import (
    PRIMARY,
    calbot_env,
    calbot_serving,
    create_api_key,
    fake_bot_api,
    fake_google_server,
    iso,
    poll,
)

BOT_API_KEY = "e2e-bot-api-key-0123456789"
BOT_CONFIG: dict[str, Any] = {"bot_name": "E2E Notetaker", "video_required": False}
JOIN_LEAD_SECONDS = 2


def test_calbot_serve_launches_a_scheduled_bot_within_two_seconds_of_join_at(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with fake_bot_api() as (bot_api, bot_api_url), fake_google_server() as (google, token, api):
        env = calbot_env(
            data_dir,
            bot_api_url=bot_api_url,
            bot_api_key=BOT_API_KEY,
            bot_join_lead_seconds=str(JOIN_LEAD_SECONDS),
            google_oauth_token_url=token,
            google_calendar_api_url=api,
        )
        auth = {"Authorization": f"Token {create_api_key(env)}"}

        log_path = tmp_path / "calbot.log"

        def log_text() -> str:
            return log_path.read_text(errors="replace")

        with (
            calbot_serving(env, log_path) as base_url,
            httpx.Client(
                base_url=f"{base_url}/api/v1/calendar", headers=auth, timeout=5, trust_env=False
            ) as http,
        ):
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
            google.put_event(
                PRIMARY, meeting("e2e", iso(start), iso(start + timedelta(minutes=30)))
            )
            connected = http.post("/create_calendar", json=GOOD_CREDENTIALS)
            assert connected.status_code == 201, connected.text
            [event] = http.get("/events").json()["events"]
            scheduled = http.post(f"/schedule/{event['event_id']}", json={"bot_config": BOT_CONFIG})
            assert scheduled.status_code == 201, scheduled.text
            bot = scheduled.json()
            join_at = datetime.fromisoformat(bot["join_at"])
            assert join_at == start - timedelta(seconds=JOIN_LEAD_SECONDS)

            arrivals = poll(lambda: bot_api.received() or None, timeout=15)
            assert arrivals, "the Create Bot API was never called:\n" + log_text()
            arrival = arrivals[0]
            lateness = arrival.at - join_at.timestamp()
            assert -1.0 <= lateness <= 2.0, f"arrived {lateness:+.3f} s from join_at"

            def launched() -> dict[str, Any] | None:
                [shown] = http.get("/scheduled_bots").json()["scheduled_bots"]
                return None if shown["status"] in ("scheduled", "launching") else shown

            shown = poll(launched, timeout=5)
            time.sleep(0.5)  # room for a duplicate to show up, if calbot were to send one
            received = bot_api.received()
            checks = [r for r in google.api_requests("/events/e2e") if r.method == "GET"]

    assert len(received) == 1, [a.headers.get("Idempotency-Key") for a in received]
    assert len(checks) == 1  # the meeting was read from Google (events.get) before the launch
    assert arrival.headers["Idempotency-Key"] == bot["bot_id"]
    assert arrival.headers["Authorization"] == f"Token {BOT_API_KEY}"
    assert arrival.body == {**BOT_CONFIG, "meeting_link": "https://meet.google.com/abc-defg-hij"}
    assert shown is not None
    assert (shown["status"], shown["external_bot_id"]) == ("launched", "ext-1")
    print(f"launch arrived {lateness:+.3f} s from join_at")  # noqa: T201 (timing for -s runs)
