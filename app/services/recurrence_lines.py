"""RFC 5545 recurrence lines (RRULE, EXRULE, RDATE, EXDATE) read into rules and dates."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY
from dateutil.rrule import weekday as Weekday

from app.services.recurrence_instants import (
    EARLIEST,
    LATEST,
    WALL_SLACK,
    instant,
    series_zone,
    wall,
)
from app.services.recurrence_rule import Freq, RecurrenceError, Rule

__all__ = ["RecurrenceLines"]

_FREQUENCIES: dict[str, Freq] = {
    "YEARLY": YEARLY,
    "MONTHLY": MONTHLY,
    "WEEKLY": WEEKLY,
    "DAILY": DAILY,
}
_TOO_FREQUENT = frozenset({"HOURLY", "MINUTELY", "SECONDLY"})
_WEEKDAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_BYDAY = re.compile(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)")
_DATE_OR_DATE_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z)?)?")
# Each integer part, its keyword for dateutil and the values RFC 5545 3.3.10 allows (0 never,
# negative counting from the end, where the RFC allows it). BYSECOND=60, a leap second, has no
# datetime to stand for it.
_INT_PARTS: dict[str, tuple[str, range, bool]] = {
    "BYSETPOS": ("bysetpos", range(1, 367), True),
    "BYMONTH": ("bymonth", range(1, 13), False),
    "BYMONTHDAY": ("bymonthday", range(1, 32), True),
    "BYYEARDAY": ("byyearday", range(1, 367), True),
    "BYWEEKNO": ("byweekno", range(1, 54), True),
    "BYHOUR": ("byhour", range(24), False),
    "BYMINUTE": ("byminute", range(60), False),
    "BYSECOND": ("bysecond", range(60), False),
}
# More start times a day than this is not a meeting schedule (and would multiply the work).
_MAX_TIMES_A_DAY = 24
# Recurrence text quoted back in a message is cut to this length.
_SHOWN = 80


def _shown(text: str) -> str:
    """Recurrence text quoted in a message, cut short."""
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def _unfolded(lines: Iterable[str]) -> Iterator[str]:
    """RFC 5545 3.1: a line break followed by a space or tab continues the previous line."""
    text = re.sub(r"\r?\n[ \t]", "", "\n".join(lines))
    for line in re.split(r"\r?\n", text):
        if line.strip():
            yield line.strip()


def _split_property(line: str) -> tuple[str, dict[str, str], str]:
    """`NAME;PARAM=V;...:VALUE` into its parts; a quoted parameter value may hold ':' or ';'."""
    quoted = False
    pieces: list[str] = []
    piece_start = 0
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            pieces.append(line[piece_start:index])
            piece_start = index + 1
        elif char == ":" and not quoted:
            pieces.append(line[piece_start:index])
            value = line[index + 1 :]
            break
    else:
        raise RecurrenceError(
            f"calbot cannot read the recurrence line {_shown(line)}: it has no ':' and no value."
        )
    name, *raw_params = pieces
    params: dict[str, str] = {}
    for raw in raw_params:
        key, _, param_value = raw.partition("=")
        params[key.strip().upper()] = param_value.strip().strip('"')
    return name.strip().upper(), params, value.strip()


@dataclass(frozen=True, slots=True)
class _Value:
    """A DATE or DATE-TIME as written; `clock` None is a DATE, `utc` a trailing Z."""

    day: date
    clock: time | None
    utc: bool


def _parse_value(text: str) -> _Value:
    match = _DATE_OR_DATE_TIME.fullmatch(text.strip().upper())
    if match is None:
        raise RecurrenceError(
            f"calbot cannot read {_shown(text.strip())} as an RFC 5545 date or date-time "
            "(YYYYMMDD or YYYYMMDDTHHMMSS, optionally ending in Z)."
        )
    year, month, day, hour, minute, second, zulu = match.groups()
    try:
        parsed_day = date(int(year), int(month), int(day))
        clock = None if hour is None else time(int(hour), int(minute), min(int(second), 59))
    except ValueError as error:
        raise RecurrenceError(
            f"The value {_shown(text.strip())} is not a date or date-time that exists."
        ) from error
    return _Value(parsed_day, clock, utc=zulu is not None)


class RecurrenceLines:
    """The rules and dates of one series' recurrence lines, collected line by line."""

    @classmethod
    def read(
        cls, lines: Iterable[str], zone: ZoneInfo, dtstart: datetime, all_day: bool
    ) -> RecurrenceLines:
        """Every line of a series; `dtstart` is the naive local first start in `zone`."""
        collected = cls(zone, dtstart, all_day)
        for line in _unfolded(lines):
            collected.add(line)
        return collected

    def __init__(self, zone: ZoneInfo, dtstart: datetime, all_day: bool) -> None:
        self.zone = zone
        self.dtstart = dtstart
        self.all_day = all_day
        self.rules: list[Rule] = []
        self.exrules: list[Rule] = []
        self.rdates: set[datetime] = set()
        self.exdates: set[datetime] = set()
        self.exdate_days: set[date] = set()

    def add(self, line: str) -> None:
        try:
            self._add(line)
        except OverflowError as error:
            raise RecurrenceError(
                f"The recurrence line {_shown(line)} holds a date too far from today for calbot."
            ) from error

    def _add(self, line: str) -> None:
        name, params, value = _split_property(line)
        if name == "RRULE":
            self.rules.append(self._rule(value))
        elif name == "EXRULE":
            self.exrules.append(self._rule(value))
        elif name == "RDATE":
            self.rdates.update(self._rdates(params, value))
        elif name == "EXDATE":
            self._exdates(params, value)
        # Anything else (a stray DTSTART, X- lines) carries nothing for expansion: the series'
        # start comes from `first_start`, as Google keeps DTSTART out of `recurrence`.

    def _instant(self, value: _Value, tzid: str | None) -> datetime:
        """The UTC instant of a DATE-TIME: Z is UTC, TZID its zone, floating the series zone."""
        local = datetime.combine(value.day, value.clock or time())
        if value.utc:
            return local.replace(tzinfo=UTC)
        return instant(local, series_zone(tzid) if tzid else self.zone)

    def _on_day(self, day: date) -> datetime:
        """A date as an occurrence start: that day at the series' own start time."""
        return instant(datetime.combine(day, self.dtstart.time()), self.zone)

    def _rdates(self, params: dict[str, str], value: str) -> Iterator[datetime]:
        for item in value.split(","):
            # VALUE=PERIOD ("start/end" or "start/duration"): the start is kept, the period's own
            # length is not (the series' duration applies). Google does not emit periods.
            parsed = _parse_value(item.partition("/")[0])
            if parsed.clock is None or self.all_day:
                yield self._on_day(parsed.day)
            else:
                yield self._instant(parsed, params.get("TZID"))

    def _exdates(self, params: dict[str, str], value: str) -> None:
        for item in value.split(","):
            parsed = _parse_value(item)
            if parsed.clock is None or self.all_day:
                self.exdate_days.add(parsed.day)
            else:
                self.exdates.add(self._instant(parsed, params.get("TZID")))

    def _until(self, text: str) -> datetime:
        parsed = _parse_value(text)
        day = min(max(parsed.day, EARLIEST.date()), LATEST.date())  # far enough either way
        if self.all_day:
            return self._on_day(day)
        if parsed.clock is None:  # a DATE UNTIL on a timed series: through the end of that day
            return instant(datetime.combine(day, time(23, 59, 59)), self.zone)
        return self._instant(_Value(day, parsed.clock, parsed.utc), None)

    def _rule(self, value: str) -> Rule:
        parts: dict[str, str] = {}
        for raw in value.split(";"):
            if raw.strip():
                key, _, part = raw.partition("=")
                parts[key.strip().upper()] = part.strip().upper()
        try:
            return self._build_rule(parts)
        except RecurrenceError:
            raise
        except (KeyError, ValueError, OverflowError) as error:
            reason = f"{error.args[0]} is missing" if isinstance(error, KeyError) else str(error)
            raise RecurrenceError(
                f"calbot cannot read the recurrence rule {_shown(value)}: {reason}."
            ) from error

    def _build_rule(self, parts: dict[str, str]) -> Rule:
        frequency = parts.pop("FREQ")
        if frequency in _TOO_FREQUENT:
            raise RecurrenceError(
                f"The series repeats FREQ={frequency}: calbot follows series that repeat daily "
                "or less often, as meetings do, and leaves this one alone."
            )
        if frequency not in _FREQUENCIES:
            raise ValueError(f"FREQ={frequency} is not an RFC 5545 frequency")
        freq = _FREQUENCIES[frequency]
        interval = _positive(parts.pop("INTERVAL", "1"), "INTERVAL")
        wkst = _weekday(parts.pop("WKST", "MO"), "WKST")
        count = _positive(parts.pop("COUNT"), "COUNT") if "COUNT" in parts else None
        until = self._until(parts.pop("UNTIL")) if "UNTIL" in parts else None
        ints = {
            keyword: _numbers(parts.pop(name), name, allowed, negative)
            for name, (keyword, allowed, negative) in _INT_PARTS.items()
            if name in parts
        }
        byweekday = _byday(parts.pop("BYDAY")) if "BYDAY" in parts else None
        unknown = [name for name in parts if not name.startswith("X-")]
        if unknown:
            raise ValueError(f"calbot does not support {', '.join(unknown)}")
        return self._explicit(freq, interval, wkst, count, until, ints, byweekday)

    def _explicit(
        self,
        freq: Freq,
        interval: int,
        wkst: int,
        count: int | None,
        until: datetime | None,
        ints: dict[str, tuple[int, ...]],
        byweekday: tuple[Weekday, ...] | None,
    ) -> Rule:
        """Write out the parts RFC 5545 (and dateutil) take from DTSTART when a rule omits them,
        so that one period of the rule can be expanded on its own."""
        start = self.dtstart
        bymonth = ints.get("bymonth")
        bymonthday = ints.get("bymonthday")
        if not (ints.keys() & {"byweekno", "byyearday", "bymonthday"}) and byweekday is None:
            if freq == YEARLY:
                bymonth = bymonth or (start.month,)
                bymonthday = (start.day,)
            elif freq == MONTHLY:
                bymonthday = (start.day,)
            elif freq == WEEKLY:
                byweekday = (Weekday(start.weekday()),)
        byhour = ints.get("byhour", (start.hour,))
        byminute = ints.get("byminute", (start.minute,))
        bysecond = ints.get("bysecond", (start.second,))
        if len(byhour) * len(byminute) * len(bysecond) > _MAX_TIMES_A_DAY:
            raise ValueError(
                f"it starts more than {_MAX_TIMES_A_DAY} times a day (BYHOUR, BYMINUTE and "
                "BYSECOND together), which is not a meeting schedule"
            )
        return Rule(
            freq=freq,
            interval=interval,
            wkst=wkst,
            count=count,
            until=until,
            until_wall=None if until is None else wall(until, self.zone) + WALL_SLACK,
            bysetpos=ints.get("bysetpos"),
            bymonth=bymonth,
            bymonthday=bymonthday,
            byyearday=ints.get("byyearday"),
            byweekno=ints.get("byweekno"),
            byweekday=byweekday,
            byhour=byhour,
            byminute=byminute,
            bysecond=bysecond,
        )


def _positive(text: str, name: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name}={text} is not a positive whole number")
    return int(text)


def _weekday(text: str, name: str) -> int:
    if text not in _WEEKDAYS:
        raise ValueError(f"{name}={text} is not a weekday (MO, TU, WE, TH, FR, SA, SU)")
    return _WEEKDAYS[text]


def _numbers(text: str, name: str, allowed: range, negative: bool) -> tuple[int, ...]:
    """A comma-separated list of integers within RFC 5545's range for the part."""
    numbers: list[int] = []
    for item in text.split(","):
        item = item.strip()
        digits = item[1:] if item[:1] in "+-" else item
        value = int(item) if digits.isdigit() and len(digits) <= 4 else None
        if value is None or not (value in allowed or (negative and -value in allowed)):
            low, high = allowed[0], allowed[-1]
            bounds = f"{low} to {high}" + (f" or -{high} to -{low}" if negative else "")
            raise ValueError(f"{name}={item} is not a number from {bounds}")
        numbers.append(value)
    return tuple(numbers)


def _byday(text: str) -> tuple[Weekday, ...]:
    days: list[Weekday] = []
    for item in text.split(","):
        match = _BYDAY.fullmatch(item.strip())
        ordinal = int(match.group(1)) if match and match.group(1) else None
        if match is None or ordinal == 0 or (ordinal is not None and abs(ordinal) > 53):
            raise ValueError(
                f"BYDAY={item.strip()} is not a weekday (MO to SU), optionally preceded by an "
                "ordinal from 1 to 53 or -53 to -1"
            )
        days.append(Weekday(_WEEKDAYS[match.group(2)], ordinal))
    return tuple(days)
