"""A sync that changes one meeting costs the same on a small and a large calendar (issue 13).

What a user waits on after a push notification (or a GET /events that syncs first) is the sync
plus what follows it: bots following their meetings, new meetings getting a bot. Those read only
what the sync changed; the calendar's other meetings are neither read nor walked again. The
stores are wrapped to count the events and bots they hand out, and the count for a one-change
sync is compared across calendar sizes. The bots still do what they must (follow the moved
meeting, a new meeting gets one), and a full resync still settles meetings that vanished.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from app.adapters.memory import memory_stores
from app.domain import BotStatus, ConnectionStatus
from tests.fakes import FakeClock
from tests.unit.calbot import ACCOUNT, CAL, JOIN_LEAD, NOW, Calbot, at, meeting, wire

AUTO = {"bot_name": "Auto"}


class Counted:
    """A store whose reads are counted: how many events or bots (or overrides) they return."""

    def __init__(self, store: object) -> None:
        self._store = store
        self.handed_out = 0

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if not inspect.iscoroutinefunction(found):
            return found

        async def counted(*args: Any, **kwargs: Any) -> Any:
            result = await found(*args, **kwargs)
            self.handed_out += _size(result)
            return result

        return counted


def _size(result: object) -> int:
    if isinstance(result, dict):
        return sum(_size(value) for value in result.values()) or len(result)
    if isinstance(result, list | tuple | set):
        return len(result)
    return 0 if result is None or isinstance(result, bool | int) else 1


def counted_calbot() -> tuple[Calbot, Callable[[], int]]:
    base = memory_stores()
    events, bots = Counted(base.events), Counted(base.bots)
    calbot = wire(FakeClock(NOW), replace(base, events=events, bots=bots))
    return calbot, lambda: events.handed_out + bots.handed_out


async def calendar_of(size: int, *extra: dict[str, Any]) -> tuple[Calbot, Callable[[], int]]:
    """A connected calendar of `size` meetings within the lookahead, each with its auto bot."""
    calbot, reads = counted_calbot()
    for number in range(size):
        calbot.google.put_event(CAL, meeting(f"m{number}", at(1 + number / 10), at(2)))
    for resource in extra:
        calbot.google.put_event(CAL, resource)
    await calbot.connect()
    await calbot.auto_schedule.enable(ACCOUNT, AUTO)
    await calbot.refresh()
    assert len(await calbot.bots()) == size + len(extra)
    return calbot, reads


async def reads_of(calbot: Calbot, reads: Callable[[], int], change: Iterable[Any]) -> int:
    for resource in change:
        calbot.google.put_event(CAL, resource)
    before = reads()
    await calbot.refresh()
    return reads() - before


async def test_moving_one_meeting_reads_as_much_on_a_large_calendar_as_on_a_small_one() -> None:
    counts = []
    for size in (5, 80):
        calbot, reads = await calendar_of(size)
        counts.append(await reads_of(calbot, reads, [meeting("m3", at(5), at(6))]))
        [bot] = [b for b in await calbot.bots() if b.google_event_id == "m3"]
        assert (bot.occurrence_start, bot.join_at) == (at(5), at(5) - JOIN_LEAD)
    assert counts[0] == counts[1], f"store reads for one change: {counts}"


async def test_a_new_meeting_gets_its_bot_without_walking_the_calendar() -> None:
    counts = []
    for size in (5, 80):
        calbot, reads = await calendar_of(size)
        counts.append(await reads_of(calbot, reads, [meeting("new", at(3), at(4))]))
        new = [b for b in await calbot.bots() if b.google_event_id == "new"]
        assert [(b.status, b.occurrence_start) for b in new] == [(BotStatus.SCHEDULED, at(3))]
    assert counts[0] == counts[1], f"store reads for one new meeting: {counts}"


async def test_a_one_change_sync_does_not_count_as_the_accounts_auto_schedule_pass() -> None:
    calbot, reads = await calendar_of(3)
    calbot.clock.advance(600)
    await reads_of(calbot, reads, [meeting("new", at(3), at(4))])
    settings = await calbot.auto_schedule.settings(ACCOUNT)
    assert settings.last_run_at == NOW  # the whole pass that enabling ran, not this one


async def test_a_full_resync_still_settles_a_meeting_that_vanished_without_a_trace() -> None:
    calbot, _ = await calendar_of(4)
    calbot.google.forget_event(CAL, "m2")
    calbot.google.expire_sync_tokens = True
    await calbot.refresh()
    by_meeting = {b.google_event_id: b.status for b in await calbot.bots()}
    assert by_meeting["m2"] is BotStatus.CANCELLED
    assert {status for gid, status in by_meeting.items() if gid != "m2"} == {BotStatus.SCHEDULED}


async def test_a_full_sync_does_not_read_back_every_meeting_it_stored() -> None:
    """After a full sync, only series (and meetings with bots) are read again, not each
    one-off meeting the sync has just written."""
    counts = []
    for size in (5, 80):
        calbot, reads = counted_calbot()
        for number in range(size):
            calbot.google.put_event(CAL, meeting(f"m{number}", at(1 + number), at(2 + number)))
        await calbot.connect()
        before = reads()
        outcome = await calbot.refresh()
        assert (outcome.full_sync, len(outcome.upserted_ids)) == (True, size)
        counts.append(reads() - before)
    assert counts[0] == counts[1], f"store reads after a full sync: {counts}"


async def test_changed_meetings_get_no_bot_once_the_account_is_no_longer_connected() -> None:
    calbot, _ = await calendar_of(2)
    calbot.google.put_event(CAL, meeting("new", at(3), at(4)))
    await calbot.sync.sync_calendar(ACCOUNT, CAL)  # stored; a refresh would schedule it next
    new = await calbot.event_id("new")
    await calbot.stores.connections.set_connection_status(ACCOUNT, ConnectionStatus.REVOKED)

    assert await calbot.auto_schedule.run_for_events(ACCOUNT, [new]) == 0

    await calbot.stores.connections.set_connection_status(ACCOUNT, ConnectionStatus.ACTIVE)
    assert await calbot.auto_schedule.run_for_events(ACCOUNT, [new]) == 1
