"""A stored series' next occurrence: working it out, refreshing it, and why one cannot be known."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Hashable
from datetime import datetime
from functools import lru_cache

from app.adapters.ports import EventStore, SeriesOverride
from app.bounded import BoundedCache
from app.domain import Event, OccurrenceOverride
from app.services.event_mapping import series_spec, unreadable_reason
from app.services.recurrence import RecurrenceError, next_occurrence

log = logging.getLogger(__name__)


async def merged_overrides(
    events: EventStore,
    account_id: str,
    calendar_id: str,
    series_ids: set[str],
    from_pages: list[SeriesOverride],
    *,
    deleted: Collection[str] = (),
) -> dict[str, list[OccurrenceOverride]]:
    """Stored exceptions of these series with those of the pages applied on top, in order (a
    later page's exception of an occurrence replaces an earlier one's). The stored exceptions
    of `deleted` series (deleted by a page that may not be stored yet) are left out."""
    if not series_ids:
        return {}
    stored = await events.list_overrides(account_id, calendar_id, sorted(series_ids))
    merged = {
        series: {o.original_start: o for o in overrides}
        for series, overrides in stored.items()
        if series not in deleted
    }
    for item in from_pages:
        if item.series_google_event_id in series_ids:
            merged.setdefault(item.series_google_event_id, {})[item.override.original_start] = (
                item.override
            )
    return {series: list(by_start.values()) for series, by_start in merged.items()}


async def refresh_series(
    events: EventStore,
    account_id: str,
    calendar_id: str,
    series_ids: set[str],
    overrides: dict[str, list[OccurrenceOverride]],
    now: datetime,
) -> None:
    """Store the next occurrence of these series (by Google id) as of `now`."""
    values: list[tuple[str, datetime | None, datetime | None]] = []
    for series_id in series_ids:
        event = await events.get_event_by_google_id(account_id, calendar_id, series_id)
        if event is None or not event.is_recurring:
            continue
        set_next_occurrence(event, overrides.get(series_id, []), now)
        values.append((event.event_id, event.next_occurrence_start, event.next_occurrence_end))
    await events.set_next_occurrences(account_id, values)


def set_next_occurrence(event: Event, overrides: list[OccurrenceOverride], now: datetime) -> None:
    """Set the series' next occurrence after `now` on the event (None when none is known)."""
    try:
        occurrence = next_occurrence(series_spec(event), overrides, now)
    except RecurrenceError as error:
        # Listed all the same, with no next occurrence; the listing says why.
        _warn_once(event.google_event_id, str(error))
        occurrence = None
    event.next_occurrence_start = occurrence.start if occurrence else None
    event.next_occurrence_end = occurrence.end if occurrence else None


async def refresh_stale_series(
    events: EventStore, account_id: str, calendar_id: str, now: datetime
) -> None:
    """Move series whose stored next occurrence has ended on to the following one."""
    stale = await events.list_series_needing_next_occurrence(account_id, calendar_id, now)
    if stale:
        await refresh_due_series(events, account_id, calendar_id, stale, now)


async def refresh_due_series(
    events: EventStore, account_id: str, calendar_id: str, due: list[Event], now: datetime
) -> None:
    """Move these series (their stored next occurrence has ended) on to the following one, on
    the events given and in the store: what a listing does for the series it shows."""
    overrides = await events.list_overrides(
        account_id, calendar_id, [event.google_event_id for event in due]
    )
    for event in due:
        await asyncio.sleep(0)
        set_next_occurrence(event, overrides.get(event.google_event_id, []), now)
    await events.set_next_occurrences(
        account_id, [(e.event_id, e.next_occurrence_start, e.next_occurrence_end) for e in due]
    )


# Whether a readable series with no next occurrence is over ("") or has none within the
# horizon (why), by the fields that decide it: a listing asks about the same series on every
# read, and the answer only changes with the series (a sync writes it anew).
_beyond_horizon: BoundedCache[Hashable, str] = BoundedCache(4096)


async def unreadable_reasons(
    events: EventStore, account_id: str, calendar_id: str, listed: list[Event], now: datetime
) -> dict[str, str]:
    """Why calbot cannot follow each of these events, by event_id (readable ones left out):
    a zone or rule it cannot read, or a live series with no occurrence within the horizon
    (worked out once per series as stored, not on every listing)."""
    reasons: dict[str, str] = {}
    unknown_next: dict[Hashable, Event] = {}
    for event in listed:
        reason = unreadable_reason(event)
        if reason is not None:
            reasons[event.event_id] = reason
        elif event.recurrence and event.next_occurrence_start is None:
            key = _series_key(account_id, event)
            known = _beyond_horizon.get(key)
            if known is None:
                unknown_next[key] = event  # over, or beyond the horizon: ask once to know
            elif known:
                reasons[event.event_id] = known
    if not unknown_next:
        return reasons
    overrides = await events.list_overrides(
        account_id, calendar_id, [event.google_event_id for event in unknown_next.values()]
    )
    for key, event in unknown_next.items():
        await asyncio.sleep(0)
        try:
            next_occurrence(series_spec(event), overrides.get(event.google_event_id, []), now)
            _beyond_horizon.put(key, "")
        except RecurrenceError as error:
            reasons[event.event_id] = str(error)
            _beyond_horizon.put(key, str(error))
    return reasons


def _series_key(account_id: str, event: Event) -> Hashable:
    return (
        account_id,
        event.event_id,
        event.recurrence,
        event.start_time,
        event.end_time,
        event.time_zone,
        event.status,
    )


@lru_cache(maxsize=1024)
def _warn_once(google_event_id: str, reason: str) -> None:
    """Logs a series calbot cannot follow once per reason and process (lru_cache remembers):
    every sync and listing asks again, and a log line costs the event loop a write."""
    log.warning("series %s cannot be followed: %s", google_event_id, reason)
