"""Every request HttpGoogleCalendar sends matches Google's discovery document for Calendar v3.

Paths and HTTP methods must be a declared method's; query parameters must be declared for that
method (or be one of the API-wide ones) with a value of the declared type and enum; the watch and
stop bodies may only use properties of the `Channel` schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest
import respx

from app.adapters.google import HttpGoogleCalendar
from app.domain import GoogleCredentials
from tests.fakes import FakeClock

DISCOVERY_PATH = (
    Path(__file__).resolve().parents[2].parent / "shared" / "google" / "calendar-v3-discovery.json"
)
TOKEN_URL = "https://oauth2.test/token"
CREDENTIALS = GoogleCredentials("client-1", "client-secret-value", "1//refresh-token-value")
CALENDAR_ID = "en.usa#holiday@group.v.calendar.google.com"

pytestmark = pytest.mark.skipif(
    not DISCOVERY_PATH.is_file(),
    reason=f"Google's discovery document is not at {DISCOVERY_PATH} (see shared/google/README.md)",
)


@dataclass(frozen=True)
class DiscoveryMethod:
    name: str
    http_method: str
    path: re.Pattern[str]
    parameters: dict[str, Any]
    request_schema: str | None


@pytest.fixture(scope="module")
def discovery() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DISCOVERY_PATH.read_text())
    return document


@pytest.fixture(scope="module")
def methods(discovery: dict[str, Any]) -> list[DiscoveryMethod]:
    return list(_methods(discovery["resources"]))


def _methods(resources: dict[str, Any], prefix: str = "") -> Iterator[DiscoveryMethod]:
    for resource_name, resource in resources.items():
        for method_name, method in resource.get("methods", {}).items():
            # "calendars/{calendarId}/events" -> literals and path parameters, alternating
            parts = re.split(r"\{\+?(\w+)\}", method["path"])
            pattern = "".join(
                f"(?P<{part}>[^/]+)" if index % 2 else re.escape(part)
                for index, part in enumerate(parts)
            )
            yield DiscoveryMethod(
                name=f"{prefix}{resource_name}.{method_name}",
                http_method=method["httpMethod"],
                path=re.compile(f"^{pattern}$"),
                parameters=method.get("parameters", {}),
                request_schema=(method.get("request") or {}).get("$ref"),
            )
        yield from _methods(resource.get("resources", {}), f"{prefix}{resource_name}.")


def _match(request: httpx.Request, base_path: str, methods: list[DiscoveryMethod]) -> Any:
    """The discovery method this request calls, and its path parameters (decoded)."""
    raw_path = request.url.raw_path.decode().split("?", 1)[0]
    assert raw_path.startswith(base_path), f"{raw_path} is outside {base_path}"
    relative = raw_path[len(base_path) :]
    for method in methods:
        found = method.path.match(relative)
        if found and method.http_method == request.method:
            return method, {name: unquote(value) for name, value in found.groupdict().items()}
    return None, {}


def _check_query(
    request: httpx.Request, method: DiscoveryMethod, global_parameters: dict[str, Any]
) -> list[str]:
    problems = []
    for name, value in request.url.params.multi_items():
        spec = method.parameters.get(name) or global_parameters.get(name)
        if spec is None or spec.get("location") != "query":
            problems.append(f"{method.name}: undeclared query parameter {name!r}")
            continue
        if spec["type"] == "boolean" and value not in ("true", "false"):
            problems.append(f"{method.name}: {name}={value!r} is not a boolean")
        if spec["type"] == "integer" and not value.isdigit():
            problems.append(f"{method.name}: {name}={value!r} is not an integer")
        if "enum" in spec and value not in spec["enum"]:
            problems.append(f"{method.name}: {name}={value!r} is not one of {spec['enum']}")
    return problems


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_every_request_matches_the_discovery_document(
    discovery: dict[str, Any],
    methods: list[DiscoveryMethod],
    http: httpx.AsyncClient,
    respx_mock: respx.MockRouter,
) -> None:
    api = discovery["baseUrl"].rstrip("/")
    google = HttpGoogleCalendar(http, FakeClock(), token_url=TOKEN_URL, api_base_url=api)
    respx_mock.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json={"access_token": "ya29.x", "expires_in": 3599})
    )
    respx_mock.get(url__startswith=f"{api}/users/me/calendarList").mock(
        side_effect=[
            httpx.Response(200, json={"items": [{"id": "a"}], "nextPageToken": "p2"}),
            httpx.Response(200, json={"items": [{"id": "b"}]}),
        ]
    )
    respx_mock.get(url__regex=rf"^{re.escape(api)}/calendars/[^/]+/events(\?|$)").mock(
        side_effect=[
            httpx.Response(200, json={"items": [], "nextPageToken": "p2"}),
            httpx.Response(200, json={"items": [], "nextSyncToken": "s1"}),
            httpx.Response(200, json={"items": [], "nextSyncToken": "s2"}),
        ]
    )
    respx_mock.post(url__regex=rf"^{re.escape(api)}/calendars/[^/]+/events/watch$").mock(
        return_value=httpx.Response(
            200, json={"id": "chan-1", "resourceId": "res-1", "expiration": "1795000000000"}
        )
    )
    respx_mock.post(f"{api}/channels/stop").mock(return_value=httpx.Response(204))

    await google.list_calendars(CREDENTIALS)
    full = google.list_events(
        CREDENTIALS, CALENDAR_ID, sync_token=None, time_min=datetime(2026, 1, 1, tzinfo=UTC)
    )
    _ = [page async for page in full]
    incremental = google.list_events(CREDENTIALS, CALENDAR_ID, sync_token="s1", time_min=None)
    _ = [page async for page in incremental]
    await google.watch_events(
        CREDENTIALS,
        CALENDAR_ID,
        channel_id="chan-1",
        token="channel-token",
        address="https://calbot.example/api/v1/calendar/webhooks/google",
        ttl_seconds=604800,
    )
    await google.stop_channel(CREDENTIALS, "chan-1", "res-1")

    base_path = urlsplit(discovery["baseUrl"]).path
    channel_fields = set(discovery["schemas"]["Channel"]["properties"])
    called: set[str] = set()
    problems: list[str] = []
    for call in respx_mock.calls:
        request = call.request
        if str(request.url) == TOKEN_URL:
            continue  # OAuth is not part of the Calendar discovery document
        method, path_parameters = _match(request, base_path, methods)
        assert method is not None, f"{request.method} {request.url} is no Calendar v3 method"
        called.add(method.name)
        if "calendarId" in path_parameters:
            assert path_parameters["calendarId"] == CALENDAR_ID
        problems += _check_query(request, method, discovery["parameters"])
        if method.request_schema == "Channel":
            body = json.loads(request.content)
            problems += [f"{method.name}: {f!r} not in Channel" for f in set(body) - channel_fields]
    assert problems == []
    assert called == {"calendarList.list", "events.list", "events.watch", "channels.stop"}


def test_the_checker_itself_rejects_wrong_requests(
    discovery: dict[str, Any], methods: list[DiscoveryMethod]
) -> None:
    base_path = urlsplit(discovery["baseUrl"]).path
    api = discovery["baseUrl"].rstrip("/")
    wrong_path = httpx.Request("GET", f"{api}/calendars/x/event")
    wrong_verb = httpx.Request("DELETE", f"{api}/channels/stop")
    wrong_query = httpx.Request(
        "GET",
        f"{api}/users/me/calendarList",
        params={"max_results": "5", "minAccessRole": "viewer", "showDeleted": "yes"},
    )

    assert _match(wrong_path, base_path, methods)[0] is None
    assert _match(wrong_verb, base_path, methods)[0] is None
    method, _ = _match(wrong_query, base_path, methods)
    assert method is not None
    assert len(_check_query(wrong_query, method, discovery["parameters"])) == 3
