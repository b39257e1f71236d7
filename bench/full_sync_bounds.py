"""What the full sync would take if its mapping, or its page writes, cost nothing.

A diagnostic for the `full_sync` line, run by hand (not part of `make bench`): the same
10,000-event full sync as bench/full_sync.py, against the same fake Google in a process of its
own, interleaved with plain httpx paging, in four variants:

- `usual`: calbot as it is;
- `mapping free`: `map_items` answers with the pages it mapped in an uncounted round, so
  mapping Google's items into events costs nothing (the series' next occurrences are still
  worked out, the pages still decoded and written);
- `writes free`: a page's write runs no statement but the last page's bookkeeping (sync token,
  generations), so SQLite stores nothing;
- `both free`: the two together.

The events the variants store are not right (mapped for another account, or not stored at
all); only their times are of interest. They bound what making either part cheaper could win,
which says how far the goal (x1.3 of plain paging) is from calbot's design: how much of the
CPU per event has to go before the sync keeps up with the baseline.

    PYTHONPATH=. .venv/bin/python bench/full_sync_bounds.py [--events 10000] [--rounds 12]
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from typing import Any
from unittest import mock

import app.adapters.sqlite.events as sqlite_events
import app.services.sync as sync_service
from app.adapters.ports import EventsPageWrite
from app.services.event_mapping import MappedPage, map_items
from bench.full_sync import CpuLog, fresh_calbot_sync, timed_plain
from bench.harness import google_access_token, google_in_child, show

VARIANTS = ("usual", "mapping free", "writes free", "both free")


class MappedOnce:
    """`map_items` that maps each page once, then answers with copies of what it mapped."""

    def __init__(self) -> None:
        self._pages: dict[tuple[object, int], MappedPage] = {}

    def __call__(
        self, account_id: str, calendar_id: str, items: Iterable[Mapping[str, Any]], **options: Any
    ) -> MappedPage:
        listed = list(items)
        key = (listed[0].get("id") if listed else None, len(listed))
        mapped = self._pages.get(key)
        if mapped is None:
            mapped = self._pages[key] = map_items(account_id, calendar_id, listed, **options)
        # Fresh lists: the sync adds to them and sets next occurrences on their events.
        return MappedPage(
            list(mapped.upserts), list(mapped.overrides), list(mapped.cancelled_google_ids)
        )


def bookkeeping_only(
    account_id: str, page: EventsPageWrite, connection: sqlite3.Connection
) -> None:
    """A page write that stores no event: only the last page's sync token and generations."""
    if page.sync_token is not None:
        sqlite_events._finish_run(connection, account_id, page)


def variant(name: str, mapped_once: MappedOnce) -> ExitStack:
    """The patches that make `name` what it says, entered."""
    stack = ExitStack()
    if name in ("mapping free", "both free"):
        stack.enter_context(mock.patch.object(sync_service, "map_items", mapped_once))
    if name in ("writes free", "both free"):
        stack.enter_context(mock.patch.object(sqlite_events, "_write_page", bookkeeping_only))
    return stack


def main(events: int, rounds: int) -> None:
    print(f"full sync of a {events}-event calendar, {rounds} rounds (medians), bounds:")
    with google_in_child(events) as server:
        token = google_access_token(server)
        cpu = CpuLog(server)
        mapped_once = MappedOnce()
        with variant("mapping free", mapped_once):
            fresh_calbot_sync(server)  # maps the pages once, uncounted

        plain: list[float] = []
        samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for round_number in range(1 + rounds):  # the first round warms up, uncounted
            timed = timed_plain(server, token, cpu)
            # Each round starts with another variant, so none always follows the baseline.
            sampled: dict[str, float] = {}
            for name in VARIANTS[round_number % 4 :] + VARIANTS[: round_number % 4]:
                with variant(name, mapped_once):
                    sampled[name] = fresh_calbot_sync(server)
            if round_number:
                plain.append(timed)
                for name, seconds in sampled.items():
                    samples[name].append(seconds)
    baseline = show("plain httpx paging, JSON decode", plain, "s")
    for name in VARIANTS:
        median = show(f"calbot full sync, {name}", samples[name], "s")
        print(f"    x{median / baseline:.2f} of plain paging")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=12)
    arguments = parser.parse_args()
    main(arguments.events, arguments.rounds)
