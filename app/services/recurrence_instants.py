"""Wall-clock and UTC instants of a recurring series, and the years calbot follows one in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.services.recurrence_rule import RecurrenceError
from app.services.zones import resolve_zone, unreadable_zone_reason

__all__ = [
    "EARLIEST",
    "LATEST",
    "ONE_SECOND",
    "WALL_SLACK",
    "aware_utc",
    "instant",
    "series_zone",
    "to_the_second",
    "wall",
]

# Wall time and UTC differ by at most ~26 h (offsets span -12..+14, Samoa skipped a day in 2011),
# so a local window widened by two days on each side always covers a UTC window.
WALL_SLACK = timedelta(days=2)
# Keeps window arithmetic (± slack, ± durations) clear of datetime's year 1 and 9999 limits.
EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
ONE_SECOND = timedelta(seconds=1)


def instant(local: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall time in `zone` as UTC; fold=0 moves a time in a DST gap forward by the gap."""
    return local.replace(tzinfo=zone).astimezone(UTC)


def wall(moment: datetime, zone: ZoneInfo) -> datetime:
    """An aware instant as the naive wall time it reads in `zone`."""
    return moment.astimezone(zone).replace(tzinfo=None)


def aware_utc(moment: datetime, name: str) -> datetime:
    """`moment` in UTC; a naive one is refused, naming the argument it came in as."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC)


def to_the_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def series_zone(name: str) -> ZoneInfo:
    """The zone a series (or a TZID) names; RecurrenceError saying why when calbot cannot."""
    found = resolve_zone(name)
    if found is None:
        raise RecurrenceError(unreadable_zone_reason(name))
    return found
