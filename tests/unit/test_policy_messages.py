"""The webhook messages of the rules, the per-event policy, the pause and the do-not-record guard
(CONTRACT sections 7 and 8): each cause writes exactly the messages it should, with the
contract's `reason`, and nothing for the bots it leaves alone.

Memory stores, table-driven like `test_bot_messages.py`: each case arranges meetings and bots,
then does one thing (as the route would); the messages that thing wrote are compared.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

import app.identity
from app.bot_changes import REASONS, cancelled
from app.bot_payload import bot_payload
from app.domain import (
    AutoScheduleMode,
    AutoScheduleRules,
    BotCancellation,
    BotStatus,
    OutboxMessage,
    never_record_cancellation,
    paused_cancellation,
)
from app.services.guard import DoNotRecordGuard
from app.services.policy import PolicyService
from tests.unit.calbot import ACCOUNT, CAL, NOW, Calbot, at, meeting

AUTO = {"bot_name": "Auto"}
MINE = {"bot_name": "Mine"}
LEGAL: dict[str, Any] = {
    "attendees": [
        {"email": "user@example.com", "self": True, "responseStatus": "accepted"},
        {"email": "counsel@eu.legal.example", "responseStatus": "accepted"},
    ]
}
# Excludes the meeting "m" ("Meeting m"), keeps "other".
WITHOUT_M = AutoScheduleRules(title_exclude=("meeting m",))


def policy_of(calbot: Calbot) -> PolicyService:
    return PolicyService(
        auto_schedule=calbot.stores.auto_schedule,
        events=calbot.stores.events,
        bots=calbot.stores.bots,
        scheduler=calbot.scheduler,
        sweep=calbot.auto_schedule,
        guard=DoNotRecordGuard(calbot.stores.auto_schedule),
        clock=calbot.clock,
    )


async def outbox(calbot: Calbot) -> list[OutboxMessage]:
    return await calbot.stores.outbox.unrouted_messages(10_000)


def summary(message: OutboxMessage) -> tuple[Any, ...]:
    """(type, google event id of the bot, reason where the type has one)."""
    data = message.data
    google_id = data["bot"]["google_event_id"] if "bot" in data else None
    return (message.type, google_id, *([data["reason"]] if "reason" in data else []))


async def enable(calbot: Calbot, rules: AutoScheduleRules | None = None) -> None:
    """What `POST /auto-schedule/enable` does: the rules' pass, then the guard over every bot."""
    await calbot.auto_schedule.enable(ACCOUNT, AUTO, rules)
    await policy_of(calbot).enforce_guard(ACCOUNT)


async def synced(calbot: Calbot, *resources: dict[str, Any]) -> None:
    for resource in resources:
        calbot.google.put_event(CAL, resource)
    await calbot.connect()
    await calbot.refresh()


async def schedule(calbot: Calbot, google_id: str) -> None:
    await calbot.scheduling.schedule(ACCOUNT, await calbot.event_id(google_id), MINE)


# -- arrangements -----------------------------------------------------------------------------


async def auto_bots(calbot: Calbot) -> None:
    """Meetings "m" (+1 h) and "other" (+3 h), each with an auto-scheduled bot."""
    await synced(calbot, meeting("m", at(1), at(2)), meeting("other", at(3), at(4)))
    await enable(calbot)


async def auto_bots_then_rules_without_m(calbot: Calbot) -> None:
    await auto_bots(calbot)
    await enable(calbot, WITHOUT_M)


async def rules_without_m(calbot: Calbot) -> None:
    """ "m" excluded by the rules from the start: only "other" has a bot."""
    await synced(calbot, meeting("m", at(1), at(2)), meeting("other", at(3), at(4)))
    await enable(calbot, WITHOUT_M)


async def manual_bots(calbot: Calbot) -> None:
    """ "m" at +1 h and "other" at +100 h, each with a bot scheduled by hand."""
    await synced(calbot, meeting("m", at(1), at(2)), meeting("other", at(100), at(101)))
    await schedule(calbot, "m")
    await schedule(calbot, "other")


async def paused_then_scheduled(calbot: Calbot) -> None:
    """Paused until +5 h, then "m" scheduled by hand (the pause did not see it)."""
    await synced(calbot, meeting("m", at(1), at(2)))
    await policy_of(calbot).pause(ACCOUNT, at(5))
    await schedule(calbot, "m")


async def manual_bot_of_a_legal_meeting(calbot: Calbot) -> None:
    await synced(calbot, meeting("m", at(1), at(2), **LEGAL), meeting("other", at(3), at(4)))
    await schedule(calbot, "m")
    await schedule(calbot, "other")


async def guarded_manual_bots(calbot: Calbot) -> None:
    """The guard names legal.example; "m" and "other" have bots scheduled by hand."""
    await manual_bots(calbot)
    await enable(calbot, AutoScheduleRules(never_record_domains=("legal.example",)))


async def guarded_auto_bots(calbot: Calbot) -> None:
    """The guard names legal.example; "m" and "other" have auto-scheduled bots."""
    await auto_bots(calbot)
    await enable(calbot, AutoScheduleRules(never_record_domains=("legal.example",)))


async def auto_bots_of_a_legal_meeting(calbot: Calbot) -> None:
    await synced(calbot, meeting("m", at(1), at(2), **LEGAL), meeting("other", at(3), at(4)))
    await enable(calbot)


# -- causes -----------------------------------------------------------------------------------


async def set_m_never(calbot: Calbot) -> None:
    await policy_of(calbot).set_mode(ACCOUNT, await calbot.event_id("m"), AutoScheduleMode.NEVER)


async def set_m_always(calbot: Calbot) -> None:
    await policy_of(calbot).set_mode(ACCOUNT, await calbot.event_id("m"), AutoScheduleMode.ALWAYS)


async def pause_for_two_days(calbot: Calbot) -> None:
    await policy_of(calbot).pause(ACCOUNT, at(48))


async def launch_m(calbot: Calbot) -> None:
    calbot.clock.set(at(1))
    await calbot.launcher.launch_due()
    await calbot.launcher.wait_for_launches()


async def enable_with_the_guard(calbot: Calbot) -> None:
    await enable(calbot, AutoScheduleRules(never_record_domains=("legal.example",)))


async def sync_adds_a_legal_attendee_to_m(calbot: Calbot) -> None:
    calbot.google.put_event(CAL, meeting("m", at(1), at(2), **LEGAL))
    await calbot.refresh()


async def enable_without_m(calbot: Calbot) -> None:
    await enable(calbot, WITHOUT_M)


async def enable_with_default_rules(calbot: Calbot) -> None:
    await enable(calbot, AutoScheduleRules())


async def enable_with_the_same_rules(calbot: Calbot) -> None:
    await enable(calbot, WITHOUT_M)


@dataclass(frozen=True)
class Case:
    arrange: Callable[[Calbot], Awaitable[None]]
    cause: Callable[[Calbot], Awaitable[None]]
    expected: list[tuple[Any, ...]]


CASES = {
    "mode never": Case(auto_bots, set_m_never, [("bot.cancelled", "m", "mode_never")]),
    "pause": Case(manual_bots, pause_for_two_days, [("bot.cancelled", "m", "paused")]),
    "pause caught at launch": Case(
        paused_then_scheduled, launch_m, [("bot.cancelled", "m", "paused")]
    ),
    "guard at enable, manual bot": Case(
        manual_bot_of_a_legal_meeting,
        enable_with_the_guard,
        [("bot.cancelled", "m", "never_record_domain")],
    ),
    "guard at enable, auto bot": Case(
        auto_bots_of_a_legal_meeting,
        enable_with_the_guard,
        [("bot.cancelled", "m", "never_record_domain")],
    ),
    "guard at sync": Case(
        guarded_manual_bots,
        sync_adds_a_legal_attendee_to_m,
        [("bot.cancelled", "m", "never_record_domain")],
    ),
    "guard at sync, auto bot": Case(
        guarded_auto_bots,
        sync_adds_a_legal_attendee_to_m,
        [("bot.cancelled", "m", "never_record_domain")],
    ),
    "rules change": Case(
        auto_bots, enable_without_m, [("bot.cancelled", "m", "unscheduled_by_user")]
    ),
    "rules change, nothing changed": Case(rules_without_m, enable_with_the_same_rules, []),
    "rules bring a bot back": Case(
        auto_bots_then_rules_without_m, enable_with_default_rules, [("bot.scheduled", "m")]
    ),
    "mode always": Case(rules_without_m, set_m_always, [("bot.scheduled", "m")]),
}


@pytest.mark.parametrize("name", CASES)
async def test_each_policy_cause_writes_its_message_with_its_reason(
    calbot: Calbot, name: str
) -> None:
    case = CASES[name]
    await case.arrange(calbot)
    before = {m.message_id for m in await outbox(calbot)}

    await case.cause(calbot)

    written = [m for m in await outbox(calbot) if m.message_id not in before]
    assert sorted(map(summary, written)) == sorted(case.expected)
    for message in written:
        stored = await calbot.stores.bots.get_bot(ACCOUNT, message.data["bot"]["bot_id"])
        assert stored is not None
        assert message.data["bot"] == bot_payload(stored)  # as GET /scheduled_bots shows it


async def test_a_bot_cancelled_by_the_rules_and_brought_back_is_told_three_times(
    calbot: Calbot,
) -> None:
    await auto_bots(calbot)
    await enable_without_m(calbot)
    await enable_with_default_rules(calbot)

    told = [summary(m) for m in await outbox(calbot) if m.data["bot"]["google_event_id"] == "m"]

    assert sorted(told) == sorted(
        [
            ("bot.scheduled", "m"),
            ("bot.cancelled", "m", "unscheduled_by_user"),
            ("bot.scheduled", "m"),
        ]
    )


# -- every cancellation calbot makes by itself has a contract reason ---------------------------


def _cancellations() -> dict[str, BotCancellation]:
    constants = {
        name: value
        for name, value in vars(app.identity).items()
        if isinstance(value, BotCancellation)
    }
    until: datetime = NOW
    return {
        **constants,
        "paused_cancellation": paused_cancellation(until),
        "never_record_cancellation": never_record_cancellation("legal.example"),
    }


def test_the_cancellations_are_found() -> None:
    assert {"MEETING_CANCELLED", "LINK_REMOVED", "MODE_NEVER", "DISCONNECTED"} <= set(
        _cancellations()
    )


@pytest.mark.parametrize("name", _cancellations())
def test_every_cancellation_maps_to_a_contract_reason(name: str) -> None:
    why = _cancellations()[name]

    assert why.reason in REASONS
    assert cancelled(why.reason).reason == why.reason  # BotChange refuses an unknown code
    assert why.sentence.endswith(".")


def test_a_bot_change_refuses_a_reason_the_contract_does_not_list() -> None:
    with pytest.raises(ValueError, match="not a reason code"):
        cancelled("rules_changed")


async def test_an_auto_bot_the_guard_cancels_at_enable_names_the_guard(calbot: Calbot) -> None:
    await auto_bots_of_a_legal_meeting(calbot)

    await enable_with_the_guard(calbot)

    [bot] = [b for b in await calbot.bots() if b.google_event_id == "m"]
    assert bot.last_error is not None
    assert "legal.example" in bot.last_error.lower()


async def test_rules_bringing_a_meeting_back_leave_a_bot_scheduled_by_hand_on_its_other_copy(
    calbot: Calbot,
) -> None:
    team = "team@group.calendar.google.com"
    calbot.google.add_calendar(team)
    shared = {"iCalUID": "shared-meeting@google.com"}
    calbot.google.put_event(team, meeting("on-team", at(1), at(2), **shared))
    await synced(calbot, meeting("on-primary", at(1), at(2), **shared))
    await calbot.refresh(team)
    await enable(calbot)
    [auto] = await calbot.bots()
    other = CAL if auto.calendar_id == team else team
    # The rules leave the auto bot's calendar: it is cancelled, and the other copy gets one,
    # which the user replaces by a bot of their own.
    await enable(calbot, AutoScheduleRules(calendar_ids=(other,)))
    [taken_over] = [b for b in await calbot.bots() if b.status is BotStatus.SCHEDULED]
    await calbot.scheduling.cancel_bot(ACCOUNT, taken_over.bot_id)
    other_google_id = "on-primary" if other == CAL else "on-team"
    mine, _ = await calbot.scheduling.schedule(
        ACCOUNT, await calbot.event_id(other_google_id, other), MINE
    )
    before = {m.message_id for m in await outbox(calbot)}

    await enable(calbot, AutoScheduleRules())

    assert [m for m in await outbox(calbot) if m.message_id not in before] == []
    stored = await calbot.stores.bots.get_bot(ACCOUNT, mine.bot_id)
    assert stored is not None
    assert (stored.status, stored.bot_config) == (BotStatus.SCHEDULED, MINE)
    assert [b.bot_id for b in await calbot.bots() if b.status is BotStatus.SCHEDULED] == [
        mine.bot_id
    ]
