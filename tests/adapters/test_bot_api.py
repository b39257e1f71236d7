"""HttpBotApi against respx: the Create Bot call of CONTRACT.md section 3."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
import respx

from app.adapters.bot_api import BOT_API_RETRY, HttpBotApi
from app.adapters.retry import RetryPolicy
from app.errors import BotApiUnavailable, BotLaunchRejected
from tests.fakes import FakeClock

URL = "https://bots.test/api/v1/bots/create_bot"
API_KEY = "bot-api-key-value-123"
BODY = {"meeting_link": "https://meet.google.com/abc-defg-hij", "bot_name": "Notes"}
KEY = "bot_01JDX5"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bot_api(http: httpx.AsyncClient, clock: FakeClock) -> HttpBotApi:
    return HttpBotApi(http, clock, url=URL, api_key=API_KEY)


def in_an_hour(clock: FakeClock) -> datetime:
    return clock.now() + timedelta(hours=1)


async def test_success_returns_the_bot_id_and_sends_the_contract_headers(
    bot_api: HttpBotApi, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(201, json={"bot_id": "b-42"}))

    bot_id = await bot_api.create_bot(idempotency_key=KEY, body=BODY, give_up_at=in_an_hour(clock))

    assert bot_id == "b-42"
    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == KEY
    assert request.headers["Authorization"] == f"Token {API_KEY}"
    assert json.loads(request.content) == BODY


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (httpx.Response(200, json={"id": "b-7"}), "b-7"),
        (httpx.Response(200, json={"id": 123}), "123"),
        (httpx.Response(200, json={"bot_id": "b-1", "id": "other"}), "b-1"),
        (httpx.Response(200, json={"status": "queued"}), None),
        (httpx.Response(200, json=["b-1"]), None),
        (httpx.Response(202, text="accepted"), None),
        (httpx.Response(204), None),
    ],
)
async def test_bot_id_falls_back_to_id_then_none(
    bot_api: HttpBotApi,
    clock: FakeClock,
    respx_mock: respx.MockRouter,
    answer: httpx.Response,
    expected: str | None,
) -> None:
    respx_mock.post(URL).mock(return_value=answer)

    bot_id = await bot_api.create_bot(idempotency_key=KEY, body=BODY, give_up_at=in_an_hour(clock))

    assert bot_id == expected


async def test_authorization_is_sent_only_when_a_key_is_set(
    http: httpx.AsyncClient, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(201, json={"id": "b"}))
    keyless = HttpBotApi(http, clock, url=URL, api_key=None)

    await keyless.create_bot(idempotency_key=KEY, body=BODY, give_up_at=in_an_hour(clock))

    assert "Authorization" not in route.calls.last.request.headers


async def test_the_idempotency_key_and_body_are_identical_on_every_retry(
    bot_api: HttpBotApi, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(URL).mock(
        side_effect=[
            httpx.ReadTimeout("lost answer"),
            httpx.Response(503),
            httpx.ConnectError("refused"),
            httpx.Response(408),
            httpx.Response(429),
            httpx.Response(201, json={"bot_id": "b-1"}),
        ]
    )

    bot_id = await bot_api.create_bot(idempotency_key=KEY, body=BODY, give_up_at=in_an_hour(clock))

    assert bot_id == "b-1"
    assert route.call_count == 6
    assert {call.request.headers["Idempotency-Key"] for call in route.calls} == {KEY}
    assert len({call.request.content for call in route.calls}) == 1
    assert len(clock.slept) == 5


async def test_retry_after_is_honoured(
    bot_api: HttpBotApi, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "9"}),
            httpx.Response(201, json={"bot_id": "b"}),
        ]
    )

    await bot_api.create_bot(idempotency_key=KEY, body=BODY, give_up_at=in_an_hour(clock))

    assert clock.slept == [9.0]


async def test_5xx_is_retried_until_the_deadline_then_unavailable(
    bot_api: HttpBotApi, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(502))
    give_up_at = clock.now() + timedelta(minutes=10)

    with pytest.raises(BotApiUnavailable, match="502"):
        await bot_api.create_bot(idempotency_key=KEY, body=BODY, give_up_at=give_up_at)

    assert route.call_count > 10  # no attempt cap: only the deadline stops it
    assert clock.now() <= give_up_at  # never slept past the deadline
    assert max(clock.slept) <= BOT_API_RETRY.max_delay


async def test_backoff_grows_to_its_cap_while_retrying(
    http: httpx.AsyncClient, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(500))
    steady = RetryPolicy(base_delay=1.0, max_delay=30.0, max_attempts=None, jitter=False)
    bot_api = HttpBotApi(http, clock, url=URL, api_key=None, retry=steady)

    with pytest.raises(BotApiUnavailable):
        await bot_api.create_bot(
            idempotency_key=KEY, body=BODY, give_up_at=clock.now() + timedelta(seconds=200)
        )

    # 181 s slept, 19 s left: a 30 s sleep would cross the deadline, so it gives up instead.
    assert clock.slept == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0, 30.0]


async def test_a_deadline_already_passed_still_gets_one_attempt(
    bot_api: HttpBotApi, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(URL).mock(side_effect=httpx.ConnectError("down"))

    with pytest.raises(BotApiUnavailable, match="ConnectError"):
        await bot_api.create_bot(
            idempotency_key=KEY, body=BODY, give_up_at=clock.now() - timedelta(seconds=1)
        )

    assert route.call_count == 1
    assert clock.slept == []


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            httpx.Response(422, json={"detail": "meeting_link is invalid"}),
            "meeting_link is invalid",
        ),
        (httpx.Response(400, json={"message": "bad config"}), "bad config"),
        (httpx.Response(403, json={"error": "plan limit reached"}), "plan limit reached"),
        (
            httpx.Response(422, json={"detail": [{"loc": ["body"], "msg": "field required"}]}),
            '[{"loc":["body"],"msg":"field required"}]',
        ),
        (httpx.Response(404, text="no such route"), "no such route"),
        (httpx.Response(401), "HTTP 401"),
    ],
)
async def test_other_4xx_is_rejected_at_once_with_the_reason(
    bot_api: HttpBotApi,
    clock: FakeClock,
    respx_mock: respx.MockRouter,
    answer: httpx.Response,
    reason: str,
) -> None:
    route = respx_mock.post(URL).mock(return_value=answer)

    with pytest.raises(BotLaunchRejected) as caught:
        await bot_api.create_bot(idempotency_key=KEY, body=BODY, give_up_at=in_an_hour(clock))

    assert (caught.value.status_code, caught.value.reason) == (answer.status_code, reason)
    assert route.call_count == 1
    assert clock.slept == []


async def test_a_long_rejection_body_is_truncated(
    bot_api: HttpBotApi, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(400, text="x" * 5000))

    with pytest.raises(BotLaunchRejected) as caught:
        await bot_api.create_bot(idempotency_key=KEY, body=BODY, give_up_at=in_an_hour(clock))

    assert caught.value.reason == "x" * 300


async def test_the_api_key_never_reaches_an_error_or_repr(
    bot_api: HttpBotApi, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(URL).mock(
        return_value=httpx.Response(401, json={"detail": f"unknown key {API_KEY}"})
    )

    with pytest.raises(BotLaunchRejected) as caught:
        await bot_api.create_bot(idempotency_key=KEY, body=BODY, give_up_at=in_an_hour(clock))

    for text in (str(caught.value), repr(caught.value), caught.value.reason, repr(bot_api)):
        assert API_KEY not in text


async def test_a_misconfigured_url_fails_at_once(
    bot_api: HttpBotApi, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(URL).mock(side_effect=httpx.UnsupportedProtocol("ftp?"))

    with pytest.raises(BotApiUnavailable, match="UnsupportedProtocol"):
        await bot_api.create_bot(idempotency_key=KEY, body=BODY, give_up_at=in_an_hour(clock))

    assert route.call_count == 1
