"""An event's occurrences as the decision sees them (`decisions.OccurrenceView`): a one-off is
its one occurrence; a series' occurrences come with their exception's link and attendee facts
(a user may have declined just one). Pure: the caller loads events and exceptions once."""

from __future__ import annotations

import logging
from datetime import datetime

from app.domain import Event, Occurrence, OccurrenceOverride, occurrence_key_for
from app.services.decisions import OccurrenceView
from app.services.event_mapping import series_spec
from app.services.recurrence import RecurrenceError, occurrences_between

log = logging.getLogger(__name__)

_SINGLE = occurrence_key_for(None)  # a one-off's one occurrence (keys are immutable)


def views_between(
    event: Event, overrides: list[OccurrenceOverride], lo: datetime, hi: datetime
) -> list[OccurrenceView]:
    """The event's occurrences that start before `hi` and end after `lo`, by start (none for
    a series calbot cannot expand, which is logged)."""
    if not event.is_recurring:
        if event.start_time >= hi or event.end_time <= lo:
            return []
        occurrence = Occurrence(event.start_time, event.start_time, event.end_time)
        return [OccurrenceView(event, _SINGLE, occurrence, event.meeting_link, event.attendees)]
    try:
        found = occurrences_between(series_spec(event), overrides, lo, hi)
    except RecurrenceError as error:
        log.warning("series %s skipped: %s", event.google_event_id, error)
        return []
    by_original = {o.original_start: o for o in overrides} if overrides else {}
    return [
        view_of(event, occurrence, by_original.get(occurrence.original_start))
        for occurrence in found
        if occurrence.start < hi and occurrence.end > lo
    ]


def view_of(
    event: Event, occurrence: Occurrence, override: OccurrenceOverride | None
) -> OccurrenceView:
    """One occurrence of `event`, with its exception (if any) applied."""
    key = occurrence_key_for(occurrence.original_start) if event.is_recurring else _SINGLE
    link = event.meeting_link
    attendees = event.attendees
    if override is not None:
        link = override.meeting_link or link
        attendees = override.attendees or attendees
    return OccurrenceView(
        event,
        key,
        occurrence,
        link,
        attendees,
        cancelled=override is not None and override.cancelled,
    )
