"""The checks behind the rule table (tests/google_rules.py): one function per rule, each taking a
`GoogleRequest` and answering the `Problem` it has, or None when the request keeps the rule.
Types, enums and minimums come from the discovery document; the other limits are named here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

from tests.google_requests import (
    CHANNEL_PROPERTIES,
    EXCLUSIVE_WITH_SYNC_TOKEN,
    GoogleRequest,
    parameter_spec,
    without,
)

CALENDAR_LIST_EXCLUSIVE_WITH_SYNC_TOKEN: Final = ("minAccessRole", "showOwnOrganizationOnly")
EVENTS_MAX_RESULTS: Final = 2500
CALENDAR_LIST_MAX_RESULTS: Final = 250
CHANNEL_ID_MAX_CHARS: Final = 64
CHANNEL_TOKEN_MAX_CHARS: Final = 256
WEB_HOOK_TYPES: Final = frozenset({"web_hook", "webhook"})
INT32_MAX: Final = 2**31 - 1
REFRESH_GRANT_FIELDS: Final = ("client_id", "client_secret", "refresh_token", "grant_type")
CODE_GRANT_FIELDS: Final = ("code", "client_id", "client_secret", "redirect_uri", "grant_type")
_RFC3339: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
_DATE: Final = re.compile(r"\d{4}-\d\d-\d\d")
_PKCE_VERIFIER: Final = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong, in a sentence, and the parameter or body field Google would name."""

    message: str
    location: str


Check = Callable[[GoogleRequest], Problem | None]


# -- checks: where and what ----------------------------------------------------------------------


def calendar_id_encoded(request: GoogleRequest) -> Problem | None:
    if request.fragment:
        return Problem(
            f"'#' in the path started a fragment ({request.fragment!r} was never sent): "
            "percent-encode the calendar id",
            "calendarId",
        )
    if request.path.startswith("calendars/"):
        segment = request.path.split("/")[1]
        if segment != quote(unquote(segment), safe=""):
            return Problem(
                f"calendar id segment {segment!r} is not quote(id, safe='')", "calendarId"
            )
        if request.endpoint is None:
            return Problem(
                f"{request.path!r} is no Calendar method: a '/' in the calendar id?", "calendarId"
            )
    if any("/" in name for name, _ in request.query):
        return Problem("a '?' in the path started the query: percent-encode the calendar id", "?")
    return None


def method_exists(request: GoogleRequest) -> Problem | None:
    if request.endpoint is None:
        return Problem(f"no Calendar v3 method is {request.http_method} {request.path}", "path")
    return None


def declared_parameters(request: GoogleRequest) -> Problem | None:
    for name, _ in request.query:
        if parameter_spec(request.endpoint or "", name) is None:
            return Problem(f"{name!r} is not a parameter of {request.endpoint}", name)
    return None


def single_valued(request: GoogleRequest) -> Problem | None:
    for name in {name for name, _ in request.query}:
        spec = parameter_spec(request.endpoint or "", name)
        if spec is not None and not spec.get("repeated") and len(request.values(name)) > 1:
            return Problem(
                f"{name} is not repeated but was sent {len(request.values(name))}x", name
            )
    return None


def typed(type_name: str, valid: Callable[[str, Mapping[str, Any]], bool]) -> Check:
    def check(request: GoogleRequest) -> Problem | None:
        for name, value in request.query:
            spec = parameter_spec(request.endpoint or "", name)
            if spec is not None and spec.get("type") == type_name and not valid(value, spec):
                return Problem(f"Invalid {type_name} value for {name}: {value!r}", name)
        return None

    return check


def is_integer(value: str, spec: Mapping[str, Any]) -> bool:
    if not value.isascii() or not value.lstrip("-").isdigit():
        return False
    minimum = int(spec.get("minimum", -INT32_MAX - 1))
    return minimum <= int(value) <= INT32_MAX


def enums(request: GoogleRequest) -> Problem | None:
    for name, value in request.query:
        spec = parameter_spec(request.endpoint or "", name)
        if spec is not None and "enum" in spec and value not in spec["enum"]:
            return Problem(
                f"Invalid value for {name}: {value!r} is not one of {spec['enum']}", name
            )
    return None


def _is_rfc3339(value: str) -> bool:
    if not _RFC3339.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def date_times(request: GoogleRequest) -> Problem | None:
    for name, value in request.query:
        spec = parameter_spec(request.endpoint or "", name)
        if spec is not None and spec.get("format") == "date-time" and not _is_rfc3339(value):
            return Problem(f"{name}={value!r} is not RFC3339 with a time zone offset", name)
    return None


def max_results_at_most(limit: int) -> Check:
    def check(request: GoogleRequest) -> Problem | None:
        value = request.first("maxResults")
        if value is not None and value.isdigit() and int(value) > limit:
            return Problem(f"maxResults={value} is larger than {limit}", "maxResults")
        return None

    return check


# -- checks: sync tokens, page tokens, ordering --------------------------------------------------


def not_with_sync_token(names: tuple[str, ...]) -> Check:
    def check(request: GoogleRequest) -> Problem | None:
        if request.first("syncToken") is None:
            return None
        for name in names:
            if request.values(name):
                return Problem(f"syncToken cannot be specified together with {name}", name)
        return None

    return check


def show_not_false_with_sync_token(names: tuple[str, ...]) -> Check:
    def check(request: GoogleRequest) -> Problem | None:
        if request.first("syncToken") is None:
            return None
        for name in names:
            if request.first(name) == "false":
                return Problem(f"{name}=false is not allowed with syncToken", name)
        return None

    return check


def no_show_deleted(request: GoogleRequest) -> Problem | None:
    if request.values("showDeleted"):
        return Problem("calbot never sends showDeleted (see the notes, section 3)", "showDeleted")
    return None


def order_by_start_time(request: GoogleRequest) -> Problem | None:
    if request.first("orderBy") == "startTime" and request.first("singleEvents") != "true":
        return Problem("orderBy=startTime needs singleEvents=true", "orderBy")
    return None


def time_range(request: GoogleRequest) -> Problem | None:
    time_min, time_max = request.first("timeMin"), request.first("timeMax")
    if time_min is None or time_max is None:
        return None
    if not (_is_rfc3339(time_min) and _is_rfc3339(time_max)):
        return None  # the date-time rule says what is wrong
    if datetime.fromisoformat(time_max) <= datetime.fromisoformat(time_min):
        return Problem(f"timeMax {time_max} is not after timeMin {time_min}", "timeMax")
    return None


def page_token_same_query(request: GoogleRequest) -> Problem | None:
    if request.first("pageToken") is None:
        return None
    issued_for = request.page_token_issued_for
    if issued_for is None:
        return Problem("pageToken was never issued for this path", "pageToken")
    sent = without(request.query, ("pageToken",))
    if sent != issued_for:
        return Problem(
            f"pageToken was issued for the query {dict(issued_for)}, not {dict(sent)}",
            "pageToken",
        )
    return None


def sync_token_same_query(request: GoogleRequest) -> Problem | None:
    issued_for = request.sync_token_issued_for
    if request.first("syncToken") is None or issued_for is None:
        return None  # issued before this memory began: nothing to compare with
    sent = without(request.query, ("pageToken", "syncToken", *EXCLUSIVE_WITH_SYNC_TOKEN))
    if sent != issued_for:
        return Problem(
            f"syncToken came from a sync with {dict(issued_for)}, this one sends {dict(sent)}",
            "syncToken",
        )
    return None


# -- checks: one event ---------------------------------------------------------------------------


def _event_id(request: GoogleRequest) -> str | None:
    """The eventId path segment of `calendars/{calendarId}/events/{eventId}[/...]`, decoded."""
    parts = request.path.split("/")
    if len(parts) >= 4 and parts[0] == "calendars" and parts[2] == "events":
        return unquote(parts[3])
    return None


def event_id_not_ical_uid(request: GoogleRequest) -> Problem | None:
    event_id = _event_id(request)
    if event_id is not None and "@" in event_id:
        return Problem(
            f"eventId {event_id!r} is an iCalUID: these methods take Google's event id", "eventId"
        )
    return None


def original_start_is_a_start_time(request: GoogleRequest) -> Problem | None:
    value = request.first("originalStart")
    if value is None or _is_rfc3339(value) or _is_date(value):
        return None
    return Problem(
        f"originalStart={value!r} is written neither as an RFC3339 date-time with offset nor "
        "as a yyyy-mm-dd date (the forms of an instance's originalStartTime)",
        "originalStart",
    )


def _is_date(value: str) -> bool:
    if not _DATE.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


# -- checks: bodies ------------------------------------------------------------------------------


def channel_body(request: GoogleRequest) -> Problem | None:
    if request.content_type != "application/json":
        return Problem(f"a Channel is sent as JSON, not {request.content_type!r}", "resource")
    body = request.json_body()
    if not isinstance(body, dict):
        return Problem("the body is not a JSON object (a Channel)", "resource")
    for name, value in body.items():
        spec = CHANNEL_PROPERTIES.get(name)
        if spec is None:
            return Problem(f"{name!r} is not a property of Channel", f"resource.{name}")
        if not _json_matches(value, spec):
            return Problem(f"Channel.{name} is not of type {spec['type']}", f"resource.{name}")
    return None


def _json_matches(value: Any, spec: Mapping[str, Any]) -> bool:
    kind = spec["type"]
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        inner = spec.get("additionalProperties")
        return isinstance(value, dict) and (
            inner is None or all(_json_matches(v, inner) for v in value.values())
        )
    return False


def _body_field(request: GoogleRequest, name: str) -> Any:
    body = request.json_body()
    return body.get(name) if isinstance(body, dict) else None


def watch_id(request: GoogleRequest) -> Problem | None:
    channel_id = _body_field(request, "id")
    if not isinstance(channel_id, str) or not channel_id:
        return Problem("the channel has no id", "resource.id")
    if len(channel_id) > CHANNEL_ID_MAX_CHARS:
        return Problem(f"the channel id is longer than {CHANNEL_ID_MAX_CHARS}", "resource.id")
    return None


def watch_type(request: GoogleRequest) -> Problem | None:
    if _body_field(request, "type") not in WEB_HOOK_TYPES:
        return Problem(f"type must be one of {sorted(WEB_HOOK_TYPES)}", "resource.type")
    return None


def watch_address(request: GoogleRequest) -> Problem | None:
    address = _body_field(request, "address")
    parts = urlsplit(address) if isinstance(address, str) else None
    if parts is None or parts.scheme != "https" or not parts.hostname:
        return Problem(f"address {address!r} is not an https URL", "resource.address")
    return None


def watch_token(request: GoogleRequest) -> Problem | None:
    token = _body_field(request, "token")
    if isinstance(token, str) and len(token) > CHANNEL_TOKEN_MAX_CHARS:
        return Problem(f"token is longer than {CHANNEL_TOKEN_MAX_CHARS}", "resource.token")
    return None


def stop_ids(request: GoogleRequest) -> Problem | None:
    for name in ("id", "resourceId"):
        value = _body_field(request, name)
        if not isinstance(value, str) or not value:
            return Problem(f"channels.stop needs {name}", f"resource.{name}")
    return None


# -- checks: the token endpoint ------------------------------------------------------------------


def form_encoded(request: GoogleRequest) -> Problem | None:
    if request.content_type != "application/x-www-form-urlencoded":
        return Problem(f"the token request is {request.content_type!r}, not a form", "body")
    if request.query:
        return Problem("the token request carries a query string", "query")
    return None


def grant_fields(grant_type: str, required: tuple[str, ...], optional: tuple[str, ...]) -> Check:
    def check(request: GoogleRequest) -> Problem | None:
        form = request.form()
        if form.get("grant_type") != [grant_type]:
            return None
        for name in required:
            if len(form.get(name, [])) != 1 or not form[name][0]:
                return Problem(f"{name} is missing from the {grant_type} grant", name)
        for name in form:
            if name not in required and name not in optional:
                return Problem(f"{name} is not a field of the {grant_type} grant", name)
        return None

    return check


def known_grant(request: GoogleRequest) -> Problem | None:
    grant = request.form().get("grant_type")
    if grant not in (["refresh_token"], ["authorization_code"]):
        return Problem(
            f"grant_type {grant} is neither refresh_token nor authorization_code", "grant_type"
        )
    return None


def pkce_verifier(request: GoogleRequest) -> Problem | None:
    verifiers = request.form().get("code_verifier")
    if verifiers and not all(_PKCE_VERIFIER.fullmatch(v) for v in verifiers):
        return Problem("code_verifier is not 43-128 characters of [A-Za-z0-9-._~]", "code_verifier")
    return None
