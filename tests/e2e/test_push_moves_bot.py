"""End to end on loopback, real clock: Google's push notification moves a moved meeting's bot.

A fake Google (tests.fake_google.FakeGoogle over HTTP) and a fake Create Bot API come from
tests/e2e/servers.py; calbot runs as `calbot serve` in a subprocess with an https
PUBLIC_BASE_URL (Google delivers to https only), so it opens a real push channel. The test then
plays Google's sending side and the TLS proxy that would stand in front of calbot: it POSTs
notifications exactly as Google does (headers only, empty body) to the path calbot registered, on
calbot's loopback port, and watches the bot follow the meeting.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
from tests.fake_google import FakeGoogle

WEBHOOK_PATH = "/api/v1/calendar/webhooks/google"  # CONTRACT.md section 4
# What calbot tells Google; a TLS proxy there would forward to calbot's loopback port.
PUBLIC_BASE_URL = "https://calbot.e2e.test"
JOIN_LEAD = timedelta(seconds=180)  # BOT_JOIN_LEAD_SECONDS left at its default
BOT_CONFIG: dict[str, Any] = {"bot_name": "E2E Push", "video_required": False}
GOOGLE_EVENT_ID = "e2e-push"
MOVE_BUDGET_SECONDS = 2.0
MAX_INCREMENTAL_LISTS_PER_BURST = 3
# Message numbers: 1 for `sync`, then increasing but not sequential (push guide).
EXISTS_NUMBER = 4821
FRESH_NUMBERS = (4907, 5013, 5190, 5211, 5388, 5402, 5619, 5770, 5804, 6031)
GOOGLE_USER_AGENT = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"


@dataclass(frozen=True)
class GoogleSender:
    """Google's notification sender for one channel: what it POSTs, header for header."""

    http: httpx.Client
    address: str
    channel_id: str
    token: str
    resource_id: str
    resource_uri: str
    expiration: str

    def notify(self, state: str, number: int, *, token: str | None = None) -> httpx.Response:
        return self.http.post(
            self.address,
            content=b"",
            headers={
                "X-Goog-Channel-ID": self.channel_id,
                "X-Goog-Channel-Token": self.token if token is None else token,
                "X-Goog-Channel-Expiration": self.expiration,
                "X-Goog-Resource-ID": self.resource_id,
                "X-Goog-Resource-URI": self.resource_uri,
                "X-Goog-Resource-State": state,
                "X-Goog-Message-Number": str(number),
            },
        )


def _incremental_lists(google: FakeGoogle) -> int:
    """events.list requests calbot made with a syncToken (incremental syncs)."""
    return sum("syncToken" in r.url.params for r in google.api_requests("/events"))


def _settled_incremental_lists(google: FakeGoogle, before: int) -> int:
    """Incremental lists since `before`, once at least one came and none came for 0.5 s."""
    poll(lambda: _incremental_lists(google) > before or None, timeout=3)
    seen, quiet_since = _incremental_lists(google), time.monotonic()
    deadline = quiet_since + 5
    while time.monotonic() - quiet_since < 0.5 and time.monotonic() < deadline:
        time.sleep(0.05)
        now_seen = _incremental_lists(google)
        if now_seen != seen:
            seen, quiet_since = now_seen, time.monotonic()
    return seen - before


def test_a_push_notification_moves_the_bot_of_a_moved_meeting_within_two_seconds(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with fake_bot_api() as (bot_api, bot_api_url), fake_google_server() as (google, token, api):
        # The helper's calendar is in Europe/Berlin; this test wants a UTC one (no request has
        # reached the fake yet, so replacing it is safe).
        google.add_calendar(PRIMARY, summary="Me", primary=True, tz="UTC")
        env = calbot_env(
            data_dir,
            google_oauth_token_url=token,
            google_calendar_api_url=api,
            bot_api_url=bot_api_url,
            public_base_url=PUBLIC_BASE_URL,
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
            httpx.Client(
                headers={"User-Agent": GOOGLE_USER_AGENT}, timeout=5, trust_env=False
            ) as google_http,
        ):
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
            google.put_event(
                PRIMARY,
                meeting(GOOGLE_EVENT_ID, iso(start), iso(start + timedelta(minutes=30))),
            )

            connected = http.post("/create_calendar", json=GOOD_CREDENTIALS)
            assert connected.status_code == 201, connected.text
            [watch] = google.watch_requests
            assert watch["address"] == f"{PUBLIC_BASE_URL}{WEBHOOK_PATH}"
            assert watch["type"] in ("web_hook", "webhook")
            assert watch["token"]
            sender = GoogleSender(
                http=google_http,
                address=f"{base_url}{WEBHOOK_PATH}",  # where the proxy forwards to
                channel_id=watch["id"],
                token=watch["token"],
                resource_id=f"res-{watch['id']}",  # what FakeGoogle answered to the watch
                resource_uri=f"{api}/calendars/{quote(PRIMARY)}/events?alt=json",
                expiration=format_datetime(datetime(2027, 1, 1, tzinfo=UTC), usegmt=True),
            )
            # Google's handshake right after the channel is made: acknowledged, nothing more.
            handshake = sender.notify("sync", 1)
            assert (handshake.status_code, handshake.content) == (200, b"")

            [event] = http.get("/events").json()["events"]
            scheduled = http.post(f"/schedule/{event['event_id']}", json={"bot_config": BOT_CONFIG})
            assert scheduled.status_code == 201, scheduled.text
            bot = scheduled.json()
            assert datetime.fromisoformat(bot["join_at"]) == start - JOIN_LEAD

            moved_start = start + timedelta(hours=1)
            google.put_event(
                PRIMARY,
                meeting(
                    GOOGLE_EVENT_ID, iso(moved_start), iso(moved_start + timedelta(minutes=30))
                ),
            )

            # A forged notification (right channel, wrong token) is refused and syncs nothing.
            lists_before_forgery = _incremental_lists(google)
            forged = sender.notify("exists", EXISTS_NUMBER, token="not-the-channel-token")
            assert forged.status_code == 404, forged.text
            time.sleep(0.3)  # room for a wrongly triggered sync to show up
            assert _incremental_lists(google) == lists_before_forgery
            [still] = http.get("/scheduled_bots").json()["scheduled_bots"]
            assert still["join_at"] == bot["join_at"]

            sent_at = time.monotonic()
            notified = sender.notify("exists", EXISTS_NUMBER)
            answered_in = time.monotonic() - sent_at
            assert (notified.status_code, notified.content) == (200, b"")

            def moved() -> dict[str, Any] | None:
                [shown] = http.get("/scheduled_bots").json()["scheduled_bots"]
                join_at = datetime.fromisoformat(shown["join_at"])
                return shown if join_at == moved_start - JOIN_LEAD else None

            # Polled longer than the budget so that a late move is reported with its latency.
            shown = poll(moved, timeout=MOVE_BUDGET_SECONDS + 3)
            latency = time.monotonic() - sent_at
            assert shown is not None, "the bot never followed the moved meeting:\n" + log_text()
            assert latency <= MOVE_BUDGET_SECONDS, f"bot moved {latency:.3f} s after the push"
            assert shown["bot_id"] == bot["bot_id"]
            assert shown["status"] == "scheduled"
            assert datetime.fromisoformat(shown["occurrence_start"]) == moved_start
            [stored] = http.get("/get_events").json()["events"]
            assert datetime.fromisoformat(stored["start_time"]) == moved_start

            # Redeliveries of the same message and a burst of new ones, all at once: coalesced.
            lists_before_burst = _incremental_lists(google)
            burst = [EXISTS_NUMBER] * 10 + list(FRESH_NUMBERS)
            with ThreadPoolExecutor(max_workers=len(burst)) as pool:
                answers = list(pool.map(lambda n: sender.notify("exists", n), burst))
            assert [a.status_code for a in answers] == [200] * len(burst)
            burst_lists = _settled_incremental_lists(google, lists_before_burst)
            assert 1 <= burst_lists <= MAX_INCREMENTAL_LISTS_PER_BURST, burst_lists

            [after] = http.get("/scheduled_bots").json()["scheduled_bots"]
            assert (after["bot_id"], after["join_at"]) == (bot["bot_id"], shown["join_at"])
            assert bot_api.received() == []  # nothing was due

    print(  # noqa: T201 (timing for -s runs)
        f"push answered in {answered_in * 1000:.0f} ms; bot moved {latency * 1000:.0f} ms after "
        f"the notification; burst of {len(burst)} caused {burst_lists} incremental list(s)"
    )
