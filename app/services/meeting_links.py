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

Performance: this runs for every event of a sync. Texts are scanned with `str.find` only
(a regex search over a whole description costs ~10x more in CPython), regexes are compiled
once and only `.match`ed at found positions, and no HTML parser is involved. Candidate URLs
never overlap, so work is linear in the size of the text (a test holds a 1 MB hostile
description to a CPU-time bound).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import html
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final
from urllib.parse import quote, unquote, unquote_plus

from app.domain import MeetingLink, Platform
from app.services import meeting_link_hosts as hosts

__all__ = ["canonical_meeting_link", "detect_meeting_link", "find_meeting_link"]

# Wrappers inside wrappers happen (a Safe Link around a Google redirect); more than this is
# not a real invitation.
_MAX_UNWRAP_DEPTH: Final = 4

# --- finding URLs in text ----------------------------------------------------------------

# A character that can be part of a URL written in text: printable ASCII except the
# delimiters RFC 3986 appendix C names for URLs in context (`<`, `>`, `"`), plus `'` and a
# backtick (HTML attribute quotes, Markdown). Whitespace, NBSP, zero-width spaces and any
# other non-ASCII character end a URL (Japanese text often follows a URL without a space).
# Spelled as positive ranges of printable ASCII (0x21-0x7e minus `"`, `'`, `<`, `>`, and
# backtick): CPython matches such a class several times faster than the negated form.
_URL_CHAR: Final = r"[!#-&(-;=?-_a-~]"

_BARE_HOST_SUFFIXES: Final = tuple(sorted("." + host for host in hosts.BARE_HOSTS))
# What the text is scanned for to find scheme-less URLs: each bare host's last label and `/`.
_BARE_HOST_ENDINGS: Final = tuple(
    sorted({"." + host.rpartition(".")[2] + "/" for host in hosts.BARE_HOSTS})
)
_HOST_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
# What may not precede a scheme-less URL: a word, host, path or e-mail address character.
_NOT_BEFORE_BARE_URL: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@.:/%-"
)

# One URL as written at a known position. Only ever `.match`ed at positions found with
# `str.find`, never used to search.
# Case is spelled out instead of using re.IGNORECASE, which makes every character-class
# test case-fold first: several times slower over long Safe Links.
_HTTP_URL_RE: Final = re.compile(rf"[hH][tT][tT][pP][sS]?://{_URL_CHAR}+")
_BARE_URL_RE: Final = re.compile(rf"(?:[a-zA-Z0-9-]+\.)+[a-zA-Z]+/{_URL_CHAR}*")
# Where a URL cut out of text ends once its HTML entities are decoded (`&nbsp;`, `&lt;`,
# `&#8203;`), and where a URL given alone ends: whitespace, controls, non-ASCII, `<`, `>`.
# Decoded quotes stay: `context={&quot;Tid&quot;:...}` is part of an unencoded Teams link.
_DECODED_URL_END_RE: Final = re.compile(r"[\x00-\x20\x7f-\U0010ffff<>]")

# A URL that mentions none of these (lower-cased) cannot be a supported link, wrapped or not
# (Safe Links and Google redirects percent-encode `:` and `/` but never the dots of the
# host, so the inner host name stays visible). Lets most URLs of an invitation (help pages,
# dial-in numbers) be dropped without parsing.
_HOST_HINTS: Final = ("zoom", "meet.google", "teams.", "webex", "goto", "bluejeans", "whereby")

# Only entities terminated by `;`. `html.unescape` on a whole text would also decode the
# legacy semicolon-less forms (HTML5 "named character references"), turning a URL's
# `&reg=1`, `&not=2` or `&para=3` into `®=1`, `¬=2`, `¶=3`.
_ENTITY_RE: Final = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# Character references that can spell a URL's own characters (`https&#58;//`, `&#x2F;`,
# `&period;`), decoded in the whole text before URLs are looked for. The references that stand
# for `&` and `;` are left to the per-URL decoding (so `&amp;amp;` is not decoded twice), and
# those for quotes, `<`, `>` and spaces too: they end a URL only once its own text is decoded.
_STRUCTURAL_REFERENCE_RE: Final = re.compile(
    r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|colon|sol|period|quest|equals|num|percnt|lowbar);"
)
_STRUCTURAL_CHARS: Final = frozenset(
    chr(code) for code in range(0x21, 0x7F) if chr(code) not in "\"'<>`&;"
)

# Punctuation and (double-encoded) markup that ends a sentence or a tag rather than the
# URL. `}` is kept: it can close an unencoded Teams `context` JSON.
_TRAILING_PUNCTUATION: Final = ".,;:!?)]*\"'"
_TRAILING_ENTITIES: Final = ("&nbsp;", "&gt;", "&lt;", "&quot;", "&apos;", "&#39;", "&#x27;")
_LEADING_JUNK: Final = " \t\r\n\f\v<([{\"'`"

# --- parsing one URL ---------------------------------------------------------------------

# The whole of an http(s) or scheme-less URL, RFC 3986 section 3 shape, with a host of at
# most 253 characters (RFC 1035) and at most a default port. User info cannot match: that
# matters because `https://evil.com\@zoom.us/` means zoom.us to Python's urlsplit and
# evil.com to browsers (WHATWG URL treats `\` as `/`). Other schemes (`tel:`, `sip:`,
# `mailto:`, `javascript:`, `zoommtg:`) do not match or leave a host no platform accepts.
_URL_PARTS_RE: Final = re.compile(
    r"(?:https?://)?"
    r"(?P<host>[a-z0-9.-]{1,253})"
    r"(?::(?:80|443)?)?"
    r"(?P<path>/[^?#]*)?"
    r"(?:\?(?P<query>[^#]*))?"
    r"(?:#(?P<fragment>.*))?",
    re.IGNORECASE | re.ASCII | re.DOTALL,
)
# RFC 3986 reserved characters and `%`: what `quote` must leave alone in a formed URL.
_URL_SAFE_CHARS: Final = "!#$%&'()*+,/:;=?@[]~"
_QUERY_SAFE_CHARS: Final = "!$%&'()*+,/:;=?@~"
_QUERY_UNSAFE_CHAR_RE: Final = re.compile(r"[^A-Za-z0-9\-._~!$%&'()*+,/:;=?@]")

# One path segment of RFC 3986 `pchar`s (no `/`, no `\`, nothing outside ASCII).
_SEGMENT: Final = r"[\w.~%!$&'()*+,;=:@-]+"
_SLASH: Final = r"/?"  # an optional trailing slash, dropped from the canonical form

# --- wrappers ----------------------------------------------------------------------------

# Outlook Safe Links: https://<region>.safelinks.protection.outlook.com/?url=<encoded>&data=...
# (GCC High tenants use *.safelinks.protection.office365.us).
_SAFELINKS_DOMAINS: Final = frozenset(
    {"safelinks.protection.outlook.com", "safelinks.protection.office365.us"}
)
_SAFELINKS_SUFFIXES: Final = tuple(sorted("." + domain for domain in _SAFELINKS_DOMAINS))
_GOOGLE_REDIRECT_HOSTS: Final = frozenset({"www.google.com", "google.com"})

# --- platforms ---------------------------------------------------------------------------

_MEET_HOST: Final = "meet.google.com"
# Meet codes are 3-4-3 lower-case letters; Meet treats them case-insensitively. `/_meet/` is
# the route Meet's instant meetings open at.
_MEET_CODE_PATH_RE: Final = re.compile(
    rf"/(?:_meet/)?([a-z]{{3}}-[a-z]{{4}}-[a-z]{{3}}){_SLASH}", re.IGNORECASE | re.ASCII
)
_MEET_LOOKUP_PATH_RE: Final = re.compile(
    rf"/lookup/([a-z0-9_-]+){_SLASH}", re.IGNORECASE | re.ASCII
)

_ZOOM_SUFFIXES: Final = tuple(sorted("." + domain for domain in hosts.ZOOM_DOMAINS))
_ZOOM_MEETING_ID: Final = r"[0-9]{9,12}"
_ZOOM_PATH_RE: Final = re.compile(
    rf"/(?:[jw]/{_ZOOM_MEETING_ID}|my/[a-z0-9][\w.-]*"
    rf"|wc/join/{_ZOOM_MEETING_ID}|wc/{_ZOOM_MEETING_ID}/join){_SLASH}",
    re.IGNORECASE | re.ASCII,
)
# `zoom.us/join?confno=<id>&pwd=...`: the join page with the meeting id as a parameter.
_ZOOM_JOIN_PAGE_PATH_RE: Final = re.compile(rf"/join{_SLASH}", re.IGNORECASE)
_ZOOM_CONFNO_RE: Final = re.compile(
    rf"(?:^|&)confno=({_ZOOM_MEETING_ID})(?:&|$)", re.IGNORECASE | re.ASCII
)

# Keep the thread id exactly as written (`19%3ameeting_...%40thread.v2`): Teams is picky.
_TEAMS_PATH_RE: Final = re.compile(
    rf"/l/meetup-join/{_SEGMENT}(?:/{_SEGMENT})?{_SLASH}|/meet/[0-9]{{6,20}}{_SLASH}",
    re.IGNORECASE | re.ASCII,
)
_TEAMS_LAUNCHER_PATH: Final = "/dl/launcher/launcher.html"
_TEAMS_LIGHT_MEETINGS_PATH: Final = "/light-meetings/launch"
# A meeting path with its query, as a Teams deep link carries it.
_TEAMS_TARGET_RE: Final = re.compile(r"(?P<path>/[^?#]*)(?:\?(?P<query>[^#]*))?(?:#.*)?", re.DOTALL)
# light-meetings `coords`: base64 of a small JSON object; a longer one is not Teams'.
_TEAMS_MAX_COORDS: Final = 2048
_TEAMS_THREAD_ID_RE: Final = re.compile(r"19:[\w.=-]+@thread\.[a-z0-9]+", re.ASCII)
_TEAMS_DIRECTORY_ID_RE: Final = re.compile(r"[0-9a-zA-Z-]{1,64}", re.ASCII)

_WEBEX_SUFFIX: Final = ".webex.com"
_WEBEX_PATH_RE: Final = re.compile(
    rf"/(?:meet|join)/[\w.-]+{_SLASH}|/wbxmjs/joinservice(?:/{_SEGMENT})+{_SLASH}"
    rf"|/webappng/sites/[\w.-]+/meeting/download/[0-9a-z]+{_SLASH}",
    re.IGNORECASE | re.ASCII,
)
# j.php (meeting), k2/j.php (Webex Training) and e.php (Webex Events) join pages; only valid
# with a meeting id.
_WEBEX_PHP_PATH_RE: Final = re.compile(r"/[\w.-]+/(?:k2/)?[je]\.php", re.IGNORECASE | re.ASCII)
_WEBEX_MTID_RE: Final = re.compile(r"(?:^|&)mtid=[^&]+", re.IGNORECASE | re.ASCII)

_GOTOMEETING_JOIN_PATH_RE: Final = re.compile(rf"/join/[0-9]{{9,12}}{_SLASH}")
_GOTOMEETING_APP_PATH_RE: Final = re.compile(r"(?:/|/index\.html)?", re.IGNORECASE | re.ASCII)
_GOTOMEETING_APP_QUERY_RE: Final = re.compile(
    r"(?:^|&)meetingid=[0-9]{9,12}(?:&|$)", re.IGNORECASE | re.ASCII
)
_GOTO_APP_PATH_RE: Final = re.compile(rf"/meeting/[0-9]{{9,12}}{_SLASH}")
_GOTO_ROOM_PATH_RE: Final = re.compile(
    rf"/([0-9]{{9,12}}|[a-z][\w.-]*){_SLASH}", re.IGNORECASE | re.ASCII
)

_BLUEJEANS_DOMAIN: Final = "bluejeans.com"
_BLUEJEANS_SUFFIX: Final = ".bluejeans.com"
# bluejeans.com/<meeting id>[/<participant passcode>]
_BLUEJEANS_PATH_RE: Final = re.compile(rf"/[0-9]{{6,12}}(?:/[0-9]{{2,12}})?{_SLASH}")

_WHEREBY_DOMAIN: Final = "whereby.com"
_WHEREBY_SUFFIX: Final = ".whereby.com"
_WHEREBY_ROOM_PATH_RE: Final = re.compile(
    rf"/([a-z0-9][a-z0-9_-]*){_SLASH}", re.IGNORECASE | re.ASCII
)


# --- public API --------------------------------------------------------------------------


def detect_meeting_link(event: Mapping[str, Any]) -> MeetingLink | None:
    """The meeting link of a raw Google Calendar v3 Event resource, or None.

    Sources in order, first supported link wins: `conferenceData.entryPoints` of type
    "video", `hangoutLink`, `location`, `description`. Fields of the wrong type are ignored
    rather than trusted: events come from arbitrary calendars.
    """
    if not isinstance(event, Mapping):
        return None
    link = _link_from_conference_data(event.get("conferenceData"))
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
    if "&" in text:
        text = _STRUCTURAL_REFERENCE_RE.sub(_decode_structural_reference, text)
    lowered = _lower_ascii(text)
    http_spans: list[tuple[int, int]] = []
    http_link: MeetingLink | None = None
    for start, end in _http_url_spans(text, lowered):
        http_spans.append((start, end))
        # Most URLs of an invitation (help pages, dial-in pages) are dropped here, unparsed.
        if _mentions_meeting_host(lowered[start:end]):
            http_link = _link_from_written_url(text[start:end])
            if http_link is not None:
                break
    # A scheme-less link wins only if it comes first, so only the text before the first
    # http(s) link is scanned for one.
    scan_end = http_spans[-1][0] if http_link is not None else len(text)
    for start, end in _bare_url_spans(text, lowered, scan_end, http_spans):
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
    written_url = url.strip().lstrip(_LEADING_JUNK)
    url_end = _DECODED_URL_END_RE.search(written_url)
    if url_end is not None:
        written_url = written_url[: url_end.start()]
    return _link_from_written_url(written_url)


# --- internals ---------------------------------------------------------------------------


# (host, path, query, fragment): host lower-case and validated, the rest as written, query
# and fragment without their `?` and `#`. A plain tuple: this is built for every candidate.
_UrlParts = tuple[str, str, str, str]


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


def _decode_structural_reference(reference: re.Match[str]) -> str:
    character = html.unescape(reference.group())
    return character if character in _STRUCTURAL_CHARS else reference.group()


def _lower_ascii(text: str) -> str:
    """`text` lower-cased with every index unchanged, so positions found in it apply to `text`."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few letters lower-case to two characters ("İ")
        lowered = text.encode("ascii", "replace").decode("ascii").lower()
    return lowered


def _mentions_meeting_host(lowered: str) -> bool:
    return any(hint in lowered for hint in _HOST_HINTS)


def _http_url_spans(text: str, lowered: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every http(s) URL, in text order."""
    position = lowered.find("http")
    while position >= 0:
        url = _HTTP_URL_RE.match(text, position)
        if url is None:
            position = lowered.find("http", position + 4)
        else:
            yield url.span()
            position = lowered.find("http", url.end())


def _bare_url_spans(
    text: str, lowered: str, scan_end: int, http_spans: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """(start, end) of scheme-less meeting-host URLs starting before `scan_end`, in order.

    Hosts inside an http(s) URL of `http_spans` (sorted, covering the text up to `scan_end`)
    or inside an earlier scheme-less URL are part of that URL, not URLs of their own: skipping
    them keeps the spans apart, and the work linear.
    """
    host_ends: list[int] = []
    for host_ending in _BARE_HOST_ENDINGS:
        position = lowered.find(host_ending, 0, scan_end)
        while position >= 0:
            host_ends.append(position + len(host_ending) - 1)
            position = lowered.find(host_ending, position + len(host_ending), scan_end)
    host_ends.sort()
    http_starts = [start for start, _ in http_spans]
    bare_spans: list[tuple[int, int]] = []
    covered_until = 0
    for host_end in host_ends:
        if host_end < covered_until:
            continue
        http_index = bisect.bisect_right(http_starts, host_end) - 1
        if http_index >= 0 and host_end < http_spans[http_index][1]:
            covered_until = http_spans[http_index][1]
            continue
        bare_span = _bare_url_span(text, lowered, host_end)
        if bare_span is not None:
            bare_spans.append(bare_span)
            covered_until = bare_span[1]
    return bare_spans


def _bare_url_span(text: str, lowered: str, host_end: int) -> tuple[int, int] | None:
    """Span of the scheme-less meeting URL whose host ends at `host_end`, if there is one."""
    host_start = host_end
    while host_start > 0 and lowered[host_start - 1] in _HOST_CHARS:
        host_start -= 1
    host = lowered[host_start:host_end]
    if host not in hosts.BARE_HOSTS and not host.endswith(_BARE_HOST_SUFFIXES):
        return None
    if host_start > 0 and text[host_start - 1] in _NOT_BEFORE_BARE_URL:
        return None  # part of a longer URL, a path or an e-mail address
    url = _BARE_URL_RE.match(text, host_start)
    return None if url is None else url.span()


def _link_from_written_url(written_url: str) -> MeetingLink | None:
    """Canonical link of a URL cut out of text, after decoding its HTML entities."""
    if "&" in written_url:
        decoded = written_url.replace("&amp;", "&")
        if ";" in decoded:  # other entities: decode all of them in one pass
            decoded = _ENTITY_RE.sub(_decode_entity, written_url)
        url_end = _DECODED_URL_END_RE.search(decoded)
        written_url = decoded if url_end is None else decoded[: url_end.start()]
    return _canonicalize(written_url)


def _decode_entity(entity: re.Match[str]) -> str:
    return html.unescape(entity.group())


def _strip_trailing_junk(url: str) -> str:
    # Moves an end index rather than slicing per step: a URL written with thousands of
    # trailing `&quot;` must not cost a copy of itself for each one.
    end = len(url)
    while end and url[end - 1] in _TRAILING_PUNCTUATION:
        for entity in _TRAILING_ENTITIES:
            if url[end - len(entity) : end].lower() == entity:
                end -= len(entity)
                break
        else:
            end -= 1
    return url[:end]


def _canonicalize(candidate: str) -> MeetingLink | None:
    """Unwrap redirect wrappers, then match the URL against the platform allow-list."""
    for _ in range(_MAX_UNWRAP_DEPTH + 1):
        parts = _split(_strip_trailing_junk(candidate))
        if parts is None:
            return None
        host, path, query, fragment = parts
        target_params = _wrapper_target_params(host, path)
        if not target_params:
            return _identify_platform(host, path, query, fragment)
        inner = _first_query_value(query, target_params)
        if inner is None:
            return None
        # Query values arrive fully decoded; re-escape what a URL cannot hold literally
        # (spaces, quotes, braces of an unencoded Teams context) without touching `%XX`.
        candidate = quote(inner, safe=_URL_SAFE_CHARS)
    return None


def _split(url: str) -> _UrlParts | None:
    parts = _URL_PARTS_RE.fullmatch(url)
    if parts is None:
        return None
    host, path, query, fragment = parts.group("host", "path", "query", "fragment")
    host = host.lower().rstrip(".")
    if "." not in host or ".." in host or host[0] in ".-":
        return None
    return host, path or "", query or "", fragment or ""


def _first_label(host: str) -> str:
    return host.partition(".")[0]


def _wrapper_target_params(host: str, path: str) -> tuple[str, ...]:
    """Query parameters holding the real URL if this is a redirect wrapper, else ()."""
    if host in _SAFELINKS_DOMAINS or host.endswith(_SAFELINKS_SUFFIXES):
        return ("url",)
    if host in _GOOGLE_REDIRECT_HOSTS and path == "/url":
        return ("q", "url")
    return ()


def _first_query_value(query: str, names: tuple[str, ...], *, plus: bool = True) -> str | None:
    """Decoded value of the first non-empty `names` parameter.

    Form encoding (`+` is a space) as redirect wrappers use, unless `plus` is False: Teams
    writes `+` literally in the base64 and ids it carries.
    """
    decode = unquote_plus if plus else unquote
    for param in query.split("&"):
        name, _, value = param.partition("=")
        if name in names:
            decoded = decode(value).strip()
            if decoded:
                return decoded
    return None


def _identify_platform(host: str, path: str, query: str, fragment: str) -> MeetingLink | None:
    if host == _MEET_HOST:
        return _google_meet_link(path)
    if host in hosts.ZOOM_DOMAINS or host.endswith(_ZOOM_SUFFIXES):
        return _zoom_link(host, path, query)
    if host in hosts.TEAMS_HOSTS:
        return _teams_link(host, path, query, fragment)
    if host.endswith(_WEBEX_SUFFIX):
        return _webex_link(host, path, query)
    if (
        host in hosts.GOTOMEETING_JOIN_HOSTS
        or host in hosts.GOTO_ROOM_HOSTS
        or host in (hosts.GOTOMEETING_APP_HOST, hosts.GOTO_APP_HOST)
    ):
        return _gotomeeting_link(host, path, query)
    if host == _BLUEJEANS_DOMAIN or host.endswith(_BLUEJEANS_SUFFIX):
        if _first_label(host) in hosts.BLUEJEANS_NON_MEETING_SUBDOMAINS:
            return None
        if not _BLUEJEANS_PATH_RE.fullmatch(path):
            return None
        return _build_link(Platform.BLUEJEANS, host, path, query)
    if host == _WHEREBY_DOMAIN or host.endswith(_WHEREBY_SUFFIX):
        return _whereby_link(host, path, query)
    return None


def _google_meet_link(path: str) -> MeetingLink | None:
    code = _MEET_CODE_PATH_RE.fullmatch(path)
    if code is not None:
        return MeetingLink(f"https://{_MEET_HOST}/{code.group(1).lower()}", Platform.GOOGLE_MEET)
    lookup = _MEET_LOOKUP_PATH_RE.fullmatch(path)
    if lookup is not None:
        return MeetingLink(f"https://{_MEET_HOST}/lookup/{lookup.group(1)}", Platform.GOOGLE_MEET)
    return None


def _zoom_link(host: str, path: str, query: str) -> MeetingLink | None:
    if _first_label(host) in hosts.ZOOM_NON_MEETING_SUBDOMAINS:
        return None
    if _ZOOM_PATH_RE.fullmatch(path):
        return _build_link(Platform.ZOOM, host, path, query, hosts.ZOOM_DROPPED_PARAMS)
    if _ZOOM_JOIN_PAGE_PATH_RE.fullmatch(path):
        meeting_id = _ZOOM_CONFNO_RE.search(query)
        if meeting_id is not None:
            join_path = f"/j/{meeting_id.group(1)}"
            dropped = hosts.ZOOM_DROPPED_PARAMS | {"confno"}
            return _build_link(Platform.ZOOM, host, join_path, query, dropped)
    return None


def _teams_link(host: str, path: str, query: str, fragment: str) -> MeetingLink | None:
    if not _TEAMS_PATH_RE.fullmatch(path):
        target = _teams_deep_link_target(path, query, fragment)
        if target is None:
            return None
        target_parts = _TEAMS_TARGET_RE.fullmatch(target)
        if target_parts is None or not _TEAMS_PATH_RE.fullmatch(target_parts["path"]):
            return None
        path, query = target_parts["path"], target_parts["query"] or ""
    return _build_link(Platform.MICROSOFT_TEAMS, host, path, query, hosts.TEAMS_LAUNCHER_PARAMS)


def _teams_deep_link_target(path: str, query: str, fragment: str) -> str | None:
    """The meeting path and query a Teams deep link wraps, or None if it wraps none."""
    route = path.lower()
    if route in hosts.TEAMS_CLIENT_ROUTES:  # /v2/?meetingjoin=true#/l/meetup-join/...
        return fragment or None
    if route == _TEAMS_LAUNCHER_PATH:
        # `url=%2F_%23%2Fmeet%2F...` encoded, or `url=/_#/l/meetup-join/...` written raw, in
        # which case the target is the launcher URL's own fragment.
        launched = _first_query_value(query, ("url",), plus=False)
        if launched is None:
            return None
        if "#" not in launched and fragment:
            launched = f"{launched}#{fragment}"
        client_route, _, target = launched.partition("#")
        return target if client_route.lower() in hosts.TEAMS_CLIENT_ROUTES and target else None
    if route == _TEAMS_LIGHT_MEETINGS_PATH:
        return _teams_light_meeting_target(query)
    return None


def _teams_light_meeting_target(query: str) -> str | None:
    """`light-meetings/launch?coords=<base64 JSON>` (conversation, tenant and organizer ids)
    as the `/l/meetup-join/...?context=...` link it stands for."""
    coords = _first_query_value(query, ("coords",), plus=False)
    if coords is None or len(coords) > _TEAMS_MAX_COORDS:
        return None
    padded = coords.replace("-", "+").replace("_", "/") + "=" * (-len(coords) % 4)
    try:
        meeting = json.loads(base64.b64decode(padded, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        return None
    if not isinstance(meeting, dict):
        return None
    thread_id = meeting.get("conversationId")
    tenant_id = meeting.get("tenantId")
    organizer_id = meeting.get("organizerId")
    message_id = str(meeting.get("messageId", "0"))
    if not (
        isinstance(thread_id, str)
        and _TEAMS_THREAD_ID_RE.fullmatch(thread_id)
        and isinstance(tenant_id, str)
        and _TEAMS_DIRECTORY_ID_RE.fullmatch(tenant_id)
        and isinstance(organizer_id, str)
        and _TEAMS_DIRECTORY_ID_RE.fullmatch(organizer_id)
        and message_id.isascii()
        and message_id.isdigit()
    ):
        return None
    context = json.dumps({"Tid": tenant_id, "Oid": organizer_id}, separators=(",", ":"))
    return (
        f"/l/meetup-join/{quote(thread_id, safe='')}/{message_id}?context={quote(context, safe='')}"
    )


def _webex_link(host: str, path: str, query: str) -> MeetingLink | None:
    if _first_label(host) in hosts.WEBEX_NON_MEETING_SUBDOMAINS:
        return None
    if _WEBEX_PATH_RE.fullmatch(path) or (
        _WEBEX_PHP_PATH_RE.fullmatch(path) and _WEBEX_MTID_RE.search(query)
    ):
        return _build_link(Platform.WEBEX, host, path, query)
    return None


def _gotomeeting_link(host: str, path: str, query: str) -> MeetingLink | None:
    if host in hosts.GOTOMEETING_JOIN_HOSTS:
        if not _GOTOMEETING_JOIN_PATH_RE.fullmatch(path):
            return None
        return _build_link(Platform.GOTOMEETING, host, path, query)
    if host == hosts.GOTOMEETING_APP_HOST:
        if _GOTOMEETING_APP_PATH_RE.fullmatch(path) and _GOTOMEETING_APP_QUERY_RE.search(query):
            return _build_link(Platform.GOTOMEETING, host, "/", query)
        return None
    if host == hosts.GOTO_APP_HOST:
        if not _GOTO_APP_PATH_RE.fullmatch(path):
            return None
        return _build_link(Platform.GOTOMEETING, host, path, query)
    room = _GOTO_ROOM_PATH_RE.fullmatch(path)
    if room is None or room.group(1).lower() in hosts.GOTO_RESERVED_PATHS:
        return None
    return _build_link(Platform.GOTOMEETING, host, path, query)


def _whereby_link(host: str, path: str, query: str) -> MeetingLink | None:
    if _first_label(host) in hosts.WHEREBY_NON_MEETING_SUBDOMAINS:
        return None
    room = _WHEREBY_ROOM_PATH_RE.fullmatch(path)
    if room is None or room.group(1).lower() in hosts.WHEREBY_RESERVED_PATHS:
        return None
    return _build_link(Platform.WHEREBY, host, path, query, hosts.WHEREBY_DROPPED_PARAMS)


def _build_link(
    platform: Platform,
    host: str,
    path: str,
    query: str,
    dropped_params: frozenset[str] = frozenset(),
) -> MeetingLink:
    """Assemble the canonical URL: no trailing slash, no fragment, no `utm_*` tracking and
    none of `dropped_params` (lower-case names)."""
    url = f"https://{host}{path.rstrip('/') or '/'}"
    if query:
        query = "&".join(
            param
            for param in query.split("&")
            if param and not _is_dropped_param(param.partition("=")[0].lower(), dropped_params)
        )
    if query:
        if _QUERY_UNSAFE_CHAR_RE.search(query):
            query = quote(query, safe=_QUERY_SAFE_CHARS)
        url += "?" + query
    return MeetingLink(url, platform)


def _is_dropped_param(name: str, dropped_params: frozenset[str]) -> bool:
    return name.startswith("utm_") or name in dropped_params
