"""Turn Google Calendar Event resources into calbot's events, exceptions and deletions.

The shapes follow the discovery document's `Event` schema; the rules follow Google's sync guide:
an item with `recurringEventId` is an exception of a series (moved, edited or cancelled single
occurrence), any other `cancelled` item is a deletion, everything else is an event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from app.adapters.ports import SeriesOverride
from app.bounded import BoundedCache
from app.domain import (
    AttendeeFacts,
    Event,
    EventStatus,
    OccurrenceOverride,
    ResponseStatus,
    SeriesSpec,
    event_id_for,
)
from app.services.meeting_links import MAPPINGS, detect_meeting_link
from app.services.recurrence import series_problem
from app.services.rules import email_domain
from app.services.zones import resolve_zone, unreadable_zone_reason

log = logging.getLogger(__name__)

_ONE_DAY = timedelta(days=1)

# Not meetings a bot could join; Google's eventType values (discovery: Event.eventType).
NON_MEETING_EVENT_TYPES = frozenset({"workingLocation", "outOfOffice", "focusTime", "birthday"})


def parse_event_time(value: Any, default_zone: str) -> tuple[datetime, bool] | None:
    """Google's EventDateTime: `dateTime` (offset, or wall time in `timeZone`) or `date`, as
    (the instant in UTC, whether it is an all-day date); None when it has neither.

    The offset Google writes in `dateTime` is used as it is, so an event in a zone calbot cannot
    read (see zones.py) still has its right times; only a time without an offset, or an all-day
    date, needs the zone, and falls back to UTC when calbot cannot read it. A pair rather than
    a dataclass: this runs twice per event of a sync.
    """
    if not isinstance(value, MAPPINGS):
        return None
    if date_time := value.get("dateTime"):
        moment = datetime.fromisoformat(date_time)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_zone_or_utc(value.get("timeZone") or default_zone))
        return moment.astimezone(UTC), False
    if day := value.get("date"):
        # All-day: midnight of the date in the calendar's zone ("the timezone field has no
        # significance for all-day events", discovery: EventDateTime.timeZone).
        midnight = datetime.combine(
            date.fromisoformat(day), datetime.min.time(), _zone_or_utc(default_zone)
        )
        return midnight.astimezone(UTC), True
    return None


def _zone_or_utc(name: str | None) -> tzinfo:
    # Not logged: it would be once per event and sync; the listing shows unreadable_reason.
    return resolve_zone(name) or UTC


def series_spec(event: Event) -> SeriesSpec:
    """What recurrence needs; a zone calbot cannot read stays in `time_zone` for recurrence to
    refuse (the first start is then expressed in UTC, which recurrence never reaches)."""
    tz = resolve_zone(event.time_zone) or UTC
    return SeriesSpec(
        recurrence=event.recurrence,
        first_start=event.start_time.astimezone(tz),
        duration_seconds=(event.end_time - event.start_time).total_seconds(),
        time_zone=event.time_zone,
        all_day=event.all_day,
    )


def unreadable_reason(event: Event) -> str | None:
    """Why calbot cannot read the event's time zone or recurrence lines, or None.

    Cheap (a series is parsed once per process, a one-off's zone looked up once per zone name);
    whether a readable series still has an occurrence ahead is the sync's question
    (SyncService.unreadable_reasons).
    """
    if event.recurrence:
        return series_problem(series_spec(event))
    reason = _zone_reasons.peek(event.time_zone)
    if reason is None:
        reason = _zone_reason(event.time_zone)
        _zone_reasons.put(event.time_zone, reason)
    return reason or None


def _zone_reason(time_zone: str) -> str:
    """Why a one-off in this zone cannot be read; "" when it can."""
    if resolve_zone(time_zone) is not None:
        return ""
    return (
        unreadable_zone_reason(time_zone)
        + " Its start and end keep the offset Google gave; it can be scheduled, but not "
        "with occurrence_date."
    )


# A one-off's reason by its zone's name, as Google wrote it ("" for a zone calbot reads): a
# listing asks for a thousand events a request, most in the same few zones.
_zone_reasons: BoundedCache[str, str] = BoundedCache(1024)


def attendee_facts(item: Mapping[str, Any]) -> AttendeeFacts:
    """What the rules and the guard need from Google's `attendees`, `organizer` and
    `attendeesOmitted` (discovery: Event, EventAttendee).

    `self` marks the calendar this copy of the event is on, so on each calendar the connected
    user is that calendar. The organizer counts as `accepted`, and so does an event without
    attendees ("an event the user organised alone has no attendees"); an invitation whose
    `self` entry is missing (Google omitted it) counts as `accepted` too. `people` counts the
    attendees that are not resources; an event without attendees counts one (its organizer).

    One pass over the attendees (this runs for every event of a sync), and facts equal to
    ones already made are shared rather than built again (they are immutable).
    """
    organizer = item.get("organizer")
    if organizer is None or not isinstance(organizer, MAPPINGS):  # cheapest checks first
        organizer = {}
    organizer_domain = _email_domain(organizer.get("email"))
    listed = item.get("attendees")
    domains: set[str] = {organizer_domain} if organizer_domain else set()
    listed_any = False
    people = 0
    self_entry: Mapping[str, Any] | None = None
    # An attendee marked organizer that is not this calendar, or this calendar as a guest:
    # either says someone else organises an event that names no organizer.
    someone_else_organises = False
    if isinstance(listed, list):
        for attendee in listed:
            if not isinstance(attendee, MAPPINGS):
                continue
            listed_any = True
            is_self = attendee.get("self") is True
            if is_self and self_entry is None:
                self_entry = attendee
            if is_self is not (attendee.get("organizer") is True):
                someone_else_organises = True
            if attendee.get("resource") is not True:
                people += 1
            domain = _email_domain(attendee.get("email"))
            if domain:
                domains.add(domain)
    # Google always names the organizer; an item without one (hand-made) is the user's own
    # unless its attendee list says someone else organises it.
    organizer_self = organizer.get("self") is True or (not organizer and not someone_else_organises)
    if organizer_self or self_entry is None:
        self_response = ResponseStatus.ACCEPTED
    else:
        answer = self_entry.get("responseStatus") or "needsAction"
        self_response = (
            _RESPONSES.get(answer, ResponseStatus.NEEDS_ACTION)
            if isinstance(answer, str)
            else ResponseStatus.NEEDS_ACTION
        )
    key: _FactsKey = (
        self_response,
        organizer_self,
        organizer_domain,
        tuple(sorted(domains)),
        people if listed_any else 1,
        item.get("attendeesOmitted") is True,
    )
    facts = _facts_made.get(key)
    if facts is None:
        if len(_facts_made) >= _FACTS_KEPT:
            _facts_made.clear()
        facts = _facts_made[key] = AttendeeFacts(*key)
    return facts


_RESPONSES: dict[str, ResponseStatus] = {status.value: status for status in ResponseStatus}
# Facts made, by their fields: most events of a calendar share a few (the user alone, the
# user's team); sharing them spares building a frozen dataclass per event.
_FACTS_KEPT = 4096
_FactsKey = tuple[ResponseStatus, bool, str | None, tuple[str, ...], int, bool]
_facts_made: dict[_FactsKey, AttendeeFacts] = {}
_email_domains: dict[str, str | None] = {}


def _email_domain(email: object) -> str | None:
    # Remembered per address (bounded): the user's own is on nearly every event.
    if not isinstance(email, str):
        return None
    try:
        return _email_domains[email]
    except KeyError:
        if len(_email_domains) >= _FACTS_KEPT:
            _email_domains.clear()
        domain = _email_domains[email] = email_domain(email)
        return domain


_STATUSES: dict[str, EventStatus] = {status.value: status for status in EventStatus}


def _status(item: Mapping[str, Any]) -> EventStatus:
    status = item.get("status")
    if not isinstance(status, str):
        return EventStatus.CONFIRMED
    return _STATUSES.get(status, EventStatus.CONFIRMED)


@dataclass(slots=True)
class MappedPage:
    upserts: list[Event] = field(default_factory=list)
    overrides: list[SeriesOverride] = field(default_factory=list)
    cancelled_google_ids: list[str] = field(default_factory=list)


def map_items(
    account_id: str,
    calendar_id: str,
    items: Iterable[Mapping[str, Any]],
    *,
    calendar_zone: str,
    keep_after: datetime,
) -> MappedPage:
    """Sort one page's items into upserts, series exceptions and deletions.

    One-off events that ended before `keep_after` are left out (outside the kept window).
    """
    page = MappedPage()
    for item in items:
        google_id = item.get("id")
        if not isinstance(google_id, str) or not google_id:
            continue
        status = _status(item)
        series_id = item.get("recurringEventId")
        if isinstance(series_id, str) and series_id:
            override = _override(item, status, calendar_zone)
            if override is not None:
                page.overrides.append(SeriesOverride(series_id, override))
            continue
        if status is EventStatus.CANCELLED:
            page.cancelled_google_ids.append(google_id)
            continue
        if item.get("eventType") in NON_MEETING_EVENT_TYPES:
            continue
        event = _event(account_id, calendar_id, google_id, item, status, calendar_zone)
        if event is None or (not event.is_recurring and event.end_time <= keep_after):
            continue
        page.upserts.append(event)
    return page


def _event(
    account_id: str,
    calendar_id: str,
    google_id: str,
    item: Mapping[str, Any],
    status: EventStatus,
    calendar_zone: str,
) -> Event | None:
    start_value = item.get("start") or {}
    start = parse_event_time(start_value, calendar_zone)
    if start is None:
        log.warning("event %s has no usable start; skipped", google_id)
        return None
    start_utc, all_day = start
    end = parse_event_time(item.get("end") or {}, calendar_zone)
    if end is None or end[0] < start_utc:
        end_utc = start_utc + _ONE_DAY if all_day else start_utc
    else:
        end_utc = end[0]
    recurrence = item.get("recurrence")
    lines = tuple(line for line in recurrence if isinstance(line, str)) if recurrence else ()
    time_zone = calendar_zone if all_day else (start_value.get("timeZone") or calendar_zone)
    summary = item.get("summary")
    updated = item.get("updated")
    ical_uid = item.get("iCalUID")
    facts = attendee_facts(item)
    link = detect_meeting_link(item)
    # By position, in `_EVENT_FIELDS`' order, then by name: a keyword costs CPython ~45 ns to
    # match, and the sixteen of this call were 0.7 of the 12 us mapping an event took.
    return Event(
        event_id_for(account_id, calendar_id, google_id),
        calendar_id,
        google_id,
        summary if isinstance(summary, str) else None,
        status,
        start_utc,
        end_utc,
        all_day,
        time_zone,
        lines,
        link,
        facts.self_response is ResponseStatus.DECLINED,
        updated if isinstance(updated, str) else None,
        ical_uid=ical_uid if isinstance(ical_uid, str) and ical_uid else None,
        attendees=facts,
        unsafe_link=link is None and _shows_video_link(item),
    )


# The fields `_event` passes by position. Event's first fields must stay these, in this order:
# checked when the module loads, so a reordered Event stops calbot at once instead of storing
# one field's value in another (several are strings, which types would not tell apart).
_EVENT_FIELDS = tuple(
    "event_id calendar_id google_event_id summary status start_time end_time all_day time_zone "
    "recurrence meeting_link self_declined updated".split()
)
if tuple(f.name for f in fields(Event))[: len(_EVENT_FIELDS)] != _EVENT_FIELDS:
    raise RuntimeError("app.domain.Event's first fields changed: update event_mapping._event")


def _shows_video_link(item: Mapping[str, Any]) -> bool:
    """Google presents a video link: `hangoutLink`, or a `video` entry point's `uri`."""
    if isinstance(item.get("hangoutLink"), str) and item["hangoutLink"]:
        return True
    conference = item.get("conferenceData")
    points = conference.get("entryPoints") if isinstance(conference, Mapping) else None
    return isinstance(points, list) and any(
        isinstance(point, Mapping)
        and point.get("entryPointType") == "video"
        and isinstance(point.get("uri"), str)
        for point in points
    )


def _override(
    item: Mapping[str, Any], status: EventStatus, calendar_zone: str
) -> OccurrenceOverride | None:
    original = parse_event_time(item.get("originalStartTime") or {}, calendar_zone)
    if original is None:
        log.warning("exception %s has no originalStartTime; skipped", item.get("id"))
        return None
    if status is EventStatus.CANCELLED:
        return OccurrenceOverride(
            original_start=original[0], cancelled=True, google_event_id=item.get("id")
        )
    start = parse_event_time(item.get("start") or {}, calendar_zone)
    end = parse_event_time(item.get("end") or {}, calendar_zone)
    return OccurrenceOverride(
        original_start=original[0],
        cancelled=False,
        start=start[0] if start else None,
        end=end[0] if end else None,
        meeting_link=detect_meeting_link(item),
        google_event_id=item.get("id"),
        attendees=attendee_facts(item),
    )
