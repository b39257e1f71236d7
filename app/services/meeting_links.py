"""Find the meeting a Google Calendar event should send a bot to.

Invitations can be written by anyone, so this module is an allow-list: it only ever returns a
*join* URL on a known meeting host, rebuilt in one canonical form, never an arbitrary link
taken from an event. Everything else (help pages, dial-in pages, `aka.ms/JoinTeamsMeeting`,
pricing pages, registration forms, `tel:`/`sip:` URIs) is ignored.

Canonical form: `https://`, lower-cased host without port, redirect wrappers (Outlook Safe
Links, `google.com/url`) removed, no fragment, no trailing slash, the meeting's own query
kept (Zoom `pwd`, Teams `context`, Teams `p`, Webex `MTID`, ...) minus `utm_*` parameters.
HTML character references are decoded first, so `&amp;`, `&#38;`, `&#x26;` and even a scheme
written `https&#58;//` read as the characters they stand for.
Google Meet is the exception: its query (`authuser`, `hs`, `pli`) only steers the browser of
whoever clicks, so it is dropped and the link is `https://meet.google.com/abc-defg-hij`.

Decisions on borderline URL forms (the test corpus cites where each shape was seen):
- Meet `meet.google.com/lookup/<name>` (legacy nickname links) is a join link: accepted.
  `meet.google.com/_meet/<code>` (where Meet's instant meetings open) is the code's link.
  `meet.google.com/new` (creates a meeting), `/landing`, bare nicknames and the host are not.
- Zoom on zoom.us, zoom.com, zoomgov.com and zoom-x.de and their subdomains. `/j/`, `/w/`
  (webinar), `/my/<vanity>` and the web client's join pages are accepted; `/join?confno=<id>`
  becomes `/j/<id>`. `/s/<id>` is the host's *start* link (with `zak`, the host's credential):
  rejected, and `zak` is dropped wherever it appears. Registration forms are rejected.
- Teams deep links that wrap a meeting (the launcher's `url=/_#/l/meetup-join/...`, the web
  client's `/v2/?meetingjoin=true#/meet/...`, `light-meetings/launch?coords=<base64 JSON>`)
  become the meeting's own `/l/meetup-join/...` or `/meet/<id>?p=...` link on the same host,
  without the launcher's parameters.
- Webex `<site>/j.php`, `<site>/k2/j.php` (Training) and `<site>/e.php` (Events) need an
  MTID; `/meet/`, `/join/`, `wbxmjs/joinservice/...` and `webappng/sites/<site>/meeting/
  download/<id>` are join pages; `webappng` meeting info pages and recordings are not.
- GoTo `app.gotomeeting.com/?meetingId=<digits>` and `app.goto.com/meeting/<digits>` (browser
  join) are accepted.
- Whereby accepts one-segment room paths except a list of Whereby's own site pages, and drops
  `roomKey` (it makes the link a host link).

Where each part lives: URLs are found in text and their HTML character references decoded in
meeting_link_text.py, one URL is split and its redirect wrappers removed in meeting_link_urls.py,
and each platform's link shapes are matched and rebuilt in meeting_link_platforms.py, from the word
lists of meeting_link_hosts.py. This module decides which fields are read in which order, and is
the one the rest of calbot imports.

Performance: this runs for every event of a sync. Texts are scanned with `str.find` only
(a regex search over a whole description costs ~10x more in CPython), regexes are compiled
once and only `.match`ed at found positions, and no HTML parser is involved. Candidate URLs
never overlap, so work is linear in the size of the text (a test holds a 1 MB hostile
description to a CPU-time bound).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from app.domain import MeetingLink
from app.services.meeting_link_platforms import identify_platform
from app.services.meeting_link_text import (
    bare_url_spans,
    decode_structural_references,
    decoded_written_url,
    lower_ascii,
    mentions_meeting_host,
    next_http_url_span,
    url_given_alone,
)
from app.services.meeting_link_urls import unwrapped_url

__all__ = ["MAPPINGS", "canonical_meeting_link", "detect_meeting_link", "find_meeting_link"]

# What a JSON object decodes to, or any other mapping, for `isinstance`: a dict first, so the
# ABC's costlier test runs only for what is not one. A tuple made once: `dict | Mapping` written
# in a check makes a union each time it runs (82 against 21 ns; a sync checks five an event).
MAPPINGS: Final = (dict, Mapping)


def detect_meeting_link(event: Mapping[str, Any]) -> MeetingLink | None:
    """The meeting link of a raw Google Calendar v3 Event resource, or None.

    Sources in order, first supported link wins: `conferenceData.entryPoints` of type
    "video", `hangoutLink`, `location`, `description`. Fields of the wrong type are ignored
    rather than trusted: events come from arbitrary calendars.
    """
    if not isinstance(event, MAPPINGS):
        return None
    conference_data = event.get("conferenceData")
    if conference_data is not None:  # most events have none: no ABC check of None
        link = _link_from_conference_data(conference_data)
        if link is not None:
            return link
    hangout_link = event.get("hangoutLink")
    if isinstance(hangout_link, str):
        link = canonical_meeting_link(hangout_link)
        if link is not None:
            return link
    for free_text_field in ("location", "description"):
        text = event.get(free_text_field)
        if isinstance(text, str):
            link = find_meeting_link(text)
            if link is not None:
                return link
    return None


def find_meeting_link(text: str) -> MeetingLink | None:
    """First supported meeting link in free text (plain text or HTML), in document order.

    In HTML both `href` values and visible link texts are candidates, in the order they
    appear; help links and dial-in pages around the join link are skipped, not returned.
    """
    if not isinstance(text, str):
        return None
    text = decode_structural_references(text)
    lowered = lower_ascii(text)
    # Every supported host, written with or without a scheme, holds one of the hints, and a
    # URL that holds none is never a candidate: a text without any has no link (most events'
    # descriptions), found in one search instead of a scan of its URLs.
    if not mentions_meeting_host(lowered):
        return None
    return _first_link_in(text, lowered)


def _first_link_in(text: str, lowered: str) -> MeetingLink | None:
    """`find_meeting_link` on a decoded text and its `lower_ascii`, without the pre-filter."""
    http_spans: list[tuple[int, int]] = []
    http_link: MeetingLink | None = None
    span = next_http_url_span(text, lowered, 0)
    while span is not None:
        http_spans.append(span)
        start, end = span
        # Most URLs of an invitation (help pages, dial-in pages) are dropped here, unparsed.
        if mentions_meeting_host(lowered[start:end]):
            http_link = _link_from_written_url(text[start:end])
            if http_link is not None:
                break
        span = next_http_url_span(text, lowered, end)
    # A scheme-less link wins only if it comes first, so only the text before the first
    # http(s) link is scanned for one.
    scan_end = http_spans[-1][0] if http_link is not None else len(text)
    for start, end in bare_url_spans(text, lowered, scan_end, http_spans):
        bare_link = _link_from_written_url(text[start:end])
        if bare_link is not None:
            return bare_link
    return http_link


def canonical_meeting_link(url: str) -> MeetingLink | None:
    """Validate and canonicalize one URL; None unless it joins a meeting on a known platform.

    Tolerates what surrounds a URL in text (quotes, angle brackets, trailing punctuation,
    `&nbsp;`, a closing `</a>`) and HTML entities such as `&amp;`.
    """
    if not isinstance(url, str):
        return None
    return _link_from_written_url(url_given_alone(url))


def _link_from_conference_data(conference_data: object) -> MeetingLink | None:
    """First supported "video" entry point; phone, SIP and "more" entry points never join."""
    if not isinstance(conference_data, Mapping):
        return None
    entry_points = conference_data.get("entryPoints")
    if not isinstance(entry_points, list):
        return None
    for entry_point in entry_points:
        if not isinstance(entry_point, Mapping) or entry_point.get("entryPointType") != "video":
            continue
        uri = entry_point.get("uri")
        if isinstance(uri, str):
            link = canonical_meeting_link(uri)
            if link is not None:
                return link
    return None


def _link_from_written_url(written_url: str) -> MeetingLink | None:
    """Canonical link of a URL cut out of text, after decoding its HTML entities.

    Remembered by the URL as written (bounded; the answer depends on nothing else): the same
    join URL comes back across a calendar (a series' exceptions copy its invitation, a personal
    meeting room serves every meeting of its owner) and on every sync that reads it again.
    """
    link = _links_by_written_url.get(written_url, _UNKNOWN)
    if link is not _UNKNOWN:
        return link  # type: ignore[no-any-return]
    parts = unwrapped_url(decoded_written_url(written_url))
    link = None if parts is None else identify_platform(*parts)
    if len(written_url) <= _LONGEST_REMEMBERED_URL:
        if len(_links_by_written_url) >= _URLS_REMEMBERED:
            _links_by_written_url.clear()
        _links_by_written_url[written_url] = link
    return link


_URLS_REMEMBERED: Final = 4096
_LONGEST_REMEMBERED_URL: Final = 1024
_links_by_written_url: dict[str, MeetingLink | None] = {}
_UNKNOWN: Final[Any] = object()
