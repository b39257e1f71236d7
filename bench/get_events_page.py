"""The first page of 1,000 from GET /get_events: a 10k and a 100k calendar against a 1k one.

Three `calbot serve` subprocesses on loopback, each on its own DATA_DIR and synced once from
its own fake Google holding 1,000, 10,000 and 100,000 generated events. Then one request at a
time, interleaved (1k, 10k, 100k, 1k, ...), over a keep-alive connection each:
GET /api/v1/calendar/get_events?limit=1000. Goal: a page within 20 ms whatever the calendar's
size, and the same cost on 100k as on 1k (ratio at most 1.5, which leaves room for noise but not
for work that grows with the calendar).

calbot gives a listing asked again with nothing committed since from memory
(app/fresh_listing.py), which says nothing about reading the store. So before each timed request
an untimed commit to calbot's database from this process (one that changes no listed event and
starts no work in calbot, as another process's write would) retires every kept answer: the timed
request reads its page from the store, as after any sync. The goal is held to those; the page
asked again unchanged is shown too.

    PYTHONPATH=. .venv/bin/python bench/get_events_page.py [--sizes 1000 10000 100000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import (
    CALENDAR_PATH,
    Loopback,
    Result,
    calbot_server,
    first_sync,
    google_with_calendar,
    interleave,
    report,
    show,
)

PAGE = 1000
GOAL_MS = 20.0
GOAL_RATIO = 1.5


def first_page(client: Loopback) -> Callable[[], float]:
    return lambda: client.timed_get(f"{CALENDAR_PATH}/get_events", limit=PAGE)


def first_page_after_a_commit(database: Path, client: Loopback) -> Callable[[], float]:
    """The first page, timed, after an untimed commit that changes no listed event."""

    def measure() -> float:
        # A value that differs each time: SQLite commits nothing for a row written unchanged.
        synced_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with sqlite3.connect(database, timeout=10) as other_process:
            other_process.execute("UPDATE sync_state SET last_synced_at = ?", (synced_at,))
        return client.timed_get(f"{CALENDAR_PATH}/get_events", limit=PAGE)

    return measure


def main(sizes: list[int], rounds: int) -> Result:
    print(f"GET /get_events?limit={PAGE} by calendar size, {rounds} rounds (medians):")
    with ExitStack() as stack:
        contenders: dict[str, Callable[[], float]] = {}
        for size in sizes:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-page-")))
            server = stack.enter_context(google_with_calendar(size))
            calbot = stack.enter_context(calbot_server(server, workdir))
            first_sync(calbot)
            client = calbot.client()
            stack.callback(client.close)
            database = workdir / "data" / "calbot.sqlite3"
            contenders[str(size)] = first_page_after_a_commit(database, client)
            contenders[f"{size} again"] = first_page(client)
        samples = interleave(contenders, rounds)
    medians = {
        size: show(f"{size}-event calendar, after a commit", samples[str(size)], "ms", 1000)
        for size in sizes
    }
    for size in sizes:
        show(f"{size}-event calendar, asked again (info)", samples[f"{size} again"], "ms", 1000)
    smallest, largest = medians[min(sizes)], medians[max(sizes)]
    slowest = max(medians.values())
    return Result(
        "get_events_page",
        "ms",
        largest,
        smallest,
        f"max<={GOAL_MS:.0f}ms,ratio<={GOAL_RATIO:.1f}",
        slowest <= GOAL_MS and largest / smallest <= GOAL_RATIO,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=10)
    arguments = parser.parse_args()
    report(main(sorted(arguments.sizes), arguments.rounds))
