"""One occurrence of a recurring event, as Google's events.instances answers for `originalStart`.

Both fakes of Google (tests/fake_google.py over HTTP, tests/fakes/google.py at the port) hold
raw Event resources: masters with `recurrence`, and exceptions (moved or cancelled occurrences)
as events with `recurringEventId` and `originalStartTime`. An occurrence nobody changed is
generated from the master's rule with dateutil (not with calbot's own recurrence code), in the
master's `start.timeZone`, and given an id in the form Google uses (`<master>_<UTC basic>`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

Found = dict[str, Any] | Literal["none", "gone", "not-recurring"]
"""The occurrence; "none" (no such occurrence, or cancelled); "gone" (the master is deleted);
"not-recurring" (the event is no series)."""


def find_instance(
    events: Mapping[str, Mapping[str, Any]], series_id: str, original_start: str
) -> Found:
    master = events.get(series_id)
    if master is None or master.get("status") == "cancelled":
        return "gone"
    if not master.get("recurrence"):
        return "not-recurring"
    wanted = _moment(original_start, master)
    for event in events.values():
        if event.get("recurringEventId") != series_id or "originalStartTime" not in event:
            continue
        if _moment_of(event["originalStartTime"], master) == wanted:
            return "none" if event.get("status") == "cancelled" else dict(event)
    if not _generated(master, wanted):
        return "none"
    return _instance(master, series_id, wanted)


def _zone(master: Mapping[str, Any]) -> ZoneInfo:
    return ZoneInfo(master["start"].get("timeZone") or "UTC")


def _moment(value: str, master: Mapping[str, Any]) -> datetime:
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), _zone(master))
    return datetime.fromisoformat(value)


def _moment_of(event_time: Mapping[str, Any], master: Mapping[str, Any]) -> datetime:
    if "dateTime" in event_time:
        return datetime.fromisoformat(event_time["dateTime"])
    return _moment(event_time["date"], master)


def _first_start(master: Mapping[str, Any]) -> datetime:
    return _moment_of(master["start"], master).astimezone(_zone(master))


def _generated(master: Mapping[str, Any], wanted: datetime) -> bool:
    first = _first_start(master)
    rules = rrulestr("\n".join(master["recurrence"]), dtstart=first, forceset=True)
    second = timedelta(seconds=1)
    return bool(rules.between(wanted - second, wanted + second, inc=True))


def _instance(master: Mapping[str, Any], series_id: str, original: datetime) -> dict[str, Any]:
    first = _first_start(master)
    duration = _moment_of(master["end"], master) - first
    all_day = "date" in master["start"]
    instance = copy.deepcopy(dict(master))
    instance.pop("recurrence", None)
    instance["recurringEventId"] = series_id
    if all_day:
        day = original.astimezone(_zone(master)).date()
        instance["id"] = f"{series_id}_{day:%Y%m%d}"
        instance["originalStartTime"] = {"date": day.isoformat()}
        instance["start"] = {"date": day.isoformat()}
        instance["end"] = {"date": (day + timedelta(days=duration.days or 1)).isoformat()}
        return instance
    utc = original.astimezone(UTC)
    zone_name = master["start"].get("timeZone")
    instance["id"] = f"{series_id}_{utc:%Y%m%dT%H%M%SZ}"
    instance["originalStartTime"] = _written(utc, zone_name)
    instance["start"] = _written(utc, zone_name)
    instance["end"] = _written(utc + duration, zone_name)
    return instance


def _written(moment: datetime, zone_name: str | None) -> dict[str, str]:
    written = {"dateTime": moment.isoformat().replace("+00:00", "Z")}
    if zone_name:
        written["timeZone"] = zone_name
    return written
