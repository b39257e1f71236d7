"""Bad input (CONTRACT.md, errors): a clear 4xx saying what to fix, never a 5xx, never an echo.

The routes with a body and the query parameters are read from /openapi.json, so a new route is
covered as soon as it exists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from app.container import Container
from app.json_bodies import MAX_BODY_BYTES
from app.schemas import MAX_DEPTH
from tests.conftest import BOT_API_URL, GOOD_CREDENTIALS, meeting
from tests.fake_google import GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN, FakeGoogle
from tests.fakes import FakeClock

SECRET = "sk-planted-0f9e8d7c6b5a-must-never-come-back"
PRIMARY = "user@example.com"
CALENDAR = "/api/v1/calendar"
CONFIG = {"video_required": False}
JSON = {"Content-Type": "application/json"}


def assert_refused_without_echo(response: httpx.Response, *secrets: str) -> list[dict[str, Any]]:
    """A 422 in FastAPI's list form, each item only loc/msg/type, no secret anywhere."""
    assert response.status_code == 422, response.text
    for secret in secrets or (SECRET,):
        assert secret.encode() not in response.content
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["detail"]
    for item in body["detail"]:
        assert set(item) == {"loc", "msg", "type"}, item
        assert item["msg"], item
        assert item["loc"][0] in ("body", "query", "path", "header"), item
    items: list[dict[str, Any]] = body["detail"]
    return items


# -- every route with a body, from the OpenAPI schema ----------------------------------------


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _resolve(spec, spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    return _resolve(spec, options[0]) if options else schema


def _body_routes(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                model = _resolve(spec, content["application/json"]["schema"])
                yield method, re.sub(r"\{[^}]+\}", SECRET, path), model


def _refused_bodies(model: dict[str, Any]) -> Iterator[tuple[str, bytes, str]]:
    """(what, raw body, Content-Type) that the model must refuse, each carrying SECRET."""
    fields = model["properties"]

    def encoded(value: Any) -> bytes:
        return json.dumps(value).encode()

    yield "every field a list", encoded({name: [SECRET] for name in fields}), "application/json"
    yield "the body a list", encoded([SECRET]), "application/json"
    yield "the body a string", encoded(SECRET), "application/json"
    yield "the body as text", SECRET.encode(), "text/plain"
    yield "no content type", encoded(dict.fromkeys(fields, SECRET)), ""
    everything = encoded(dict.fromkeys(fields, SECRET))
    yield "NaN beside it", everything[:-1] + b', "zz": NaN}', "application/json"
    if model.get("required"):
        missing = {name: SECRET for name in fields if name != model["required"][0]}
        yield "a required field missing", encoded(missing), "application/json"
    for name, field in fields.items():
        field = field if "anyOf" not in field else field["anyOf"][0]
        if "maxLength" in field:
            too_long = SECRET + "x" * field["maxLength"]
            yield f"{name} too long", encoded({name: too_long}), "application/json"
        if field.get("format") in ("date", "date-time"):
            yield f"{name} not a date", encoded({name: SECRET}), "application/json"


async def test_every_route_with_a_body_refuses_it_without_sending_any_of_it_back(
    client: httpx.AsyncClient, connected: dict[str, str]
) -> None:
    spec = (await client.get("/openapi.json")).json()
    routes = list(_body_routes(spec))
    assert len(routes) >= 7  # create_calendar, schedule, PATCH bot, ... (a typo finds none)

    for method, path, model in routes:
        for what, content, content_type in _refused_bodies(model):
            headers = {**connected, "Content-Type": content_type} if content_type else connected
            response = await client.request(method, path, content=content, headers=headers)
            assert response.status_code == 422, (method, path, what, response.text)
            assert_refused_without_echo(response)


async def test_a_refused_create_calendar_never_sends_the_secret_or_token_back(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for body in (
        {**GOOD_CREDENTIALS, "google_client_id": ""},
        {**GOOD_CREDENTIALS, "google_client_id": None},
        {k: v for k, v in GOOD_CREDENTIALS.items() if k != "google_client_id"},
        {k: [v] for k, v in GOOD_CREDENTIALS.items()},
    ):
        response = await client.post(f"{CALENDAR}/create_calendar", json=body, headers=auth)

        items = assert_refused_without_echo(response, GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN)
        assert any(item["loc"][:2] == ["body", "google_client_id"] for item in items), items


async def test_no_query_parameter_is_ever_sent_back(
    client: httpx.AsyncClient, connected: dict[str, str]
) -> None:
    spec = (await client.get("/openapi.json")).json()
    refused = 0
    for path, operations in spec["paths"].items():
        get = operations.get("get", {})
        names = [p["name"] for p in get.get("parameters", []) if p["in"] == "query"]
        if not path.startswith("/api/v1/"):
            continue
        for params in [dict.fromkeys(names, SECRET)] + [{name: SECRET} for name in names]:
            response = await client.get(path, params=params, headers=connected)

            assert response.status_code < 500, (path, params, response.text)
            assert SECRET.encode() not in response.content, (path, params, response.text)
            if response.status_code == 422 and isinstance(response.json()["detail"], list):
                assert_refused_without_echo(response)
                refused += 1
    assert refused >= 3  # events, get_events, scheduled_bots


async def test_a_query_parameter_of_the_wrong_type_names_the_parameter(
    client: httpx.AsyncClient, connected: dict[str, str]
) -> None:
    response = await client.get(
        f"{CALENDAR}/scheduled_bots", params={"limit": "lots", "status": SECRET}, headers=connected
    )

    items = assert_refused_without_echo(response)
    assert sorted(item["loc"][1] for item in items) == ["limit", "status"]


async def test_the_openapi_schema_says_validation_items_are_loc_msg_and_type(
    client: httpx.AsyncClient,
) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]

    assert set(schemas["ValidationError"]["properties"]) == {"loc", "msg", "type"}
    assert schemas["HTTPValidationError"]["properties"]["error"]["const"] == "validation_error"


# -- numbers and text calbot could not store or forward --------------------------------------


REFUSED = [
    ("NaN", "json_invalid"),
    ("Infinity", "json_invalid"),
    ("-Infinity", "json_invalid"),
    ("1e400", "number_out_of_range"),
    (str(2**64), "number_out_of_range"),
    (str(2**63), "number_out_of_range"),
    (str(-(2**63) - 1), "number_out_of_range"),
    (str(10**30), "number_out_of_range"),
    ('"\\ud800"', "string_unicode"),
]


async def _event_id(
    client: httpx.AsyncClient, auth: dict[str, str], fake_google: FakeGoogle
) -> str:
    fake_google.put_event(PRIMARY, meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z"))
    [event] = (await client.get(f"{CALENDAR}/events", headers=auth)).json()["events"]
    return str(event["event_id"])


@pytest.mark.parametrize(("literal", "error_type"), REFUSED)
async def test_a_value_calbot_cannot_store_deep_in_any_free_form_object_is_a_422_saying_where(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    literal: str,
    error_type: str,
) -> None:
    event_id = await _event_id(client, connected, fake_google)
    scheduled = await client.post(
        f"{CALENDAR}/schedule/{event_id}", json={"bot_config": CONFIG}, headers=connected
    )
    bot_id = scheduled.json()["bot_id"]
    deep = '{"deep": [{"value": ' + literal + "}]}"
    attempts = [
        ("post", f"schedule/{event_id}", "bot_config"),
        ("patch", f"scheduled_bots/{bot_id}", "bot_config"),
        ("patch", f"scheduled_bots/{bot_id}", "custom_attributes"),
        ("post", "auto-schedule/enable", "default_bot_config"),
    ]

    for method, path, field in attempts:
        content = '{"' + field + '": ' + deep + "}"
        response = await client.request(
            method, f"{CALENDAR}/{path}", content=content, headers={**connected, **JSON}
        )

        [item] = assert_refused_without_echo(response)
        assert item["loc"] == ["body", field, "deep", 0, "value"], item
        assert item["type"] == error_type
        assert ": send" in item["msg"]
    bot = (await client.get(f"{CALENDAR}/scheduled_bots", headers=connected)).json()
    assert [b["bot_config"] for b in bot["scheduled_bots"]] == [CONFIG]
    assert bot["scheduled_bots"][0]["custom_attributes"] is None
    settings = (await client.get(f"{CALENDAR}/auto-schedule/settings", headers=connected)).json()
    assert settings["enabled"] is False


def _nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"in": value}
    return value


async def test_nesting_is_bounded_and_a_config_within_the_bound_is_kept(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    event_id = await _event_id(client, connected, fake_google)
    path = f"{CALENDAR}/schedule/{event_id}"
    deepest = _nested(MAX_DEPTH - 1)  # the body is the first level

    too_deep = await client.post(path, json={"bot_config": {"in": deepest}}, headers=connected)
    kept = await client.post(path, json={"bot_config": deepest}, headers=connected)

    [item] = assert_refused_without_echo(too_deep)
    assert item["type"] == "json_too_deep"
    assert str(MAX_DEPTH) in item["msg"]
    assert kept.status_code == 201, kept.text
    assert kept.json()["bot_config"] == deepest


async def test_custom_attributes_are_limited_to_16_kib_like_bot_config(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    event_id = await _event_id(client, connected, fake_google)
    scheduled = await client.post(
        f"{CALENDAR}/schedule/{event_id}", json={"bot_config": CONFIG}, headers=connected
    )
    bot_path = f"{CALENDAR}/scheduled_bots/{scheduled.json()['bot_id']}"

    too_big = await client.patch(
        bot_path, json={"custom_attributes": {"notes": "x" * 16 * 1024}}, headers=connected
    )
    fits = await client.patch(
        bot_path, json={"custom_attributes": {"notes": "x" * 16_000}}, headers=connected
    )

    assert too_big.status_code == 422
    assert (
        too_big.json()["detail"] == "custom_attributes is larger than 16 KiB once encoded as JSON."
    )
    assert fits.status_code == 200, fits.text


async def test_values_at_the_edges_reach_the_create_bot_api_unchanged(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    google_mock: respx.MockRouter,
) -> None:
    create_bot = google_mock.post(BOT_API_URL).mock(
        return_value=httpx.Response(201, json={"bot_id": "ext-1"})
    )
    event_id = await _event_id(client, connected, fake_google)
    config = {
        "largest": 2**63 - 1,
        "smallest": -(2**63),
        "double": 1.7976931348623157e308,
        "tiny": 5e-324,
        "text": "\U0001f600 \x00 \u2028",
        "deep": _nested(MAX_DEPTH - 3),  # body, bot_config, and the launch body's own level
    }
    scheduled = await client.post(
        f"{CALENDAR}/schedule/{event_id}", json={"bot_config": config}, headers=connected
    )
    assert scheduled.status_code == 201, scheduled.text
    patched = await client.patch(
        f"{CALENDAR}/scheduled_bots/{scheduled.json()['bot_id']}",
        json={"custom_attributes": {"count": 2**63 - 1}},
        headers=connected,
    )
    assert patched.status_code == 200, patched.text
    clock.set(clock.now().replace(year=2026, month=11, day=26, hour=9, minute=57))

    await container.launcher.launch_due()
    await container.launcher.wait_for_launches()

    sent = json.loads(create_bot.calls.last.request.content)
    assert {key: sent[key] for key in config} == config
    assert sent["custom_attributes"] == {"count": 2**63 - 1}


# -- bodies that are not JSON at all ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type", "says"),
    [
        (b'{"bot_config": {"a": "\xff"}}', "application/json", "UTF-8"),
        (b'\xef\xbb\xbf{"bot_config": {}}', "application/json", "byte-order mark"),
        (b"bot_config=1", "application/json", "not valid JSON"),
        (b'{"bot_config": {}', "application/json; charset=utf-8", "not valid JSON"),
        (b'{"bot_config": {}}', "text/plain", "Content-Type: application/json"),
        (b'{"bot_config": {}}', "", "Content-Type: application/json"),
        (b"", "application/json", "Field required"),
    ],
)
async def test_a_body_that_is_not_json_is_a_422_saying_what_to_send(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    content: bytes,
    content_type: str,
    says: str,
) -> None:
    event_id = await _event_id(client, connected, fake_google)
    headers = {**connected, "Content-Type": content_type} if content_type else connected

    response = await client.post(
        f"{CALENDAR}/schedule/{event_id}", content=content, headers=headers
    )

    [item] = assert_refused_without_echo(response)
    assert says in item["msg"], item


async def test_a_body_over_the_limit_is_a_413_whether_or_not_its_length_is_declared(
    client: httpx.AsyncClient, connected: dict[str, str]
) -> None:
    huge = b'{"bot_config": {"pad": "' + b"x" * MAX_BODY_BYTES + b'"}}'

    async def streamed() -> Any:
        for start in range(0, len(huge), 64 * 1024):
            yield huge[start : start + 64 * 1024]

    declared = await client.post(
        f"{CALENDAR}/schedule/evt-x", content=huge, headers={**connected, **JSON}
    )
    chunked = await client.post(
        f"{CALENDAR}/schedule/evt-x", content=streamed(), headers={**connected, **JSON}
    )

    for response in (declared, chunked):
        assert response.status_code == 413
        assert response.json() == {
            "detail": "The body is larger than 1 MiB: send a smaller one.",
            "error": "body_too_large",
        }


async def test_a_refused_body_is_not_remembered_under_its_idempotency_key(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    event_id = await _event_id(client, connected, fake_google)
    headers = {**connected, **JSON, "Idempotency-Key": "retry-after-fixing-the-body"}
    path = f"{CALENDAR}/schedule/{event_id}"

    refused = await client.post(path, content=b'{"bot_config": {"a": NaN}}', headers=headers)
    fixed = await client.post(path, content=b'{"bot_config": {"a": null}}', headers=headers)

    assert_refused_without_echo(refused)
    assert fixed.status_code == 201, fixed.text
    assert fixed.json()["bot_config"] == {"a": None}
