"""One RRULE or EXRULE, expanded period by period so that no rule can make a call expensive.

dateutil's own iterator looks for the next matching date until year 9999: a rule that never
matches (`FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30`, a `BYSETPOS` past the end of every set) keeps it
busy for seconds to minutes. Here dateutil is only asked for the dates of one calendar month (or
one year, for YEARLY rules, whose BYDAY ordinals count within the year) at a time; calbot groups
them into the rule's periods (day, week, month, year, aligned to INTERVAL from DTSTART as RFC
5545 and dateutil do), applies BYSETPOS to each period, and stops at the end of the window. The
work of a call is then bounded by the window it asks about, and a `Budget` bounds the total.

Everything here is naive wall-clock time in the series' zone; recurrence_expansion.py turns it into
UTC.
"""

from __future__ import annotations

from bisect import bisect_left
from calendar import monthrange
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, TypeAlias

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY
from dateutil.rrule import rrule as DateutilRule
from dateutil.rrule import weekday as Weekday

__all__ = [
    "COUNT_LIMIT",
    "COUNT_YEARS",
    "Budget",
    "Freq",
    "RecurrenceError",
    "Rule",
    "RuleRunner",
]

Freq: TypeAlias = Literal[0, 1, 2, 3, 4, 5, 6]

# COUNT is counted from DTSTART, so a COUNT rule is walked from its first start once (per process)
# to find its last date. The walk stops after this many years or occurrences, whichever comes
# first (Outlook's editor stops at 999); a rule whose COUNT is not reached by then is treated as
# ending there (`count_cut_off`).
COUNT_YEARS = 20
COUNT_LIMIT = 3_000
_COUNT_SPAN = timedelta(days=366 * COUNT_YEARS)

# dateutil yields one month (MONTHLY) or one year (YEARLY) per call: with an INTERVAL this large
# its second period lies past datetime.MAXYEAR, so it returns after the first.
_ONE_PERIOD_ONLY = {YEARLY: 10_000, MONTHLY: 120_000}
_ALL_WEEKDAYS = tuple(Weekday(day) for day in range(7))


class RecurrenceError(ValueError):
    """A recurrence line, value or time zone calbot cannot read or expand; a sentence for users."""


class _OutOfBudget(RecurrenceError):
    """A Budget ran out."""


class Budget:
    """How much expansion one call may do, in units of about a microsecond of CPU: a day that
    dateutil filters costs one, a start time it generates (and calbot converts) three more.

    Running out raises RecurrenceError, which every caller already handles as a series calbot
    cannot follow.
    """

    # A search for the next occurrence: room for HORIZON_YEARS of an empty rule and an empty
    # EXRULE (about 4,000 days each), which then answer "no occurrence", and never past ~10 ms.
    SEARCH = 10_000
    # Finding where a COUNT ends, once per series: 3,000 daily occurrences fit.
    COUNT = 15_000
    # A window asked for (auto-scheduling's lookahead, one day): proportional to what the window
    # holds, so only a guard against windows of decades.
    WINDOW = 100_000
    PER_DAY = 1
    PER_START = 3

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def spend(self, amount: int) -> None:
        self.left -= amount
        if self.left < 0:
            raise _OutOfBudget(
                "Expanding this series takes more work than calbot allows for one question "
                f"({self.limit:,} days looked at and start times generated), so calbot cannot "
                "follow it."
            )


@dataclass(frozen=True, slots=True)
class Rule:
    """One RRULE or EXRULE with every part dateutil would derive from DTSTART written out."""

    freq: Freq
    interval: int
    wkst: int
    count: int | None
    until: datetime | None  # UTC, inclusive
    until_wall: datetime | None  # naive local, widened: the rule yields nothing after it
    bysetpos: tuple[int, ...] | None
    bymonth: tuple[int, ...] | None
    bymonthday: tuple[int, ...] | None
    byyearday: tuple[int, ...] | None
    byweekno: tuple[int, ...] | None
    byweekday: tuple[Weekday, ...] | None
    byhour: tuple[int, ...]
    byminute: tuple[int, ...]
    bysecond: tuple[int, ...]


@dataclass(frozen=True, slots=True, eq=False)
class RuleRunner:
    """Yields a rule's local start times in a window, a month (or year) of candidates at a time."""

    rule: Rule
    dtstart: datetime  # naive local
    stop: datetime | None  # naive local: nothing after it (UNTIL, or COUNT's last date)
    filters: Filters
    count_cut_off: bool = False  # COUNT was not reached within what calbot counts: see COUNT_YEARS

    @classmethod
    def of(cls, rule: Rule, dtstart: datetime) -> RuleRunner:
        """A runner; raises RecurrenceError when dateutil refuses the rule's parts."""
        runner = cls(rule, dtstart, rule.until_wall, _filters(rule))
        try:
            DateutilRule(MONTHLY, dtstart=datetime(dtstart.year, 1, 1), **dict(runner.filters))
        except (ValueError, TypeError) as error:
            raise RecurrenceError(f"calbot cannot expand the recurrence rule: {error}.") from error
        return runner if rule.count is None else runner._counted()

    def between(self, lo: datetime, hi: datetime, budget: Budget) -> list[datetime]:
        """The rule's start times in [lo, hi], ascending."""
        lo = max(lo, self.dtstart)
        if self.stop is not None:
            hi = min(hi, self.stop)
        if hi < lo:
            return []
        return list(self._dates(lo, hi, budget))

    # -- COUNT --------------------------------------------------------------------------------

    def _counted(self) -> RuleRunner:
        """COUNT turned into the date it ends on, found by walking from DTSTART once."""
        assert self.rule.count is not None
        limit = self.dtstart + _COUNT_SPAN
        if self.stop is not None and self.stop <= limit:
            limit = self.stop
        seen, local = 0, self.dtstart
        try:
            for local in self._dates(self.dtstart, limit, Budget(Budget.COUNT)):
                seen += 1
                if seen == self.rule.count:
                    return replace(self, stop=local)
                if seen == COUNT_LIMIT:
                    return replace(self, stop=local, count_cut_off=True)
        except _OutOfBudget:
            return replace(self, stop=local, count_cut_off=True)
        if limit == self.stop:
            return self  # UNTIL comes first: COUNT never binds
        return replace(self, stop=limit, count_cut_off=True)

    # -- periods ------------------------------------------------------------------------------

    def _dates(self, lo: datetime, hi: datetime, budget: Budget) -> Iterator[datetime]:
        """Start times in [lo, hi], ascending: the candidates of each month (or year) in turn,
        grouped into the rule's periods; each period in step with INTERVAL keeps its candidates,
        or the BYSETPOS ones among them. The cost follows the months and the candidates, not the
        periods, so an empty daily rule costs no more than a matching one."""
        if not self.rule.bysetpos:
            yield from self._dates_without_setpos(lo, hi, budget)
            return
        first_day, last_day = self._period(lo.date())[0], self._period(hi.date())[1]
        group: list[datetime] = []
        group_key = 0
        for unit in self._units(first_day, last_day, budget):
            for local in unit[bisect_left(unit, datetime.combine(first_day, time())) :]:
                if local.date() > last_day:
                    break
                key = self._period_key(local.date())
                if group and key != group_key:
                    yield from self._kept(group, group_key, lo, hi)
                    group = []
                group_key = key
                group.append(local)
        yield from self._kept(group, group_key, lo, hi)

    def _dates_without_setpos(
        self, lo: datetime, hi: datetime, budget: Budget
    ) -> Iterator[datetime]:
        """The same without BYSETPOS: no period needs to be seen whole."""
        every_period = self.rule.interval == 1
        first_key, step = self._period_key(self.dtstart.date()), self.rule.interval
        for unit in self._units(lo.date(), hi.date(), budget):
            for local in unit[bisect_left(unit, lo) :]:
                if local > hi:
                    return
                if every_period or (self._period_key(local.date()) - first_key) % step == 0:
                    yield local

    def _kept(
        self, group: list[datetime], key: int, lo: datetime, hi: datetime
    ) -> Iterator[datetime]:
        """What one period yields: nothing unless it is in step with INTERVAL from DTSTART's."""
        first_key = self._period_key(self.dtstart.date())
        if not group or key < first_key or (key - first_key) % self.rule.interval:
            return
        if key == first_key and self.rule.freq == WEEKLY:
            # dateutil's first week starts on DTSTART's day, so BYSETPOS counts from there.
            group = [local for local in group if local.date() >= self.dtstart.date()]
        if self.rule.bysetpos:
            group = _positions(group, self.rule.bysetpos)
        for local in group:
            if lo <= local <= hi:
                yield local

    def _units(
        self, first_day: date, last_day: date, budget: Budget
    ) -> Iterator[tuple[datetime, ...]]:
        """The candidates of every month (every year, for YEARLY) from first_day to last_day
        that holds part of a period in step with INTERVAL; the others are skipped unread."""
        yearly = self.rule.freq == YEARLY
        unit_start = date(first_day.year, 1 if yearly else first_day.month, 1)
        while unit_start <= last_day:
            year, month = unit_start.year, unit_start.month
            if yearly:
                unit_end = date(year, 12, 31)
            else:
                unit_end = date(year, month, monthrange(year, month)[1])
            if self._in_step(max(unit_start, first_day), min(unit_end, last_day)):
                unit = _unit(self.filters, year, 0 if yearly else month)
                days = (unit_end - unit_start).days + 1
                budget.spend(days * Budget.PER_DAY + len(unit) * Budget.PER_START)
                yield unit
            unit_start = unit_end + timedelta(days=1)

    def _in_step(self, first_day: date, last_day: date) -> bool:
        """Whether a period in step with INTERVAL from DTSTART's touches [first_day, last_day]."""
        first_key, step = self._period_key(self.dtstart.date()), self.rule.interval
        lo_key, hi_key = self._period_key(first_day), self._period_key(last_day)
        next_key = first_key + max(0, -(-(lo_key - first_key) // step)) * step
        return next_key <= hi_key

    def _period_key(self, day: date) -> int:
        """A number for the period holding `day`, consecutive periods consecutive numbers."""
        freq = self.rule.freq
        if freq == DAILY:
            return day.toordinal()
        if freq == WEEKLY:
            return (day.toordinal() - 1 - self.rule.wkst) // 7  # ordinal 1 was a Monday
        if freq == MONTHLY:
            return day.year * 12 + day.month - 1
        return day.year

    def _period(self, day: date) -> tuple[date, date]:
        """The first and last day of the period holding `day`."""
        freq = self.rule.freq
        if freq == DAILY:
            return day, day
        if freq == WEEKLY:
            first = day - timedelta(days=(day.weekday() - self.rule.wkst) % 7)
            return first, first + timedelta(days=6)
        if freq == MONTHLY:
            return day.replace(day=1), day.replace(day=monthrange(day.year, day.month)[1])
        return date(day.year, 1, 1), date(day.year, 12, 31)


Filters: TypeAlias = tuple[tuple[str, Any], ...]


def _filters(rule: Rule) -> Filters:
    """The parts that pick days and times, for dateutil to apply to one month or year."""
    byweekday = rule.byweekday
    if byweekday and rule.freq in (WEEKLY, DAILY):
        # Ordinals (2MO) mean nothing in a weekly or daily rule; dateutil ignores them there.
        byweekday = tuple(Weekday(day) for day in sorted({w.weekday for w in byweekday}))
    if not (rule.bymonthday or rule.byyearday or rule.byweekno or byweekday):
        byweekday = _ALL_WEEKDAYS  # else dateutil would take the day from the period start
    return (
        ("interval", _ONE_PERIOD_ONLY[YEARLY if rule.freq == YEARLY else MONTHLY]),
        ("wkst", rule.wkst),
        ("bymonth", rule.bymonth),
        ("bymonthday", rule.bymonthday),
        ("byyearday", rule.byyearday),
        ("byweekno", rule.byweekno),
        ("byweekday", byweekday),
        ("byhour", rule.byhour),
        ("byminute", rule.byminute),
        ("bysecond", rule.bysecond),
    )


# Units are shared by every series with the same filters (a calendar holds many "weekly on
# Monday at 9" series), so the small ones are kept: at most _UNITS_KEPT of at most
# _SMALL_UNIT start times each, a few megabytes at worst.
_UNITS_KEPT = 4096
_SMALL_UNIT = 62
_units_kept: dict[tuple[Filters, int, int], tuple[datetime, ...]] = {}


def _unit(filters: Filters, year: int, month: int) -> tuple[datetime, ...]:
    """Candidate start times of one month (`month` 0: of the whole year), ascending."""
    key = (filters, year, month)
    found = _units_kept.get(key)
    if found is None:
        freq: Freq = YEARLY if month == 0 else MONTHLY
        start = datetime(year, month or 1, 1)
        found = tuple(DateutilRule(freq, dtstart=start, **dict(filters)))
        if len(found) <= _SMALL_UNIT:
            if len(_units_kept) >= _UNITS_KEPT:
                del _units_kept[next(iter(_units_kept))]  # the oldest one
            _units_kept[key] = found
    return found


def _positions(dates: list[datetime], setpos: tuple[int, ...]) -> list[datetime]:
    """BYSETPOS: the n-th (or n-th from last) of a period's sorted start times."""
    chosen = {
        dates[position - 1 if position > 0 else position]
        for position in setpos
        if -len(dates) <= (position - 1 if position > 0 else position) < len(dates)
    }
    return sorted(chosen)
