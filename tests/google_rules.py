"""Google's documented request rules, as data: the one table the fake Google and the suite obey.

Each `Rule` quotes the sentence it enforces word for word and says where it is written: a dotted
JSON path in Google's discovery document (`../shared/google/calendar-v3-discovery.json`), or a
section of `../shared/notes/google-calendar.md` or `../shared/google/README.md`
(tests/adapters/test_google_rules.py checks every quote against its source). Which parameters
exist, their types and enums are read from the discovery document itself (tests/google_requests.py);
the checks are in tests/google_checks.py.

`violations` lists the rules a request breaks; `refusal` is Google's answer to the first.
tests/fake_google.py refuses any request that breaks a rule; tests/google_traffic.py checks every
request calbot sent during the test session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import httpx

from tests.google_checks import (
    CALENDAR_LIST_EXCLUSIVE_WITH_SYNC_TOKEN,
    CALENDAR_LIST_MAX_RESULTS,
    CODE_GRANT_FIELDS,
    EVENTS_MAX_RESULTS,
    REFRESH_GRANT_FIELDS,
    Check,
    Problem,
    calendar_id_encoded,
    channel_body,
    date_times,
    declared_parameters,
    enums,
    event_id_not_ical_uid,
    form_encoded,
    grant_fields,
    is_integer,
    known_grant,
    max_results_at_most,
    method_exists,
    no_show_deleted,
    not_with_sync_token,
    order_by_start_time,
    original_start_is_a_start_time,
    page_token_same_query,
    pkce_verifier,
    show_not_false_with_sync_token,
    single_valued,
    stop_ids,
    sync_token_same_query,
    time_range,
    typed,
    watch_address,
    watch_id,
    watch_token,
    watch_type,
)
from tests.google_requests import (
    CALENDAR_LIST,
    CHANNELS_STOP,
    EVENTS_GET,
    EVENTS_INSTANCES,
    EVENTS_LIST,
    EVENTS_WATCH,
    EXCLUSIVE_WITH_SYNC_TOKEN,
    LISTS,
    TOKEN_ENDPOINT,
    GoogleRequest,
)

Document = Literal["discovery", "notes", "discovery-readme"]


@dataclass(frozen=True, slots=True)
class Source:
    """Where a rule is written: a dotted JSON path into the discovery document, or a heading."""

    document: Document
    where: str


def discovery(json_path: str) -> Source:
    return Source("discovery", json_path)


def notes(heading: str) -> Source:
    return Source("notes", heading)


def readme(heading: str) -> Source:
    return Source("discovery-readme", heading)


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: the words that say it and where, the endpoints it binds (None: every Calendar
    API request), its check, and Google's `reason` and status when the fake refuses it."""

    id: str
    source: Source
    quote: str
    endpoints: frozenset[str] | None
    check: Check
    reason: str = "invalid"
    status: int = 400

    def applies_to(self, request: GoogleRequest) -> bool:
        if self.endpoints is None:
            return request.endpoint != TOKEN_ENDPOINT
        return request.endpoint in self.endpoints


@dataclass(frozen=True, slots=True)
class Violation:
    rule: Rule
    problem: Problem

    def __str__(self) -> str:
        return f"[{self.rule.id}] {self.problem.message}"


def violations(request: GoogleRequest) -> list[Violation]:
    """Every rule `request` breaks, in table order."""
    found = []
    for rule in RULES:
        if rule.applies_to(request):
            problem = rule.check(request)
            if problem is not None:
                found.append(Violation(rule, problem))
    return found


# -- the table ------------------------------------------------------------------------------------

_EVENTS_LIST_PARAMETERS: Final = "resources.events.methods.list.parameters"
_CALENDAR_LIST_PARAMETERS: Final = "resources.calendarList.methods.list.parameters"
_INSTANCES_PARAMETERS: Final = "resources.events.methods.instances.parameters"
_EVENTS: Final = frozenset({EVENTS_LIST, EVENTS_WATCH})  # watch takes list's parameters
_CHANNELS: Final = frozenset({EVENTS_WATCH, CHANNELS_STOP})
_TOKEN: Final = frozenset({TOKEN_ENDPOINT})

RULES: Final[tuple[Rule, ...]] = (
    Rule(
        id="calendar-id-percent-encoded",
        source=notes("## 2. calendarList.list"),
        quote=(
            "an unescaped `#` starts a fragment → request hits the wrong path → 404. Always "
            '`urllib.parse.quote(calendar_id, safe="")`.'
        ),
        endpoints=None,
        check=calendar_id_encoded,
    ),
    Rule(
        id="method-exists",
        source=readme("## How to use it"),
        quote="every path the adapter calls exists (`resources.*.methods.*.path`)",
        endpoints=None,
        check=method_exists,
        reason="notFound",
        status=404,
    ),
    Rule(
        id="parameter-declared",
        source=readme("## How to use it"),
        quote="every query parameter it sends is declared for that method",
        endpoints=None,
        check=declared_parameters,
    ),
    Rule(
        id="parameter-repeated-only-if-declared",
        source=readme("## How to use it"),
        quote="`repeated: true` means send it several times, e.g. `eventTypes`",
        endpoints=None,
        check=single_valued,
    ),
    Rule(
        id="boolean-true-or-false",
        source=notes(
            "## 6. Pitfalls collected from issues and client code (all obs unless marked)"
        ),
        quote="booleans are `true`/`false`",
        endpoints=None,
        check=typed("boolean", lambda value, _: value in ("true", "false")),
    ),
    Rule(
        id="integer-int32-at-least-minimum",
        source=discovery(f"{_EVENTS_LIST_PARAMETERS}.maxResults"),
        quote='"format": "int32", "location": "query", "minimum": "1", "type": "integer"',
        endpoints=None,
        check=typed("integer", is_integer),
    ),
    Rule(
        id="enum-value",
        source=discovery(f"{_EVENTS_LIST_PARAMETERS}.orderBy.enum"),
        quote='["startTime", "updated"]',
        endpoints=None,
        check=enums,
    ),
    Rule(
        id="date-time-rfc3339-with-offset",
        source=discovery(f"{_EVENTS_LIST_PARAMETERS}.timeMin.description"),
        quote=(
            "Must be an RFC3339 timestamp with mandatory time zone offset, for example, "
            "2011-06-03T10:00:00-07:00, 2011-06-03T10:00:00Z."
        ),
        endpoints=None,
        check=date_times,
    ),
    Rule(
        id="events-max-results-at-most-2500",
        source=discovery(f"{_EVENTS_LIST_PARAMETERS}.maxResults.description"),
        quote="The page size can never be larger than 2500 events.",
        endpoints=_EVENTS,
        check=max_results_at_most(EVENTS_MAX_RESULTS),
    ),
    Rule(
        id="instances-max-results-at-most-2500",
        source=discovery(f"{_INSTANCES_PARAMETERS}.maxResults.description"),
        quote="The page size can never be larger than 2500 events.",
        endpoints=frozenset({EVENTS_INSTANCES}),
        check=max_results_at_most(EVENTS_MAX_RESULTS),
    ),
    Rule(
        id="get-takes-the-google-id-not-the-ical-uid",
        source=discovery("resources.events.methods.get.description"),
        quote=(
            "Returns an event based on its Google Calendar ID. To retrieve an event using its "
            "iCalendar ID, call the events.list method using the iCalUID parameter."
        ),
        endpoints=frozenset({EVENTS_GET, EVENTS_INSTANCES}),
        check=event_id_not_ical_uid,
        reason="notFound",
        status=404,
    ),
    Rule(
        id="instances-original-start-is-a-start-time",
        source=discovery(f"{_INSTANCES_PARAMETERS}.originalStart.description"),
        quote="The original start time of the instance in the result.",
        endpoints=frozenset({EVENTS_INSTANCES}),
        check=original_start_is_a_start_time,
    ),
    Rule(
        id="calendar-list-max-results-at-most-250",
        source=discovery(f"{_CALENDAR_LIST_PARAMETERS}.maxResults.description"),
        quote="The page size can never be larger than 250 entries.",
        endpoints=frozenset({CALENDAR_LIST}),
        check=max_results_at_most(CALENDAR_LIST_MAX_RESULTS),
    ),
    Rule(
        id="sync-token-alone",
        source=discovery(f"{_EVENTS_LIST_PARAMETERS}.syncToken.description"),
        quote=(
            "There are several query parameters that cannot be specified together with "
            "nextSyncToken to ensure consistency of the client state."
        ),
        endpoints=_EVENTS,
        check=not_with_sync_token(EXCLUSIVE_WITH_SYNC_TOKEN),
        reason="badRequest",
    ),
    Rule(
        id="sync-token-without-show-deleted-false",
        source=discovery(f"{_EVENTS_LIST_PARAMETERS}.syncToken.description"),
        quote=(
            "All events deleted since the previous list request will always be in the result set "
            "and it is not allowed to set showDeleted to False."
        ),
        endpoints=_EVENTS,
        check=show_not_false_with_sync_token(("showDeleted",)),
        reason="badRequest",
    ),
    Rule(
        id="sync-token-same-query-as-initial-sync",
        source=discovery(f"{_EVENTS_LIST_PARAMETERS}.syncToken.description"),
        quote=(
            "All other query parameters should be the same as for the initial synchronization to "
            "avoid undefined behavior."
        ),
        endpoints=_EVENTS,
        check=sync_token_same_query,
        reason="badRequest",
    ),
    Rule(
        id="calendar-list-sync-token-alone",
        source=discovery(f"{_CALENDAR_LIST_PARAMETERS}.syncToken.description"),
        quote=(
            "To ensure client state consistency minAccessRole and showOwnOrganizationOnly query "
            "parameters cannot be specified together with nextSyncToken."
        ),
        endpoints=frozenset({CALENDAR_LIST}),
        check=not_with_sync_token(CALENDAR_LIST_EXCLUSIVE_WITH_SYNC_TOKEN),
        reason="badRequest",
    ),
    Rule(
        id="calendar-list-sync-token-without-show-false",
        source=discovery(f"{_CALENDAR_LIST_PARAMETERS}.syncToken.description"),
        quote="it is not allowed to set showDeleted neither showHidden to False.",
        endpoints=frozenset({CALENDAR_LIST}),
        check=show_not_false_with_sync_token(("showDeleted", "showHidden")),
        reason="badRequest",
    ),
    Rule(
        id="never-show-deleted",
        source=notes("### Deleted and cancelled events"),
        quote="**never send `showDeleted` at all**",
        endpoints=_EVENTS,
        check=no_show_deleted,
        reason="badRequest",
    ),
    Rule(
        id="order-by-start-time-needs-single-events",
        source=discovery(f"{_EVENTS_LIST_PARAMETERS}.orderBy.enumDescriptions.0"),
        quote=(
            "This is only available when querying single events (i.e. the parameter singleEvents "
            "is True)"
        ),
        endpoints=_EVENTS,
        check=order_by_start_time,
        reason="badRequest",
    ),
    Rule(
        id="time-max-after-time-min",
        source=discovery(f"{_EVENTS_LIST_PARAMETERS}.timeMax.description"),
        quote="If timeMin is set, timeMax must be greater than timeMin.",
        endpoints=_EVENTS,
        check=time_range,
        reason="timeRangeEmpty",
    ),
    Rule(
        id="page-token-repeats-the-first-query",
        source=notes("### Full sync → nextSyncToken"),
        quote="If it paginates, repeat the *exact* same query (same `syncToken`) + `pageToken`",
        endpoints=LISTS,
        check=page_token_same_query,
        reason="badRequest",
    ),
    Rule(
        id="channel-body-is-a-channel",
        source=discovery("schemas.Channel.properties.params.additionalProperties"),
        quote='"description": "Declares a new parameter by name.", "type": "string"',
        endpoints=_CHANNELS,
        check=channel_body,
    ),
    Rule(
        id="watch-channel-id",
        source=notes("### Create"),
        quote="JSON body: `id` (unique per project, ≤64 chars, UUID recommended)",
        endpoints=frozenset({EVENTS_WATCH}),
        check=watch_id,
        reason="required",
    ),
    Rule(
        id="watch-type-web-hook",
        source=discovery("schemas.Channel.properties.type.description"),
        quote='Valid values are "web_hook" (or "webhook").',
        endpoints=frozenset({EVENTS_WATCH}),
        check=watch_type,
    ),
    Rule(
        id="watch-address-https",
        source=notes("### Create"),
        quote="`address` (HTTPS)",
        endpoints=frozenset({EVENTS_WATCH}),
        check=watch_address,
    ),
    Rule(
        id="watch-token-at-most-256",
        source=notes("### Create"),
        quote="`token` (≤256 chars, echoed in every notification; no secrets in clear)",
        endpoints=frozenset({EVENTS_WATCH}),
        check=watch_token,
    ),
    Rule(
        id="stop-needs-id-and-resource-id",
        source=notes("### Renew / stop"),
        quote='body `{"id": <channel id>, "resourceId": <resourceId>}` (both required)',
        endpoints=frozenset({CHANNELS_STOP}),
        check=stop_ids,
        reason="required",
    ),
    Rule(
        id="token-request-is-a-form-post",
        source=notes("### Refresh request (what `create_calendar` does first)"),
        quote=(
            "`POST https://oauth2.googleapis.com/token`, "
            "`Content-Type: application/x-www-form-urlencoded`"
        ),
        endpoints=_TOKEN,
        check=form_encoded,
        reason="invalid_request",
    ),
    Rule(
        id="token-grant-type-known",
        source=notes("### Refresh request (what `create_calendar` does first)"),
        quote="`grant_type=refresh_token`",
        endpoints=_TOKEN,
        check=known_grant,
        reason="unsupported_grant_type",
    ),
    Rule(
        id="token-refresh-grant-fields",
        source=notes("### Refresh request (what `create_calendar` does first)"),
        quote="fields `client_id`, `client_secret`, `refresh_token`, `grant_type=refresh_token`.",
        endpoints=_TOKEN,
        check=grant_fields("refresh_token", REFRESH_GRANT_FIELDS, ()),
        reason="invalid_request",
    ),
    Rule(
        id="token-code-grant-fields",
        source=notes("### Authorization URL (for `calbot google-auth`)"),
        quote=(
            "Code exchange: `POST /token` form fields `code`, `client_id`, `client_secret`, "
            "`redirect_uri` (same as in authorize), `grant_type=authorization_code` "
            "(+ `code_verifier`)."
        ),
        endpoints=_TOKEN,
        check=grant_fields("authorization_code", CODE_GRANT_FIELDS, ("code_verifier",)),
        reason="invalid_request",
    ),
    Rule(
        id="token-pkce-verifier",
        source=notes("### Authorization URL (for `calbot google-auth`)"),
        quote="`code_verifier` 43–128 chars of `[A-Za-z0-9-._~]`",  # noqa: RUF001 (verbatim)
        endpoints=_TOKEN,
        check=pkce_verifier,
        reason="invalid_request",
    ),
)


# -- Google's refusals ---------------------------------------------------------------------------


def refusal(request: GoogleRequest) -> httpx.Response | None:
    """Google's answer to a request that breaks a rule (the first broken one), else None.

    The Calendar API answers `{"error": {"errors": [...], "code", "message"}}` [notes §5];
    the token endpoint `{"error", "error_description"}` [notes §1].
    """
    broken = violations(request)
    if not broken:
        return None
    first = broken[0]
    message = str(first)
    if request.endpoint == TOKEN_ENDPOINT:
        return httpx.Response(400, json={"error": first.rule.reason, "error_description": message})
    detail = {
        "domain": "global",
        "reason": first.rule.reason,
        "message": message,
        "locationType": "parameter",
        "location": first.problem.location,
    }
    status = first.rule.status
    return httpx.Response(
        status, json={"error": {"errors": [detail], "code": status, "message": message}}
    )
