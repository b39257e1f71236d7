"""Lifecycle integrity under every change (issue 12), as a stateful property test.

Hypothesis drives calbot's services (wired as tests/unit/calbot.py wires them) through random
sequences of what Google, the user and time do: meetings created, moved, relinked, cancelled,
deleted without a trace, turned recurring and back, single occurrences moved or cancelled,
push notifications lost, sync tokens expired, the account disconnected and reconnected (also to
another Google account), bots scheduled, unscheduled and patched, auto-scheduling switched on and
off, and the clock moving (launching what is due, as the embedded scheduler would).

The port-level fake Google is the source of truth (tests/property/google_truth.py reads it back).
After every step, once calbot has synced every change Google made:
- never two pending bots for one meeting occurrence (`identity` says what "one" is);
- no pending bot for a cancelled, deleted or ended occurrence, nor of a calendar no longer
  connected;
- every pending bot's occurrence times, `join_at` (start - lead) and link match Google's;
- with auto-scheduling on, every live occurrence with a link well inside the lookahead has a
  bot, unless one of its bots already ran or was cancelled (bots cancelled before a disconnect
  do not count after the reconnect: "as if it had never connected");
- the auto-schedule switch and every bot's `bot_config` are what the user last set;
and at all times: every launch went to an occurrence that existed, with that link, at launch time,
and, checked at the end of each run, every bot's status changes were told exactly once each
(`bot.scheduled`, then the message of its final status), written with the change.

It runs on the memory store, on SQLite and on DynamoDB (moto), each with a fixed seed and a
budget; `pytest -m lifecycle tests/property` runs it alone.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.adapters.aws.dynamodb import create_table, dynamodb_client_config, dynamodb_stores
from app.adapters.memory import memory_stores
from app.adapters.ports import Stores
from app.adapters.sqlite import sqlite_stores
from app.adapters.sqlite.database import Database
from app.domain import (
    BotStatus,
    GoogleCredentials,
    ScheduledBot,
    event_id_for,
    is_pending,
)
from app.errors import CalbotError
from app.services import bot_building
from app.services.scheduling import BotChanges
from tests.aws import open_aws_client
from tests.fakes import FakeClock
from tests.property.google_truth import (
    GoogleMeeting,
    GoogleOccurrence,
    original_starts,
    parse_time,
    read_calendar,
    series_rule,
)
from tests.unit.calbot import ACCOUNT, CAL, CREDENTIALS, JOIN_LEAD, LOOKAHEAD, NOW, Calbot, wire

pytestmark = pytest.mark.lifecycle

FINAL_MESSAGES = {
    BotStatus.CANCELLED: "bot.cancelled",
    BotStatus.LAUNCHED: "bot.launched",
    BotStatus.FAILED: "bot.failed",
    BotStatus.MISSED: "bot.missed",
}
"""The webhook message of each status a bot ends in (CONTRACT section 8)."""

T = TypeVar("T")

TEAM = "team@group.calendar.google.com"  # a second calendar of the same Google account
OTHER = "other@example.com"  # the primary calendar of another Google account
OTHER_CREDENTIALS = GoogleCredentials(
    CREDENTIALS.client_id, CREDENTIALS.client_secret, "1//other-account-refresh-token"
)
GOOGLE_ACCOUNTS = {"work": (CREDENTIALS, (CAL, TEAM)), "other": (OTHER_CREDENTIALS, (OTHER,))}
LINKS = (
    "https://meet.google.com/aaa-bbbb-ccc",
    "https://meet.google.com/ddd-eeee-fff",
    "https://meet.google.com/ggg-hhhh-iii",
)
SLOT = timedelta(minutes=15)
# Liveness is asked only this far inside the lookahead: an occurrence moved earlier than its
# series' first start enters auto-scheduling's window a little late, harmlessly.
LIVENESS_MARGIN = timedelta(hours=3)
VANISHED = "deleted without a cancelled item"


# -- what "one meeting occurrence" is ------------------------------------------------------------


def ical_uid_for(google_event_id: str) -> str:
    """The test gives every meeting, on every calendar it appears on, this iCalUID."""
    return f"{google_event_id}@google.com"


def by_meeting(calendar_id: str, google_event_id: str, start: datetime) -> Hashable:
    """The canonical meeting identity of case 7 (iCalUID + start), across calendars."""
    return (ical_uid_for(google_event_id), start)


# The one place that says when two bots are for the same occurrence: the canonical meeting
# identity of case 7 (`meeting_key`), across calendars.
identity: Callable[[str, str, datetime], Hashable] = by_meeting


def meeting_of(occurrence: GoogleOccurrence) -> Hashable:
    """Whether a meeting has a bot is asked across calendars whatever `identity` says: one bot
    for a meeting shown on two calendars is enough, and so are two (until case 7 is fixed)."""
    return by_meeting(occurrence.calendar_id, occurrence.google_event_id, occurrence.start)


# -- Google resources the test writes -------------------------------------------------------------


def google_time(when: datetime) -> dict[str, str]:
    return {"dateTime": when.isoformat().replace("+00:00", "Z"), "timeZone": "UTC"}


def meeting_resource(
    google_event_id: str, start: datetime, end: datetime, link: str, repeat: tuple[str, int] | None
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "id": google_event_id,
        "iCalUID": ical_uid_for(google_event_id),
        "summary": f"Meeting {google_event_id}",
        "start": google_time(start),
        "end": google_time(end),
        "hangoutLink": link,
    }
    if repeat is not None:
        resource["recurrence"] = [f"RRULE:FREQ={repeat[0]};COUNT={repeat[1]}"]
    return resource


def exception_id(google_event_id: str, original_start: datetime) -> str:
    return f"{google_event_id}_{original_start:%Y%m%dT%H%M%SZ}"


def shown(bot: ScheduledBot) -> str:
    return (
        f"{bot.bot_id} ({bot.source.value}, {bot.google_event_id} on {bot.calendar_id}, "
        f"occurrence {bot.occurrence_key} starting {bot.occurrence_start:%d %H:%M})"
    )


# -- storage backends -----------------------------------------------------------------------------

StoresFactory = Callable[[], AbstractAsyncContextManager[Stores]]


@asynccontextmanager
async def on_memory() -> AsyncIterator[Stores]:
    yield memory_stores()


@asynccontextmanager
async def on_sqlite() -> AsyncIterator[Stores]:
    with tempfile.TemporaryDirectory(prefix="calbot-lifecycle-") as directory:
        database = Database(Path(directory) / "calbot.sqlite3")
        await database.open()
        try:
            yield sqlite_stores(database)
        finally:
            await database.close()


def on_dynamodb(endpoint: str) -> StoresFactory:
    tables = iter(range(1_000_000))

    @asynccontextmanager
    async def stores() -> AsyncIterator[Stores]:
        table = f"calbot-lifecycle-{next(tables)}"  # one fresh table per example
        config = dynamodb_client_config()
        async with open_aws_client("dynamodb", endpoint, config=config) as client:
            await create_table(client, table)
            try:
                yield dynamodb_stores(client, table)
            finally:
                await client.delete_table(TableName=table)

    return stores


# -- the machine ----------------------------------------------------------------------------------


@dataclass
class Launch:
    """What the Create Bot API received, checked against Google when it was sent."""

    bot_id: str
    problem: str | None


class Lifecycle(RuleBasedStateMachine):
    open_stores: ClassVar[StoresFactory] = on_memory

    meetings = Bundle[str]("meetings")

    def __init__(self) -> None:
        super().__init__()
        # calbot's bot ids are random, and the store orders bots with the same join_at by id,
        # which calbot then follows (which of two tied bots is "the latest", which one a sync
        # moves first). Counted ids make every sequence of steps replay exactly, so hypothesis
        # can shrink it.
        self._patches = pytest.MonkeyPatch()
        bot_numbers = itertools.count(1)
        self._patches.setattr(bot_building, "new_bot_id", lambda: f"bot_{next(bot_numbers):024x}")
        self._runner = asyncio.Runner()
        self._exit = AsyncExitStack()
        stores = self._runner.run(self._exit.enter_async_context(type(self).open_stores()))
        self.clock = FakeClock(NOW)
        self.calbot: Calbot = wire(self.clock, stores)
        self.google = self.calbot.google
        self.google.add_calendar(TEAM, time_zone="America/New_York")
        self.google.add_calendar(OTHER, primary=True, time_zone="UTC")
        self.google.refresh_tokens.add(OTHER_CREDENTIALS.refresh_token)
        self.google.calendars_of = {
            credentials.refresh_token: set(calendars)
            for credentials, calendars in GOOGLE_ACCOUNTS.values()
        }
        self.created = 0
        self.connected: str | None = None  # which Google account calbot is connected to
        self.bots_before_reconnect: set[str] = set()  # "as if it had never connected"
        self.lose_next_notification = False
        self.unsynced: dict[str, str] = {}  # calendar -> what calbot has not heard of yet
        self.auto_schedule_enabled = False
        self.bot_configs: dict[str, dict[str, Any]] = {}  # what the user last set, by bot id
        self.launches: list[Launch] = []
        # Where a hands-free user starts: connected, auto-scheduling on.
        self._run(self._connect("work"))
        self._run(self.calbot.auto_schedule.enable(ACCOUNT, {"config": "auto"}))
        self.auto_schedule_enabled = True

    def teardown(self) -> None:
        # Messages accumulate (nothing delivers them here), so one look at the end of each run
        # sees every message ever written: cheaper than after every step, and as strict.
        try:
            problems = self._runner.run(self._told_problems())
        finally:
            try:
                self._runner.run(self._exit.aclose())
            finally:
                self._runner.close()
                self._patches.undo()
        assert not problems, "\n".join(problems)

    async def _told_problems(self) -> list[str]:
        return await self._message_problems(await self.calbot.bots())

    # -- running calbot ---------------------------------------------------------------------

    def _run(self, step: Awaitable[T]) -> T:
        """One step, then what the embedded scheduler does at once: launch every due bot."""

        async def then_launch() -> T:
            result = await step
            await self._launch_due()
            return result

        return self._runner.run(then_launch())

    async def _as_user(self, call: Awaitable[T]) -> T | None:
        """A request a user makes: a refusal (4xx) is an answer; anything else fails the test."""
        try:
            return await call
        except CalbotError as error:
            if error.status_code >= 500:
                raise
            return None

    async def _launch_due(self) -> None:
        launcher, bot_api = self.calbot.launcher, self.calbot.bot_api
        await launcher.launch_due()
        await launcher.wait_for_launches()
        checked = {launch.bot_id for launch in self.launches}
        for bot_id, body in list(bot_api.bots.items()):
            if bot_id not in checked:
                self.launches.append(Launch(bot_id, await self._launch_problem(bot_id, body)))

    async def _launch_problem(self, bot_id: str, body: dict[str, Any]) -> str | None:
        bot = await self.calbot.stores.bots.get_bot(ACCOUNT, bot_id)
        assert bot is not None
        occurrence, problem = self._occurrence_of(bot, self._google_meetings())
        if occurrence is not None and body["meeting_link"] != occurrence.link:
            problem = f"the link {body['meeting_link']} (Google has {occurrence.link})"
        config = {
            k: v
            for k, v in body.items()
            if k not in ("meeting_link", "bot_name", "custom_attributes")
        }
        expected = self.bot_configs.get(bot_id)
        if problem is None and expected is not None and config != expected:
            problem = f"bot_config {config} although the user set {expected}"
        if problem is None:
            return None
        unsynced = self.unsynced.get(bot.calendar_id)
        during = f" (calbot had not heard: {unsynced})" if unsynced else ""
        return f"launched {shown(bot)} at {self.clock.now():%d %H:%M} into {problem}{during}"

    async def _refresh(self, calendar_id: str) -> None:
        runs = len(self.google.runs)
        await self.calbot.refresh(calendar_id)
        full = any(run.full for run in self.google.runs[runs:] if run.calendar_id == calendar_id)
        if full or self.unsynced.get(calendar_id) != VANISHED:
            self.unsynced.pop(calendar_id, None)

    def _connected_calendars(self) -> tuple[str, ...]:
        return () if self.connected is None else GOOGLE_ACCOUNTS[self.connected][1]

    async def _sync_all(self) -> None:
        for calendar_id in self._connected_calendars():
            await self._refresh(calendar_id)

    async def _connect(self, google_account: str) -> None:
        if self.connected is None:
            self.bots_before_reconnect = {bot.bot_id for bot in await self.calbot.bots()}
        await self.calbot.connections.connect(ACCOUNT, GOOGLE_ACCOUNTS[google_account][0])
        self.connected = google_account
        await self._sync_all()

    async def _changed(self, calendar_ids: list[str], what: str) -> None:
        """Google changed these calendars: a push notification makes calbot sync each one,
        unless the notification is lost; a deletion without a cancelled item stays unseen
        until a full sync."""
        watched = [c for c in calendar_ids if c in self._connected_calendars()]
        if not watched:
            return
        lost, self.lose_next_notification = self.lose_next_notification, False
        for calendar_id in watched:
            if not lost:
                await self._refresh(calendar_id)
            if lost or what == VANISHED:
                if self.unsynced.get(calendar_id) != VANISHED:
                    self.unsynced[calendar_id] = what

    # -- reading Google ---------------------------------------------------------------------

    def _google_meetings(self) -> dict[tuple[str, str], GoogleMeeting]:
        """Meetings of the connected account's calendars, by (calendar, Google id)."""
        return {
            (calendar_id, google_id): meeting
            for calendar_id in self._connected_calendars()
            for google_id, meeting in read_calendar(self.google, calendar_id).items()
        }

    def _resources(self, google_event_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The live master resource of a meeting on each calendar that holds it."""
        return [
            (calendar_id, resource)
            for calendar_id in (CAL, TEAM, OTHER)
            for resource in self.google.events(calendar_id)
            if resource["id"] == google_event_id and resource.get("status") != "cancelled"
        ]

    def _exceptions(self, calendar_id: str, google_event_id: str) -> list[dict[str, Any]]:
        return [
            resource
            for resource in self.google.events(calendar_id)
            if resource.get("recurringEventId") == google_event_id
        ]

    def _occurrence_of(
        self, bot: ScheduledBot, meetings: dict[tuple[str, str], GoogleMeeting]
    ) -> tuple[GoogleOccurrence | None, str | None]:
        """The occurrence of Google's a bot is for, or why there is none.

        A bot names its occurrence by original start, or "single" for a one-off (which, once
        the meeting becomes recurring, is its first occurrence).
        """
        meeting = meetings.get((bot.calendar_id, bot.google_event_id))
        if bot.calendar_id not in self._connected_calendars():
            return None, "a calendar that is no longer connected"
        if meeting is None:
            return None, "a meeting deleted at Google"
        if meeting.cancelled:
            return None, "a cancelled meeting"
        if not meeting.recurring:
            return next(iter(meeting.occurrences.values())), None
        original = bot.occurrence_key.original_start or meeting.first_start
        occurrence = meeting.occurrences.get(original)
        if occurrence is not None:
            return occurrence, None
        if original in meeting.cancelled_originals:
            return None, "a cancelled occurrence"
        return None, "an occurrence the series no longer has"

    # -- what Google does ---------------------------------------------------------------------

    @rule(
        target=meetings,
        calendar_id=st.sampled_from([CAL, TEAM, OTHER]),
        slot=st.integers(-2, 120),
        minutes=st.sampled_from([30, 60]),
        link=st.sampled_from(LINKS),
        repeat=st.none() | st.tuples(st.sampled_from(["DAILY", "WEEKLY"]), st.integers(2, 4)),
    )
    def create_meeting(
        self,
        calendar_id: str,
        slot: int,
        minutes: int,
        link: str,
        repeat: tuple[str, int] | None,
    ) -> str:
        self.created += 1
        google_id = f"m{self.created}"
        start = NOW + slot * SLOT
        resource = meeting_resource(
            google_id, start, start + timedelta(minutes=minutes), link, repeat
        )
        self.google.put_event(calendar_id, resource)
        self._run(self._changed([calendar_id], "a new meeting"))
        return google_id

    @rule(meeting=meetings)
    def share_meeting_on_the_team_calendar(self, meeting: str) -> None:
        """The same meeting (same Google id and iCalUID) shows on the team calendar too."""
        found = dict(self._resources(meeting))
        if CAL not in found or TEAM in found:
            return
        for resource in [found[CAL], *self._exceptions(CAL, meeting)]:
            self.google.put_event(TEAM, resource)
        self._run(self._changed([TEAM], "a shared meeting"))

    @rule(meeting=meetings, shift=st.integers(-8, 96).filter(bool))
    def move_meeting(self, meeting: str, shift: int) -> None:
        """A one-off, or a whole series without exceptions, moves by `shift` slots."""
        changed = []
        for calendar_id, resource in self._resources(meeting):
            if self._exceptions(calendar_id, meeting):
                continue  # where a moved series' exceptions go is not this test's question
            for end in ("start", "end"):
                resource[end] = google_time(parse_time(resource[end]) + shift * SLOT)
            self.google.put_event(calendar_id, resource)
            changed.append(calendar_id)
        self._run(self._changed(changed, "a moved meeting"))

    @rule(meeting=meetings, link=st.sampled_from(LINKS))
    def relink_meeting(self, meeting: str, link: str) -> None:
        changed = []
        for calendar_id, resource in self._resources(meeting):
            resource["hangoutLink"] = link
            self.google.put_event(calendar_id, resource)
            changed.append(calendar_id)
        self._run(self._changed(changed, "a new link"))

    @rule(meeting=consumes(meetings))
    def cancel_meeting(self, meeting: str) -> None:
        """Deleted in Google Calendar: cancelled items for the meeting and its exceptions."""
        changed = []
        for calendar_id, _ in self._resources(meeting):
            for exception in self._exceptions(calendar_id, meeting):
                if exception.get("status") != "cancelled":
                    self.google.cancel_event(calendar_id, exception["id"])
            self.google.cancel_event(calendar_id, meeting)
            changed.append(calendar_id)
        self._run(self._changed(changed, "a cancelled meeting"))

    @rule(meeting=consumes(meetings))
    def delete_meeting_without_a_trace(self, meeting: str) -> None:
        """Gone from Google with no cancelled item: only a full sync (after a 410) sees it."""
        changed = []
        for calendar_id, _ in self._resources(meeting):
            for exception in self._exceptions(calendar_id, meeting):
                self.google.forget_event(calendar_id, exception["id"])
            self.google.forget_event(calendar_id, meeting)
            changed.append(calendar_id)
        self._run(self._changed(changed, VANISHED))

    @rule(
        meeting=meetings,
        repeat=st.tuples(st.sampled_from(["DAILY", "WEEKLY"]), st.integers(2, 4)),
    )
    def make_recurring(self, meeting: str, repeat: tuple[str, int]) -> None:
        """A one-off becomes a series (same Google id, same first start)."""
        changed = []
        for calendar_id, resource in self._resources(meeting):
            if series_rule(resource) is None:
                resource["recurrence"] = [f"RRULE:FREQ={repeat[0]};COUNT={repeat[1]}"]
                self.google.put_event(calendar_id, resource)
                changed.append(calendar_id)
        self._run(self._changed(changed, "a meeting made recurring"))

    @rule(meeting=meetings)
    def make_one_off(self, meeting: str) -> None:
        """A series without exceptions becomes a single event at its first start."""
        changed = []
        for calendar_id, resource in self._resources(meeting):
            if series_rule(resource) is not None and not self._exceptions(calendar_id, meeting):
                del resource["recurrence"]
                self.google.put_event(calendar_id, resource)
                changed.append(calendar_id)
        self._run(self._changed(changed, "a series made a one-off"))

    @rule(
        meeting=meetings,
        number=st.integers(0, 3),
        change=st.sampled_from(["move", "cancel", "relink"]),
        shift=st.integers(-8, 96).filter(bool),
        link=st.sampled_from(LINKS),
    )
    def change_one_occurrence(
        self, meeting: str, number: int, change: str, shift: int, link: str
    ) -> None:
        """An exception: one occurrence of a series moved, cancelled or given another link."""
        changed = []
        for calendar_id, resource in self._resources(meeting):
            originals = original_starts(resource)
            if series_rule(resource) is None or number >= len(originals):
                continue
            original = originals[number]
            exception_key = exception_id(meeting, original)
            current = {e["id"]: e for e in self._exceptions(calendar_id, meeting)}
            if current.get(exception_key, {}).get("status") == "cancelled":
                continue  # a cancelled occurrence cannot be edited
            duration = parse_time(resource["end"]) - parse_time(resource["start"])
            exception = current.get(exception_key) or {
                "id": exception_key,
                "iCalUID": resource["iCalUID"],
                "recurringEventId": meeting,
                "originalStartTime": google_time(original),
                "start": google_time(original),
                "end": google_time(original + duration),
                "hangoutLink": resource["hangoutLink"],
            }
            if change == "cancel":
                exception["status"] = "cancelled"
            elif change == "move":
                start = parse_time(exception["start"]) + shift * SLOT
                exception["start"], exception["end"] = (
                    google_time(start),
                    google_time(start + duration),
                )
            else:
                exception["hangoutLink"] = link
            self.google.put_event(calendar_id, exception)
            changed.append(calendar_id)
        self._run(self._changed(changed, f"an occurrence {change}d"))

    @precondition(lambda self: not self.lose_next_notification)
    @rule()
    def lose_the_next_notification(self) -> None:
        """Google's next push notification never arrives."""
        self.lose_next_notification = True

    @rule(token_expired=st.booleans())
    def sync(self, token_expired: bool) -> None:
        """Every connected calendar syncs, as a push notification (or the poll) makes it;
        with `token_expired` Google answers 410 Gone and calbot resyncs in full."""

        async def sync_all() -> None:
            self.google.expire_sync_tokens = token_expired
            try:
                await self._sync_all()
            finally:
                self.google.expire_sync_tokens = False

        self._run(sync_all())

    # -- what the user does -------------------------------------------------------------------

    @precondition(lambda self: self.connected is not None)
    @rule()
    def disconnect(self) -> None:
        self._run(self.calbot.connections.disconnect(ACCOUNT))
        self.connected = None
        self.unsynced.clear()

    @rule(google_account=st.sampled_from(["work", "other"]))
    def connect(self, google_account: str) -> None:
        """POST /create_calendar: (re)connect, to the same or another Google account."""
        self._run(self._connect(google_account))

    @rule(
        meeting=meetings,
        copy=st.integers(0, 1),
        day=st.none() | st.integers(0, 4),
        config=st.integers(0, 3),
    )
    def schedule(self, meeting: str, copy: int, day: int | None, config: int) -> None:
        """POST /schedule/{event_id}, with or without occurrence_date."""
        homes = [c for c, _ in self._resources(meeting)] or [CAL]
        event_id = event_id_for(ACCOUNT, homes[copy % len(homes)], meeting)
        on_date: date | None = None if day is None else (NOW + timedelta(days=day)).date()
        scheduled = self._run(
            self._as_user(
                self.calbot.scheduling.schedule(
                    ACCOUNT, event_id, {"config": config}, occurrence_date=on_date
                )
            )
        )
        if scheduled is not None:
            self.bot_configs[scheduled[0].bot_id] = scheduled[0].bot_config

    @rule(meeting=meetings, copy=st.integers(0, 1))
    def auto_reschedule(self, meeting: str, copy: int) -> None:
        """POST /auto-reschedule: a bot for the series' occurrence after its latest bot."""
        homes = [c for c, _ in self._resources(meeting)] or [CAL]
        event_id = event_id_for(ACCOUNT, homes[copy % len(homes)], meeting)
        bot = self._run(self._as_user(self.calbot.scheduling.auto_reschedule(ACCOUNT, event_id)))
        if bot is not None:
            self.bot_configs[bot.bot_id] = bot.bot_config

    @rule(meeting=meetings, copy=st.integers(0, 1))
    def unschedule(self, meeting: str, copy: int) -> None:
        homes = [c for c, _ in self._resources(meeting)] or [CAL]
        event_id = event_id_for(ACCOUNT, homes[copy % len(homes)], meeting)
        self._run(self._as_user(self.calbot.scheduling.unschedule(ACCOUNT, event_id)))

    @rule(pick=st.integers(0, 7), config=st.integers(4, 6))
    def patch_bot(self, pick: int, config: int) -> None:
        """PATCH /scheduled_bots/{bot_id}: a new bot_config for one pending bot."""

        async def patch() -> None:
            pending = [b for b in await self.calbot.bots() if is_pending(b.status)]
            if not pending:
                return
            bot = pending[pick % len(pending)]
            changes = BotChanges(frozenset({"bot_config"}), bot_config={"config": config})
            patched = await self._as_user(
                self.calbot.scheduling.update_bot(ACCOUNT, bot.bot_id, changes)
            )
            if patched is not None:
                self.bot_configs[bot.bot_id] = patched.bot_config

        self._run(patch())

    @rule(enabled=st.booleans())
    def switch_auto_schedule(self, enabled: bool) -> None:
        """POST /auto-schedule/enable (which runs a pass at once) or /disable."""
        auto_schedule = self.calbot.auto_schedule
        if enabled:
            self._run(auto_schedule.enable(ACCOUNT, {"config": "auto"}))
        else:
            self._run(auto_schedule.disable(ACCOUNT))
        self.auto_schedule_enabled = enabled

    @precondition(lambda self: self.auto_schedule_enabled)
    @rule()
    def disable_auto_schedule_during_a_pass(self) -> None:
        """The user disables auto-scheduling while a periodic pass runs (the pass yields to the
        event loop between reading the settings and writing them back)."""

        async def both() -> None:
            auto_schedule = self.calbot.auto_schedule
            await asyncio.gather(auto_schedule.run_pass(), auto_schedule.disable(ACCOUNT))

        self._run(both())
        self.auto_schedule_enabled = False

    # -- time -----------------------------------------------------------------------------------

    @rule(minutes=st.sampled_from([5, 30, 120, 480, 1560]))
    def advance_clock(self, minutes: int) -> None:
        """Time passes: bots launch at their join_at, series move on, auto-scheduling runs."""
        self._run(self._advance(self.clock.now() + timedelta(minutes=minutes)))

    async def _advance(self, until: datetime) -> None:
        stores = self.calbot.stores
        while True:
            await self._periodic_passes()
            now = self.clock.now()
            due = [
                moment
                for moment in (
                    await stores.bots.next_join_at(),
                    await stores.series.next_series_check_at(),
                )
                if moment is not None and now < moment <= until
            ]
            if not due:
                break
            self.clock.set(min(due))
        self.clock.set(until)
        await self._periodic_passes()

    async def _periodic_passes(self) -> None:
        await self._launch_due()
        await self.calbot.scheduling.advance_due_series()
        await self.calbot.auto_schedule.run_pass()
        await self._launch_due()

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def lifecycle_holds(self) -> None:
        problems = self._runner.run(self._problems())
        assert not problems, "\n".join(problems)

    async def _problems(self) -> list[str]:
        problems = [launch.problem for launch in self.launches if launch.problem is not None]
        settings = await self.calbot.auto_schedule.settings(ACCOUNT)
        if settings.enabled != self.auto_schedule_enabled:
            problems.append(
                f"auto-scheduling is {'on' if settings.enabled else 'off'} although the user "
                f"turned it {'on' if self.auto_schedule_enabled else 'off'}"
            )
        bots = await self.calbot.bots()
        pending = [bot for bot in bots if is_pending(bot.status)]
        if self.connected is None:
            return problems + [f"{shown(bot)} is pending after a disconnect" for bot in pending]
        # What calbot has not heard of yet (a lost notification, a deletion before the 410
        # that reveals it) is not held against it, calendar by calendar.
        in_step = [bot for bot in pending if bot.calendar_id not in self.unsynced]
        meetings = self._google_meetings()
        problems += self._pending_problems(in_step, meetings)
        if self.auto_schedule_enabled:
            problems += self._liveness_problems(bots, meetings)
        return problems

    async def _message_problems(self, bots: list[ScheduledBot]) -> list[str]:
        """Every status change of a bot told exactly once: one `bot.scheduled`, and one
        message of its final status once it has one (none while it is pending)."""
        told: dict[str, list[str]] = {}
        for message in await self.calbot.stores.outbox.unrouted_messages(1_000_000):
            if message.type.startswith("bot."):
                told.setdefault(message.data["bot"]["bot_id"], []).append(message.type)
        problems = []
        for bot in bots:
            types = told.get(bot.bot_id, [])
            final = [t for t in types if t in FINAL_MESSAGES.values()]
            expected = [FINAL_MESSAGES[bot.status]] if bot.status in FINAL_MESSAGES else []
            if types.count("bot.scheduled") != 1 or final != expected:
                problems.append(f"{shown(bot)} was told as {sorted(types)}")
        return problems

    def _pending_problems(
        self, pending: list[ScheduledBot], meetings: dict[tuple[str, str], GoogleMeeting]
    ) -> list[str]:
        problems: list[str] = []
        now = self.clock.now()
        seen: dict[Hashable, ScheduledBot] = {}
        for bot in pending:
            same = identity(bot.calendar_id, bot.google_event_id, bot.occurrence_start)
            if same in seen:
                problems.append(
                    f"two pending bots for one occurrence: {shown(seen[same])}, {shown(bot)}"
                )
            seen[same] = bot
            expected_config = self.bot_configs.get(bot.bot_id)
            if expected_config is not None and bot.bot_config != expected_config:
                problems.append(
                    f"{shown(bot)} has bot_config {bot.bot_config}, the user set {expected_config}"
                )
            occurrence, problem = self._occurrence_of(bot, meetings)
            if occurrence is None:
                problems.append(f"{shown(bot)} is pending for {problem}")
                continue
            if occurrence.end <= now:
                problems.append(f"{shown(bot)} is pending for an occurrence that has ended")
            times = (bot.occurrence_start, bot.occurrence_end, bot.join_at)
            expected = (occurrence.start, occurrence.end, occurrence.start - JOIN_LEAD)
            if times != expected:
                problems.append(
                    f"{shown(bot)} has (start, end, join_at) "
                    f"{tuple(f'{t:%d %H:%M}' for t in times)}, Google says "
                    f"{tuple(f'{t:%d %H:%M}' for t in expected)}"
                )
            if bot.meeting_link != occurrence.link:
                problems.append(
                    f"{shown(bot)} has link {bot.meeting_link}, Google {occurrence.link}"
                )
        return problems

    def _liveness_problems(
        self, bots: list[ScheduledBot], meetings: dict[tuple[str, str], GoogleMeeting]
    ) -> list[str]:
        """With auto-scheduling on, every live occurrence soon enough has a bot, unless the
        user cancelled it or it ran since the account (re)connected."""
        covered: set[Hashable] = set()
        for bot in bots:
            if bot.status is BotStatus.CANCELLED and bot.bot_id in self.bots_before_reconnect:
                continue  # cancelled before a disconnect: "as if it had never connected"
            occurrence, _ = self._occurrence_of(bot, meetings)
            if occurrence is not None:
                covered.add(meeting_of(occurrence))
        now = self.clock.now()
        return [
            f"{occurrence.google_event_id} on {occurrence.calendar_id} at "
            f"{occurrence.start:%d %H:%M} has no bot although auto-scheduling is on"
            for meeting in meetings.values()
            for occurrence in meeting.occurrences.values()
            if occurrence.link is not None
            and occurrence.calendar_id not in self.unsynced
            and occurrence.end > now
            and occurrence.start < now + LOOKAHEAD - LIVENESS_MARGIN
            and meeting_of(occurrence) not in covered
        ]


# -- the runs -------------------------------------------------------------------------------------

# Fixed seeds (derandomize), no example database (every run explores the same sequences), and
# budgets measured to keep this file around 40 s on two cores when it passes (memory ~13 s,
# SQLite ~6 s, DynamoDB on moto ~18 s; `pytest --durations=0` shows them).
ALL_PHASES = tuple(Phase)
# A failing DynamoDB example is not shrunk: one replay costs seconds there, so shrinking would
# take many minutes; the same sequence shrinks in moments on memory.
UNSHRUNK = (Phase.explicit, Phase.reuse, Phase.generate)


def run_lifecycle(
    open_stores: StoresFactory,
    name: str,
    *,
    examples: int,
    steps: int,
    phases: tuple[Phase, ...] = ALL_PHASES,
) -> None:
    machine = type(f"LifecycleOn{name}", (Lifecycle,), {"open_stores": open_stores})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            derandomize=True,
            database=None,
            deadline=None,
            phases=phases,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_lifecycle_on_memory() -> None:
    run_lifecycle(on_memory, "Memory", examples=600, steps=30)


def test_lifecycle_on_sqlite() -> None:
    run_lifecycle(on_sqlite, "Sqlite", examples=60, steps=30)


def test_lifecycle_on_dynamodb(aws_endpoint: str) -> None:
    run_lifecycle(on_dynamodb(aws_endpoint), "Dynamodb", examples=3, steps=30, phases=UNSHRUNK)
