"""Find the meeting a Google Calendar event should send a bot to.

Invitations can be written by anyone, so this module is an allow-list: it only ever returns a
*join* URL on a known meeting host, rebuilt in one canonical form, never an arbitrary link
taken from an event. Everything else (help pages, dial-in pages, `aka.ms/JoinTeamsMeeting`,
pricing pages, registration forms, `tel:`/`sip:` URIs) is ignored.

Canonical form: `https://`, lower-cased host without port, tracking wrappers (Outlook Safe
Links, `google.com/url` redirects) removed, no fragment, the meeting's own query kept
(Zoom `pwd`, Teams `context`, Teams `p`, Webex `MTID`, ...) minus `utm_*` parameters.
Google Meet is the exception: its query (`authuser`, `hs`, `pli`) only steers the browser
of whoever clicks, so it is dropped and the link is `https://meet.google.com/abc-defg-hij`.

Decisions on borderline URL forms:
- Meet `meet.google.com/lookup/<name>` (legacy nickname links) is a join link: accepted.
  `meet.google.com/new` (creates a meeting), `/landing` and the bare host are not.
- Zoom `/meeting/register/...` and `/webinar/register/...` are sign-up forms a bot cannot
  fill: rejected. `/s/<id>` (host start) and `/w/<id>` (webinar join) are accepted.
- Webex `<site>/e.php?MTID=...` (Webex Events join) is accepted like `j.php`; both need MTID.
- GoTo `app.gotomeeting.com/?meetingId=<digits>` (browser join) is accepted.
- Whereby accepts one-segment room paths except a list of Whereby's own site pages.

Performance: this runs for every event of a sync, so all regexes are compiled once, text
without any meeting-host keyword is rejected by one regex search, and HTML is handled with
regexes only (no parser). Work is linear in the size of the text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import SplitResult, parse_qs, quote, urlsplit

from app.domain import MeetingLink, Platform

__all__ = ["canonical_meeting_link", "detect_meeting_link", "find_meeting_link"]

# Wrappers inside wrappers happen (a Safe Link around a Google redirect); more than this is
# not a real invitation.
_MAX_UNWRAP_DEPTH: Final = 4

# A character that can be part of a URL written in text: printable ASCII except the
# delimiters RFC 3986 appendix C names for URLs in context (`<`, `>`, `"`), plus `'` and a
# backtick (HTML attribute quotes, Markdown). Whitespace, NBSP, zero-width spaces and any
# other non-ASCII character end a URL (Japanese text often follows a URL without a space).
_URL_CHAR: Final = r"[^\x00-\x20\x7f-\U0010ffff<>\"'`]"

# Hosts recognised even when written without a scheme ("zoom.us/j/123" in a location),
# each with the `/` that must follow it.
_BARE_HOSTS: Final = (
    "zoom.us/",
    "zoomgov.com/",
    "meet.google.com/",
    "teams.microsoft.com/",
    "teams.live.com/",
    "teams.microsoft.us/",
    "webex.com/",
    "gotomeeting.com/",
    "meet.goto.com/",
    "gotomeet.me/",
    "bluejeans.com/",
    "whereby.com/",
)
_BARE_HOSTS_PATTERN: Final = "|".join(re.escape(host) for host in _BARE_HOSTS)
_HOST_LABEL_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
# What may precede a scheme-less URL: not a word, host, path or e-mail address character.
_BARE_URL_FORBIDDEN_BEFORE: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@.:/%-"
)

# One URL as written at a given position of a text. Only ever used with `.match` at
# positions found by `str.find`: scanning a whole text with a regex costs far more than
# `str.find` (Python's `re` has no fast search for case-insensitive alternations).
_HTTP_URL_RE: Final = re.compile(rf"https?://{_URL_CHAR}+", re.IGNORECASE | re.ASCII)
_BARE_URL_RE: Final = re.compile(
    rf"(?:[a-z0-9-]+\.)*(?:{_BARE_HOSTS_PATTERN}){_URL_CHAR}*", re.IGNORECASE | re.ASCII
)
_URL_RE: Final = re.compile(
    f"{_HTTP_URL_RE.pattern}|{_BARE_URL_RE.pattern}", re.IGNORECASE | re.ASCII
)

# Cheap pre-check on the lower-cased text: a text mentioning none of these cannot hold a
# supported link, wrapped or not (Safe Links and Google redirects percent-encode `:` and
# `/` but never the dots of the host, so the inner host name stays visible).
_HOST_HINTS: Final = ("zoom", "meet.google", "teams.", "webex", "goto", "bluejeans", "whereby")

# Only entities terminated by `;`. `html.unescape` on a whole text would also decode the
# legacy semicolon-less forms (HTML5 "named character references"), turning a URL's
# `&reg=1`, `&not=2` or `&para=3` into `®=1`, `¬=2`, `¶=3`.
_ENTITY_RE: Final = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")

# Punctuation and (double-encoded) markup that ends a sentence or a tag rather than the
# URL. `}` is kept: it can close an unencoded Teams `context` JSON.
_TRAILING_PUNCTUATION: Final = ".,;:!?)]*"
_TRAILING_ENTITIES: Final = ("&nbsp;", "&gt;", "&lt;", "&quot;", "&apos;", "&#39;", "&#x27;")
_LEADING_JUNK: Final = " \t\r\n\f\v<([{\"'`"

_SCHEME_RE: Final = re.compile(r"([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
# `tel:`, `sip:`, `mailto:`, `javascript:` ... (but not `zoom.us:443/...`).
_OTHER_SCHEME_RE: Final = re.compile(r"[a-z][a-z0-9+.-]*:(?![0-9])", re.IGNORECASE)
_HOSTNAME_RE: Final = re.compile(
    r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.ASCII
)
# RFC 3986 reserved + `%`: characters `quote` must leave alone in an already-formed URL.
_URL_SAFE_CHARS: Final = "!#$%&'()*+,/:;=?@[]~"
_QUERY_SAFE_CHARS: Final = "!$%&'()*+,/:;=?@~"

# One path segment of RFC 3986 `pchar`s (no `/`, no `\`, nothing outside ASCII).
_SEGMENT: Final = r"[\w.~%!$&'()*+,;=:@-]+"
_SLASH: Final = r"/?"  # an optional trailing slash, dropped from the canonical form

# --- wrappers ----------------------------------------------------------------------------

# Outlook Safe Links: https://<region>.safelinks.protection.outlook.com/?url=<encoded>&data=...
# (GCC High tenants use *.safelinks.protection.office365.us).
_SAFELINKS_DOMAINS: Final = (
    "safelinks.protection.outlook.com",
    "safelinks.protection.office365.us",
)
_GOOGLE_REDIRECT_HOSTS: Final = frozenset({"www.google.com", "google.com"})

# --- platforms ---------------------------------------------------------------------------

_MEET_HOST: Final = "meet.google.com"
# Meet codes are 3-4-3 lower-case letters; Meet treats them case-insensitively.
_MEET_CODE_PATH_RE: Final = re.compile(rf"/([a-z]{{3}}-[a-z]{{4}}-[a-z]{{3}}){_SLASH}", re.I)
_MEET_LOOKUP_PATH_RE: Final = re.compile(rf"/lookup/([a-z0-9_-]+){_SLASH}", re.I)

_ZOOM_DOMAINS: Final = ("zoom.us", "zoomgov.com")
_ZOOM_NON_MEETING_SUBDOMAINS: Final = frozenset(
    {
        "support",
        "explore",
        "blog",
        "status",
        "marketplace",
        "developers",
        "devforum",
        "community",
        "learning",
        "investors",
        "news",
    }
)
_ZOOM_MEETING_ID: Final = r"[0-9]{9,12}"
_ZOOM_PATH_RE: Final = re.compile(
    rf"/(?:[jws]/{_ZOOM_MEETING_ID}|my/[a-z0-9][\w.-]*"
    rf"|wc/join/{_ZOOM_MEETING_ID}|wc/{_ZOOM_MEETING_ID}/join){_SLASH}",
    re.IGNORECASE | re.ASCII,
)

_TEAMS_HOSTS: Final = frozenset(
    {
        "teams.microsoft.com",
        "teams.live.com",
        # US government clouds (GCC High, DoD).
        "teams.microsoft.us",
        "gov.teams.microsoft.us",
        "dod.teams.microsoft.us",
    }
)
# Keep the thread id exactly as written (`19%3ameeting_...%40thread.v2`): Teams is picky.
_TEAMS_PATH_RE: Final = re.compile(
    rf"/l/meetup-join/{_SEGMENT}(?:/{_SEGMENT})?{_SLASH}|/meet/[0-9]{{6,20}}{_SLASH}",
    re.IGNORECASE | re.ASCII,
)

_WEBEX_DOMAIN: Final = "webex.com"
_WEBEX_NON_MEETING_SUBDOMAINS: Final = frozenset(
    {
        "www",
        "help",
        "blog",
        "developer",
        "community",
        "status",
        "signin",
        "idbroker",
        "apphub",
        "settings",
        "pricing",
        "cart",
        "ciscospark",
    }
)
_WEBEX_PATH_RE: Final = re.compile(
    rf"/(?:meet|join)/[\w.-]+{_SLASH}|/wbxmjs/joinservice(?:/{_SEGMENT})+{_SLASH}",
    re.IGNORECASE | re.ASCII,
)
# j.php (meeting) and e.php (Webex Events) join pages; only valid with a meeting id.
_WEBEX_PHP_PATH_RE: Final = re.compile(r"/[\w.-]+/[je]\.php", re.IGNORECASE | re.ASCII)
_WEBEX_MTID_RE: Final = re.compile(r"(?:^|&)mtid=[^&]+", re.IGNORECASE)

_GOTOMEETING_JOIN_HOSTS: Final = frozenset(
    {"global.gotomeeting.com", "gotomeeting.com", "www.gotomeeting.com"}
)
_GOTOMEETING_JOIN_PATH_RE: Final = re.compile(rf"/join/[0-9]{{9,12}}{_SLASH}")
_GOTOMEETING_APP_HOST: Final = "app.gotomeeting.com"
_GOTOMEETING_APP_PATH_RE: Final = re.compile(r"(?:/|/index\.html)?", re.IGNORECASE)
_GOTOMEETING_APP_QUERY_RE: Final = re.compile(r"(?:^|&)meetingid=[0-9]{9,12}(?:&|$)", re.I)
_GOTO_ROOM_HOSTS: Final = frozenset({"meet.goto.com", "gotomeet.me"})
_GOTO_ROOM_PATH_RE: Final = re.compile(
    rf"/([0-9]{{9,12}}|[a-z][\w.-]*){_SLASH}", re.IGNORECASE | re.ASCII
)
_GOTO_RESERVED_PATHS: Final = frozenset(
    {"install", "download", "help", "support", "login", "signin", "sign-in", "join"}
)

_BLUEJEANS_DOMAIN: Final = "bluejeans.com"
_BLUEJEANS_NON_MEETING_SUBDOMAINS: Final = frozenset(
    {"support", "help", "status", "blog", "community", "developer", "store", "www2"}
)
# bluejeans.com/<meeting id>[/<participant passcode>]
_BLUEJEANS_PATH_RE: Final = re.compile(rf"/[0-9]{{6,12}}(?:/[0-9]{{2,12}})?{_SLASH}")

_WHEREBY_DOMAIN: Final = "whereby.com"
_WHEREBY_NON_MEETING_SUBDOMAINS: Final = frozenset(
    {"help", "blog", "docs", "api", "status", "support", "developer", "developers", "careers"}
)
_WHEREBY_ROOM_PATH_RE: Final = re.compile(
    rf"/([a-z0-9][a-z0-9_-]*){_SLASH}", re.IGNORECASE | re.ASCII
)
# Whereby's own site pages, which share the one-segment shape of room names.
_WHEREBY_RESERVED_PATHS: Final = frozenset(
    {
        "about",
        "account",
        "api",
        "blog",
        "business",
        "careers",
        "contact",
        "dashboard",
        "developers",
        "docs",
        "download",
        "downloads",
        "embedded",
        "features",
        "help",
        "hub",
        "information",
        "integrations",
        "legal",
        "log-in",
        "login",
        "my-rooms",
        "org",
        "partners",
        "press",
        "pricing",
        "privacy",
        "pro",
        "product",
        "products",
        "security",
        "settings",
        "sign-up",
        "signup",
        "solutions",
        "support",
        "terms",
        "use-cases",
        "user",
        "users",
    }
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
    lowered = _lower_ascii(text)
    if not _mentions_meeting_host(lowered):
        return None
    for start, end in _url_spans(text, lowered):
        # Most URLs in an invitation (aka.ms help, dial-in pages) are dropped here unparsed.
        if _mentions_meeting_host(lowered[start:end]):
            link = _link_from_written_url(text[start:end])
            if link is not None:
                return link
    return None


def canonical_meeting_link(url: str) -> MeetingLink | None:
    """Validate and canonicalize one URL; None unless it joins a meeting on a known platform.

    Tolerates what surrounds a URL in text (quotes, angle brackets, trailing punctuation,
    `&nbsp;`, a closing `</a>`) and HTML entities such as `&amp;`.
    """
    if not isinstance(url, str):
        return None
    written_url = _URL_RE.match(url.strip().lstrip(_LEADING_JUNK))
    if written_url is None:
        return None
    return _link_from_written_url(written_url.group())


# --- internals ---------------------------------------------------------------------------


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


def _lower_ascii(text: str) -> str:
    """`text` lower-cased with every index unchanged, so positions found in it apply to `text`."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few letters lower-case to two characters ("İ")
        lowered = text.encode("ascii", "replace").decode("ascii").lower()
    return lowered


def _mentions_meeting_host(lowered: str) -> bool:
    return any(hint in lowered for hint in _HOST_HINTS)


def _url_spans(text: str, lowered: str) -> list[tuple[int, int]]:
    """(start, end) of every http(s) URL and scheme-less meeting-host URL, in text order."""
    http_spans: list[tuple[int, int]] = []
    position = lowered.find("http")
    while position >= 0:
        url = _HTTP_URL_RE.match(text, position)
        if url is None:
            position = lowered.find("http", position + 4)
        else:
            http_spans.append(url.span())
            position = lowered.find("http", url.end())
    bare_spans: set[tuple[int, int]] = set()
    for bare_host in _BARE_HOSTS:
        position = lowered.find(bare_host)
        while position >= 0:
            start = position
            while start > 0 and lowered[start - 1] in _HOST_LABEL_CHARS:
                start -= 1
            if (start == 0 or text[start - 1] not in _BARE_URL_FORBIDDEN_BEFORE) and not any(
                http_start <= start < http_end for http_start, http_end in http_spans
            ):
                url = _BARE_URL_RE.match(text, start)
                if url is not None:
                    bare_spans.add(url.span())
            position = lowered.find(bare_host, position + len(bare_host))
    if not bare_spans:
        return http_spans
    return sorted([*http_spans, *bare_spans])


def _link_from_written_url(written_url: str) -> MeetingLink | None:
    """Canonical link of a URL cut out of text, after decoding its HTML entities."""
    if "&" in written_url:
        # Decoding can reveal where the URL really ends (`&quot;`, `&nbsp;`, `&lt;`).
        decoded_url = _URL_RE.match(_ENTITY_RE.sub(_decode_entity, written_url))
        if decoded_url is None:
            return None
        written_url = decoded_url.group()
    return _canonicalize(written_url)


def _decode_entity(entity: re.Match[str]) -> str:
    return html.unescape(entity.group())


def _strip_trailing_junk(url: str) -> str:
    while True:
        stripped = url.rstrip(_TRAILING_PUNCTUATION)
        for entity in _TRAILING_ENTITIES:
            if stripped[-len(entity) :].lower() == entity:
                stripped = stripped[: -len(entity)]
                break
        if stripped == url:
            return url
        url = stripped


def _canonicalize(candidate: str) -> MeetingLink | None:
    """Unwrap redirect wrappers, then match the URL against the platform allow-list."""
    for _ in range(_MAX_UNWRAP_DEPTH + 1):
        parts = _split(_strip_trailing_junk(candidate))
        if parts is None:
            return None
        target_params = _wrapper_target_params(parts)
        if not target_params:
            return _identify_platform(parts)
        inner = _first_query_value(parts.query, target_params)
        if inner is None:
            return None
        # Query values arrive fully decoded; re-escape what a URL cannot hold literally
        # (spaces, quotes, braces of an unencoded Teams context) without touching `%XX`.
        candidate = quote(inner.strip(), safe=_URL_SAFE_CHARS)
    return None


def _split(url: str) -> SplitResult | None:
    """Parse an http(s) or scheme-less URL into https with a validated, lower-case host.

    Returns the parts with `netloc` reduced to the bare host: user info is refused outright
    (`https://zoom.us\\@evil.com/` and `https://evil.com\\@zoom.us/` disagree between
    parsers and browsers), and only default ports are allowed.
    """
    scheme = _SCHEME_RE.match(url)
    if scheme is not None:
        if scheme.group(1).lower() not in ("http", "https"):
            return None
    elif _OTHER_SCHEME_RE.match(url):
        return None
    else:
        url = "https://" + url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if "@" in parts.netloc or port not in (None, 80, 443):
        return None
    host = (parts.hostname or "").rstrip(".")
    if not _HOSTNAME_RE.fullmatch(host):
        return None
    return SplitResult("https", host, parts.path, parts.query, "")


def _is_domain_or_subdomain(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def _first_label(host: str) -> str:
    return host.partition(".")[0]


def _wrapper_target_params(parts: SplitResult) -> tuple[str, ...]:
    """Query parameters holding the real URL if `parts` is a redirect wrapper, else ()."""
    host = parts.netloc
    if any(_is_domain_or_subdomain(host, domain) for domain in _SAFELINKS_DOMAINS):
        return ("url",)
    if host in _GOOGLE_REDIRECT_HOSTS and parts.path == "/url":
        return ("q", "url")
    return ()


def _first_query_value(query: str, names: tuple[str, ...]) -> str | None:
    values = parse_qs(query)
    for name in names:
        for value in values.get(name, ()):
            if value.strip():
                return value
    return None


def _identify_platform(parts: SplitResult) -> MeetingLink | None:
    host, path, query = parts.netloc, parts.path, parts.query
    if host == _MEET_HOST:
        return _google_meet_link(path)
    if any(_is_domain_or_subdomain(host, domain) for domain in _ZOOM_DOMAINS):
        if _first_label(host) in _ZOOM_NON_MEETING_SUBDOMAINS:
            return None
        return _link_if(_ZOOM_PATH_RE.fullmatch(path), Platform.ZOOM, host, path, query)
    if host in _TEAMS_HOSTS:
        return _link_if(_TEAMS_PATH_RE.fullmatch(path), Platform.MICROSOFT_TEAMS, host, path, query)
    if host.endswith("." + _WEBEX_DOMAIN):
        return _webex_link(host, path, query)
    if host in _GOTOMEETING_JOIN_HOSTS or host == _GOTOMEETING_APP_HOST or host in _GOTO_ROOM_HOSTS:
        return _gotomeeting_link(host, path, query)
    if _is_domain_or_subdomain(host, _BLUEJEANS_DOMAIN):
        if _first_label(host) in _BLUEJEANS_NON_MEETING_SUBDOMAINS:
            return None
        return _link_if(_BLUEJEANS_PATH_RE.fullmatch(path), Platform.BLUEJEANS, host, path, query)
    if _is_domain_or_subdomain(host, _WHEREBY_DOMAIN):
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


def _webex_link(host: str, path: str, query: str) -> MeetingLink | None:
    if _first_label(host) in _WEBEX_NON_MEETING_SUBDOMAINS:
        return None
    if _WEBEX_PATH_RE.fullmatch(path) or (
        _WEBEX_PHP_PATH_RE.fullmatch(path) and _WEBEX_MTID_RE.search(query)
    ):
        return _build_link(Platform.WEBEX, host, path, query)
    return None


def _gotomeeting_link(host: str, path: str, query: str) -> MeetingLink | None:
    if host in _GOTOMEETING_JOIN_HOSTS:
        return _link_if(
            _GOTOMEETING_JOIN_PATH_RE.fullmatch(path), Platform.GOTOMEETING, host, path, query
        )
    if host == _GOTOMEETING_APP_HOST:
        if _GOTOMEETING_APP_PATH_RE.fullmatch(path) and _GOTOMEETING_APP_QUERY_RE.search(query):
            return _build_link(Platform.GOTOMEETING, host, "/", query)
        return None
    room = _GOTO_ROOM_PATH_RE.fullmatch(path)
    if room is None or room.group(1).lower() in _GOTO_RESERVED_PATHS:
        return None
    return _build_link(Platform.GOTOMEETING, host, path, query)


def _whereby_link(host: str, path: str, query: str) -> MeetingLink | None:
    if _first_label(host) in _WHEREBY_NON_MEETING_SUBDOMAINS:
        return None
    room = _WHEREBY_ROOM_PATH_RE.fullmatch(path)
    if room is None or room.group(1).lower() in _WHEREBY_RESERVED_PATHS:
        return None
    return _build_link(Platform.WHEREBY, host, path, query)


def _link_if(
    path_match: re.Match[str] | None, platform: Platform, host: str, path: str, query: str
) -> MeetingLink | None:
    return None if path_match is None else _build_link(platform, host, path, query)


def _build_link(platform: Platform, host: str, path: str, query: str) -> MeetingLink:
    """Assemble the canonical URL: no trailing slash, no fragment, no `utm_*` tracking."""
    canonical_path = path.rstrip("/") or "/"
    kept_params = [
        param for param in query.split("&") if param and not param.lower().startswith("utm_")
    ]
    url = f"https://{host}{canonical_path}"
    if kept_params:
        url += "?" + quote("&".join(kept_params), safe=_QUERY_SAFE_CHARS)
    return MeetingLink(url, platform)
