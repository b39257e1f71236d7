"""Schemathesis against calbot's own /openapi.json, in-process over ASGI: no input answers 5xx.

Every operation of the schema is exercised with valid (positive) and invalid (negative) data,
authenticated as an account with a connected calendar, an event and a scheduled bot (half of
the examples use their real ids, so bodies reach the store instead of a 404), with derandomized
generation and a bounded number of examples. Nothing is excluded: the Google webhook and the
consent pages are fuzzed too, with their own expectation (the consent pages answer HTML, not
JSON); only `DELETE /disconnect` runs last, so the other operations find a connected account.

Schemathesis runs the app's lifespan on its own event loop in a thread, so the app is built
here rather than taken from the `app` fixture, which lives on pytest's loop; the account's API
key is made beforehand through the same wiring, on the same database.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import hypothesis
import pytest
import respx
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.python import asgi

from app.config import Settings
from app.container import open_container
from app.main import create_app
from tests.conftest import GOOD_CREDENTIALS, meeting
from tests.fake_google import FakeGoogle
from tests.fakes import FakeClock, FakeResolver

EXAMPLES_PER_OPERATION = 40
HTML_ROUTES = ("/api/google/",)  # the consent flow's browser pages
LAST = "DELETE /api/v1/calendar/disconnect"


@dataclass(frozen=True, slots=True)
class FuzzedApi:
    schema: schemathesis.BaseSchema
    auth: dict[str, str]
    real_ids: dict[str, str]  # path parameter -> an id that exists


async def _api_key(settings: Settings, clock: FakeClock) -> str:
    async with open_container(settings, clock=clock) as container:
        return (await container.api_keys.create("fuzzer")).secret


def _ok(response: Any, status: int) -> Any:
    assert response.status_code == status, response.text
    return json.loads(response.content)


@pytest.fixture
def fuzzed_api(
    settings: Settings, clock: FakeClock, fake_google: FakeGoogle, google_mock: respx.MockRouter
) -> Iterator[FuzzedApi]:
    auth = {"Authorization": f"Token {asyncio.run(_api_key(settings, clock))}"}
    fake_google.put_event(
        "user@example.com", meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z")
    )
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json",
        create_app(settings, clock=clock, run_background=False, resolver=FakeResolver()),
    )

    def call(method: str, path: str, **parts: Any) -> Any:
        return schema[path][method].Case(**parts).call(headers=dict(auth))

    _ok(call("POST", "/api/v1/calendar/create_calendar", body=GOOD_CREDENTIALS), 201)
    [event] = _ok(call("GET", "/api/v1/calendar/events"), 200)["events"]
    bot = _ok(
        call(
            "POST",
            "/api/v1/calendar/schedule/{event_id}",
            path_parameters={"event_id": event["event_id"]},
            body={"bot_config": {"video_required": False}},
        ),
        201,
    )
    try:
        yield FuzzedApi(schema, auth, {"event_id": event["event_id"], "bot_id": bot["bot_id"]})
    finally:
        asgi.shutdown_lifespans()


def _expect_no_5xx_and_a_json_detail(case: Any, response: Any) -> None:
    where = case.as_curl_command()
    assert response.status_code < 500, (where, response.text)
    if response.status_code < 400 or case.path.startswith(HTML_ROUTES):
        return
    body = json.loads(response.content)
    assert "detail" in body, (where, response.text)
    if response.status_code == 422 and isinstance(body["detail"], list):
        for item in body["detail"]:
            assert set(item) == {"loc", "msg", "type"}, (where, item)


def _cases(api: FuzzedApi, operation: Any, mode: GenerationMode) -> st.SearchStrategy[Any]:
    generated = operation.as_strategy(generation_mode=mode, headers=dict(api.auth))
    names = {p.name for p in operation.path_parameters}
    real = {name: value for name, value in api.real_ids.items() if name in names}
    if not real:
        return cast(st.SearchStrategy[Any], generated)
    existing = operation.as_strategy(
        generation_mode=mode, headers=dict(api.auth), path_parameters=real
    )
    return st.one_of(generated, existing)


def _fuzz(api: FuzzedApi, operation: Any, mode: GenerationMode) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=_cases(api, operation, mode))
    def examples(case: Any) -> None:
        _expect_no_5xx_and_a_json_detail(case, case.call())

    try:
        examples()
    except hypothesis.errors.Unsatisfiable:
        # Only an operation none of whose inputs can be wrong has no negative example.
        assert mode is GenerationMode.NEGATIVE, operation.label


def test_no_input_makes_calbot_answer_5xx_and_every_error_has_a_json_detail(
    fuzzed_api: FuzzedApi,
) -> None:
    results: list[Any] = list(fuzzed_api.schema.get_all_operations())
    operations = [result.ok() for result in results]
    operations.sort(key=lambda operation: operation.label == LAST)
    assert len(operations) >= 20
    assert operations[-1].label == LAST

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(fuzzed_api, operation, mode)
