"""Each platform's join-link shapes, and the canonical link built from a URL that has one."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Final
from urllib.parse import quote

from app.domain import MeetingLink, Platform
from app.services import meeting_link_hosts as hosts
from app.services.meeting_link_urls import first_query_value

__all__ = ["identify_platform"]

# What `quote` must leave alone in a canonical link's query: RFC 3986 query characters and `%`.
_QUERY_SAFE_CHARS: Final = "!$%&'()*+,/:;=?@~"
_QUERY_UNSAFE_CHAR_RE: Final = re.compile(r"[^A-Za-z0-9\-._~!$%&'()*+,/:;=?@]")

# One path segment of RFC 3986 `pchar`s (no `/`, no `\`, nothing outside ASCII).
_SEGMENT: Final = r"[\w.~%!$&'()*+,;=:@-]+"
_SLASH: Final = r"/?"  # an optional trailing slash, dropped from the canonical form

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


def identify_platform(host: str, path: str, query: str, fragment: str) -> MeetingLink | None:
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
        launched = first_query_value(query, ("url",), plus=False)
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
    coords = first_query_value(query, ("coords",), plus=False)
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


def _first_label(host: str) -> str:
    return host.partition(".")[0]
