"""Full sync of a 10,000-event calendar against plain httpx paging of the same pages.

Both run in one process, one after the other, against the same fake Google served over real
HTTP on loopback (tests/e2e/servers.py). The target is a ratio of at most 1.3.

    PYTHONPATH=. .venv/bin/python bench/full_sync.py [--events 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from app.config import Settings
from app.container import open_container
from app.domain import GoogleCredentials
from tests.e2e.servers import PRIMARY, fake_google_server
from tests.fake_google import GOOD_CLIENT_ID, GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN, FakeGoogle

ZOOM_INVITE = (
    "Join Zoom Meeting\nhttps://us02web.zoom.us/j/8551234567?pwd=abc\nMeeting ID: 855 123 4567"
)


def fill(google: FakeGoogle, events: int) -> None:
    """`events` meetings an hour apart from 2026-12-01, one in ten a weekly series."""
    google.page_size = 2500
    first = datetime(2026, 12, 1, tzinfo=UTC)
    for number in range(events):
        start = first + timedelta(hours=number)
        event: dict[str, Any] = {
            "id": f"e{number}",
            "summary": f"Meeting {number}",
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(minutes=30)).isoformat()},
            "description": ZOOM_INVITE,
            "attendees": [{"email": "me@example.com", "self": True, "responseStatus": "accepted"}],
        }
        if number % 10 == 0:
            event["recurrence"] = ["RRULE:FREQ=WEEKLY"]
            event["start"]["timeZone"] = "Europe/Berlin"
        google.put_event(PRIMARY, event)


async def plain_paging(api_url: str, token: str) -> float:
    started = time.perf_counter()
    async with httpx.AsyncClient(trust_env=False) as http:
        page_token = None
        while True:
            params: dict[str, Any] = {"maxResults": 2500, "singleEvents": "false"}
            if page_token:
                params["pageToken"] = page_token
            answer = await http.get(
                f"{api_url}/calendars/user%40example.com/events",
                params=params,
                headers={"Authorization": f"Bearer {token}"},
            )
            page_token = answer.json().get("nextPageToken")
            if not page_token:
                return time.perf_counter() - started


async def calbot_full_sync(token_url: str, api_url: str) -> float:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=Path(tempfile.mkdtemp()),
        google_oauth_token_url=token_url,
        google_calendar_api_url=api_url,
    )
    async with open_container(settings) as container:
        issued = await container.api_keys.create("bench")
        account_id = issued.key.account_id
        await container.connections.connect(
            account_id, GoogleCredentials(GOOD_CLIENT_ID, GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN)
        )
        started = time.perf_counter()
        await container.sync.sync_calendar(account_id, PRIMARY)
        return time.perf_counter() - started


async def main(events: int, rounds: int) -> None:
    with fake_google_server() as (google, token_url, api_url):
        fill(google, events)
        google.access_tokens.add("bench-token")
        plain, calbot = [], []
        for _ in range(rounds):
            plain.append(await plain_paging(api_url, "bench-token"))
            calbot.append(await calbot_full_sync(token_url, api_url))
    p, c = statistics.median(plain), statistics.median(calbot)
    print(f"events: {events}, rounds: {rounds} (medians)")
    print(f"plain httpx paging : {p:.3f} s")
    print(f"calbot full sync   : {c:.3f} s")
    print(f"ratio              : {c / p:.2f} (target <= 1.30)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.rounds))
