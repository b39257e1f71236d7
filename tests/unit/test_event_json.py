"""The listing's JSON joined from per-event bytes says exactly what the EventList model says."""

from __future__ import annotations

import dataclasses
import tracemalloc
from datetime import UTC, datetime, timedelta

import orjson

from app.adapters.ports import EventRow
from app.domain import Event, EventStatus, MeetingLink, Platform, ScheduleStatus
from app.routers.event_json import event_list_json, event_read
from app.schemas import EventList

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
LINK = MeetingLink("https://meet.google.com/abc-defg-hij", Platform.GOOGLE_MEET)


def _event(google_id: str, **fields: object) -> Event:
    base: dict[str, object] = {
        "event_id": f"evt_{google_id}",
        "calendar_id": "user@example.com",
        "google_event_id": google_id,
        "summary": f"Meeting {google_id}",
        "status": EventStatus.CONFIRMED,
        "start_time": START,
        "end_time": START + timedelta(hours=1),
        "all_day": False,
        "time_zone": "Europe/Berlin",
        "meeting_link": LINK,
        "ical_uid": f"{google_id}@google.com",
    }
    return Event(**{**base, **fields})  # type: ignore[arg-type]


VARIED = [
    EventRow(_event("plain"), bot_join_status=False),
    EventRow(_event("with-bot", schedule_status=ScheduleStatus.SCHEDULED), bot_join_status=True),
    EventRow(
        _event(
            "all-day",
            all_day=True,
            time_zone="America/New_York",
            start_time=datetime(2026, 11, 27, 5, tzinfo=UTC),
            end_time=datetime(2026, 11, 28, 5, tzinfo=UTC),
            meeting_link=None,
            ical_uid=None,
        ),
        bot_join_status=False,
    ),
    EventRow(
        _event(
            "series",
            recurrence=("RRULE:FREQ=WEEKLY",),
            recurring_enabled=False,
            next_occurrence_start=START + timedelta(days=7),
            next_occurrence_end=START + timedelta(days=7, hours=1),
        ),
        bot_join_status=True,
    ),
    EventRow(
        _event(
            "odd",
            summary='Quotes " and \\ backslash, ünïcödé, emoji 🎉, newline\n',
            time_zone="Mars/Olympus",
            status=EventStatus.CANCELLED,
            schedule_status=ScheduleStatus.CANCELLED,
        ),
        bot_join_status=False,
        unreadable_reason="calbot cannot read the time zone 'Mars/Olympus' — «why»\n",
    ),
    EventRow(
        _event(
            "zoom",
            summary=None,
            meeting_link=MeetingLink("https://us02web.zoom.us/j/1?pwd=a&b=c", Platform.ZOOM),
        ),
        bot_join_status=False,
    ),
]


def _model_answer(rows: list[EventRow], cursor: str | None) -> object:
    listed = EventList.model_construct(events=[event_read(row) for row in rows], next_cursor=cursor)
    return orjson.loads(listed.model_dump_json())


def test_the_joined_bytes_say_what_the_model_says_for_varied_events() -> None:
    for cursor in (None, "eyJldmVudHMiXQ"):
        expected = _model_answer(VARIED, cursor)
        assert orjson.loads(event_list_json(VARIED, cursor)) == expected
        # Again, from the cached encodings.
        assert orjson.loads(event_list_json(VARIED, cursor)) == expected
    assert orjson.loads(event_list_json([], None)) == {"events": [], "next_cursor": None}


def test_a_changed_field_is_never_answered_from_the_old_encoding() -> None:
    row = VARIED[0]
    event_list_json([row], None)  # cached
    for change in (
        {"schedule_status": ScheduleStatus.SCHEDULED},
        {"recurring_enabled": False},
        {"summary": "Renamed"},
        {"start_time": START + timedelta(minutes=5)},
        {"next_occurrence_start": START},
        {"status": EventStatus.TENTATIVE},
        {"end_time": START + timedelta(hours=2)},
        {"ical_uid": "other@google.com"},
        {"meeting_link": MeetingLink("https://zoom.us/j/123", Platform.ZOOM)},
        {"recurrence": ("RRULE:FREQ=DAILY",)},
        {"all_day": True, "time_zone": "Asia/Tokyo"},
    ):
        changed = EventRow(dataclasses.replace(row.event, **change), bot_join_status=True)
        assert orjson.loads(event_list_json([changed], None)) == _model_answer([changed], None)


def test_a_page_of_one_event_has_both_the_head_and_the_tail() -> None:
    for cursor in (None, "eyJldmVudHMiXQ"):
        answer = orjson.loads(event_list_json(VARIED[:1], cursor))
        assert answer == _model_answer(VARIED[:1], cursor)


def test_the_answer_is_allocated_once() -> None:
    # A page is some 0.5 MB: joined once, the answer is the only allocation of its size (a
    # join of the joined events would hold two at once, and copy the page twice).
    rows = [
        EventRow(_event(f"m{number}"), bot_join_status=False, version=("m", number))
        for number in range(300)
    ]
    event_list_json(rows, None)  # every event's JSON cached
    tracemalloc.start()
    try:
        answer = event_list_json(rows, "eyJldmVudHMiXQ")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.2 * len(answer)
