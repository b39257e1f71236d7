"""The JSON documents the SQLite and DynamoDB stores keep whole: an event's attendee facts and
an account's auto-schedule rules. One text form for both backends, read back leniently (a
document written before a field existed takes the field's default)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from app.domain import NO_ATTENDEES, AttendeeFacts, AutoScheduleRules, Platform, ResponseStatus


def attendees_document(facts: AttendeeFacts) -> dict[str, Any]:
    return {
        "self_response": facts.self_response.value,
        "organizer_self": facts.organizer_self,
        "organizer_domain": facts.organizer_domain,
        "domains": list(facts.domains),
        "people": facts.people,
        "omitted": facts.omitted,
    }


def attendees_from_document(document: dict[str, Any] | None) -> AttendeeFacts:
    if not document:
        return NO_ATTENDEES
    return AttendeeFacts(
        self_response=ResponseStatus(document.get("self_response", "accepted")),
        organizer_self=bool(document.get("organizer_self", True)),
        organizer_domain=document.get("organizer_domain"),
        domains=tuple(document.get("domains", ())),
        people=int(document.get("people", 0)),
        omitted=bool(document.get("omitted", False)),
    )


def attendees_text(facts: AttendeeFacts | None) -> str | None:
    return None if facts is None else orjson.dumps(attendees_document(facts)).decode()


@lru_cache(maxsize=4096)
def attendees_from_text(text: str | None) -> AttendeeFacts:
    """Cached: many events share one document (facts are immutable), and every read of an
    event decodes it."""
    return attendees_from_document(None if text is None else orjson.loads(text))


def override_attendees_from_text(text: str | None) -> AttendeeFacts | None:
    """An exception's facts: None when it was stored without them (the series' apply)."""
    return None if text is None else attendees_from_text(text)


def _tuple_or_none(values: Any) -> tuple[Any, ...] | None:
    return None if values is None else tuple(values)


def rules_text(rules: AutoScheduleRules) -> str:
    document = {
        "calendar_ids": rules.calendar_ids,
        "response_status": [status.value for status in rules.response_status],
        "organizer": rules.organizer,
        "attendees": rules.attendees,
        "internal_domains": rules.internal_domains,
        "min_attendees": rules.min_attendees,
        "max_attendees": rules.max_attendees,
        "title_include": rules.title_include,
        "title_exclude": rules.title_exclude,
        "platforms": None if rules.platforms is None else [p.value for p in rules.platforms],
        "weekdays": rules.weekdays,
        "local_time_from": rules.local_time_from,
        "local_time_to": rules.local_time_to,
        "time_zone": rules.time_zone,
        "never_record_domains": rules.never_record_domains,
    }
    return orjson.dumps(document).decode()


def rules_from_text(text: str | None) -> AutoScheduleRules:
    if not text:
        return AutoScheduleRules()
    document: dict[str, Any] = orjson.loads(text)
    defaults = AutoScheduleRules()
    platforms = document.get("platforms")
    return AutoScheduleRules(
        calendar_ids=_tuple_or_none(document.get("calendar_ids")),
        response_status=tuple(
            ResponseStatus(status)
            for status in document.get("response_status", defaults.response_status)
        ),
        organizer=document.get("organizer", defaults.organizer),
        attendees=document.get("attendees", defaults.attendees),
        internal_domains=_tuple_or_none(document.get("internal_domains")),
        min_attendees=document.get("min_attendees"),
        max_attendees=document.get("max_attendees"),
        title_include=tuple(document.get("title_include", ())),
        title_exclude=tuple(document.get("title_exclude", ())),
        platforms=None if platforms is None else tuple(Platform(p) for p in platforms),
        weekdays=_tuple_or_none(document.get("weekdays")),
        local_time_from=document.get("local_time_from"),
        local_time_to=document.get("local_time_to"),
        time_zone=document.get("time_zone"),
        never_record_domains=tuple(document.get("never_record_domains", ())),
    )
