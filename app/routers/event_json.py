"""The JSON of an event listing, each event encoded once and the answer joined from bytes.

An event's JSON depends on its stored fields alone, except `bot_join_status` (the bots' state)
and `unreadable_reason` (set by the listing): those two are written per request after the
cached part. The cache is keyed by the store's version of the row where it has one (SQLite's
`row_version`, new on every write), else by the stored fields the JSON shows, so an event whose
row changed is a new key (encoded again) and a stale answer cannot be served; it is bounded,
so a process holds at most `CACHED_EVENTS` encodings whatever it lists.
`EventRead` stays the one definition of the shape: a cache miss encodes through it.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Hashable, Sequence
from datetime import UTC

import orjson

from app.adapters.ports import EventRow
from app.bounded import BoundedCache
from app.domain import Event, event_meeting_key
from app.schemas import EventRead
from app.services.zones import resolve_zone

CACHED_EVENTS = 4096
"""At most this many events' JSON kept per process, in each of two caches (about 0.5 kB each)."""

_PER_REQUEST = {"bot_join_status", "unreadable_reason"}
_BOT_JOIN = {
    False: b',"bot_join_status":false,"unreadable_reason":',
    True: b',"bot_join_status":true,"unreadable_reason":',
}

_encoded: BoundedCache[Hashable, bytes] = BoundedCache(CACHED_EVENTS)
_listed: BoundedCache[tuple[Hashable, bool, str | None], bytes] = BoundedCache(CACHED_EVENTS)


def event_read(row: EventRow) -> EventRead:
    """The wire form of a listed event; an all-day event's times are shown in its own zone."""
    event = row.event
    link = event.meeting_link
    shown_in = (resolve_zone(event.time_zone) or UTC) if event.all_day else UTC
    return EventRead.model_construct(
        event_id=event.event_id,
        google_event_id=event.google_event_id,
        calendar_id=event.calendar_id,
        summary=event.summary,
        start_time=event.start_time.astimezone(shown_in),
        end_time=event.end_time.astimezone(shown_in),
        all_day=event.all_day,
        meeting_link=link.url if link else None,
        meeting_platform=link.platform if link else None,
        is_recurring=event.is_recurring,
        recurring_enabled=event.recurring_enabled,
        next_occurrence_start=event.next_occurrence_start,
        bot_join_status=row.bot_join_status,
        schedule_status=event.schedule_status,
        status=event.status.value,
        unreadable_reason=row.unreadable_reason,
        meeting_key=event_meeting_key(event),
        auto_schedule_mode=event.auto_schedule_mode,
    )


# Every field of an Event but the attendee facts (which no listed field shows): a field added
# to Event later is part of the key by default, so a change to it is never answered stale.
_SHOWN_FIELDS = tuple(f.name for f in dataclasses.fields(Event) if f.name != "attendees")
_shown = operator.attrgetter(*_SHOWN_FIELDS)
"""The event's fields its JSON is made of, as one hashable tuple (the JSON is a function of it)."""


def _stored_part(row: EventRow) -> bytes:
    """The event's JSON without the per-request fields and the closing brace."""
    # The store's version of the row names its content in two fields; without one, the
    # fields themselves are the key.
    key: Hashable = row.version if row.version is not None else _shown(row.event)
    encoded = _encoded.peek(key)
    if encoded is None:
        whole = event_read(row).model_dump_json(exclude=_PER_REQUEST).encode()
        encoded = whole[:-1]  # `}`
        _encoded.put(key, encoded)
    return encoded


def _reason(row: EventRow) -> bytes:
    return b"null" if row.unreadable_reason is None else orjson.dumps(row.unreadable_reason)


def event_json(row: EventRow) -> bytes:
    """One listed event as JSON: the cached part, then its bot state and unreadable reason."""
    return _stored_part(row) + _BOT_JOIN[row.bot_join_status] + _reason(row) + b"}"


def _listed_json(row: EventRow) -> bytes:
    """`event_json`, kept whole per (version, bot state, reason) where the store gave a version:
    a page read again after one change finds 999 of its 1,000 events here in one lookup."""
    if row.version is None:
        return event_json(row)
    key = (row.version, row.bot_join_status, row.unreadable_reason)
    encoded = _listed.peek(key)
    if encoded is None:
        encoded = event_json(row)
        _listed.put(key, encoded)
    return encoded


def event_list_json(rows: Sequence[EventRow], next_cursor: str | None) -> bytes:
    """`EventList` as JSON, joined from each event's bytes."""
    kept = _listed.peek
    # The rows kept whole, looked up inline (a thousand a request); the others made here. A
    # row without a version is never kept: its lookup finds nothing, and it is made.
    pieces = [
        kept((row.version, row.bot_join_status, row.unreadable_reason)) or _listed_json(row)
        for row in rows
    ]
    # One join, the answer's head and tail on its first and last piece: a page's ~0.5 MB is
    # allocated and copied once (joined events inside a second join did both twice, and an
    # allocation this size that the allocator gave back to the system faults its pages in).
    tail = b'],"next_cursor":' + orjson.dumps(next_cursor) + b"}"
    if not pieces:
        return b'{"events":[' + tail
    pieces[0] = b'{"events":[' + pieces[0]
    pieces[-1] += tail
    return b",".join(pieces)
