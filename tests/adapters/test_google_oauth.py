"""The authorization-code exchange adapter (app/adapters/google_oauth.py) against respx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from app.adapters.google_oauth import GoogleOAuthCodeExchanger
from app.adapters.ports import TokenGrant
from app.adapters.retry import RetryPolicy
from app.errors import CodeExchangeRejected, GoogleRateLimited, GoogleUnavailable, UpstreamRejected
from tests.fakes import FakeClock

TOKEN_URL = "https://oauth2.fake-google.test/token"
REDIRECT_URI = "http://localhost:3000/api/google/oauth-callback"
CLIENT_ID = "client-123.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-very-secret-value"
READONLY = "https://www.googleapis.com/auth/calendar.readonly"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))


EXCHANGE = {
    "client_id": CLIENT_ID,
    "client_secret": CLIENT_SECRET,
    "code": "4/0Ab-the-authorization-code",
    "redirect_uri": REDIRECT_URI,
    "code_verifier": "v" * 43,
}


@pytest.fixture
async def google_oauth(clock: FakeClock) -> AsyncIterator[GoogleOAuthCodeExchanger]:
    async with httpx.AsyncClient() as http:
        yield GoogleOAuthCodeExchanger(
            http,
            clock,
            token_url=TOKEN_URL,
            retry=RetryPolicy(base_delay=0.5, max_delay=4.0, max_attempts=3, jitter=False),
        )


async def test_the_exchange_posts_the_form_google_documents(
    google_oauth: GoogleOAuthCodeExchanger,
) -> None:
    with respx.mock:
        route = respx.post(TOKEN_URL).respond(
            200,
            json={
                "access_token": "ya29.a",
                "refresh_token": "1//rt",
                "expires_in": 3599,
                "scope": READONLY,
                "token_type": "Bearer",
                "refresh_token_expires_in": 604799,
            },
        )
        grant = await google_oauth.exchange_code(**EXCHANGE)

    request = route.calls.last.request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert {k: v[0] for k, v in parse_qs(request.content.decode()).items()} == {
        **EXCHANGE,
        "grant_type": "authorization_code",
    }
    assert grant == TokenGrant("1//rt", "ya29.a", 3599, READONLY, refresh_token_expires_in=604799)


async def test_an_answer_without_refresh_token_or_expiry_is_still_a_grant(
    google_oauth: GoogleOAuthCodeExchanger,
) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).respond(200, json={"access_token": "ya29.a", "scope": READONLY})
        grant = await google_oauth.exchange_code(**EXCHANGE)

    assert grant.refresh_token is None
    assert grant.expires_in == 3599


@pytest.mark.parametrize(
    ("status", "body", "error", "hint"),
    [
        (400, {"error": "invalid_grant", "error_description": "Bad Request"}, "invalid_grant",
         "expired, was already used"),
        (401, {"error": "invalid_client", "error_description": "Unauthorized"}, "invalid_client",
         "Check the OAuth client id and secret"),
        (400, {"error": "redirect_uri_mismatch", "error_description": "Bad Request"},
         "redirect_uri_mismatch", "Register this redirect URI"),
        (400, {"nothing": "useful"}, "HTTP 400", "no description given"),
    ],
)  # fmt: skip
async def test_googles_refusals_become_typed_errors_with_its_reason(
    google_oauth: GoogleOAuthCodeExchanger,
    status: int,
    body: dict[str, str],
    error: str,
    hint: str,
) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).respond(status, json=body)
        with pytest.raises(CodeExchangeRejected) as refused:
            await google_oauth.exchange_code(**EXCHANGE)

    assert refused.value.google_error == error
    assert hint in refused.value.detail
    assert refused.value.status_code == 400


async def test_values_we_sent_never_reach_an_error(
    google_oauth: GoogleOAuthCodeExchanger,
) -> None:
    echo = f"code {EXCHANGE['code']} secret {CLIENT_SECRET} verifier {EXCHANGE['code_verifier']}"
    with respx.mock:
        respx.post(TOKEN_URL).respond(
            400, json={"error": "invalid_grant", "error_description": echo}
        )
        with pytest.raises(CodeExchangeRejected) as refused:
            await google_oauth.exchange_code(**EXCHANGE)

    for secret in (EXCHANGE["code"], CLIENT_SECRET, EXCHANGE["code_verifier"]):
        assert secret not in str(refused.value)
        assert secret not in refused.value.detail


async def test_5xx_is_retried_then_google_unavailable(
    google_oauth: GoogleOAuthCodeExchanger, clock: FakeClock
) -> None:
    with respx.mock:
        route = respx.post(TOKEN_URL).respond(503)
        with pytest.raises(GoogleUnavailable) as failed:
            await google_oauth.exchange_code(**EXCHANGE)

    assert route.call_count == 3
    assert clock.slept == [0.5, 1.0]
    assert failed.value.status_code == 502


async def test_timeouts_are_retried(google_oauth: GoogleOAuthCodeExchanger) -> None:
    with respx.mock:
        route = respx.post(TOKEN_URL)
        route.side_effect = [
            httpx.ConnectTimeout("slow"),
            httpx.Response(200, json={"access_token": "ya29.a", "refresh_token": "1//rt"}),
        ]
        grant = await google_oauth.exchange_code(**EXCHANGE)

    assert route.call_count == 2
    assert grant.refresh_token == "1//rt"


async def test_429_is_retried_then_rate_limited(google_oauth: GoogleOAuthCodeExchanger) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).respond(429, headers={"Retry-After": "2"})
        with pytest.raises(GoogleRateLimited):
            await google_oauth.exchange_code(**EXCHANGE)


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(200, json={"refresh_token": "1//rt"}), UpstreamRejected),
        (httpx.Response(200, text="<html>"), GoogleUnavailable),
        (httpx.Response(302), GoogleUnavailable),
    ],
)
async def test_odd_answers_are_upstream_errors(
    google_oauth: GoogleOAuthCodeExchanger, response: httpx.Response, error: type[Exception]
) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=response)
        with pytest.raises(error):
            await google_oauth.exchange_code(**EXCHANGE)
