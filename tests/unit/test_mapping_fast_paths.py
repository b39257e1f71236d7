"""The faster forms of a sync's per-event work give what the straightforward forms gave.

Each reference below is the plain implementation the fast one replaced (issue 13, full sync):
for any Google-shaped input, hand-made or odd, both must agree exactly, or a sync would store
different facts, links or rows than it did before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import AttendeeFacts, ResponseStatus
from app.services.event_mapping import attendee_facts
from app.services.meeting_link_platforms import identify_platform
from app.services.meeting_link_text import (
    decode_structural_references,
    decoded_written_url,
    lower_ascii,
)
from app.services.meeting_link_urls import unwrapped_url
from app.services.meeting_links import _first_link_in, _link_from_written_url, find_meeting_link
from app.services.rules import email_domain


def reference_attendee_facts(item: Mapping[str, Any]) -> AttendeeFacts:
    organizer = item.get("organizer")
    organizer = organizer if isinstance(organizer, Mapping) else {}
    listed = item.get("attendees")
    attendees = [a for a in listed if isinstance(a, Mapping)] if isinstance(listed, list) else []
    organizer_self = organizer.get("self") is True or (
        not organizer
        and all(a.get("organizer") is not True or a.get("self") is True for a in attendees)
        and not any(a.get("self") is True and a.get("organizer") is not True for a in attendees)
    )
    domains = {_domain(organizer.get("email"))}
    domains.update(_domain(attendee.get("email")) for attendee in attendees)
    return AttendeeFacts(
        self_response=_reference_self_response(attendees, organizer_self),
        organizer_self=organizer_self,
        organizer_domain=_domain(organizer.get("email")),
        domains=tuple(sorted(domain for domain in domains if domain)),
        people=sum(1 for a in attendees if a.get("resource") is not True) if attendees else 1,
        omitted=item.get("attendeesOmitted") is True,
    )


def _reference_self_response(
    attendees: list[Mapping[str, Any]], organizer_self: bool
) -> ResponseStatus:
    if organizer_self:
        return ResponseStatus.ACCEPTED
    for attendee in attendees:
        if attendee.get("self") is True:
            try:
                return ResponseStatus(attendee.get("responseStatus") or "needsAction")
            except ValueError:
                return ResponseStatus.NEEDS_ACTION
    return ResponseStatus.ACCEPTED


def _domain(email: object) -> str | None:
    return email_domain(email) if isinstance(email, str) else None


# Values as Google sends them, and the odd ones a hand-made or broken event may carry.
odd_values: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.just([])
)
flags = st.one_of(st.just(True), st.just(False), odd_values)
emails = st.one_of(
    st.sampled_from(["me@example.com", "Boss@Example.COM", "room@resource.calendar.google.com"]),
    st.sampled_from(["no-at-sign", "trailing@dot.example.", "@", "a@ b.example "]),
    odd_values,
)
responses = st.one_of(
    st.sampled_from([status.value for status in ResponseStatus]),
    st.sampled_from(["", "Accepted", "maybe"]),
    odd_values,
)


def _person(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not _ABSENT}


_ABSENT = object()


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(_ABSENT), values)


people = st.builds(
    lambda **fields: _person(fields),
    email=_maybe(emails),
    self=_maybe(flags),
    organizer=_maybe(flags),
    resource=_maybe(flags),
    responseStatus=_maybe(responses),
)
items = st.builds(
    lambda **fields: _person(fields),
    organizer=_maybe(st.one_of(people, odd_values, st.just({}))),
    attendees=_maybe(st.one_of(st.lists(st.one_of(people, odd_values), max_size=6), odd_values)),
    attendeesOmitted=_maybe(flags),
)


@settings(max_examples=400)
@given(items)
def test_attendee_facts_are_those_of_the_plain_reading(item: dict[str, Any]) -> None:
    assert attendee_facts(item) == reference_attendee_facts(item)


# Pieces of invitations: meeting hosts with and without a scheme, wrappers, look-alikes,
# character references, case changes and the text around links.
fragments = st.sampled_from(
    [
        "https://",
        "HTTP://",
        "http://",
        "us02web.zoom.us",
        "zoom.us",
        "ZOOM.US",
        "zoom.com.cn",
        "meet.google.com",
        "teams.microsoft.com",
        "acme.webex.com",
        "gotomeeting.com",
        "whereby.com",
        "bluejeans.com",
        "example.com",
        "zo&#111;m.us",
        "nam12.safelinks.protection.outlook.com/?url=",
        "https%3A%2F%2Fzoom.us%2Fj%2F123456789",
        "/j/8551234567",
        "/abc-defg-hij",
        "/l/meetup-join/19%3ameeting_x%40thread.v2/0",
        "?pwd=abc",
        "&amp;",
        "&#58;",
        "/",
        ".",
        " ",
        "\n",
        '<a href="',
        '">',
        "Join ",
        "İ",
        "K",
    ]
)
texts = st.lists(fragments, max_size=12).map("".join)


@settings(max_examples=500)
@given(texts)
def test_texts_without_a_host_hint_are_skipped_without_changing_any_answer(text: str) -> None:
    decoded = decode_structural_references(text)
    assert find_meeting_link(text) == _first_link_in(decoded, lower_ascii(decoded))


@settings(max_examples=300)
@given(texts)
def test_remembered_links_are_the_links_worked_out(url: str) -> None:
    parts = unwrapped_url(decoded_written_url(url))
    worked_out = None if parts is None else identify_platform(*parts)
    assert _link_from_written_url(url) == worked_out
    assert _link_from_written_url(url) == worked_out  # the second time, remembered
