"""A series parsed once into its rules and dates, and the search for its original starts."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.rrule import YEARLY

from app.domain import Occurrence, SeriesSpec
from app.services.recurrence_instants import (
    EARLIEST,
    LATEST,
    ONE_SECOND,
    WALL_SLACK,
    instant,
    series_zone,
    wall,
)
from app.services.recurrence_lines import RecurrenceLines
from app.services.recurrence_rule import (
    COUNT_LIMIT,
    COUNT_YEARS,
    Budget,
    RecurrenceError,
    Rule,
    RuleRunner,
)

__all__ = [
    "HORIZON_YEARS",
    "Expansion",
    "expansion_of",
    "first_original",
    "originals_between",
    "series_problem",
]

# Searches for "the next one" look at a week first, then at windows four times longer each, and
# give up after HORIZON_YEARS: a yearly meeting shows up within one, every calendar rule Google's
# and Outlook's editors make within a few.
HORIZON_YEARS = 10
_FIRST_WINDOW = timedelta(days=8)
_HORIZON = timedelta(days=3653)


@dataclass(frozen=True, slots=True, eq=False)
class Expansion:
    """A SeriesSpec parsed once: the rules, the extra and the excluded dates, the zone."""

    zone: ZoneInfo
    dtstart: datetime  # naive local wall time of the first start
    all_day: bool
    duration: timedelta
    days: int  # whole calendar days of an all-day occurrence
    rules: tuple[RuleRunner, ...]
    exrules: tuple[RuleRunner, ...]
    rdates: tuple[datetime, ...]  # UTC, sorted, DTSTART included
    exdates: frozenset[datetime]  # UTC
    exdate_days: frozenset[date]  # local dates: VALUE=DATE exclusions remove the whole day
    last: datetime | None  # the latest original start possible, None for an endless series
    counted_until: datetime | None  # a COUNT calbot did not count to the end stops here (UTC)

    @property
    def reach(self) -> timedelta:
        """How long before a window an occurrence may start and still overlap it."""
        return self.duration + WALL_SLACK

    def instant(self, local: datetime) -> datetime:
        return instant(local, self.zone)

    def end_of(self, start: datetime) -> datetime:
        if not self.all_day:
            return start + self.duration
        local_day = start.astimezone(self.zone).date()
        return self.instant(datetime.combine(local_day + timedelta(days=self.days), time()))

    def unchanged(self, original: datetime) -> Occurrence:
        return Occurrence(original_start=original, start=original, end=self.end_of(original))


def originals_between(
    expansion: Expansion, lo: datetime, hi: datetime, budget: Budget
) -> list[datetime]:
    """Original starts (UTC) in [lo, hi), after EXDATE and EXRULE, ascending."""
    lo, hi = max(lo, EARLIEST), min(hi, LATEST)
    if hi <= lo:
        return []
    zone = expansion.zone
    lo_wall, hi_wall = wall(lo, zone) - WALL_SLACK, wall(hi, zone) + WALL_SLACK
    found = set(
        expansion.rdates[bisect_left(expansion.rdates, lo) : bisect_left(expansion.rdates, hi)]
    )
    for runner in expansion.rules:
        for local in runner.between(lo_wall, hi_wall, budget):
            start = instant(local, zone)
            if lo <= start < hi and (runner.rule.until is None or start <= runner.rule.until):
                found.add(start)
    if not found:
        return []
    for runner in expansion.exrules:
        for local in runner.between(lo_wall, hi_wall, budget):
            start = instant(local, zone)
            if runner.rule.until is None or start <= runner.rule.until:
                found.discard(start)
    return sorted(
        start
        for start in found
        if start not in expansion.exdates
        and (not expansion.exdate_days or wall(start, zone).date() not in expansion.exdate_days)
    )


def first_original(
    expansion: Expansion,
    lo: datetime,
    accept: Callable[[datetime], bool],
    no_later_than: datetime | None,
    asked: datetime,
) -> datetime | None:
    """The earliest original start at or after `lo` that `accept`s, in windows growing 4x.

    Stops after `no_later_than` (a later start cannot beat what the caller already has: None),
    after the series' last possible start (None: it is over), or after the horizon (raises: the
    series goes on, but calbot does not know when).
    """
    # Nothing starts before the first start (or an earlier RDATE): begin there at the latest.
    start = max(lo, expansion.rdates[0] - WALL_SLACK, EARLIEST)
    horizon = start + _HORIZON
    stop = min(horizon, LATEST)
    if expansion.last is not None:
        stop = min(stop, expansion.last + ONE_SECOND)
    if no_later_than is not None:
        stop = min(stop, no_later_than + ONE_SECOND)
    earliest = expansion.rdates[0]
    if start <= earliest < stop and _earliest_wins(expansion, earliest) and accept(earliest):
        return earliest
    span, budget = _FIRST_WINDOW, Budget(Budget.SEARCH)
    while start < stop:
        end = min(start + span, stop)
        for original in originals_between(expansion, start, end, budget):
            if accept(original):
                return original
        start, span = end, span * 4
    if no_later_than is not None and stop == no_later_than + ONE_SECOND:
        return None
    cut_off = expansion.counted_until
    if cut_off is not None and cut_off < stop:
        raise RecurrenceError(
            f"calbot counts a series' COUNT over its first {COUNT_YEARS} years or "
            f"{COUNT_LIMIT:,} occurrences, and this series' COUNT goes on past "
            f"{_day(cut_off, expansion.zone)}, so calbot does not know its later occurrences."
        )
    if stop == horizon:
        raise RecurrenceError(
            f"The series has no occurrence calbot can use in the {HORIZON_YEARS} years after "
            f"{_day(asked, expansion.zone)}, and calbot looks no further ahead, so it treats the "
            "series as having no next occurrence."
        )
    return None


def _earliest_wins(expansion: Expansion, earliest: datetime) -> bool:
    """Whether the search's first window, which holds the series' earliest original start, would
    yield it first, so `first_original` may answer without expanding the rules.

    Nothing a rule generates starts before DTSTART, and the earliest of DTSTART and the RDATEs
    is `rdates[0]`: it comes first unless an exclusion removes it (EXDATE here; an EXRULE would
    need expanding, so none may be present). The window would also have spent its budget on
    every rule: a month's candidates cost its days and three per start, at most 24 starts a
    day, and a window (8 days, widened by WALL_SLACK) touches at most two months, so two rules
    that are not YEARLY (a year's candidates at a time) cost at most 2 x 2 x (31 + 3 x 744) =
    9,052 of the search's 10,000: the expansion could not have run out and said so instead.

    The case of every series whose first occurrence is still ahead: a full sync's new series
    (profile of a 10k-event full sync: `first_original` was two thirds of working out 1,000
    series' next occurrences, 40 of 60 us each).
    """
    if expansion.exrules or len(expansion.rules) > _RULES_WITHIN_BUDGET:
        return False
    if any(runner.rule.freq == YEARLY for runner in expansion.rules):
        return False
    if earliest in expansion.exdates:
        return False
    if expansion.exdate_days and wall(earliest, expansion.zone).date() in expansion.exdate_days:
        return False
    return True


# See `_earliest_wins`.
_RULES_WITHIN_BUDGET = 2


def _day(moment: datetime, zone: ZoneInfo) -> str:
    return max(moment, EARLIEST).astimezone(zone).date().isoformat()


def series_problem(series: SeriesSpec) -> str | None:
    """Why calbot cannot read this series (a sentence), or None when it can."""
    parsed = _parsed(series)
    return parsed if isinstance(parsed, str) else None


def expansion_of(series: SeriesSpec) -> Expansion:
    """The series parsed (once per process); RecurrenceError saying why when it cannot be."""
    parsed = _parsed(series)
    if isinstance(parsed, str):
        raise RecurrenceError(parsed)
    return parsed


@lru_cache(maxsize=4096)
def _parsed(series: SeriesSpec) -> Expansion | str:
    """A series parsed once (or why it cannot be): SeriesSpec is frozen, and thousands of events
    ask again and again. Only the message of a failure is kept, not the exception."""
    try:
        return _parse(series)
    except RecurrenceError as error:
        return str(error)
    except OverflowError:
        return "The series starts too far from today for calbot to follow it."


def _parse(series: SeriesSpec) -> Expansion:
    zone = series_zone(series.time_zone)
    first = series.first_start
    dtstart = (first.astimezone(zone) if first.tzinfo else first).replace(
        tzinfo=None, microsecond=0
    )
    parser = RecurrenceLines.read(series.recurrence, zone, dtstart, series.all_day)
    rules = tuple(_runner(rule, dtstart) for rule in parser.rules)
    rdates = tuple(sorted({instant(dtstart, zone), *parser.rdates}))
    last: datetime | None = rdates[-1]
    for runner in rules:
        rule_last = _last_start(runner, zone)
        last = None if last is None or rule_last is None else max(last, rule_last)
    cut_offs = [instant(r.stop, zone) for r in rules if r.count_cut_off and r.stop is not None]
    duration = timedelta(seconds=max(series.duration_seconds, 0.0))
    return Expansion(
        zone=zone,
        dtstart=dtstart,
        all_day=series.all_day,
        duration=duration,
        days=max(1, round(duration / timedelta(days=1))),
        rules=rules,
        exrules=tuple(_runner(rule, dtstart) for rule in parser.exrules),
        rdates=rdates,
        exdates=frozenset(parser.exdates),
        exdate_days=frozenset(parser.exdate_days),
        last=last,
        counted_until=min(cut_offs, default=None),
    )


def _runner(rule: Rule, dtstart: datetime) -> RuleRunner:
    if dtstart < EARLIEST.replace(tzinfo=None) or dtstart >= LATEST.replace(tzinfo=None):
        raise RecurrenceError(
            f"The series starts in {dtstart.year}, outside the years calbot follows "
            f"({EARLIEST.year} to {LATEST.year - 1})."
        )
    return RuleRunner.of(rule, dtstart)


def _last_start(runner: RuleRunner, zone: ZoneInfo) -> datetime | None:
    """The latest instant a rule can produce, or None when it never ends."""
    if runner.stop is None:
        return None
    last = instant(runner.stop, zone)
    return last if runner.rule.until is None else min(last, runner.rule.until)
