"""GET /get_events of a 1,000-event calendar: requests per second, 10 connections.

`calbot serve` (synced once from the fake Google) and a bare FastAPI app (bench/bare_app.py)
both run under uvicorn as subprocesses on loopback, one process each, with the same arguments.
The bare app serves the exact bytes calbot answered (`/bytes`) and, for information, the same
events as dicts that FastAPI encodes on every request (`/dicts`). A closed-loop load of 10
keep-alive connections hits each in turn for a few seconds per round (pure Python: asyncio
streams in this process). Goal: calbot at least 0.7x the bytes endpoint.

    PYTHONPATH=. .venv/bin/python bench/get_events.py [--events 1000] [--rounds 3] [--seconds 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.harness import (
    CALENDAR_PATH,
    Result,
    bare_fastapi,
    calbot_server,
    first_sync,
    google_with_calendar,
    report,
    show,
    throughput,
)

GOAL_RATIO = 0.7
CONNECTIONS = 10


def main(events: int, rounds: int, seconds: float) -> Result:
    print(
        f"GET /get_events of a {events}-event calendar, {CONNECTIONS} connections, "
        f"{rounds} rounds of {seconds:g} s (medians):"
    )
    per_second: dict[str, list[float]] = {"calbot": [], "bytes": [], "dicts": []}
    p50_ms: dict[str, list[float]] = {name: [] for name in per_second}
    with (
        tempfile.TemporaryDirectory(prefix="bench-get-events-") as workdir,
        google_with_calendar(events) as server,
        calbot_server(server, Path(workdir)) as calbot,
    ):
        first_sync(calbot)
        client = calbot.client()
        body = client.get(f"{CALENDAR_PATH}/get_events")
        client.close()
        print(f"  one answer: {len(body)} bytes")
        with bare_fastapi(body, Path(workdir)) as bare_url:
            targets = {
                "calbot": (f"{calbot.base_url}{CALENDAR_PATH}/get_events", calbot.auth),
                "bytes": (f"{bare_url}/bytes", {}),
                "dicts": (f"{bare_url}/dicts", {}),
            }
            for url, headers in targets.values():  # warm-up, uncounted
                throughput(url, headers, connections=CONNECTIONS, seconds=0.5)
            for _ in range(rounds):
                for name, (url, headers) in targets.items():
                    measured = throughput(url, headers, connections=CONNECTIONS, seconds=seconds)
                    per_second[name].append(measured.per_second)
                    p50_ms[name].append(measured.p50_ms)
    calbot_rps = show("calbot /get_events", per_second["calbot"], "/s")
    show("  its p50 latency", p50_ms["calbot"], "ms")
    bytes_rps = show("bare FastAPI, the same bytes", per_second["bytes"], "/s")
    show("  its p50 latency", p50_ms["bytes"], "ms")
    show("bare FastAPI, the same dicts encoded (info)", per_second["dicts"], "/s")
    show("  its p50 latency", p50_ms["dicts"], "ms")
    return Result(
        "get_events",
        "rps",
        calbot_rps,
        bytes_rps,
        f"ratio>={GOAL_RATIO:.2f}",
        calbot_rps >= GOAL_RATIO * bytes_rps,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    arguments = parser.parse_args()
    report(main(arguments.events, arguments.rounds, arguments.seconds))
