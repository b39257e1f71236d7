"""The one decision (app/services/decisions.py): every explain code, each with its sentence,
from a table of situations."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from app.domain import (
    AttendeeFacts,
    AutoScheduleMode,
    AutoScheduleRules,
    BotSource,
    BotStatus,
    Event,
    EventStatus,
    MeetingLink,
    Occurrence,
    OccurrenceKey,
    Platform,
    ResponseStatus,
    ScheduledBot,
)
from app.services.decisions import (
    RULES_CHANGED,
    Decision,
    OccurrenceView,
    ReasonCode,
    Situation,
    Verdict,
    decide,
)
from app.services.rules import RuleSet

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)  # a Wednesday
START = datetime(2026, 12, 2, 9, tzinfo=UTC)  # the Wednesday after, 10:00 in Berlin
LINK = MeetingLink("https://meet.google.com/abc-defg-hij", Platform.GOOGLE_MEET)
EVENT = Event(
    event_id="evt_1",
    calendar_id="me@example.com",
    google_event_id="g1",
    summary="Customer call",
    status=EventStatus.CONFIRMED,
    start_time=START,
    end_time=START + timedelta(hours=1),
    all_day=False,
    time_zone="Europe/Berlin",
    meeting_link=LINK,
    attendees=AttendeeFacts(
        organizer_domain="example.com", domains=("customer.example", "example.com"), people=3
    ),
)


def _view(**changes: object) -> OccurrenceView:
    event = dataclasses.replace(EVENT, **changes)  # type: ignore[arg-type]
    return OccurrenceView(
        event,
        OccurrenceKey.single(),
        Occurrence(event.start_time, event.start_time, event.end_time),
        event.meeting_link,
        event.attendees,
    )


def _situation(rules: AutoScheduleRules | None = None, **changes: object) -> Situation:
    base = Situation(
        rules=RuleSet.of(
            rules or AutoScheduleRules(),
            account_email="me@example.com",
            primary_zone="Europe/Berlin",
        ),
        enabled=True,
        paused_until=None,
        now=NOW,
        lookahead_end=NOW + timedelta(days=30),
        join_lead=timedelta(minutes=3),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _bot(
    status: BotStatus, source: BotSource = BotSource.MANUAL, error: str | None = None
) -> ScheduledBot:
    return ScheduledBot(
        bot_id="bot_1",
        account_id="acc",
        event_id="evt_1",
        calendar_id=EVENT.calendar_id,
        google_event_id="g1",
        occurrence_key=OccurrenceKey.single(),
        occurrence_start=START,
        occurrence_end=START + timedelta(hours=1),
        join_at=START - timedelta(minutes=3),
        meeting_link=LINK.url,
        meeting_platform=LINK.platform,
        bot_config={},
        source=source,
        status=status,
        created_at=NOW,
        updated_at=NOW,
        last_error=error,
    )


Case = Callable[[], Verdict]
DECLINED = dataclasses.replace(EVENT.attendees, self_response=ResponseStatus.DECLINED)

CASES: list[tuple[ReasonCode, Decision, Case, str]] = [
    (
        ReasonCode.WILL_SCHEDULE,
        Decision.SCHEDULE,
        lambda: decide(_view(), _situation()),
        "Will get a bot now, joining at 2026-12-02 08:57 UTC.",
    ),
    (
        ReasonCode.HAS_BOT,
        Decision.HAS_BOT,
        lambda: decide(_view(), _situation(), _bot(BotStatus.SCHEDULED)),
        "It already has a bot (manual, scheduled).",
    ),
    (
        ReasonCode.NO_MEETING_LINK,
        Decision.SKIP,
        lambda: decide(_view(meeting_link=None), _situation()),
        "Skipped: no meeting link was found in the event.",
    ),
    (
        ReasonCode.UNSAFE_MEETING_LINK,
        Decision.SKIP,
        lambda: decide(_view(meeting_link=None, unsafe_link=True), _situation()),
        "not a join link calbot sends bots to",
    ),
    (
        ReasonCode.CANCELLED,
        Decision.SKIP,
        lambda: decide(_view(status=EventStatus.CANCELLED), _situation()),
        "Skipped: the meeting on 2 Dec was cancelled in Google.",
    ),
    (
        ReasonCode.ENDED,
        Decision.SKIP,
        lambda: decide(_view(), _situation(now=START + timedelta(hours=2))),
        "Skipped: the meeting on 2 Dec has ended.",
    ),
    (
        ReasonCode.DECLINED,
        Decision.SKIP,
        lambda: decide(_view(attendees=DECLINED, self_declined=True), _situation()),
        "Skipped: you declined this meeting on 2 Dec.",
    ),
    (
        ReasonCode.OUTSIDE_LOOKAHEAD,
        Decision.SCHEDULE,
        lambda: decide(_view(), _situation(lookahead_end=NOW + timedelta(days=1))),
        "It starts after the lookahead; it is looked at from 2026-12-01 09:00 UTC.",
    ),
    (
        ReasonCode.AUTO_SCHEDULE_DISABLED,
        Decision.SKIP,
        lambda: decide(_view(), _situation(enabled=False)),
        "Skipped: auto-scheduling is turned off.",
    ),
    (
        ReasonCode.PAUSED,
        Decision.SKIP,
        lambda: decide(_view(), _situation(paused_until=START)),
        "Skipped: bots are paused until 2026-12-02 09:00 UTC.",
    ),
    (
        ReasonCode.EXCLUDED_BY_RULE,
        Decision.SKIP,
        lambda: decide(_view(), _situation(AutoScheduleRules(title_exclude=("customer",)))),
        'Skipped by the rule title_exclude: its title contains "customer".',
    ),
    (
        ReasonCode.NEVER_RECORD_DOMAIN,
        Decision.SKIP,
        lambda: decide(
            _view(), _situation(AutoScheduleRules(never_record_domains=("Customer.example",)))
        ),
        "Never recorded: someone from Customer.example is invited (the do-not-record guard).",
    ),
    (
        ReasonCode.MODE_NEVER,
        Decision.SKIP,
        lambda: decide(_view(auto_schedule_mode=AutoScheduleMode.NEVER), _situation()),
        "Skipped: this meeting's auto-schedule mode is never.",
    ),
    (
        ReasonCode.MODE_ALWAYS,
        Decision.SCHEDULE,
        lambda: decide(
            _view(auto_schedule_mode=AutoScheduleMode.ALWAYS, attendees=DECLINED),
            _situation(AutoScheduleRules(weekdays=(6, 7))),
        ),
        "This meeting's auto-schedule mode is always: rules skipped.",
    ),
    (
        ReasonCode.CANCELLED_BY_USER,
        Decision.SKIP,
        lambda: decide(_view(), _situation(), _bot(BotStatus.CANCELLED)),
        "Skipped: you cancelled the bot of the meeting on 2 Dec; auto-scheduling does not "
        "bring it back.",
    ),
    (
        ReasonCode.RECURRENCE_DISABLED,
        Decision.SKIP,
        lambda: decide(
            _view(recurrence=("RRULE:FREQ=WEEKLY",), recurring_enabled=False), _situation()
        ),
        "Skipped: scheduling of this series' occurrences is turned off (toggle-recurrence).",
    ),
]


def test_the_table_covers_every_code() -> None:
    assert {code for code, *_ in CASES} == set(ReasonCode)


@pytest.mark.parametrize(
    ("code", "decision", "case", "sentence"), CASES, ids=[code.value for code, *_ in CASES]
)
def test_each_code_with_its_decision_and_sentence(
    code: ReasonCode, decision: Decision, case: Case, sentence: str
) -> None:
    verdict = case()
    assert verdict.decision is decision
    details = {reason.code: reason.detail for reason in verdict.reasons}
    assert code in details, verdict.reasons
    assert sentence in details[code]


def test_every_reason_that_applies_is_given_and_the_first_skip_leads() -> None:
    rules = AutoScheduleRules(weekdays=(6, 7), title_include=("standup",))
    verdict = decide(
        _view(attendees=DECLINED, self_declined=True), _situation(rules, enabled=False)
    )
    assert [r.code for r in verdict.reasons] == [
        ReasonCode.AUTO_SCHEDULE_DISABLED,
        ReasonCode.DECLINED,
        ReasonCode.EXCLUDED_BY_RULE,
        ReasonCode.EXCLUDED_BY_RULE,
    ]
    assert verdict.reason.code is ReasonCode.AUTO_SCHEDULE_DISABLED


def test_the_guard_wins_over_mode_always() -> None:
    verdict = decide(
        _view(auto_schedule_mode=AutoScheduleMode.ALWAYS),
        _situation(AutoScheduleRules(never_record_domains=("example.com",))),
    )
    assert verdict.decision is Decision.SKIP
    assert verdict.reason.code is ReasonCode.NEVER_RECORD_DOMAIN


def test_a_bot_the_rules_cancelled_lets_the_rules_decide_again() -> None:
    cancelled = _bot(BotStatus.CANCELLED, BotSource.AUTO_SCHEDULE, RULES_CHANGED + "title")
    assert decide(_view(), _situation(), cancelled).decision is Decision.SCHEDULE


@pytest.mark.parametrize(
    ("rules", "passes"),
    [
        (AutoScheduleRules(attendees="internal_only"), True),  # the listed ones are internal
        (AutoScheduleRules(attendees="external"), True),  # someone unlisted may be external
        (AutoScheduleRules(min_attendees=10), True),  # more may be invited than listed
        (AutoScheduleRules(max_attendees=1), False),  # two are listed already
    ],
)
def test_omitted_attendees_pass_unless_the_listed_ones_break_the_rule(
    rules: AutoScheduleRules, passes: bool
) -> None:
    facts = AttendeeFacts(domains=("example.com",), people=2, omitted=True)
    verdict = decide(_view(attendees=facts), _situation(rules))
    assert (verdict.decision is Decision.SCHEDULE) is passes
    assert "checked on those it listed only" in verdict.reason.detail
