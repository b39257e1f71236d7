"""Full sync of a 10,000-event calendar against plain httpx paging of the same pages.

Both run in this process, interleaved, against the same fake Google served over real HTTP on
loopback (tests/e2e/servers.py): the baseline pages through events.list with calbot's own query
and decodes the JSON, nothing else; calbot opens its container (app.container.open_container) on a
fresh DATA_DIR, connects the account and runs one full sync of the calendar into SQLite. Only the
paging and the sync are timed: the baseline's client and calbot's container are made before the
clock starts. Goal: calbot within 1.3x the baseline.

The fake Google runs in a process of its own (bench/google_process.py), as it does for the
benchmarks that run calbot as a server: Google's work happens on Google's machines, and calbot
asks for the next page before it maps and stores the current one so that the two overlap. A fake
in this process would take turns with calbot for the one GIL (a page of 2,500 events is ~50 ms of
JSON encoding), turning that overlap into a sum, while the baseline, which never overlaps, would
lose nothing. `--google-in-process` measures that way all the same (a thread of this process).

With Google in a child, it also prints the CPU each side used: calbot's sync (every thread of
this process) and the fake Google's meanwhile, the same for the baseline, and the least time
calbot's sync could take given that CPU: every core busy throughout, or the event loop thread's
own CPU, one piece after another, whichever is longer. What the sync takes beyond that floor
is time spent waiting: for Google, for the GIL, for a core.

    PYTHONPATH=. .venv/bin/python bench/full_sync.py [--events 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
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
)
from tests.e2e.servers import PRIMARY
from tests.fake_google import GOOD_CLIENT_ID, GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN

GOAL_RATIO = 1.3
SYNC_WINDOW = timedelta(days=30)  # calbot's full sync asks for events ending at most 30 days ago


class CpuLog:
    """CPU seconds used while each contender ran, by contender: this process (all threads),
    the thread that ran it (the event loop's), and the fake Google's process when it runs in a
    child."""

    def __init__(self, server: GoogleServer | GoogleEndpoints) -> None:
        self._google = server if isinstance(server, GoogleEndpoints) else None
        self.samples: dict[str, list[float]] = defaultdict(list)

    @contextmanager
    def measuring(self, name: str) -> Iterator[None]:
        readings = self._readings()
        yield
        for what, before, after in zip(
            ("", " loop", " google"), readings, self._readings(), strict=True
        ):
            self.samples[name + what].append(after - before)

    def _readings(self) -> tuple[float, float, float]:
        google = self._google.cpu_seconds() if self._google is not None else 0.0
        return time.process_time(), time.thread_time(), google


async def plain_paging(
    server: GoogleServer | GoogleEndpoints, token: str, cpu: CpuLog | None = None
) -> float:
    """Seconds to page through the calendar. The client is made before the clock starts, as
    calbot's are (`open_container`): making one costs ~20 ms, most of it loading the
    certificate authorities into an SSL context, none of it paging."""
    time_min = (datetime.now(UTC) - SYNC_WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.origin, headers=headers, trust_env=False) as http:
        loop = asyncio.get_running_loop()
        with cpu.measuring("plain") if cpu is not None else nullcontext():
            started = loop.time()
            page_token: str | None = None
            while True:
                extra = {"pageToken": page_token} if page_token else {}
                answer = await http.get(events_list_path(server, timeMin=time_min, **extra))
                answer.raise_for_status()
                page_token = answer.json().get("nextPageToken")
                if not page_token:
                    return loop.time() - started


async def calbot_full_sync(
    server: GoogleServer | GoogleEndpoints, data_dir: Path, cpu: CpuLog | None = None
) -> float:
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
        with cpu.measuring("calbot") if cpu is not None else nullcontext():
            started = loop.time()
            await container.sync.sync_calendar(account_id, PRIMARY)
            return loop.time() - started


def timed_plain(server: GoogleServer | GoogleEndpoints, token: str, cpu: CpuLog) -> float:
    return asyncio.run(plain_paging(server, token, cpu))


def fresh_calbot_sync(server: GoogleServer | GoogleEndpoints, cpu: CpuLog | None = None) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-full-sync-") as data_dir:
        return asyncio.run(calbot_full_sync(server, Path(data_dir), cpu))


def main(events: int, rounds: int, *, google_in_process: bool = False) -> Result:
    where = "in this process" if google_in_process else "in a process of its own"
    print(f"full sync of a {events}-event calendar, {rounds} rounds (medians), Google {where}:")
    serving = google_with_calendar if google_in_process else google_in_child
    with serving(events) as server:
        token = google_access_token(server)
        cpu = CpuLog(server)
        samples = interleave(
            {
                "plain": lambda: timed_plain(server, token, cpu),
                "calbot": lambda: fresh_calbot_sync(server, cpu),
            },
            rounds,
        )
    plain = show("plain httpx paging, JSON decode", samples["plain"], "s")
    calbot = show("calbot full sync", samples["calbot"], "s")
    ratio = calbot / plain
    if not google_in_process:
        show_cpu(cpu, rounds, plain)
    return Result("full_sync", "s", calbot, plain, f"ratio<={GOAL_RATIO:.2f}", ratio <= GOAL_RATIO)


def show_cpu(cpu: CpuLog, rounds: int, plain: float) -> None:
    """The CPU each side used (the warm-up round left out), and the floor it sets."""
    kept = {name: values[-rounds:] for name, values in cpu.samples.items()}
    print("  CPU used while each ran:")
    plain_cpu = show("  plain paging (requests, decode)", kept["plain"], "s")
    show("  the fake Google meanwhile", kept["plain google"], "s")
    calbot_cpu = show("  calbot's sync (all threads)", kept["calbot"], "s")
    loop_cpu = show("  calbot's sync, event loop thread alone", kept["calbot loop"], "s")
    google_cpu = show("  the fake Google meanwhile", kept["calbot google"], "s")
    cores = os.cpu_count() or 1
    # Neither can be beaten: every core busy throughout; the event loop thread's own work one
    # piece after another (it holds the GIL for nearly all of it).
    floor = max((calbot_cpu + google_cpu) / cores, loop_cpu)
    print(
        f"  floor of calbot's sync on {cores} cores: {floor:.3f} s = x{floor / plain:.2f} "
        f"of plain paging (plain used {plain_cpu:.3f} s of CPU itself)",
        flush=True,
    )


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
