"""A request to Google as the rules see it, and what Google remembers between requests.

`describe` turns an `httpx.Request` into a `GoogleRequest` (None when it is for neither Google's
token endpoint nor the Calendar API); its endpoint is a method of Google's discovery document
(`../shared/google/calendar-v3-discovery.json`, or its copy in `tests/data/shared`).
`TokenMemory` keeps the query each page token and sync token was issued for, as Google
does. Used by the rule table (tests/google_rules.py), the fake Google and the session-wide
traffic check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import httpx

# The project's shared documents sit beside the repository; a clone without them (CI lays them
# out, a developer's machine may not) reads the copy kept in tests/data/shared, which
# tests/adapters/test_google_rules.py holds equal to the original whenever both are there.
SHARED_ORIGINAL: Final = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_COPY: Final = Path(__file__).resolve().parent / "data" / "shared"
SHARED: Final = SHARED_ORIGINAL if SHARED_ORIGINAL.is_dir() else SHARED_COPY
DISCOVERY_PATH: Final = SHARED / "google" / "calendar-v3-discovery.json"
DISCOVERY_README_PATH: Final = SHARED / "google" / "README.md"
NOTES_PATH: Final = SHARED / "notes" / "google-calendar.md"

if not DISCOVERY_PATH.is_file():  # without it nothing could be checked: say so, loudly
    raise RuntimeError(
        f"Google's discovery document is not at {DISCOVERY_PATH}; the fake Google and the "
        "conformance check read their rules from it (see shared/google/README.md)."
    )
DISCOVERY: Final[dict[str, Any]] = json.loads(DISCOVERY_PATH.read_text())
API_BASE_PATH: Final = urlsplit(DISCOVERY["baseUrl"]).path  # "/calendar/v3/"

TOKEN_ENDPOINT: Final = "oauth.token"
CALENDAR_LIST: Final = "calendarList.list"
EVENTS_LIST: Final = "events.list"
EVENTS_WATCH: Final = "events.watch"
EVENTS_GET: Final = "events.get"
EVENTS_INSTANCES: Final = "events.instances"
CHANNELS_STOP: Final = "channels.stop"
LISTS: Final = frozenset({CALENDAR_LIST, EVENTS_LIST, EVENTS_WATCH, EVENTS_INSTANCES})

# Named in events.list's syncToken description (discovery), one per line after "These are:".
EXCLUSIVE_WITH_SYNC_TOKEN: Final = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)

Query = tuple[tuple[str, str], ...]


# -- the discovery document's methods ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Method:
    """One Calendar v3 method: `events.list` is GET `calendars/{calendarId}/events`."""

    id: str
    http_method: str
    path: re.Pattern[str]
    parameters: Mapping[str, Mapping[str, Any]]  # query parameters only
    request_schema: str | None


def _methods(resources: Mapping[str, Any], prefix: str = "") -> Iterator[Method]:
    for resource_name, resource in resources.items():
        for method_name, method in resource.get("methods", {}).items():
            # "calendars/{calendarId}/events": literals and path parameters alternate
            parts = re.split(r"\{\+?\w+\}", method["path"])
            pattern = "[^/]+".join(re.escape(part) for part in parts)
            yield Method(
                id=f"{prefix}{resource_name}.{method_name}",
                http_method=method["httpMethod"],
                path=re.compile(pattern),
                parameters={
                    name: spec
                    for name, spec in method.get("parameters", {}).items()
                    if spec.get("location") == "query"
                },
                request_schema=(method.get("request") or {}).get("$ref"),
            )
        yield from _methods(resource.get("resources", {}), f"{prefix}{resource_name}.")


METHODS: Final[dict[str, Method]] = {m.id: m for m in _methods(DISCOVERY["resources"])}
API_WIDE_PARAMETERS: Final[Mapping[str, Mapping[str, Any]]] = DISCOVERY["parameters"]
CHANNEL_PROPERTIES: Final[Mapping[str, Mapping[str, Any]]] = DISCOVERY["schemas"]["Channel"][
    "properties"
]


def parameter_spec(method_id: str, name: str) -> Mapping[str, Any] | None:
    method = METHODS.get(method_id)
    spec = method.parameters.get(name) if method is not None else None
    return spec if spec is not None else API_WIDE_PARAMETERS.get(name)


# -- one request, as the rules see it -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GoogleRequest:
    """A request to Google's token endpoint or Calendar API, with what Google knows about it.

    `endpoint` is a discovery method id (`events.list`), `oauth.token`, or None for a path under
    the Calendar API that is no method. `path` is the raw path (percent-encoding intact) after
    the API's base path. `page_token_issued_for` is the query (without pageToken) of the request
    whose answer carried this request's pageToken, None if Google never issued it;
    `sync_token_issued_for` likewise for syncToken, None when unknown.
    """

    endpoint: str | None
    http_method: str
    url: str
    path: str
    fragment: str
    query: Query
    content_type: str
    body: bytes
    page_token_issued_for: Query | None = None
    sync_token_issued_for: Query | None = None

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.query if key == name]

    def first(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None

    def json_body(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def form(self) -> dict[str, list[str]]:
        fields: dict[str, list[str]] = {}
        for name, value in parse_qsl(self.body.decode(errors="replace"), keep_blank_values=True):
            fields.setdefault(name, []).append(value)
        return fields


def describe(
    request: httpx.Request,
    *,
    page_token_issued_for: Query | None = None,
    sync_token_issued_for: Query | None = None,
) -> GoogleRequest | None:
    """The request as the rules see it; None when it goes neither to the token endpoint nor to
    the Calendar API (told apart by path: `.../token`, `.../calendar/v3/...`)."""
    raw_path = request.url.raw_path.decode("ascii").split("?", 1)[0]
    base = raw_path.find(API_BASE_PATH)
    if base >= 0:
        path = raw_path[base + len(API_BASE_PATH) :]
        endpoint = next(
            (
                m.id
                for m in METHODS.values()
                if m.http_method == request.method and m.path.fullmatch(path)
            ),
            None,
        )
    elif request.method == "POST" and raw_path.endswith("/token"):
        path, endpoint = raw_path, TOKEN_ENDPOINT
    else:
        return None
    return GoogleRequest(
        endpoint=endpoint,
        http_method=request.method,
        url=str(request.url),
        path=path,
        fragment=request.url.fragment,
        query=tuple(request.url.params.multi_items()),
        content_type=request.headers.get("content-type", "").split(";")[0].strip(),
        body=request.content,
        page_token_issued_for=page_token_issued_for,
        sync_token_issued_for=sync_token_issued_for,
    )


def without(query: Query, names: Iterable[str]) -> Query:
    """`query` sorted, without the parameters `names`."""
    dropped = set(names)
    return tuple(sorted(item for item in query if item[0] not in dropped))


class TokenMemory:
    """What Google remembers between requests: the query each page token and sync token answered.

    Keys include the path, so tokens of two calendars never mix; a token issued again for another
    query (a new run) is remembered for the newest one.
    """

    def __init__(self) -> None:
        self._page_tokens: dict[tuple[str, str], Query] = {}
        self._sync_tokens: dict[tuple[str, str], Query] = {}

    def describe(self, request: httpx.Request) -> GoogleRequest | None:
        seen = describe(request)
        if seen is None:
            return None
        page_token, sync_token = seen.first("pageToken"), seen.first("syncToken")
        return replace(
            seen,
            page_token_issued_for=self._page_tokens.get((seen.path, page_token or "")),
            sync_token_issued_for=self._sync_tokens.get((seen.path, sync_token or "")),
        )

    def remember_answer(self, request: httpx.Request, answer: Any) -> None:
        """Note the tokens in Google's JSON answer to `request`."""
        seen = describe(request)
        if seen is None or seen.endpoint not in LISTS or not isinstance(answer, dict):
            return
        next_page, next_sync = answer.get("nextPageToken"), answer.get("nextSyncToken")
        if isinstance(next_page, str):
            self._page_tokens[(seen.path, next_page)] = without(seen.query, ("pageToken",))
        if isinstance(next_sync, str):
            ignored = ("pageToken", "syncToken", *EXCLUSIVE_WITH_SYNC_TOKEN)
            self._sync_tokens[(seen.path, next_sync)] = without(seen.query, ignored)
