"""The search for a series' next occurrence answers without expanding its rules when the series'
earliest start is the answer (`recurrence_expansion._earliest_wins`): for any series, readable
or not, with or without exceptions, it must answer exactly what the full search answers, the
same occurrence or the same refusal (issue 13, full sync: a sync works out the next occurrence
of every series it stores).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from unittest.mock import patch
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import Occurrence, OccurrenceOverride, SeriesSpec
from app.services import recurrence_expansion
from app.services.recurrence import RecurrenceError, next_occurrence, occurrence_after

ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata")
BASE = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@st.composite
def rules(draw: st.DrawFn, first: datetime, keyword: str = "RRULE") -> str:
    """An RRULE (or EXRULE) line of the kinds Google and Outlook write, and denser ones."""
    parts = [f"FREQ={draw(st.sampled_from(('DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY')))}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 4))}")
    ending = draw(st.sampled_from(("none", "count", "until")))
    if ending == "count":
        parts.append(f"COUNT={draw(st.integers(1, 30))}")
    elif ending == "until":
        parts.append(f"UNTIL={_stamp(first + timedelta(days=draw(st.integers(-10, 400))))}")
    if draw(st.integers(0, 4)) == 0:  # as dense as calbot reads: every day, 24 times a day
        parts.append("BYDAY=" + ",".join(DAYS))
        parts.append("BYHOUR=" + ",".join(map(str, range(24))))
        return f"{keyword}:" + ";".join(parts)
    if draw(st.booleans()):
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True))
        parts.append("BYDAY=" + ",".join(days))
    if draw(st.integers(0, 3)) == 0:
        hours = draw(st.lists(st.integers(0, 23), min_size=1, max_size=24, unique=True))
        parts.append("BYHOUR=" + ",".join(map(str, sorted(hours))))
    if draw(st.integers(0, 3)) == 0:
        parts.append(f"BYMONTHDAY={draw(st.sampled_from((1, 15, 28, 31, -1)))}")
    if draw(st.integers(0, 4)) == 0:
        parts.append(f"BYSETPOS={draw(st.sampled_from((1, 2, -1)))}")
    return f"{keyword}:" + ";".join(parts)


@st.composite
def cases(draw: st.DrawFn) -> tuple[SeriesSpec, list[OccurrenceOverride], datetime]:
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    all_day = draw(st.integers(0, 4)) == 0
    first = BASE + timedelta(minutes=15 * draw(st.integers(-40_000, 40_000)))
    if all_day:
        first = first.astimezone(zone).replace(hour=0, minute=0)
    lines = [draw(rules(first)) for _ in range(draw(st.integers(1, 4)))]
    near = st.integers(-30, 30).map(lambda days: first + timedelta(days=days))
    if draw(st.booleans()):  # the first start itself, or a day near it
        lines.append("EXDATE:" + _stamp(first if draw(st.booleans()) else draw(near)))
    if draw(st.integers(0, 3)) == 0:  # possibly before DTSTART
        lines.append("RDATE:" + _stamp(draw(near)))
    if draw(st.integers(0, 5)) == 0:
        lines.append(draw(rules(first, "EXRULE")))
    overrides = [
        OccurrenceOverride(
            original_start=draw(st.sampled_from((first, first + timedelta(days=7)))),
            cancelled=cancelled,
            start=None if cancelled else draw(near),
            end=None,
        )
        for cancelled in draw(st.lists(st.booleans(), max_size=2))
    ]
    duration = draw(st.sampled_from((0.0, 1800.0, 3600.0, 86_400.0, 3 * 86_400.0)))
    spec = SeriesSpec(tuple(lines), first, duration, str(zone), all_day)
    now = first + timedelta(minutes=draw(st.integers(-20_000, 20_000)))
    return spec, overrides, now


def _answer(ask: Callable[[], Occurrence | None]) -> Occurrence | str | None:
    try:
        return ask()
    except RecurrenceError as error:
        return f"refused: {error}"


def _full_search(ask: Callable[[], Occurrence | None]) -> Occurrence | str | None:
    """What the search answers when it always expands the rules."""
    with patch.object(recurrence_expansion, "_earliest_wins", lambda *_: False):
        return _answer(ask)


@settings(max_examples=400, deadline=None)
@given(cases())
def test_next_occurrence_answers_as_the_full_search(
    case: tuple[SeriesSpec, list[OccurrenceOverride], datetime],
) -> None:
    spec, overrides, now = case
    ask = partial(next_occurrence, spec, overrides, now)
    assert _answer(ask) == _full_search(ask)


@settings(max_examples=200, deadline=None)
@given(cases(), st.booleans())
def test_occurrence_after_answers_as_the_full_search(
    case: tuple[SeriesSpec, list[OccurrenceOverride], datetime], catching_up: bool
) -> None:
    spec, overrides, now = case
    after = spec.first_start - timedelta(days=1)
    ask = partial(
        occurrence_after, spec, overrides, after, ending_after=now if catching_up else None
    )
    assert _answer(ask) == _full_search(ask)


def test_a_series_whose_first_start_is_ahead_answers_it_without_expanding() -> None:
    """The shortcut is taken where a sync needs it: a new weekly series, first meeting ahead."""
    first = datetime(2026, 12, 7, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    spec = SeriesSpec(("RRULE:FREQ=WEEKLY;BYDAY=MO",), first, 1800.0, "Europe/Berlin", False)
    with patch.object(recurrence_expansion, "originals_between", side_effect=AssertionError):
        found = next_occurrence(spec, [], first - timedelta(days=3))
    assert found is not None
    assert found.start == first.astimezone(UTC)


def test_a_series_too_dense_to_search_is_refused_with_or_without_the_shortcut() -> None:
    """Five rules of 24 starts a day, every day: the search runs out of room in its first
    window and refuses the series; so must the shortcut, though the first start is ahead."""
    first = datetime(2026, 12, 7, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    dense = "RRULE:FREQ=DAILY;BYHOUR=" + ",".join(map(str, range(24)))
    spec = SeriesSpec((dense,) * 5, first, 1800.0, "Europe/Berlin", False)
    ask = partial(next_occurrence, spec, [], first - timedelta(days=3))
    assert str(_answer(ask)).startswith("refused: Expanding this series takes more work")
    assert _answer(ask) == _full_search(ask)
