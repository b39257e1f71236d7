"""Full sync of a 10,000-event calendar against plain httpx paging of the same pages.

Both run in this process, interleaved, against the same fake Google served over real HTTP on
loopback (tests/e2e/servers.py): the baseline pages through events.list with calbot's own query
and decodes the JSON, nothing else; calbot opens its container (app.container.open_container) on a
fresh DATA_DIR, connects the account and runs one full sync of the calendar into SQLite.
Goal: calbot within 1.3x the baseline.

The fake Google runs in a process of its own (bench/google_process.py), as it does for the
benchmarks that run calbot as a server: Google's work happens on Google's machines, and calbot
asks for the next page before it maps and stores the current one so that the two overlap. A fake
in this process would take turns with calbot for the one GIL (a page of 2,500 events is ~50 ms of
JSON encoding), turning that overlap into a sum, while the baseline, which never overlaps, would
lose nothing. `--google-in-process` measures that way all the same (a thread of this process).

    PYTHONPATH=. .venv/bin/python bench/full_sync.py [--events 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from app.config import Settings
from app.container import open_container
from app.domain import GoogleCredentials
from bench.harness import (
    GoogleEndpoints,
    GoogleServer,
    Result,
    events_list_path,
    google_access_token,
    google_in_child,
    google_with_calendar,
    interleave,
    report,
    show,
    stopwatch,
)
from tests.e2e.servers import PRIMARY
from tests.fake_google import GOOD_CLIENT_ID, GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN

GOAL_RATIO = 1.3
SYNC_WINDOW = timedelta(days=30)  # calbot's full sync asks for events ending at most 30 days ago


async def plain_paging(server: GoogleServer | GoogleEndpoints, token: str) -> None:
    time_min = (datetime.now(UTC) - SYNC_WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.origin, headers=headers, trust_env=False) as http:
        page_token: str | None = None
        while True:
            extra = {"pageToken": page_token} if page_token else {}
            answer = await http.get(events_list_path(server, timeMin=time_min, **extra))
            answer.raise_for_status()
            page_token = answer.json().get("nextPageToken")
            if not page_token:
                return


async def calbot_full_sync(server: GoogleServer | GoogleEndpoints, data_dir: Path) -> float:
    settings = Settings(
        _env_file=None,
        data_dir=data_dir,
        google_oauth_token_url=server.token_url,
        google_calendar_api_url=server.api_url,
    )
    async with open_container(settings) as container:
        issued = await container.api_keys.create("bench")
        account_id = issued.key.account_id
        await container.connections.connect(
            account_id, GoogleCredentials(GOOD_CLIENT_ID, GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN)
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        await container.sync.sync_calendar(account_id, PRIMARY)
        return loop.time() - started


def fresh_calbot_sync(server: GoogleServer | GoogleEndpoints) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-full-sync-") as data_dir:
        return asyncio.run(calbot_full_sync(server, Path(data_dir)))


def main(events: int, rounds: int, *, google_in_process: bool = False) -> Result:
    where = "in this process" if google_in_process else "in a process of its own"
    print(f"full sync of a {events}-event calendar, {rounds} rounds (medians), Google {where}:")
    serving = google_with_calendar if google_in_process else google_in_child
    with serving(events) as server:
        token = google_access_token(server)
        samples = interleave(
            {
                "plain": lambda: stopwatch(lambda: asyncio.run(plain_paging(server, token))),
                "calbot": lambda: fresh_calbot_sync(server),
            },
            rounds,
        )
    plain = show("plain httpx paging, JSON decode", samples["plain"], "s")
    calbot = show("calbot full sync", samples["calbot"], "s")
    ratio = calbot / plain
    return Result("full_sync", "s", calbot, plain, f"ratio<={GOAL_RATIO:.2f}", ratio <= GOAL_RATIO)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--google-in-process",
        action="store_true",
        help="serve the fake Google from a thread of this process (shares the GIL with calbot)",
    )
    arguments = parser.parse_args()
    report(main(arguments.events, arguments.rounds, google_in_process=arguments.google_in_process))
