"""GET /events after one change in Google, against one raw events.list round trip.

`calbot serve` runs as a subprocess on loopback (uvicorn, as a user reaches it) and fully syncs
a 10,000-event calendar from the fake Google first. Then, each round, one meeting moves in the
fake Google and two requests are timed, interleaved, with the same client (http.client):
the baseline asks events.list for the changes since its own sync token (one round trip, JSON
decoded, sees the one change), calbot answers GET /api/v1/calendar/events (its incremental
sync sees the same change, then it lists the first page). Goal: calbot within the round trip
plus 10 ms.

    PYTHONPATH=. .venv/bin/python bench/incremental_sync.py [--events 10000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import timedelta
from pathlib import Path

from bench.harness import (
    CALENDAR_PATH,
    BenchError,
    GoogleServer,
    Loopback,
    Result,
    calbot_server,
    events_list_path,
    first_sync,
    generated_event,
    google_access_token,
    google_with_calendar,
    report,
    show,
    stopwatch,
)
from tests.e2e.servers import PRIMARY

GOAL_MARGIN_MS = 10.0


class RawSync:
    """events.list with a sync token, straight against the fake Google."""

    def __init__(self, server: GoogleServer) -> None:
        self._server = server
        self._google = Loopback(
            server.origin, {"Authorization": f"Bearer {google_access_token(server)}"}
        )
        self._sync_token = self._full_sync()

    def _full_sync(self) -> str:
        page_token: str | None = None
        while True:
            extra = {"pageToken": page_token} if page_token else {}
            page = json.loads(self._google.get(events_list_path(self._server, **extra)))
            page_token = page.get("nextPageToken")
            if not page_token:
                token: str = page["nextSyncToken"]
                return token

    def one_change(self) -> None:
        """One round trip for the changes since the last call, which must be a single event."""
        path = events_list_path(self._server, syncToken=self._sync_token)
        page = json.loads(self._google.get(path))
        if len(page["items"]) != 1 or "nextSyncToken" not in page:
            raise BenchError(f"expected one change on one page, got {len(page['items'])}")
        self._sync_token = page["nextSyncToken"]


def main(events: int, rounds: int) -> Result:
    print(f"GET /events after one change in a {events}-event calendar, {rounds} rounds (medians):")
    raw_times: list[float] = []
    calbot_times: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-incremental-") as workdir,
        google_with_calendar(events) as server,
        calbot_server(server, Path(workdir)) as calbot,
    ):
        first_sync(calbot)
        raw = RawSync(server)
        client = calbot.client()
        for round_number in range(rounds + 1):  # round 0 warms both paths up, uncounted
            # a one-off meeting (every tenth is a series), moved a minute further each round
            index = (10 * round_number + 3) % events
            moved_by = timedelta(minutes=round_number + 1)
            server.google.put_event(
                PRIMARY, generated_event(index, server.first, moved_by=moved_by)
            )
            raw_seconds = stopwatch(raw.one_change)
            calbot_seconds = client.timed_get(f"{CALENDAR_PATH}/events")
            if round_number:
                raw_times.append(raw_seconds)
                calbot_times.append(calbot_seconds)
        client.close()
    raw_ms = show("raw events.list with the sync token", raw_times, "ms", 1000)
    calbot_ms = show("calbot GET /events (uvicorn, loopback)", calbot_times, "ms", 1000)
    return Result(
        "incremental_sync",
        "ms",
        calbot_ms,
        raw_ms,
        f"calbot<=baseline+{GOAL_MARGIN_MS:.0f}ms",
        calbot_ms <= raw_ms + GOAL_MARGIN_MS,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    arguments = parser.parse_args()
    report(main(arguments.events, arguments.rounds))
