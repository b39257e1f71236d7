"""Resident memory of `calbot serve` idle, and holding a 100,000-event calendar.

`calbot serve` runs as a subprocess on loopback with the account connected; its VmRSS is read
from /proc/<pid>/status while idle (the baseline), then it fully syncs 100,000 generated events
from the fake Google through GET /api/v1/calendar/events (the path a user takes), lists one
page from the store, and VmRSS (resident now) and VmHWM (peak since start) are read again.
Goal: both within 200 MB, so nothing holds every event in memory at once, not even for a moment.

    PYTHONPATH=. .venv/bin/python bench/memory.py [--events 100000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.harness import (
    CALENDAR_PATH,
    Result,
    calbot_server,
    first_sync,
    google_with_calendar,
    memory_mb,
    report,
    show,
)

GOAL_MB = 200.0
SETTLE_S = 1.0  # let work started by the sync (reconcile, auto-schedule) finish


def one_round(events: int) -> dict[str, float]:
    """Idle VmRSS, then VmRSS and VmHWM after storing `events`, in MB."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-memory-") as workdir,
        google_with_calendar(events) as server,
        calbot_server(server, Path(workdir)) as calbot,
    ):
        time.sleep(SETTLE_S)
        idle = memory_mb(calbot.pid)["VmRSS"]
        first_sync(calbot)
        client = calbot.client()
        client.get(f"{CALENDAR_PATH}/get_events")
        client.close()
        time.sleep(SETTLE_S)
        stored = memory_mb(calbot.pid)
    return {"idle": idle, "stored": stored["VmRSS"], "peak": stored["VmHWM"]}


def main(events: int, rounds: int) -> Result:
    print(f"calbot serve's memory, idle and with {events} events stored, {rounds} round(s):")
    readings = [one_round(events) for _ in range(rounds)]
    idle = show("VmRSS idle, account connected", [r["idle"] for r in readings], "MB")
    stored = show(f"VmRSS with {events} events stored", [r["stored"] for r in readings], "MB")
    peak = show("VmHWM (peak) by then", [r["peak"] for r in readings], "MB")
    return Result(
        "memory",
        "MB",
        stored,
        idle,
        f"calbot<={GOAL_MB:.0f}MB,peak<={GOAL_MB:.0f}MB",
        stored <= GOAL_MB and peak <= GOAL_MB,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1)
    arguments = parser.parse_args()
    report(main(arguments.events, arguments.rounds))
