"""The table of Google's request rules (tests/google_rules.py), the fake that enforces it, and the
session check that holds every request calbot sends to it.

Each rule quotes its source word for word, refuses a bad request and accepts a good one; the fake
Google answers a broken rule with Google's own 400; and a test session in which calbot sent one
request that breaks a rule fails, even though no fake refused it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fake_google import GOOD_CLIENT_ID, GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN, FakeGoogle
from tests.google_requests import (
    DISCOVERY,
    DISCOVERY_README_PATH,
    EXCLUSIVE_WITH_SYNC_TOKEN,
    NOTES_PATH,
    SHARED_COPY,
    SHARED_ORIGINAL,
    TOKEN_ENDPOINT,
    GoogleRequest,
    Query,
    describe,
)
from tests.google_rules import RULES, Rule, violations

API = "https://www.googleapis.com/calendar/v3"
TOKEN_URL = "https://oauth2.googleapis.com/token"
EVENTS = "calendars/primary/events"
WATCH = "calendars/primary/events/watch"
INSTANCES = "calendars/primary/events/abc123def456/instances"
REPO = Path(__file__).resolve().parents[2]
RULES_BY_ID = {rule.id: rule for rule in RULES}

ParamList = list[tuple[str, str | int | float | bool | None]]


def get(
    path: str, params: ParamList | dict[str, str] | None = None, **known: Query
) -> GoogleRequest:
    return seen(httpx.Request("GET", f"{API}/{path}", params=params), **known)


def events(**params: str) -> GoogleRequest:
    return get(EVENTS, params)


def post_json(path: str, body: Any) -> GoogleRequest:
    return seen(httpx.Request("POST", f"{API}/{path}", json=body))


def channel(**fields: Any) -> dict[str, Any]:
    base = {
        "id": "6f1e2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
        "type": "web_hook",
        "address": "https://calbot.example/api/v1/calendar/webhooks/google",
        "token": "channel-token",
        "params": {"ttl": "604800"},
    }
    return {k: v for k, v in {**base, **fields}.items() if v is not None}


REFRESH = {
    "client_id": "client-1.apps.googleusercontent.com",
    "client_secret": "GOCSPX-secret",
    "refresh_token": "1//refresh",
    "grant_type": "refresh_token",
}
CODE = {
    "code": "4/0Ab-code",
    "client_id": "client-1.apps.googleusercontent.com",
    "client_secret": "GOCSPX-secret",
    "redirect_uri": "http://127.0.0.1:8000/api/google/oauth-callback",
    "grant_type": "authorization_code",
    "code_verifier": "v" * 43,
}


def token(form: Mapping[str, str | None]) -> GoogleRequest:
    data = {k: v for k, v in form.items() if v is not None}
    return seen(httpx.Request("POST", TOKEN_URL, data=data))


def seen(request: httpx.Request, **known: Query) -> GoogleRequest:
    described = describe(request, **known)
    assert described is not None
    return described


FIRST_QUERY: Query = (("maxResults", "2500"), ("singleEvents", "false"))

# Every rule: one good request (which keeps every rule) and bad ones (each breaking this rule).
EXAMPLES: dict[str, tuple[GoogleRequest, list[GoogleRequest]]] = {
    "calendar-id-percent-encoded": (
        get("calendars/en.usa%23holiday%40group.v.calendar.google.com/events"),
        [
            get("calendars/en.usa#holiday@group.v.calendar.google.com/events"),
            get("calendars/team/sub@example.com/events"),
            get("calendars/what?/events"),
            get("calendars/me@example.com/events"),
        ],
    ),
    "method-exists": (
        events(),
        [get("calendars/primary/event"), seen(httpx.Request("DELETE", f"{API}/channels/stop"))],
    ),
    "parameter-declared": (
        events(maxResults="5"),
        [
            events(max_results="5"),
            get("users/me/calendarList", {"timeMin": "2026-01-01T00:00:00Z"}),
        ],
    ),
    "parameter-repeated-only-if-declared": (
        get(EVENTS, [("eventTypes", "default"), ("eventTypes", "focusTime")]),
        [get(EVENTS, [("singleEvents", "true"), ("singleEvents", "false")])],
    ),
    "boolean-true-or-false": (
        events(singleEvents="true"),
        [events(singleEvents="False"), events(singleEvents="1")],
    ),
    "integer-int32-at-least-minimum": (
        events(maxResults="250"),
        [
            events(maxResults="ten"),
            events(maxResults="0"),
            events(maxResults="2.5"),
            events(maxAttendees=str(2**31)),
            get("users/me/calendarList", {"maxResults": "-1"}),
        ],
    ),
    "enum-value": (
        events(orderBy="updated"),
        [
            events(orderBy="start"),
            events(eventTypes="meeting"),
            get("users/me/calendarList", {"minAccessRole": "viewer"}),
        ],
    ),
    "date-time-rfc3339-with-offset": (
        events(timeMin="2026-11-25T12:00:00+01:00", updatedMin="2026-11-25T12:00:00.250Z"),
        [
            events(timeMin="2026-11-25T12:00:00"),
            events(timeMin="2026-11-25"),
            events(timeMax="2026-11-25 12:00:00Z"),
            events(updatedMin="2026-02-30T12:00:00Z"),
        ],
    ),
    "events-max-results-at-most-2500": (
        events(maxResults="2500"),
        [
            events(maxResults="2501"),
            seen(httpx.Request("POST", f"{API}/{WATCH}", params={"maxResults": "5000"}, json={})),
        ],
    ),
    "instances-max-results-at-most-2500": (
        get(INSTANCES, {"maxResults": "2500"}),
        [get(INSTANCES, {"maxResults": "2501"})],
    ),
    "get-takes-the-google-id-not-the-ical-uid": (
        get("calendars/primary/events/abc123def456"),
        [
            get("calendars/primary/events/abc123def456%40google.com"),
            get("calendars/primary/events/uid@example.com/instances"),
        ],
    ),
    "instances-original-start-is-a-start-time": (
        get(INSTANCES, {"originalStart": "2026-12-01T09:00:00+01:00"}),
        [
            get(INSTANCES, {"originalStart": "2026-12-01T09:00:00"}),
            get(INSTANCES, {"originalStart": "20261201T080000Z"}),
            get(INSTANCES, {"originalStart": "2026-12-32"}),
        ],
    ),
    "calendar-list-max-results-at-most-250": (
        get("users/me/calendarList", {"maxResults": "250"}),
        [get("users/me/calendarList", {"maxResults": "251"})],
    ),
    "sync-token-alone": (
        events(syncToken="s1", singleEvents="false", maxResults="2500"),
        [
            get(EVENTS, {"syncToken": "s1", name: value})
            for name, value in [
                ("iCalUID", "uid@google.com"),
                ("orderBy", "updated"),
                ("privateExtendedProperty", "a=b"),
                ("q", "standup"),
                ("sharedExtendedProperty", "a=b"),
                ("timeMin", "2026-01-01T00:00:00Z"),
                ("timeMax", "2027-01-01T00:00:00Z"),
                ("updatedMin", "2026-01-01T00:00:00Z"),
            ]
        ],
    ),
    "sync-token-without-show-deleted-false": (
        events(syncToken="s1"),
        [events(syncToken="s1", showDeleted="false")],
    ),
    "sync-token-same-query-as-initial-sync": (
        get(
            EVENTS,
            {"syncToken": "s1", "singleEvents": "false", "maxResults": "2500"},
            sync_token_issued_for=FIRST_QUERY,
        ),
        [
            get(
                EVENTS,
                {"syncToken": "s1", "singleEvents": "true", "maxResults": "2500"},
                sync_token_issued_for=FIRST_QUERY,
            ),
            get(EVENTS, {"syncToken": "s1"}, sync_token_issued_for=FIRST_QUERY),
        ],
    ),
    "calendar-list-sync-token-alone": (
        get("users/me/calendarList", {"syncToken": "c1", "maxResults": "250"}),
        [
            get("users/me/calendarList", {"syncToken": "c1", "minAccessRole": "reader"}),
            get("users/me/calendarList", {"syncToken": "c1", "showOwnOrganizationOnly": "true"}),
        ],
    ),
    "calendar-list-sync-token-without-show-false": (
        get("users/me/calendarList", {"syncToken": "c1", "showHidden": "true"}),
        [
            get("users/me/calendarList", {"syncToken": "c1", "showHidden": "false"}),
            get("users/me/calendarList", {"syncToken": "c1", "showDeleted": "false"}),
        ],
    ),
    "never-show-deleted": (
        events(singleEvents="false"),
        [events(showDeleted="false"), events(showDeleted="true")],
    ),
    "order-by-start-time-needs-single-events": (
        events(orderBy="startTime", singleEvents="true"),
        [events(orderBy="startTime"), events(orderBy="startTime", singleEvents="false")],
    ),
    "time-max-after-time-min": (
        events(timeMin="2026-11-25T12:00:00Z", timeMax="2026-11-25T14:00:00+01:00"),
        [
            events(timeMin="2026-11-25T12:00:00Z", timeMax="2026-11-25T13:00:00+01:00"),
            events(timeMin="2026-11-25T12:00:00Z", timeMax="2026-11-25T11:00:00Z"),
        ],
    ),
    "page-token-repeats-the-first-query": (
        get(EVENTS, {**dict(FIRST_QUERY), "pageToken": "p2"}, page_token_issued_for=FIRST_QUERY),
        [
            get(
                EVENTS,
                {"singleEvents": "false", "maxResults": "250", "pageToken": "p2"},
                page_token_issued_for=FIRST_QUERY,
            ),
            get(EVENTS, {"pageToken": "p2"}, page_token_issued_for=FIRST_QUERY),
            get(EVENTS, {**dict(FIRST_QUERY), "pageToken": "never-issued"}),
        ],
    ),
    "channel-body-is-a-channel": (
        post_json(WATCH, channel()),
        [
            post_json(WATCH, channel(ttl="60")),
            post_json(WATCH, channel(params={"ttl": 60})),
            post_json(WATCH, ["not", "an", "object"]),
            seen(httpx.Request("POST", f"{API}/{WATCH}", data={"id": "c1", "type": "web_hook"})),
            post_json("channels/stop", {"id": "c1", "resourceId": "r1", "reason": "done"}),
        ],
    ),
    "watch-channel-id": (
        post_json(WATCH, channel(id="c" * 64)),
        [post_json(WATCH, channel(id=None)), post_json(WATCH, channel(id="c" * 65))],
    ),
    "watch-type-web-hook": (
        post_json(WATCH, channel(type="webhook")),
        [post_json(WATCH, channel(type="web-hook")), post_json(WATCH, channel(type=None))],
    ),
    "watch-address-https": (
        post_json(WATCH, channel(address="https://calbot.example/hook")),
        [
            post_json(WATCH, channel(address="http://calbot.example/hook")),
            post_json(WATCH, channel(address="calbot.example/hook")),
            post_json(WATCH, channel(address=None)),
        ],
    ),
    "watch-token-at-most-256": (
        post_json(WATCH, channel(token="t" * 256)),
        [post_json(WATCH, channel(token="t" * 257))],
    ),
    "stop-needs-id-and-resource-id": (
        post_json("channels/stop", {"id": "c1", "resourceId": "r1"}),
        [post_json("channels/stop", {"id": "c1"}), post_json("channels/stop", {"resourceId": ""})],
    ),
    "token-request-is-a-form-post": (
        token(REFRESH),
        [seen(httpx.Request("POST", TOKEN_URL, json=REFRESH))],
    ),
    "token-grant-type-known": (
        token(CODE),
        [token({**REFRESH, "grant_type": "password"}), token({**REFRESH, "grant_type": None})],
    ),
    "token-refresh-grant-fields": (
        token(REFRESH),
        [
            token({**REFRESH, "client_secret": None}),
            token({**REFRESH, "refresh_token": ""}),
            token({**REFRESH, "scope": "openid"}),
        ],
    ),
    "token-code-grant-fields": (
        token({**CODE, "code_verifier": None}),
        [token({**CODE, "redirect_uri": None}), token({**CODE, "refresh_token": "1//x"})],
    ),
    "token-pkce-verifier": (
        token(CODE),
        [token({**CODE, "code_verifier": "short"}), token({**CODE, "code_verifier": "v" * 129})],
    ),
}


def test_every_rule_has_examples() -> None:
    assert set(EXAMPLES) == set(RULES_BY_ID)


@pytest.mark.parametrize("rule_id", list(EXAMPLES))
def test_each_rule_refuses_its_bad_examples_and_accepts_the_good_one(rule_id: str) -> None:
    rule = RULES_BY_ID[rule_id]
    good, bad = EXAMPLES[rule_id]

    assert violations(good) == []
    for request in bad:
        assert rule.applies_to(request), request.url
        assert rule.check(request) is not None, request.url
        assert rule_id in [v.rule.id for v in violations(request)]


# -- each rule cites its source word for word -----------------------------------------------------


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def _section(markdown: str, heading: str) -> str:
    """The text under `heading` up to the next heading of the same or a higher level."""
    lines = markdown.splitlines()
    start = lines.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if lines[i].startswith("#") and len(lines[i]) - len(lines[i].lstrip("#")) <= level
        ),
        len(lines),
    )
    return "\n".join(lines[start:end])


def _source_text(rule: Rule) -> str:
    if rule.source.document == "discovery":
        node: Any = DISCOVERY
        for key in rule.source.where.split("."):
            node = node[int(key)] if isinstance(node, list) else node[key]
        return node if isinstance(node, str) else json.dumps(node)
    path = NOTES_PATH if rule.source.document == "notes" else DISCOVERY_README_PATH
    return _section(path.read_text(), rule.source.where)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.id)
def test_each_rule_quotes_its_source_verbatim(rule: Rule) -> None:
    assert _squeeze(rule.quote) in _squeeze(_source_text(rule))


def test_the_names_forbidden_with_sync_token_are_the_discovery_documents() -> None:
    description = DISCOVERY["resources"]["events"]["methods"]["list"]["parameters"]["syncToken"][
        "description"
    ]
    listed = description.split("These are:")[1].split("All other")[0]

    assert tuple(re.findall(r"- (\w+)", listed)) == EXCLUSIVE_WITH_SYNC_TOKEN


# -- the fake Google enforces the table -----------------------------------------------------------


def _rebuilt(request: GoogleRequest) -> httpx.Request:
    """The httpx request a GoogleRequest was made from (the URL keeps any fragment)."""
    headers = {"Content-Type": request.content_type} if request.content_type else {}
    return httpx.Request(request.http_method, request.url, headers=headers, content=request.body)


# The page and sync token rules need tokens the fake issued itself: tested below, by scenario.
STATELESS = {
    rule_id: examples
    for rule_id, examples in EXAMPLES.items()
    if rule_id
    not in ("page-token-repeats-the-first-query", "sync-token-same-query-as-initial-sync")
}
ONE_BAD_EACH = [(rule_id, bad) for rule_id, (_, bad_ones) in STATELESS.items() for bad in bad_ones]


@pytest.mark.parametrize(("rule_id", "bad"), ONE_BAD_EACH)
def test_the_fake_refuses_a_broken_rule_as_google_does(rule_id: str, bad: GoogleRequest) -> None:
    google = FakeGoogle(token_url=TOKEN_URL, api_url=API)
    first = violations(bad)[0]

    answer = google.handle(_rebuilt(bad))

    assert answer.status_code == first.rule.status
    body = answer.json()
    if bad.endpoint == TOKEN_ENDPOINT:
        assert body == {"error": first.rule.reason, "error_description": str(first)}
        return
    assert body == {
        "error": {
            "errors": [
                {
                    "domain": "global",
                    "reason": first.rule.reason,
                    "message": str(first),
                    "locationType": "parameter",
                    "location": first.problem.location,
                }
            ],
            "code": first.rule.status,
            "message": str(first),
        }
    }
    assert google.refused == [describe(_rebuilt(bad))]


def test_the_fake_serves_the_good_examples() -> None:
    google = FakeGoogle(token_url=TOKEN_URL, api_url=API)

    for good, _ in STATELESS.values():
        google.handle(_rebuilt(good))

    assert google.refused == []


class _Session:
    """calbot's side of a conversation with the fake: a token, then API calls."""

    def __init__(self, google: FakeGoogle) -> None:
        self.google = google
        form = {
            "client_id": GOOD_CLIENT_ID,
            "client_secret": GOOD_CLIENT_SECRET,
            "refresh_token": GOOD_REFRESH_TOKEN,
            "grant_type": "refresh_token",
        }
        answer = google.handle(httpx.Request("POST", google.token_url, data=form))
        self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def list_events(self, **params: str) -> httpx.Response:
        url = f"{self.google.api_url}/calendars/primary/events"
        return self.google.handle(httpx.Request("GET", url, params=params, headers=self.headers))


@pytest.fixture
def session() -> _Session:
    google = FakeGoogle()
    google.add_calendar("primary", primary=True)
    google.page_size = 1
    for day in range(1, 4):
        start, end = f"2026-12-0{day}T09:00:00Z", f"2026-12-0{day}T10:00:00Z"
        google.put_event(
            "primary", {"id": f"e{day}", "start": {"dateTime": start}, "end": {"dateTime": end}}
        )
    return _Session(google)


def _refused_at(answer: httpx.Response) -> tuple[int, str]:
    error = answer.json()["error"]
    return answer.status_code, error["errors"][0]["location"]


def test_the_fake_refuses_a_page_token_sent_with_another_query(session: _Session) -> None:
    first = session.list_events(singleEvents="false")
    page_token = first.json()["nextPageToken"]

    assert session.list_events(singleEvents="false", pageToken=page_token).status_code == 200
    changed = session.list_events(singleEvents="true", pageToken=page_token)
    assert _refused_at(changed) == (400, "pageToken")
    assert _refused_at(session.list_events(pageToken="0:0")) == (400, "pageToken")


def test_the_fake_refuses_a_sync_token_sent_with_another_query(session: _Session) -> None:
    session.google.page_size = 250
    full = session.list_events(maxResults="2500", timeMin="2026-01-01T00:00:00Z")
    sync_token = full.json()["nextSyncToken"]

    assert session.list_events(maxResults="2500", syncToken=sync_token).status_code == 200
    changed = session.list_events(maxResults="2400", syncToken=sync_token)
    assert _refused_at(changed) == (400, "syncToken")
    with_time_min = session.list_events(
        maxResults="2500", syncToken=sync_token, timeMin="2026-01-01T00:00:00Z"
    )
    assert _refused_at(with_time_min) == (400, "timeMin")


# -- the whole-session check ----------------------------------------------------------------------

INNER_CONFTEST = """
    from tests.google_traffic import google_conformance, pytest_terminal_summary

    __all__ = ["google_conformance", "pytest_terminal_summary"]
"""
INNER_TEST = """
    import asyncio

    import httpx
    import respx

    API = "https://calendar.example.test/calendar/v3"


    def test_an_incremental_sync_with_show_deleted_false() -> None:
        async def sync() -> int:
            with respx.mock:
                respx.get(url__startswith=API).respond(200, json={"items": []})
                async with httpx.AsyncClient() as http:
                    params = {"syncToken": "s1", "showDeleted": "false"}
                    answer = await http.get(f"{API}/calendars/primary/events", params=params)
                    return answer.status_code

        assert asyncio.run(sync()) == 200  # nothing refused it...
"""


def test_a_request_that_breaks_a_rule_fails_the_whole_run(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(INNER_CONFTEST))
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER_TEST))

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # ...but the session check at the end did: the run fails, naming the test and the rule.
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout + run.stderr
    assert "1 passed, 1 error" in run.stdout
    assert "test_inner.py::test_an_incremental_sync_with_show_deleted_false" in run.stdout
    assert "[sync-token-without-show-deleted-false]" in run.stdout


@pytest.mark.skipif(
    not SHARED_ORIGINAL.is_dir(), reason="the shared documents are not beside the repo"
)
@pytest.mark.parametrize(
    "relative",
    ["google/calendar-v3-discovery.json", "google/README.md", "notes/google-calendar.md"],
)
def test_the_kept_copy_of_the_shared_documents_is_current(relative: str) -> None:
    assert (SHARED_COPY / relative).read_bytes() == (SHARED_ORIGINAL / relative).read_bytes(), (
        f"tests/data/shared/{relative} differs from ../shared/{relative}: copy it again."
    )
