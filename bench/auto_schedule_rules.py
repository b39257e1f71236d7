"""An auto-schedule pass with a full rule set over 100,000 upcoming events, and a preview of
10,000 occurrences, on the embedded store (SQLite), as `calbot serve` runs them.

The store holds a generated calendar: meetings spread over the lookahead (the pass) or the
preview's 168 hours, each with attendees from a few domains, varied titles, platforms and RSVPs,
every fiftieth a weekly series (expanding a series costs about a millisecond, whatever the
rules).
Measured, interleaved, on copies of the same database:
- the pass (`AutoScheduleService.run_pass`, the periodic job's call) with every rule of
  CONTRACT section 7 set, against reading the same candidates from the store alone (the floor
  any pass pays). Goal: the pass within 10 s.
- the preview (`ExplainService.preview`, the route's call) of 10,000 occurrences, against
  listing the same events from the store alone. Goal: within 1 s.

    PYTHONPATH=. .venv/bin/python bench/auto_schedule_rules.py [--events 100000] \
        [--preview-events 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.adapters.ports import EventsPageWrite, Stores
from app.adapters.sqlite import sqlite_stores
from app.adapters.sqlite.database import Database
from app.domain import (
    AttendeeFacts,
    AutoScheduleRules,
    Calendar,
    Connection,
    ConnectionStatus,
    Event,
    EventStatus,
    MeetingLink,
    Platform,
    ResponseStatus,
    event_id_for,
)
from app.services.auto_schedule import AutoScheduleService
from app.services.explain import ExplainService
from bench.harness import Result, report, show
from tests.fakes.clock import FakeClock
from tests.fakes.scheduler import RecordingBotScheduler

ACCOUNT = "acc_bench"
CALENDAR = "user@example.com"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
LOOKAHEAD = timedelta(hours=24)
PREVIEW_HOURS = 168
PASS_GOAL_S = 10.0
PREVIEW_GOAL_S = 1.0
PAGE = 2500
FULL_RULES = AutoScheduleRules(
    calendar_ids=(CALENDAR,),
    response_status=(ResponseStatus.ACCEPTED, ResponseStatus.TENTATIVE),
    organizer="any",
    attendees="external",
    internal_domains=("example.com",),
    min_attendees=2,
    max_attendees=50,
    title_include=("sync", "review", "call", "demo"),
    title_exclude=("interview", "1:1", "private"),
    platforms=(Platform.GOOGLE_MEET, Platform.ZOOM),
    weekdays=(1, 2, 3, 4, 5),
    local_time_from="08:00",
    local_time_to="19:00",
    time_zone="Europe/Berlin",
    never_record_domains=("legal.example", "hr.example"),
)
TITLES = ("Customer call", "Design review", "Weekly sync", "Interview", "Demo", "1:1 Ann")
DOMAINS = ("example.com", "customer.example", "partner.example", "eu.legal.example")
LINKS = (
    MeetingLink("https://meet.google.com/abc-defg-hij", Platform.GOOGLE_MEET),
    MeetingLink("https://zoom.us/j/123456789", Platform.ZOOM),
    MeetingLink("https://teams.microsoft.com/l/meetup-join/x", Platform.MICROSOFT_TEAMS),
)


def generated(index: int, span: timedelta) -> Event:
    """Meeting `index` of the calendar, starting within `span` from now."""
    start = NOW + timedelta(seconds=(index * 7919) % int(span.total_seconds()))
    series = index % 50 == 0
    guests = DOMAINS[: 1 + index % len(DOMAINS)]
    google_id = f"bench{index}"
    return Event(
        event_id=event_id_for(ACCOUNT, CALENDAR, google_id),
        calendar_id=CALENDAR,
        google_event_id=google_id,
        summary=f"{TITLES[index % len(TITLES)]} #{index}",
        status=EventStatus.CONFIRMED,
        start_time=start - timedelta(days=7) if series else start,
        end_time=(start - timedelta(days=7) if series else start) + timedelta(minutes=30),
        all_day=False,
        time_zone="Europe/Berlin",
        recurrence=("RRULE:FREQ=WEEKLY",) if series else (),
        meeting_link=LINKS[index % len(LINKS)],
        next_occurrence_start=start if series else None,
        next_occurrence_end=start + timedelta(minutes=30) if series else None,
        ical_uid=f"{google_id}@google.com",
        attendees=AttendeeFacts(
            self_response=(ResponseStatus.ACCEPTED, ResponseStatus.TENTATIVE)[index % 2],
            organizer_self=index % 3 != 0,
            organizer_domain="example.com",
            domains=tuple(sorted(set(guests))),
            people=1 + index % 12,
        ),
    )


async def build(path: Path, events: int, span: timedelta) -> None:
    database = Database(path)
    await database.open()
    stores = sqlite_stores(database)
    calendars = [Calendar(CALENDAR, "Me", True, "Europe/Berlin", "owner")]
    connection = Connection(ACCOUNT, "client", CALENDAR, ConnectionStatus.ACTIVE, NOW)
    await stores.connections.save_connection(connection, calendars)
    generation = await stores.events.begin_full_sync(ACCOUNT, CALENDAR)
    for first in range(0, events, PAGE):
        last = min(first + PAGE, events)
        await stores.events.apply_events_page(
            ACCOUNT,
            EventsPageWrite(
                calendar_id=CALENDAR,
                upserts=[generated(i, span) for i in range(first, last)],
                overrides=[],
                cancelled_google_ids=[],
                full_sync=True,
                generation=generation,
                sync_token="t1" if last == events else None,
                synced_at=NOW,
            ),
        )
    await stores.auto_schedule.set_auto_schedule(
        ACCOUNT, enabled=True, default_bot_config={"bot_name": "Bench"}, rules=FULL_RULES
    )
    await database.close()


def services(stores: Stores) -> tuple[AutoScheduleService, ExplainService]:
    auto = AutoScheduleService(
        auto_schedule=stores.auto_schedule,
        connections=stores.connections,
        events=stores.events,
        bots=stores.bots,
        scheduler=RecordingBotScheduler(),
        clock=FakeClock(NOW),
        lookahead=LOOKAHEAD,
        join_lead=timedelta(minutes=3),
    )
    explain = ExplainService(
        auto_schedule=auto, connections=stores.connections, events=stores.events, bots=stores.bots
    )
    return auto, explain


async def timed_on_copy(source: Path, work: str) -> tuple[float, float, int]:
    """Seconds (wall clock, and CPU of the whole process: the SQLite thread included) and
    item count of one `work` on a fresh copy of the database at `source`."""
    with tempfile.TemporaryDirectory(prefix="bench-rules-run-") as scratch:
        path = Path(scratch) / "calbot.sqlite3"
        shutil.copy(source, path)
        database = Database(path)
        await database.open()
        try:
            stores = sqlite_stores(database)
            auto, explain = services(stores)
            started, cpu = time.perf_counter(), time.process_time()
            if work == "pass":
                count = await auto.run_pass()
            elif work == "candidates":
                count = len(
                    await stores.events.list_auto_schedule_candidates(ACCOUNT, NOW, NOW + LOOKAHEAD)
                )
            elif work == "preview":
                count = len(await explain.preview(ACCOUNT, None, PREVIEW_HOURS))
            else:
                count = len(await stores.events.list_events(ACCOUNT, CALENDAR))
            return time.perf_counter() - started, time.process_time() - cpu, count
        finally:
            await database.close()


async def main(events: int, preview_events: int, rounds: int) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench-rules-") as workdir:
        big, small = Path(workdir) / "pass.sqlite3", Path(workdir) / "preview.sqlite3"
        await build(big, events, LOOKAHEAD)
        await build(small, preview_events, timedelta(hours=PREVIEW_HOURS))
        samples: dict[str, list[float]] = {k: [] for k in ("pass", "candidates", "preview", "list")}
        cpu: dict[str, list[float]] = {k: [] for k in samples}
        counts: dict[str, int] = {}
        for _ in range(rounds):
            for work, source in (
                ("pass", big),
                ("candidates", big),
                ("preview", small),
                ("list", small),
            ):
                seconds, cpu_seconds, counts[work] = await timed_on_copy(source, work)
                samples[work].append(seconds)
                cpu[work].append(cpu_seconds)
    print(f"auto-schedule pass over {events} upcoming events, full rule set ({rounds} rounds):")
    print(f"  {counts['pass']} bots created from {counts['candidates']} candidate events")
    pass_s = show("the pass (run_pass), rules applied", samples["pass"], "s")
    floor_s = show("reading the candidates alone", samples["candidates"], "s")
    show("  CPU of the pass (all threads)", cpu["pass"], "s")
    show("  CPU of reading the candidates", cpu["candidates"], "s")
    print(f"preview of {counts['preview']} occurrences ({preview_events} events, 168 h):")
    preview_s = show("the preview (ExplainService.preview)", samples["preview"], "s")
    list_s = show("listing the events alone", samples["list"], "s")
    show("  CPU of the preview (all threads)", cpu["preview"], "s")
    show("  CPU of listing the events", cpu["list"], "s")
    return [
        Result(
            "auto_schedule_rules_pass",
            "s",
            pass_s,
            floor_s,
            f"calbot<={PASS_GOAL_S:.0f}s",
            pass_s <= PASS_GOAL_S,
        ),
        Result(
            "auto_schedule_rules_preview",
            "s",
            preview_s,
            list_s,
            f"calbot<={PREVIEW_GOAL_S:.0f}s",
            preview_s <= PREVIEW_GOAL_S,
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--preview-events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    for result in asyncio.run(main(arguments.events, arguments.preview_events, arguments.rounds)):
        report(result)
