"""What Google holds, read back from the port-level fake as meetings and their occurrences.

The lifecycle property test compares calbot's bots with this, so it is computed from the Event
resources alone, never from calbot's code: the series the test writes are simple on purpose
(`RRULE:FREQ=DAILY|WEEKLY;COUNT=n`, times in UTC), so expanding them is a multiplication.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tests.fakes import FakeGoogleCalendar

_RULE = re.compile(r"RRULE:FREQ=(DAILY|WEEKLY);COUNT=(\d+)")
_STEP = {"DAILY": timedelta(days=1), "WEEKLY": timedelta(days=7)}


@dataclass(frozen=True, slots=True)
class GoogleOccurrence:
    """One occurrence of a meeting as Google shows it; `original_start` identifies it."""

    calendar_id: str
    google_event_id: str
    ical_uid: str
    original_start: datetime
    start: datetime
    end: datetime
    link: str | None


@dataclass(slots=True)
class GoogleMeeting:
    """One Event resource of a calendar (a one-off, or a series with its exceptions)."""

    calendar_id: str
    google_event_id: str
    ical_uid: str
    cancelled: bool
    recurring: bool
    first_start: datetime
    occurrences: dict[datetime, GoogleOccurrence] = field(default_factory=dict)
    cancelled_originals: set[datetime] = field(default_factory=set)


def parse_time(value: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(value["dateTime"])


def series_rule(resource: dict[str, Any]) -> tuple[timedelta, int] | None:
    """(step, count) of a series the test wrote, None for a one-off."""
    for line in resource.get("recurrence") or ():
        found = _RULE.fullmatch(line)
        if found is not None:
            return _STEP[found[1]], int(found[2])
    return None


def original_starts(resource: dict[str, Any]) -> list[datetime]:
    first = parse_time(resource["start"])
    rule = series_rule(resource)
    if rule is None:
        return [first]
    step, count = rule
    return [first + step * number for number in range(count)]


def read_calendar(google: FakeGoogleCalendar, calendar_id: str) -> dict[str, GoogleMeeting]:
    """Every meeting of the calendar by Google id, deleted ones left out."""
    resources = google.events(calendar_id)
    exceptions: defaultdict[str, dict[datetime, dict[str, Any]]] = defaultdict(dict)
    for resource in resources:
        if "recurringEventId" in resource:
            original = parse_time(resource["originalStartTime"])
            exceptions[resource["recurringEventId"]][original] = resource
    meetings: dict[str, GoogleMeeting] = {}
    for resource in resources:
        if "recurringEventId" in resource:
            continue
        if resource.get("status") == "cancelled":
            meetings[resource["id"]] = GoogleMeeting(
                calendar_id, resource["id"], "", True, False, datetime.min
            )
            continue
        meetings[resource["id"]] = _meeting(calendar_id, resource, exceptions[resource["id"]])
    return meetings


def _meeting(
    calendar_id: str, resource: dict[str, Any], exceptions: dict[datetime, dict[str, Any]]
) -> GoogleMeeting:
    start, end = parse_time(resource["start"]), parse_time(resource["end"])
    link = resource.get("hangoutLink")
    meeting = GoogleMeeting(
        calendar_id,
        resource["id"],
        resource["iCalUID"],
        cancelled=False,
        recurring=series_rule(resource) is not None,
        first_start=start,
    )
    for original in original_starts(resource):
        exception = exceptions.get(original)
        if exception is None:
            occurrence_start, occurrence_end, occurrence_link = (
                original,
                original + (end - start),
                link,
            )
        elif exception.get("status") == "cancelled":
            meeting.cancelled_originals.add(original)
            continue
        else:
            occurrence_start = parse_time(exception["start"])
            occurrence_end = parse_time(exception["end"])
            occurrence_link = exception.get("hangoutLink", link)
        meeting.occurrences[original] = GoogleOccurrence(
            calendar_id,
            resource["id"],
            meeting.ical_uid,
            original,
            occurrence_start,
            occurrence_end,
            occurrence_link,
        )
    return meeting
