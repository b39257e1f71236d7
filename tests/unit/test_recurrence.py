"""Recurrence expansion, checked against times worked out by hand.

Every expected value is a UTC time. Reminders for checking them: America/New_York is UTC-4 in
summer (EDT) and UTC-5 in winter (EST), so 09:00 local is 13:00Z or 14:00Z. In 1997 US summer time
ended on Oct 26; in 1998 it ran Apr 5 - Oct 25; in 2026 it starts on Mar 8. Europe/Berlin is
UTC+2 in summer and UTC+1 in winter; in 2026 summer time ends on Sunday Oct 25.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from app.domain import Occurrence, OccurrenceOverride, SeriesSpec
from app.services.recurrence import (
    RecurrenceError,
    next_occurrence,
    occurrence_after,
    occurrence_on_date,
    occurrences_between,
)

NEW_YORK = "America/New_York"
BERLIN = "Europe/Berlin"
HOUR = 3600.0
DAY = 86400.0


def series(
    *lines: str,
    start: str,
    zone: str = NEW_YORK,
    duration: float = HOUR,
    all_day: bool = False,
) -> SeriesSpec:
    """`start` is the first start as wall-clock time in `zone`, e.g. "1997-09-02 09:00"."""
    first = datetime.fromisoformat(start).replace(tzinfo=ZoneInfo(zone))
    return SeriesSpec(
        recurrence=lines,
        first_start=first,
        duration_seconds=duration,
        time_zone=zone,
        all_day=all_day,
    )


def utc(text: str) -> datetime:
    """'1997-09-02 13:00' read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def starts_between(
    spec: SeriesSpec,
    since: str = "1990-01-01 00:00",
    until: str = "2040-01-01 00:00",
    overrides: tuple[OccurrenceOverride, ...] = (),
) -> list[datetime]:
    return [o.start for o in occurrences_between(spec, overrides, utc(since), utc(until))]


def occurrence(original: str, start: str | None = None, end: str | None = None) -> Occurrence:
    """An occurrence given in UTC; unmoved ones last an hour."""
    start_at = utc(start or original)
    end_at = utc(end) if end else start_at + timedelta(hours=1)
    return Occurrence(original_start=utc(original), start=start_at, end=end_at)


def cancelled(original: str) -> OccurrenceOverride:
    return OccurrenceOverride(original_start=utc(original), cancelled=True)


def moved(original: str, start: str, end: str) -> OccurrenceOverride:
    return OccurrenceOverride(
        original_start=utc(original), cancelled=False, start=utc(start), end=utc(end)
    )


# --- RFC 5545 section 3.8.5.3 examples (DTSTART in America/New_York) --------------------------

RFC_EXAMPLES = [
    pytest.param(
        "1997-09-02 09:00",
        ["RRULE:FREQ=DAILY;COUNT=10"],
        [f"1997-09-{day:02} 13:00" for day in range(2, 12)],
        10,
        id="daily for 10 occurrences",
    ),
    pytest.param(
        "1997-09-02 09:00",
        ["RRULE:FREQ=DAILY;UNTIL=19971224T000000Z"],
        ["1997-09-02 13:00", "1997-09-03 13:00", "1997-09-04 13:00"],
        29 + 31 + 30 + 23,  # Sep 2-30, Oct, Nov, Dec 1-23
        id="daily until December 24 1997",
    ),
    pytest.param(
        "1997-09-02 09:00",
        ["RRULE:FREQ=DAILY;INTERVAL=2"],
        ["1997-09-02 13:00", "1997-09-04 13:00", "1997-09-06 13:00", "1997-09-08 13:00"],
        None,
        id="every other day",
    ),
    pytest.param(
        "1997-09-02 09:00",
        ["RRULE:FREQ=DAILY;INTERVAL=10;COUNT=5"],
        [
            "1997-09-02 13:00",
            "1997-09-12 13:00",
            "1997-09-22 13:00",
            "1997-10-02 13:00",
            "1997-10-12 13:00",
        ],
        5,
        id="every 10 days, 5 occurrences",
    ),
    pytest.param(
        "1997-09-02 09:00",
        ["RRULE:FREQ=WEEKLY;COUNT=10"],
        [
            *(f"1997-09-{day:02} 13:00" for day in (2, 9, 16, 23, 30)),
            *(f"1997-10-{day:02} 13:00" for day in (7, 14, 21)),
            "1997-10-28 14:00",
            "1997-11-04 14:00",
        ],
        10,
        id="weekly for 10 occurrences",
    ),
    pytest.param(
        "1997-09-02 09:00",
        ["RRULE:FREQ=WEEKLY;INTERVAL=2;WKST=SU"],
        [
            *(f"1997-09-{day:02} 13:00" for day in (2, 16, 30)),
            "1997-10-14 13:00",
            "1997-10-28 14:00",
            "1997-11-11 14:00",
            "1997-11-25 14:00",
            "1997-12-09 14:00",
            "1997-12-23 14:00",
            "1998-01-06 14:00",
            "1998-01-20 14:00",
            "1998-02-03 14:00",
            "1998-02-17 14:00",
        ],
        None,
        id="every other week",
    ),
    pytest.param(
        "1997-09-01 09:00",
        ["RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR"],
        [
            *(f"1997-09-{day:02} 13:00" for day in (1, 3, 5, 15, 17, 19, 29)),
            *(f"1997-10-{day:02} 13:00" for day in (1, 3, 13, 15, 17)),
            *(f"1997-10-{day:02} 14:00" for day in (27, 29, 31)),
            *(f"1997-11-{day:02} 14:00" for day in (10, 12, 14, 24, 26, 28)),
            *(f"1997-12-{day:02} 14:00" for day in (8, 10, 12, 22)),
        ],
        25,
        id="every other week on MO,WE,FR until December 24 1997",
    ),
    pytest.param(
        "1997-09-05 09:00",
        ["RRULE:FREQ=MONTHLY;COUNT=10;BYDAY=1FR"],
        [
            "1997-09-05 13:00",
            "1997-10-03 13:00",
            "1997-11-07 14:00",
            "1997-12-05 14:00",
            "1998-01-02 14:00",
            "1998-02-06 14:00",
            "1998-03-06 14:00",
            "1998-04-03 14:00",
            "1998-05-01 13:00",
            "1998-06-05 13:00",
        ],
        10,
        id="monthly on the first Friday for 10 occurrences",
    ),
    pytest.param(
        "1997-09-30 09:00",
        ["RRULE:FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1"],
        [
            "1997-09-30 13:00",
            "1997-10-01 13:00",
            "1997-10-31 14:00",
            "1997-11-01 14:00",
            "1997-11-30 14:00",
            "1997-12-01 14:00",
            "1997-12-31 14:00",
            "1998-01-01 14:00",
            "1998-01-31 14:00",
            "1998-02-01 14:00",
        ],
        10,
        id="monthly on the first and last day for 10 occurrences",
    ),
    pytest.param(
        "1997-09-28 09:00",
        ["RRULE:FREQ=MONTHLY;BYMONTHDAY=-3"],
        [
            "1997-09-28 13:00",
            "1997-10-29 14:00",
            "1997-11-28 14:00",
            "1997-12-29 14:00",
            "1998-01-29 14:00",
            "1998-02-26 14:00",
        ],
        None,
        id="monthly on the third-to-last day",
    ),
    pytest.param(
        # Not an RFC example, but built the same way: the last and second-to-last day.
        "1997-09-29 09:00",
        ["RRULE:FREQ=MONTHLY;COUNT=6;BYMONTHDAY=-1,-2"],
        [
            "1997-09-29 13:00",
            "1997-09-30 13:00",
            "1997-10-30 14:00",
            "1997-10-31 14:00",
            "1997-11-29 14:00",
            "1997-11-30 14:00",
        ],
        6,
        id="monthly on the last and second-to-last day",
    ),
    pytest.param(
        "1997-09-02 09:00",
        ["RRULE:FREQ=MONTHLY;INTERVAL=2;BYDAY=TU"],
        [
            *(f"1997-09-{day:02} 13:00" for day in (2, 9, 16, 23, 30)),
            *(f"1997-11-{day:02} 14:00" for day in (4, 11, 18, 25)),
            "1998-01-06 14:00",
        ],
        None,
        id="every Tuesday, every other month",
    ),
    pytest.param(
        "1997-06-10 09:00",
        ["RRULE:FREQ=YEARLY;COUNT=10;BYMONTH=6,7"],
        [f"{year}-{month:02}-10 13:00" for year in range(1997, 2002) for month in (6, 7)],
        10,
        id="yearly in June and July for 10 occurrences",
    ),
    pytest.param(
        "1997-03-10 09:00",
        ["RRULE:FREQ=YEARLY;INTERVAL=2;COUNT=10;BYMONTH=1,2,3"],
        [
            "1997-03-10 14:00",
            *(f"{year}-{month:02}-10 14:00" for year in (1999, 2001, 2003) for month in (1, 2, 3)),
        ],
        10,
        id="every other year on January, February and March for 10 occurrences",
    ),
    pytest.param(
        "1997-01-01 09:00",
        ["RRULE:FREQ=YEARLY;INTERVAL=3;COUNT=10;BYYEARDAY=1,100,200"],
        [
            "1997-01-01 14:00",
            "1997-04-10 13:00",
            "1997-07-19 13:00",
            "2000-01-01 14:00",
            "2000-04-09 13:00",
            "2000-07-18 13:00",
            "2003-01-01 14:00",
            "2003-04-10 13:00",
            "2003-07-19 13:00",
            "2006-01-01 14:00",
        ],
        10,
        id="every third year on the 1st, 100th and 200th day for 10 occurrences",
    ),
    pytest.param(
        "1997-05-19 09:00",
        ["RRULE:FREQ=YEARLY;BYDAY=20MO"],
        ["1997-05-19 13:00", "1998-05-18 13:00", "1999-05-17 13:00"],
        None,
        id="every 20th Monday of the year",
    ),
    pytest.param(
        "1997-05-12 09:00",
        ["RRULE:FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO"],
        ["1997-05-12 13:00", "1998-05-11 13:00", "1999-05-17 13:00"],
        None,
        id="Monday of week number 20",
    ),
    pytest.param(
        "1997-09-02 09:00",
        [
            "EXDATE;TZID=America/New_York:19970902T090000",
            "RRULE:FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13",
        ],
        [
            "1998-02-13 14:00",
            "1998-03-13 14:00",
            "1998-11-13 14:00",
            "1999-08-13 13:00",
            "2000-10-13 13:00",
        ],
        None,
        id="every Friday the 13th (DTSTART excluded)",
    ),
    pytest.param(
        "1997-09-13 09:00",
        ["RRULE:FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13"],
        [
            "1997-09-13 13:00",
            "1997-10-11 13:00",
            "1997-11-08 14:00",
            "1997-12-13 14:00",
            "1998-01-10 14:00",
            "1998-02-07 14:00",
            "1998-03-07 14:00",
            "1998-04-11 13:00",
            "1998-05-09 13:00",
            "1998-06-13 13:00",
        ],
        None,
        id="the first Saturday that follows the first Sunday of the month",
    ),
    pytest.param(
        "1996-11-05 09:00",
        ["RRULE:FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8"],
        ["1996-11-05 14:00", "2000-11-07 14:00", "2004-11-02 14:00"],
        None,
        id="US presidential election day",
    ),
    pytest.param(
        "1997-09-04 09:00",
        ["RRULE:FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3"],
        ["1997-09-04 13:00", "1997-10-07 13:00", "1997-11-06 14:00"],
        3,
        id="the third of Tuesday, Wednesday or Thursday for 3 months",
    ),
    pytest.param(
        "1997-09-29 09:00",
        ["RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2"],
        [
            "1997-09-29 13:00",
            "1997-10-30 14:00",
            "1997-11-27 14:00",
            "1997-12-30 14:00",
            "1998-01-29 14:00",
            "1998-02-26 14:00",
            "1998-03-30 14:00",
        ],
        None,
        id="the second-to-last weekday of the month",
    ),
]


@pytest.mark.parametrize(("start", "lines", "expected", "total"), RFC_EXAMPLES)
def test_rfc_5545_examples(
    start: str, lines: list[str], expected: list[str], total: int | None
) -> None:
    found = starts_between(series(*lines, start=start))
    assert found[: len(expected)] == [utc(text) for text in expected]
    if total is not None:
        assert len(found) == total


@pytest.mark.parametrize(("start", "lines", "expected", "total"), RFC_EXAMPLES)
def test_rfc_5545_examples_one_after_another(
    start: str, lines: list[str], expected: list[str], total: int | None
) -> None:
    """Walking with occurrence_after (the scheduler's way) meets the same starts."""
    spec = series(*lines, start=start)
    walked: list[datetime] = []
    current = occurrence_after(spec, [], utc("1990-01-01 00:00"))
    while current is not None and len(walked) < len(expected):
        walked.append(current.start)
        current = occurrence_after(spec, [], current.original_start)
    assert walked == [utc(text) for text in expected]


def test_daily_until_december_24_crosses_the_end_of_summer_time_and_stops_before_until() -> None:
    spec = series("RRULE:FREQ=DAILY;UNTIL=19971224T000000Z", start="1997-09-02 09:00")
    assert starts_between(spec, "1997-10-25 00:00", "1997-10-28 00:00") == [
        utc("1997-10-25 13:00"),
        utc("1997-10-26 14:00"),
        utc("1997-10-27 14:00"),
    ]
    assert starts_between(spec)[-1] == utc("1997-12-23 14:00")


def test_every_other_day_keeps_its_cadence_across_the_end_of_summer_time() -> None:
    spec = series("RRULE:FREQ=DAILY;INTERVAL=2", start="1997-09-02 09:00")
    assert starts_between(spec, "1997-10-20 00:00", "1997-11-02 00:00") == [
        utc("1997-10-20 13:00"),
        utc("1997-10-22 13:00"),
        utc("1997-10-24 13:00"),
        utc("1997-10-26 14:00"),
        utc("1997-10-28 14:00"),
        utc("1997-10-30 14:00"),
        utc("1997-11-01 14:00"),
    ]


ENDLESS_RULES = [
    pytest.param("1997-09-02 09:00", "FREQ=DAILY;INTERVAL=2", id="every other day"),
    pytest.param("1997-09-02 09:00", "FREQ=DAILY;INTERVAL=10", id="every 10 days"),
    pytest.param("1997-09-02 09:00", "FREQ=WEEKLY;INTERVAL=2;WKST=SU", id="every other week"),
    pytest.param(
        "1997-09-03 09:00", "FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,WE,FR", id="every 3rd week MO,WE,FR"
    ),
    pytest.param("1997-09-28 09:00", "FREQ=MONTHLY;BYMONTHDAY=-3", id="third-to-last day"),
    pytest.param("1997-09-02 09:00", "FREQ=MONTHLY;INTERVAL=5", id="every 5 months"),
    pytest.param("1997-01-31 09:00", "FREQ=MONTHLY", id="monthly on the 31st"),
    pytest.param("1996-02-29 09:00", "FREQ=YEARLY", id="yearly on February 29"),
    pytest.param("1997-05-19 09:00", "FREQ=YEARLY;BYDAY=20MO", id="20th Monday"),
    pytest.param("1997-05-12 09:00", "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", id="week number 20"),
    pytest.param(
        "1996-11-05 09:00",
        "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
        id="election day",
    ),
    pytest.param(
        "1997-09-29 09:00",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2",
        id="second-to-last weekday",
    ),
]


@pytest.mark.parametrize(("start", "rule"), ENDLESS_RULES)
def test_decades_later_the_shortcut_yields_what_walking_from_the_first_start_yields(
    start: str, rule: str
) -> None:
    """The fast path restarts the rule near the window; a plain walk from DTSTART must agree."""
    zone = ZoneInfo(NEW_YORK)
    walk = rrulestr(f"RRULE:{rule}", dtstart=datetime.fromisoformat(start))
    expected = [
        local.replace(tzinfo=zone).astimezone(UTC)
        for local in walk.between(datetime(2025, 12, 1), datetime(2032, 2, 1))
    ]
    window = [moment for moment in expected if utc("2026-01-01 00:00") <= moment]
    window = [moment for moment in window if moment < utc("2032-01-01 00:00")]
    spec = series(f"RRULE:{rule}", start=start)
    assert window  # every rule above does occur in those six years
    assert starts_between(spec, "2026-01-01 00:00", "2032-01-01 00:00") == window


# --- daylight saving time ---------------------------------------------------------------------


def test_weekly_meeting_in_berlin_keeps_9_local_when_summer_time_ends() -> None:
    spec = series("RRULE:FREQ=WEEKLY;BYDAY=MO", start="2026-10-12 09:00", zone=BERLIN)
    assert occurrences_between(spec, [], utc("2026-10-12 00:00"), utc("2026-11-03 00:00")) == [
        occurrence("2026-10-12 07:00"),
        occurrence("2026-10-19 07:00"),
        occurrence("2026-10-26 08:00"),
        occurrence("2026-11-02 08:00"),
    ]


def test_daily_meeting_in_new_york_keeps_9_local_when_summer_time_starts() -> None:
    spec = series("RRULE:FREQ=DAILY", start="2026-03-05 09:00")
    assert starts_between(spec, "2026-03-05 00:00", "2026-03-10 00:00") == [
        utc("2026-03-05 14:00"),
        utc("2026-03-06 14:00"),
        utc("2026-03-07 14:00"),
        utc("2026-03-08 13:00"),
        utc("2026-03-09 13:00"),
    ]


def test_a_time_that_does_not_exist_moves_forward_by_the_gap() -> None:
    """02:30 on Mar 8 2026 does not exist in New York: like Google, it becomes 03:30 EDT."""
    spec = series("RRULE:FREQ=DAILY", start="2026-03-07 02:30")
    assert occurrences_between(spec, [], utc("2026-03-07 00:00"), utc("2026-03-10 00:00")) == [
        occurrence("2026-03-07 07:30"),  # 02:30 EST
        occurrence("2026-03-08 07:30"),  # 03:30 EDT
        occurrence("2026-03-09 06:30"),  # 02:30 EDT
    ]


def test_a_time_that_happens_twice_is_the_first_of_the_two() -> None:
    """02:30 on Oct 25 2026 happens twice in Berlin: the summer-time one (fold=0) is used."""
    spec = series("RRULE:FREQ=DAILY", start="2026-10-24 02:30", zone=BERLIN)
    assert starts_between(spec, "2026-10-23 00:00", "2026-10-27 00:00") == [
        utc("2026-10-24 00:30"),
        utc("2026-10-25 00:30"),
        utc("2026-10-26 01:30"),
    ]


def test_all_day_weekly_series_starts_at_local_midnight_and_the_dst_day_lasts_25_hours() -> None:
    spec = series(
        "RRULE:FREQ=WEEKLY;BYDAY=SU",
        start="2026-10-18 00:00",
        zone=BERLIN,
        duration=DAY,
        all_day=True,
    )
    assert occurrences_between(spec, [], utc("2026-10-17 00:00"), utc("2026-11-03 00:00")) == [
        occurrence("2026-10-17 22:00", end="2026-10-18 22:00"),
        occurrence("2026-10-24 22:00", end="2026-10-25 23:00"),
        occurrence("2026-10-31 23:00", end="2026-11-01 23:00"),
    ]


def test_all_day_series_across_spring_forward_in_new_york() -> None:
    spec = series("RRULE:FREQ=DAILY;COUNT=3", start="2026-03-07 00:00", duration=DAY, all_day=True)
    assert occurrences_between(spec, [], utc("2026-03-01 00:00"), utc("2026-03-31 00:00")) == [
        occurrence("2026-03-07 05:00", end="2026-03-08 05:00"),
        occurrence("2026-03-08 05:00", end="2026-03-09 04:00"),
        occurrence("2026-03-09 04:00", end="2026-03-10 04:00"),
    ]


# --- EXDATE, RDATE, endings -------------------------------------------------------------------

# A daily 09:00 New York meeting from Monday Nov 30 2026 (EST: 14:00Z).
DAILY_FROM_NOV_30 = "2026-11-30 09:00"


@pytest.mark.parametrize(
    ("exdate", "expected_days"),
    [
        pytest.param("EXDATE;TZID=America/New_York:20261201T090000", [30, 2, 3], id="TZID"),
        pytest.param('EXDATE;TZID="America/New_York":20261201T090000', [30, 2, 3], id="quoted"),
        pytest.param("EXDATE;TZID=Europe/Berlin:20261201T150000", [30, 2, 3], id="other zone"),
        pytest.param("EXDATE:20261201T140000Z", [30, 2, 3], id="UTC"),
        pytest.param("EXDATE;VALUE=DATE:20261201", [30, 2, 3], id="DATE"),
        pytest.param("EXDATE:20261201T090000", [30, 2, 3], id="floating in the series zone"),
        pytest.param(
            "EXDATE;TZID=America/New_York:20261201T090000,20261203T090000",
            [30, 2],
            id="comma list",
        ),
        pytest.param("EXDATE;VALUE=DATE:20261201,20261202", [30, 3], id="DATE list"),
        pytest.param("EXDATE:20261201T090000Z", [30, 1, 2, 3], id="UTC that matches nothing"),
    ],
)
def test_exdate_forms(exdate: str, expected_days: list[int]) -> None:
    spec = series("RRULE:FREQ=DAILY", exdate, start=DAILY_FROM_NOV_30)
    expected = [utc(f"2026-{12 if day < 30 else 11}-{day:02} 14:00") for day in expected_days]
    assert starts_between(spec, "2026-11-30 00:00", "2026-12-04 00:00") == expected


def test_two_exdate_lines_both_apply() -> None:
    spec = series(
        "RRULE:FREQ=DAILY",
        "EXDATE:20261201T140000Z",
        "EXDATE;VALUE=DATE:20261203",
        start=DAILY_FROM_NOV_30,
    )
    assert starts_between(spec, "2026-11-30 00:00", "2026-12-04 00:00") == [
        utc("2026-11-30 14:00"),
        utc("2026-12-02 14:00"),
    ]


def test_all_day_exdate_removes_that_date() -> None:
    spec = series(
        "RRULE:FREQ=DAILY;COUNT=3",
        "EXDATE;VALUE=DATE:20261202",
        start="2026-12-01 00:00",
        zone=BERLIN,
        duration=DAY,
        all_day=True,
    )
    assert starts_between(spec) == [utc("2026-11-30 23:00"), utc("2026-12-02 23:00")]


@pytest.mark.parametrize(
    ("rdate", "expected"),
    [
        pytest.param(
            "RDATE;TZID=America/New_York:20261203T150000", occurrence("2026-12-03 20:00"), id="TZID"
        ),
        pytest.param("RDATE:20261203T200000Z", occurrence("2026-12-03 20:00"), id="UTC"),
        pytest.param("RDATE:20261203T150000", occurrence("2026-12-03 20:00"), id="floating"),
        pytest.param(
            "RDATE;VALUE=DATE:20261203", occurrence("2026-12-03 14:00"), id="DATE at 09:00 local"
        ),
        pytest.param(
            "RDATE;VALUE=PERIOD:20261203T200000Z/PT2H",
            occurrence("2026-12-03 20:00"),
            id="PERIOD keeps its start",
        ),
    ],
)
def test_rdate_adds_an_occurrence(rdate: str, expected: Occurrence) -> None:
    spec = series("RRULE:FREQ=WEEKLY;BYDAY=MO", rdate, start=DAILY_FROM_NOV_30)
    assert occurrences_between(spec, [], utc("2026-11-30 00:00"), utc("2026-12-08 00:00")) == [
        occurrence("2026-11-30 14:00"),
        expected,
        occurrence("2026-12-07 14:00"),
    ]


def test_a_series_without_rules_is_its_first_start() -> None:
    spec = series(start=DAILY_FROM_NOV_30)
    assert starts_between(spec) == [utc("2026-11-30 14:00")]
    assert next_occurrence(spec, [], utc("2026-11-30 14:59")) == occurrence("2026-11-30 14:00")
    assert next_occurrence(spec, [], utc("2026-11-30 15:00")) is None


def test_count_ends_the_series() -> None:
    spec = series("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3", start=DAILY_FROM_NOV_30)
    assert starts_between(spec) == [
        utc("2026-11-30 14:00"),
        utc("2026-12-07 14:00"),
        utc("2026-12-14 14:00"),
    ]
    assert next_occurrence(spec, [], utc("2026-12-14 14:30")) == occurrence("2026-12-14 14:00")
    assert next_occurrence(spec, [], utc("2026-12-14 15:00")) is None
    assert next_occurrence(spec, [], utc("2030-01-01 00:00")) is None
    assert occurrence_after(spec, [], utc("2026-12-14 14:00")) is None


@pytest.mark.parametrize(
    ("until", "last"),
    [
        pytest.param("20261202T140000Z", "2026-12-02 14:00", id="UTC, inclusive"),
        pytest.param("20261202T135959Z", "2026-12-01 14:00", id="UTC, a second early"),
        pytest.param("20261202T090000", "2026-12-02 14:00", id="floating"),
        pytest.param("20261202", "2026-12-02 14:00", id="DATE on a timed series"),
    ],
)
def test_until_ends_the_series(until: str, last: str) -> None:
    spec = series(f"RRULE:FREQ=DAILY;UNTIL={until}", start=DAILY_FROM_NOV_30)
    assert starts_between(spec)[-1] == utc(last)
    assert next_occurrence(spec, [], utc(last)) == occurrence(last)
    assert next_occurrence(spec, [], utc("2026-12-02 15:00")) is None


def test_all_day_until_is_the_last_date() -> None:
    spec = series(
        "RRULE:FREQ=DAILY;UNTIL=20261203",
        start="2026-12-01 00:00",
        zone=BERLIN,
        duration=DAY,
        all_day=True,
    )
    assert starts_between(spec) == [
        utc("2026-11-30 23:00"),
        utc("2026-12-01 23:00"),
        utc("2026-12-02 23:00"),
    ]
    assert next_occurrence(spec, [], utc("2026-12-03 22:59")) == occurrence(
        "2026-12-02 23:00", end="2026-12-03 23:00"
    )
    assert next_occurrence(spec, [], utc("2026-12-03 23:00")) is None


# --- Google's exceptions ----------------------------------------------------------------------


def test_cancelled_occurrence_is_left_out() -> None:
    spec = series("RRULE:FREQ=DAILY", start=DAILY_FROM_NOV_30)
    overrides = (cancelled("2026-12-02 14:00"),)
    assert starts_between(spec, "2026-11-30 00:00", "2026-12-04 00:00", overrides) == [
        utc("2026-11-30 14:00"),
        utc("2026-12-01 14:00"),
        utc("2026-12-03 14:00"),
    ]
    assert next_occurrence(spec, overrides, utc("2026-12-01 16:00")) == occurrence(
        "2026-12-03 14:00"
    )
    assert occurrence_after(spec, overrides, utc("2026-12-01 14:00")) == occurrence(
        "2026-12-03 14:00"
    )


def test_occurrence_moved_later_the_same_day() -> None:
    spec = series("RRULE:FREQ=DAILY", start=DAILY_FROM_NOV_30)
    overrides = (moved("2026-12-02 14:00", "2026-12-02 16:00", "2026-12-02 17:00"),)
    assert occurrences_between(
        spec, overrides, utc("2026-12-01 00:00"), utc("2026-12-04 00:00")
    ) == [
        occurrence("2026-12-01 14:00"),
        occurrence("2026-12-02 14:00", "2026-12-02 16:00", "2026-12-02 17:00"),
        occurrence("2026-12-03 14:00"),
    ]
    # At 14:30 the meeting would be in progress had it not moved: the moved one is next.
    assert next_occurrence(spec, overrides, utc("2026-12-02 14:30")) == occurrence(
        "2026-12-02 14:00", "2026-12-02 16:00", "2026-12-02 17:00"
    )


def test_occurrence_moved_to_the_next_day_sorts_by_its_new_start() -> None:
    spec = series("RRULE:FREQ=DAILY", start=DAILY_FROM_NOV_30)
    overrides = (moved("2026-12-02 14:00", "2026-12-03 17:00", "2026-12-03 18:00"),)
    moved_occurrence = occurrence("2026-12-02 14:00", "2026-12-03 17:00", "2026-12-03 18:00")
    assert occurrences_between(
        spec, overrides, utc("2026-12-01 00:00"), utc("2026-12-04 00:00")
    ) == [occurrence("2026-12-01 14:00"), occurrence("2026-12-03 14:00"), moved_occurrence]
    assert next_occurrence(spec, overrides, utc("2026-12-02 12:00")) == occurrence(
        "2026-12-03 14:00"
    )
    assert occurrence_after(spec, overrides, utc("2026-12-01 14:00")) == moved_occurrence
    assert occurrence_after(spec, overrides, utc("2026-12-02 14:00")) == occurrence(
        "2026-12-03 14:00"
    )


def test_occurrence_moved_before_now_is_not_next() -> None:
    """Monday Dec 14 moved to Friday Dec 4; on Tuesday Dec 8 the next one is Monday Dec 21."""
    spec = series("RRULE:FREQ=WEEKLY;BYDAY=MO", start=DAILY_FROM_NOV_30)
    overrides = (moved("2026-12-14 14:00", "2026-12-04 14:00", "2026-12-04 15:00"),)
    assert next_occurrence(spec, overrides, utc("2026-12-08 15:00")) == occurrence(
        "2026-12-21 14:00"
    )
    assert starts_between(spec, "2026-12-01 00:00", "2026-12-22 00:00", overrides) == [
        utc("2026-12-04 14:00"),
        utc("2026-12-07 14:00"),
        utc("2026-12-21 14:00"),
    ]


def test_occurrence_moved_from_the_past_to_after_now_is_next() -> None:
    """Monday Dec 7 moved to Thursday Dec 10; on Tuesday Dec 8 it is the next one."""
    spec = series("RRULE:FREQ=WEEKLY;BYDAY=MO", start=DAILY_FROM_NOV_30)
    overrides = (moved("2026-12-07 14:00", "2026-12-10 14:00", "2026-12-10 15:00"),)
    assert next_occurrence(spec, overrides, utc("2026-12-08 15:00")) == occurrence(
        "2026-12-07 14:00", "2026-12-10 14:00", "2026-12-10 15:00"
    )


def test_exception_without_new_times_keeps_the_series_times() -> None:
    """Google also sends exceptions that only change a title or a link."""
    spec = series("RRULE:FREQ=DAILY", start=DAILY_FROM_NOV_30)
    overrides = (OccurrenceOverride(original_start=utc("2026-12-01 14:00"), cancelled=False),)
    assert occurrences_between(
        spec, overrides, utc("2026-12-01 00:00"), utc("2026-12-02 00:00")
    ) == [occurrence("2026-12-01 14:00")]


def test_exception_matches_whatever_zone_and_microseconds_its_original_start_has() -> None:
    spec = series("RRULE:FREQ=DAILY", start=DAILY_FROM_NOV_30)
    original = datetime(2026, 12, 1, 9, 0, 0, 250, tzinfo=ZoneInfo(NEW_YORK))
    overrides = (OccurrenceOverride(original_start=original, cancelled=True),)
    assert starts_between(spec, "2026-12-01 00:00", "2026-12-03 00:00", overrides) == [
        utc("2026-12-02 14:00")
    ]


def test_exception_whose_original_start_the_rule_no_longer_makes_is_still_a_meeting() -> None:
    spec = series("RRULE:FREQ=DAILY", start=DAILY_FROM_NOV_30)
    orphan = moved("2026-12-01 16:00", "2026-12-01 18:00", "2026-12-01 19:00")
    cancelled_orphan = cancelled("2026-12-01 17:00")
    assert occurrences_between(
        spec, (orphan, cancelled_orphan), utc("2026-12-01 00:00"), utc("2026-12-02 00:00")
    ) == [
        occurrence("2026-12-01 14:00"),
        occurrence("2026-12-01 16:00", "2026-12-01 18:00", "2026-12-01 19:00"),
    ]


def test_occurrences_between_includes_one_that_started_before_the_window() -> None:
    spec = series("RRULE:FREQ=DAILY", start=DAILY_FROM_NOV_30, duration=2 * HOUR)
    found = occurrences_between(spec, [], utc("2026-12-01 15:00"), utc("2026-12-01 16:00"))
    assert found == [occurrence("2026-12-01 14:00", end="2026-12-01 16:00")]
    assert occurrences_between(spec, [], utc("2026-12-01 16:00"), utc("2026-12-02 14:00")) == []


# --- occurrence_on_date -----------------------------------------------------------------------

# Mondays and Wednesdays 09:00 New York from Nov 30 2026.
MONDAYS_AND_WEDNESDAYS = ("RRULE:FREQ=WEEKLY;BYDAY=MO,WE",)


def test_occurrence_on_a_day_with_one() -> None:
    spec = series(*MONDAYS_AND_WEDNESDAYS, start=DAILY_FROM_NOV_30)
    assert occurrence_on_date(spec, [], date(2026, 12, 2)) == occurrence("2026-12-02 14:00")


def test_no_occurrence_on_a_day_without_one() -> None:
    spec = series(*MONDAYS_AND_WEDNESDAYS, start=DAILY_FROM_NOV_30)
    assert occurrence_on_date(spec, [], date(2026, 12, 3)) is None
    assert occurrence_on_date(spec, [], date(2026, 11, 23)) is None  # before the series


def test_no_occurrence_on_a_cancelled_day() -> None:
    spec = series(*MONDAYS_AND_WEDNESDAYS, start=DAILY_FROM_NOV_30)
    overrides = [cancelled("2026-12-07 14:00")]
    assert occurrence_on_date(spec, overrides, date(2026, 12, 7)) is None


def test_moved_occurrence_is_found_on_its_new_day_and_on_its_original_day() -> None:
    spec = series(*MONDAYS_AND_WEDNESDAYS, start=DAILY_FROM_NOV_30)
    overrides = [moved("2026-12-09 14:00", "2026-12-10 17:00", "2026-12-10 18:00")]
    expected = occurrence("2026-12-09 14:00", "2026-12-10 17:00", "2026-12-10 18:00")
    assert occurrence_on_date(spec, overrides, date(2026, 12, 10)) == expected
    assert occurrence_on_date(spec, overrides, date(2026, 12, 9)) == expected


def test_occurrence_on_date_uses_the_series_zone_not_utc() -> None:
    """21:00 in New York is 02:00Z the next day; it belongs to its New York date."""
    spec = series("RRULE:FREQ=DAILY", start="2026-11-30 21:00")
    assert occurrence_on_date(spec, [], date(2026, 12, 2)) == occurrence("2026-12-03 02:00")


def test_all_day_occurrence_on_date() -> None:
    spec = series(
        "RRULE:FREQ=WEEKLY", start="2026-10-25 00:00", zone=BERLIN, duration=DAY, all_day=True
    )
    assert occurrence_on_date(spec, [], date(2026, 11, 1)) == occurrence(
        "2026-10-31 23:00", end="2026-11-01 23:00"
    )
    assert occurrence_on_date(spec, [], date(2026, 11, 2)) is None


# --- next_occurrence and occurrence_after -----------------------------------------------------


def test_next_occurrence_is_the_one_in_progress() -> None:
    spec = series("RRULE:FREQ=DAILY", start=DAILY_FROM_NOV_30)
    assert next_occurrence(spec, [], utc("2026-12-01 14:30")) == occurrence("2026-12-01 14:00")
    assert next_occurrence(spec, [], utc("2026-12-01 15:00")) == occurrence("2026-12-02 14:00")


def test_next_occurrence_before_the_series_begins_is_the_first() -> None:
    spec = series("RRULE:FREQ=DAILY", start=DAILY_FROM_NOV_30)
    assert next_occurrence(spec, [], utc("2020-01-01 00:00")) == occurrence("2026-11-30 14:00")
    assert next_occurrence(spec, [], utc("1800-01-01 00:00")) == occurrence("2026-11-30 14:00")
    assert occurrence_after(spec, [], utc("1800-01-01 00:00")) == occurrence("2026-11-30 14:00")


def test_endless_daily_series_from_2016_asked_in_2026_is_fast() -> None:
    spec = series("RRULE:FREQ=DAILY", start="2016-01-04 09:00")
    now = utc("2026-03-10 15:00")  # Mar 10 2026 is EDT: its 09:00 meeting ended at 14:00Z
    assert next_occurrence(spec, [], now) == occurrence("2026-03-11 13:00")
    assert occurrence_after(spec, [], utc("2026-03-10 13:00")) == occurrence("2026-03-11 13:00")
    calls = 200
    began = time.perf_counter()
    for _ in range(calls):
        next_occurrence(spec, [], now)
    # Walking ten years of days takes ~15 ms a call; the restarted rule well under 1 ms.
    assert (time.perf_counter() - began) / calls < 0.002


def test_every_other_week_from_2016_keeps_its_parity_in_2026() -> None:
    """Mar 9 2026 is 531 weeks after Jan 4 2016 (odd): the series meets on Mar 2 and Mar 16."""
    spec = series("RRULE:FREQ=WEEKLY;INTERVAL=2", start="2016-01-04 09:00")
    assert starts_between(spec, "2026-03-01 00:00", "2026-03-20 00:00") == [
        utc("2026-03-02 14:00"),  # still EST
        utc("2026-03-16 13:00"),  # EDT
    ]
    assert next_occurrence(spec, [], utc("2026-03-09 00:00")) == occurrence("2026-03-16 13:00")


def test_occurrence_after_skips_exdates_and_cancelled_ones() -> None:
    spec = series("RRULE:FREQ=DAILY", "EXDATE:20261202T140000Z", start=DAILY_FROM_NOV_30)
    overrides = [cancelled("2026-12-03 14:00")]
    assert occurrence_after(spec, overrides, utc("2026-12-01 14:00")) == occurrence(
        "2026-12-04 14:00"
    )


def test_next_occurrence_skips_a_long_run_of_cancelled_ones() -> None:
    spec = series("RRULE:FREQ=DAILY", start=DAILY_FROM_NOV_30)
    overrides = [cancelled(f"2026-12-{day:02} 14:00") for day in range(1, 32)]
    assert next_occurrence(spec, overrides, utc("2026-11-30 15:00")) == occurrence(
        "2027-01-01 14:00"
    )


# --- input handling ---------------------------------------------------------------------------


def test_folded_rule_lines_are_unfolded() -> None:
    spec = series("RRULE:FREQ=WEEKLY;COUNT=4;\r\n BYDAY=MO,WE", start=DAILY_FROM_NOV_30)
    assert starts_between(spec) == [
        utc("2026-11-30 14:00"),
        utc("2026-12-02 14:00"),
        utc("2026-12-07 14:00"),
        utc("2026-12-09 14:00"),
    ]


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("RRULE:FREQ=FORTNIGHTLY", id="unknown frequency"),
        pytest.param("RRULE:FREQ=DAILY;BYDAY=XX", id="bad BYDAY"),
        pytest.param("RRULE:FREQ=DAILY;RSCALE=HEBREW", id="unsupported part"),
        pytest.param("EXDATE;TZID=Mars/Olympus:20261201T090000", id="unknown TZID"),
        pytest.param("EXDATE:2026-12-01", id="not RFC 5545 date"),
        pytest.param("RRULE", id="no value"),
    ],
)
def test_unreadable_lines_raise_recurrence_error(line: str) -> None:
    spec = series(line, start=DAILY_FROM_NOV_30)
    with pytest.raises(RecurrenceError):
        next_occurrence(spec, [], utc("2026-12-01 00:00"))


def test_naive_times_are_refused() -> None:
    spec = series("RRULE:FREQ=DAILY", start=DAILY_FROM_NOV_30)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_occurrence(spec, [], datetime(2026, 12, 1, 9, 0))
