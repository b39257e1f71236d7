"""Recurrence lines from the wild: what calbot refuses, with which sentence, and what no rule,
however odd, can cost.

The work bound is measured in CPU time (time.process_time), so a loaded machine does not make
it flaky; 50 ms is generous (a few ms is typical) yet far below the seconds to a minute such
rules took when dateutil looked for a match until year 9999.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from app.domain import Occurrence, SeriesSpec
from app.services.recurrence import (
    HORIZON_YEARS,
    RecurrenceError,
    next_occurrence,
    occurrence_after,
    occurrence_on_date,
    occurrences_between,
    series_problem,
)

NEW_YORK = "America/New_York"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
WEEK = timedelta(days=7)
CPU_BOUND = 0.050
MEMORY_BOUND = 4 * 1024 * 1024

_unique = iter(range(1, 1_000_000))


def series(*lines: str, start: str = "2026-11-02 09:00", zone: str = NEW_YORK) -> SeriesSpec:
    """A series whose first start differs by a few seconds from every other one made here, so
    each test parses its own (recurrence keeps parsed series in a cache)."""
    first = datetime.fromisoformat(start).replace(tzinfo=ZoneInfo(zone))
    first += timedelta(microseconds=next(_unique))  # dropped by recurrence, not by the cache
    return SeriesSpec(lines, first, 1800.0, zone, False)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cpu_time(call: Callable[[], object]) -> float:
    began = time.process_time()
    try:
        call()
    except RecurrenceError:
        pass
    return time.process_time() - began


# --- rules that cost nothing any more ----------------------------------------------------------

PATHOLOGICAL = [
    pytest.param("RRULE:FREQ=SECONDLY;COUNT=5000000", id="secondly, five million"),
    pytest.param("RRULE:FREQ=MINUTELY", id="minutely, endless"),
    pytest.param("RRULE:FREQ=HOURLY;INTERVAL=1", id="hourly, endless"),
    pytest.param("RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", id="February 30"),
    pytest.param("RRULE:FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=2,4,6,9,11", id="31st of short months"),
    pytest.param("RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=9", id="ninth Monday of a month"),
    pytest.param("RRULE:FREQ=DAILY;BYSETPOS=2", id="second of one start a day"),
    pytest.param("RRULE:FREQ=DAILY;BYSETPOS=-366;BYHOUR=9,10", id="BYSETPOS far from the end"),
    pytest.param("RRULE:FREQ=WEEKLY;BYDAY=MO;BYMONTHDAY=31;BYMONTH=2", id="Monday Feb 31"),
    pytest.param("RRULE:FREQ=YEARLY;BYYEARDAY=366;BYMONTH=1", id="day 366 in January"),
    pytest.param("RRULE:FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO;BYMONTH=6", id="week 53 in June"),
    pytest.param("RRULE:FREQ=DAILY;COUNT=5000000", id="daily, five million"),
    pytest.param(
        "RRULE:FREQ=DAILY;COUNT=5000000;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,"
        "19,20,21,22,23",
        id="24 a day, five million",
    ),
    pytest.param(
        "RRULE:FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23\n"
        "EXRULE:FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23",
        id="EXRULE removes every start",
    ),
    pytest.param("RRULE:FREQ=DAILY;INTERVAL=999999999", id="interval past year 9999"),
    pytest.param("RRULE:FREQ=YEARLY;UNTIL=99991231T235959Z", id="UNTIL in year 9999"),
    pytest.param(
        "RRULE:FREQ=WEEKLY;COUNT=3;BYDAY=MO;BYMONTH=2;BYMONTHDAY=30", id="COUNT never met"
    ),
]

QUESTIONS: list[tuple[str, Callable[[SeriesSpec], object]]] = [
    ("next_occurrence", lambda spec: next_occurrence(spec, [], NOW)),
    ("occurrence_after", lambda spec: occurrence_after(spec, [], NOW, ending_after=NOW)),
    ("occurrence_on_date", lambda spec: occurrence_on_date(spec, [], date(2027, 2, 1))),
    ("a week of occurrences", lambda spec: occurrences_between(spec, [], NOW, NOW + WEEK)),
]


@pytest.mark.parametrize("lines", PATHOLOGICAL)
@pytest.mark.parametrize(("question", "ask"), QUESTIONS, ids=[name for name, _ in QUESTIONS])
def test_no_rule_makes_a_question_expensive(
    lines: str, question: str, ask: Callable[[SeriesSpec], object]
) -> None:
    spec = series(*lines.split("\n"), start="2016-01-04 09:00")
    first = cpu_time(lambda: ask(spec))  # parses the series too
    again = cpu_time(lambda: ask(spec))
    assert first < CPU_BOUND, f"{question}: {first * 1000:.1f} ms"
    assert again < CPU_BOUND, f"{question} again: {again * 1000:.1f} ms"

    fresh = series(*lines.split("\n"), start="2016-01-04 09:00")
    tracemalloc.start()  # slows Python down several times: memory only, not time
    try:
        cpu_time(lambda: ask(fresh))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"{question}: {peak / 1024:.0f} KiB"


def test_a_series_of_them_is_found_in_a_month_not_ten_years() -> None:
    """Fast rules stay fast: the common case (weekly) costs well under a millisecond."""
    spec = series("RRULE:FREQ=WEEKLY;BYDAY=MO,WE", start="2016-01-04 09:00")
    next_occurrence(spec, [], NOW)
    calls = 200
    assert cpu_time(lambda: [next_occurrence(spec, [], NOW) for _ in range(calls)]) / calls < 0.001


# --- what calbot says about them ---------------------------------------------------------------


@pytest.mark.parametrize("frequency", ["SECONDLY", "MINUTELY", "HOURLY"])
def test_series_repeating_more_often_than_daily_are_refused(frequency: str) -> None:
    spec = series(f"RRULE:FREQ={frequency};COUNT=5000000")
    with pytest.raises(RecurrenceError, match=f"FREQ={frequency}.*daily or less often"):
        next_occurrence(spec, [], NOW)
    assert series_problem(spec) is not None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("RRULE:FREQ=WEEKLY;BYDAY=XX", "BYDAY=XX is not a weekday"),
        ("RRULE:FREQ=MONTHLY;BYDAY=0MO", "BYDAY=0MO is not a weekday"),
        ("RRULE:FREQ=YEARLY;BYMONTH=13", "BYMONTH=13 is not a number from 1 to 12"),
        ("RRULE:FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY=0 is not a number from 1 to 31"),
        ("RRULE:FREQ=MONTHLY;BYMONTHDAY=1e5", "BYMONTHDAY=1E5 is not a number"),
        ("RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0", "BYSETPOS=0 is not a number"),
        ("RRULE:FREQ=DAILY;BYHOUR=24", "BYHOUR=24 is not a number from 0 to 23"),
        ("RRULE:FREQ=DAILY;BYSECOND=60", "BYSECOND=60 is not a number from 0 to 59"),
        ("RRULE:FREQ=DAILY;COUNT=0", "COUNT=0 is not a positive whole number"),
        ("RRULE:FREQ=DAILY;COUNT=-3", "COUNT=-3 is not a positive whole number"),
        ("RRULE:FREQ=DAILY;INTERVAL=0", "INTERVAL=0 is not a positive whole number"),
        ("RRULE:FREQ=DAILY;WKST=XX", "WKST=XX is not a weekday"),
        ("RRULE:FREQ=FORTNIGHTLY", "FREQ=FORTNIGHTLY is not an RFC 5545 frequency"),
        ("RRULE:BYDAY=MO", "FREQ is missing"),
        ("RRULE:garbage", "FREQ is missing"),
        ("RRULE:FREQ=DAILY;RSCALE=HEBREW", "does not support RSCALE"),
        ("RRULE:FREQ=DAILY;UNTIL=tomorrow", "'TOMORROW' as an RFC 5545 date"),
        ("RRULE:FREQ=DAILY;UNTIL=20261301", "value '20261301' is not a date or date-time"),
        ("RRULE:FREQ=DAILY;BYMINUTE=0,5,10,15,20,25,30,35,40,45,50,55;BYHOUR=8,9,10", "24 times"),
        ("EXDATE;TZID=Mars/Olympus:20261201T090000", "time zone 'Mars/Olympus'"),
        ("RRULE garbage without a value", "has no ':' and no value"),
    ],
)
def test_unreadable_lines_say_what_is_wrong(line: str, reason: str) -> None:
    spec = series(line)
    with pytest.raises(RecurrenceError, match=r"^[A-Zc].*[.]$") as raised:
        next_occurrence(spec, [], NOW)
    assert reason in str(raised.value)
    assert series_problem(spec) == str(raised.value)


def test_a_zone_calbot_cannot_read_makes_the_series_unreadable() -> None:
    spec = series("RRULE:FREQ=WEEKLY", zone="UTC")
    spec = SeriesSpec(spec.recurrence, spec.first_start, 1800.0, "Mars/Olympus", False)
    assert series_problem(spec) is not None
    with pytest.raises(RecurrenceError, match="time zone 'Mars/Olympus'"):
        next_occurrence(spec, [], NOW)


def test_a_series_in_a_windows_zone_keeps_its_local_time_across_dst() -> None:
    """Exchange writes Berlin as "W. Europe Standard Time": 09:00 stays 09:00 in Berlin."""
    windows = series("RRULE:FREQ=WEEKLY;BYDAY=MO", start="2026-10-19 09:00", zone="Europe/Berlin")
    windows = SeriesSpec(
        windows.recurrence, windows.first_start, 1800.0, "W. Europe Standard Time", False
    )
    starts = occurrences_between(windows, [], utc("2026-10-19 00:00"), utc("2026-11-03 00:00"))
    assert [o.start for o in starts] == [
        utc("2026-10-19 07:00"),  # CEST, UTC+2
        utc("2026-10-26 08:00"),  # CET, UTC+1
        utc("2026-11-02 08:00"),
    ]


def test_rules_that_never_match_have_no_next_occurrence_and_say_why() -> None:
    spec = series("RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", start="2016-01-04 09:00")
    with pytest.raises(RecurrenceError, match=f"no occurrence .* {HORIZON_YEARS} years"):
        next_occurrence(spec, [], NOW)
    assert series_problem(spec) is None  # readable: only the search comes back empty


def test_the_horizon_is_ten_years_ahead() -> None:
    """Every 12 years from 2020: the 2032 one is found from 2023 on, not from 2021."""
    spec = series("RRULE:FREQ=YEARLY;INTERVAL=12", start="2020-03-02 09:00")
    assert next_occurrence(spec, [], utc("2023-01-01 00:00")) == Occurrence(
        utc("2032-03-02 14:00"), utc("2032-03-02 14:00"), utc("2032-03-02 14:30")
    )
    with pytest.raises(RecurrenceError, match="no occurrence"):
        next_occurrence(spec, [], utc("2021-01-01 00:00"))


def test_a_sparse_but_real_rule_is_found_within_the_horizon() -> None:
    """February 29 comes every four years."""
    spec = series("RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", start="2024-02-29 09:00")
    assert next_occurrence(spec, [], NOW) == Occurrence(
        utc("2028-02-29 14:00"), utc("2028-02-29 14:00"), utc("2028-02-29 14:30")
    )


def test_a_finished_series_is_over_not_unreadable() -> None:
    spec = series("RRULE:FREQ=DAILY;COUNT=3", start="2016-01-04 09:00")
    assert next_occurrence(spec, [], NOW) is None
    spec = series("RRULE:FREQ=DAILY;UNTIL=20261101T000000Z", start="2026-10-01 09:00")
    assert next_occurrence(spec, [], NOW) is None


def test_a_count_longer_than_calbot_counts_is_followed_as_far_as_it_counts() -> None:
    spec = series("RRULE:FREQ=DAILY;COUNT=5000000", start="2024-06-03 09:00")
    assert next_occurrence(spec, [], NOW) == Occurrence(
        utc("2026-11-25 14:00"), utc("2026-11-25 14:00"), utc("2026-11-25 14:30")
    )
    # COUNT_LIMIT (3,000) daily occurrences from 2024-06-03 end on 2032-08-19.
    with pytest.raises(RecurrenceError, match="COUNT goes on past 2032-08-19"):
        next_occurrence(spec, [], utc("2032-08-20 00:00"))


def test_a_count_never_reached_is_not_taken_for_the_end() -> None:
    spec = series("RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;COUNT=2", start="2016-01-04 09:00")
    with pytest.raises(RecurrenceError, match="COUNT goes on past 2036"):
        next_occurrence(spec, [], NOW)


def test_catching_up_skips_every_occurrence_that_ended_in_one_call() -> None:
    spec = series("RRULE:FREQ=DAILY", start="2026-01-05 09:00")
    after = utc("2026-01-05 14:00")
    assert occurrence_after(spec, [], after, ending_after=utc("2026-06-01 13:15")) == Occurrence(
        utc("2026-06-01 13:00"), utc("2026-06-01 13:00"), utc("2026-06-01 13:30")
    )
    assert occurrence_after(spec, [], after, ending_after=utc("2026-06-01 13:45")) == Occurrence(
        utc("2026-06-02 13:00"), utc("2026-06-02 13:00"), utc("2026-06-02 13:30")
    )


# --- period by period, the same dates as dateutil's own walk ------------------------------------

RULES_WITH_PERIODS = [
    ("1997-09-02 09:00", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1"),
    ("1997-09-04 09:00", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1"),
    ("1997-09-04 09:00", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"),
    ("1997-09-04 09:00", "FREQ=WEEKLY;BYDAY=MO,FR;BYSETPOS=2;WKST=SU"),
    ("1997-12-30 09:00", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYSETPOS=3;WKST=TH"),
    ("1997-09-04 09:00", "FREQ=WEEKLY;INTERVAL=5;BYDAY=SA,SU;WKST=SA"),
    ("1997-09-04 09:00", "FREQ=WEEKLY;BYDAY=1MO,TU"),
    ("1997-09-04 09:00", "FREQ=DAILY;BYHOUR=9,15;BYSETPOS=-1"),
    ("1997-09-04 09:00", "FREQ=DAILY;INTERVAL=3;BYHOUR=9,15;BYSETPOS=1"),
    ("1997-09-04 09:00", "FREQ=DAILY;BYMONTH=1,7"),
    ("1997-09-04 09:00", "FREQ=DAILY;INTERVAL=7;BYMONTHDAY=1,-1"),
    ("1997-09-04 09:00", "FREQ=DAILY;BYDAY=SA;BYMONTHDAY=1,2,3,4,5,6,7;BYHOUR=8,12;BYMINUTE=0,30"),
    ("1997-09-04 09:00", "FREQ=MONTHLY;BYDAY=-1FR"),
    ("1997-09-04 09:00", "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13"),
    ("1997-09-04 09:00", "FREQ=MONTHLY;INTERVAL=3;BYDAY=2MO,-2WE"),
    ("1997-09-04 09:00", "FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=1,-1"),
    ("1997-09-04 09:30", "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=31"),
    ("1997-09-04 09:00", "FREQ=YEARLY;BYWEEKNO=1;BYDAY=MO,SU"),
    ("1997-09-04 09:00", "FREQ=YEARLY;BYWEEKNO=-1;BYDAY=TH"),
    ("1997-09-04 09:00", "FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO"),
    ("1997-09-04 09:00", "FREQ=YEARLY;BYYEARDAY=-1,100"),
    ("1997-09-04 09:00", "FREQ=YEARLY;BYMONTH=3,9;BYDAY=1TU,-1TH;BYSETPOS=2"),
    (
        "1997-09-04 09:30",
        "FREQ=YEARLY;INTERVAL=3;BYMONTH=1,6;BYMONTHDAY=15;BYHOUR=9,17;BYSETPOS=-1",
    ),
]


@pytest.mark.parametrize(("start", "rule"), RULES_WITH_PERIODS)
@pytest.mark.parametrize(
    ("since", "until"), [("1997-01-04", "2002-12-28"), ("2025-12-23", "2031-12-29")]
)
def test_period_by_period_yields_what_walking_from_the_first_start_yields(
    start: str, rule: str, since: str, until: str
) -> None:
    """BYSETPOS counts within each period (DTSTART's week starting on DTSTART), INTERVAL keeps
    the periods in step: dateutil's walk from DTSTART is the reference."""
    zone = ZoneInfo(NEW_YORK)
    first = datetime.fromisoformat(start)
    lo, hi = utc(f"{since} 00:00"), utc(f"{until} 00:00")
    walked = rrulestr(f"RRULE:{rule}", dtstart=first).between(
        datetime(1996, 1, 1), datetime(2033, 1, 1)
    )
    expected = sorted(
        {first.replace(tzinfo=zone).astimezone(UTC)}
        | {local.replace(tzinfo=zone).astimezone(UTC) for local in walked}
    )
    spec = series(f"RRULE:{rule}", start=start)
    found = [o.original_start for o in occurrences_between(spec, [], lo, hi)]
    assert [moment for moment in found if moment >= lo] == [
        moment for moment in expected if lo <= moment < hi
    ]
