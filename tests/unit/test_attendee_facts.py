"""Attendee facts read from Google's event, and the do-not-record guard on them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.domain import AttendeeFacts, ResponseStatus
from app.services.event_mapping import attendee_facts, map_items
from app.services.rules import guard_hits

ME = {"email": "me@example.com", "self": True}
BOSS = {"email": "Boss@Example.com"}
ROOM = {"email": "room-1@resource.calendar.google.com", "resource": True}
LAWYER = {"email": "ann@eu.Legal.example"}


def _item(**fields: Any) -> dict[str, Any]:
    return {"id": "e1", "status": "confirmed", **fields}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param(
            _item(organizer=ME),
            AttendeeFacts(organizer_domain="example.com", domains=("example.com",), people=1),
            id="alone: no attendees, organised by me",
        ),
        pytest.param(
            _item(
                organizer={**BOSS},
                attendees=[
                    {**BOSS, "organizer": True, "responseStatus": "accepted"},
                    {**ME, "responseStatus": "declined"},
                    {**ROOM, "responseStatus": "accepted"},
                    {**LAWYER, "responseStatus": "needsAction"},
                ],
            ),
            AttendeeFacts(
                self_response=ResponseStatus.DECLINED,
                organizer_self=False,
                organizer_domain="example.com",
                domains=("eu.legal.example", "example.com", "resource.calendar.google.com"),
                people=3,
            ),
            id="invited and declined; the room is not a person",
        ),
        pytest.param(
            _item(
                organizer={**ME},
                attendees=[{**ME, "organizer": True, "responseStatus": "declined"}, BOSS],
            ),
            AttendeeFacts(organizer_domain="example.com", domains=("example.com",), people=2),
            id="the organizer counts as accepted",
        ),
        pytest.param(
            _item(
                organizer=BOSS,
                attendees=[{**ME, "responseStatus": "tentative"}],
                attendeesOmitted=True,
            ),
            AttendeeFacts(
                self_response=ResponseStatus.TENTATIVE,
                organizer_self=False,
                organizer_domain="example.com",
                domains=("example.com",),
                people=1,
                omitted=True,
            ),
            id="attendees omitted",
        ),
        pytest.param(
            _item(organizer=BOSS, attendees=[{**ME}]),
            AttendeeFacts(
                self_response=ResponseStatus.NEEDS_ACTION,
                organizer_self=False,
                organizer_domain="example.com",
                domains=("example.com",),
                people=1,
            ),
            id="no answer yet",
        ),
    ],
)
def test_attendee_facts_follow_googles_event(item: dict[str, Any], expected: AttendeeFacts) -> None:
    assert attendee_facts(item) == expected


def test_self_declined_agrees_with_the_facts_on_events_and_occurrences() -> None:
    declined = {"organizer": BOSS, "attendees": [{**ME, "responseStatus": "declined"}]}
    page = map_items(
        "acc",
        "me@example.com",
        [
            _item(
                start={"dateTime": "2026-12-02T10:00:00Z"},
                end={"dateTime": "2026-12-02T11:00:00Z"},
                **declined,
            ),
            {
                "id": "s1_20261202T100000Z",
                "recurringEventId": "s1",
                "status": "confirmed",
                "originalStartTime": {"dateTime": "2026-12-02T10:00:00Z"},
                "start": {"dateTime": "2026-12-02T10:00:00Z"},
                "end": {"dateTime": "2026-12-02T11:00:00Z"},
                **declined,
            },
        ],
        calendar_zone="UTC",
        keep_after=datetime(2026, 12, 1, tzinfo=UTC),
    )
    (event,) = page.upserts
    assert event.self_declined
    assert event.attendees.self_response is ResponseStatus.DECLINED
    (exception,) = page.overrides
    assert exception.override.attendees is not None
    assert exception.override.attendees.self_response is ResponseStatus.DECLINED


@pytest.mark.parametrize(
    ("domains", "guarded", "hit"),
    [
        (("example.com",), ("legal.example",), None),
        (("eu.legal.example",), ("legal.example",), "legal.example"),
        (("LEGAL.example",), ("Legal.Example",), "Legal.Example"),
        (("notlegal.example",), ("legal.example",), None),
        (("legal.example.com",), ("legal.example",), None),
        ((), ("legal.example",), None),
    ],
)
def test_the_guard_matches_exact_domains_and_subdomains_ignoring_case(
    domains: tuple[str, ...], guarded: tuple[str, ...], hit: str | None
) -> None:
    assert guard_hits(AttendeeFacts(domains=domains), guarded) == hit


@pytest.mark.parametrize(
    ("fields", "unsafe"),
    [
        ({"hangoutLink": "https://meet.google.com/abc-defg-hij"}, False),
        ({"hangoutLink": "https://video.example.net/room/1"}, True),
        (
            {
                "conferenceData": {
                    "entryPoints": [
                        {"entryPointType": "video", "uri": "https://zoom.us/s/123456789?zak=x"}
                    ]
                }
            },
            True,
        ),
        ({"location": "https://video.example.net/room/1"}, False),
        ({}, False),
    ],
)
def test_a_video_link_calbot_refuses_is_marked_unsafe(fields: dict[str, Any], unsafe: bool) -> None:
    item = _item(
        start={"dateTime": "2026-12-02T10:00:00Z"},
        end={"dateTime": "2026-12-02T11:00:00Z"},
        **fields,
    )
    page = map_items(
        "acc",
        "me@example.com",
        [item],
        calendar_zone="UTC",
        keep_after=datetime(2026, 12, 1, tzinfo=UTC),
    )
    (event,) = page.upserts
    assert event.unsafe_link is unsafe
