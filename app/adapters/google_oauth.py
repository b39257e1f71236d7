"""Google's OAuth token endpoint for the consent flow: the authorization-code exchange, raw httpx.

`POST GOOGLE_OAUTH_TOKEN_URL`, form-encoded `code, client_id, client_secret, redirect_uri,
grant_type=authorization_code, code_verifier` [NATIVE][WEB]; errors come back as
`{"error", "error_description"}` (shared/notes/google-calendar.md section 1). Timeouts, network
errors, 408, 429 and 5xx are retried a few times (the user is waiting on a page), all within
`GOOGLE_CALL_DEADLINE` like every Google call. A retry after a
read timeout may find the code already spent, which Google answers `invalid_grant`: the page then
says to start again. Neither the code, the verifier nor the client secret reaches an exception or
a log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Final

import httpx

from app.adapters.google_answers import (
    DEFAULT_TOKEN_LIFETIME_SECONDS,
    GOOGLE_CALL_DEADLINE,
    attempt_timeout,
    int_or_none,
    loads_or_none,
    scrub,
)
from app.adapters.ports import Clock, TokenGrant
from app.adapters.retry import (
    RETRYABLE_STATUSES,
    RetryableFailure,
    RetryPolicy,
    parse_retry_after,
    run_with_retries,
)
from app.errors import (
    CalbotError,
    CodeExchangeRejected,
    GoogleRateLimited,
    GoogleUnavailable,
    UpstreamRejected,
)

logger = logging.getLogger(__name__)

EXCHANGE_RETRY: Final = RetryPolicy(base_delay=0.5, max_delay=4.0, max_attempts=3)
ONE_SHOT_TIMEOUT: Final = httpx.Timeout(20.0, connect=5.0)
_SERVICE: Final = "Google's token endpoint"
_OUT_OF_TIME: Final = (
    f"{_SERVICE} did not answer within {GOOGLE_CALL_DEADLINE.total_seconds():g} seconds; "
    "start again shortly."
)


class GoogleOAuthCodeExchanger:
    """`OAuthCodeExchanger` over a shared `httpx.AsyncClient`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        clock: Clock,
        *,
        token_url: str,
        retry: RetryPolicy = EXCHANGE_RETRY,
    ) -> None:
        self._http = http
        self._clock = clock
        self._token_url = token_url
        self._retry = retry

    async def exchange_code(
        self,
        *,
        client_id: str,
        client_secret: str,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> TokenGrant:
        form = {
            "code": code,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "grant_type": "authorization_code",
            "code_verifier": code_verifier,
        }

        give_up_at = self._clock.now() + GOOGLE_CALL_DEADLINE

        async def attempt() -> httpx.Response:
            return await self._attempt(form, give_up_at)

        response = await run_with_retries(
            attempt, policy=self._retry, clock=self._clock, give_up_at=give_up_at
        )
        if not response.is_success:
            raise _exchange_failure(response, (client_secret, code, code_verifier))
        return _grant_from(response)

    async def _attempt(self, form: dict[str, str], give_up_at: datetime) -> httpx.Response:
        seconds_left = (give_up_at - self._clock.now()).total_seconds()
        if seconds_left <= 0:
            raise GoogleUnavailable(_OUT_OF_TIME)
        try:
            async with asyncio.timeout(seconds_left):
                response = await self._http.post(
                    self._token_url,
                    data=form,
                    headers={"Accept": "application/json"},
                    timeout=attempt_timeout(self._http.timeout, seconds_left),
                )
        except TimeoutError as exc:
            raise RetryableFailure(GoogleUnavailable(_OUT_OF_TIME)) from exc
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            logger.warning("%s: %s; will retry if attempts remain", _SERVICE, type(exc).__name__)
            raise RetryableFailure(
                GoogleUnavailable(f"{_SERVICE} could not be reached ({type(exc).__name__}).")
            ) from exc
        except httpx.TransportError as exc:  # misconfiguration (bad URL, proxy): not transient
            raise GoogleUnavailable(
                f"{_SERVICE} could not be reached ({type(exc).__name__})."
            ) from exc
        status = response.status_code
        if status < 500 and status not in RETRYABLE_STATUSES:
            return response
        logger.warning("%s answered %s; will retry if attempts remain", _SERVICE, status)
        give_up_with: CalbotError
        if status == 429:
            give_up_with = GoogleRateLimited(
                f"{_SERVICE} kept rate-limiting requests (429); try again in a minute."
            )
        else:
            give_up_with = GoogleUnavailable(
                f"{_SERVICE} kept failing ({status}); start again shortly."
            )
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock.now())
        raise RetryableFailure(give_up_with, retry_after=retry_after)


@asynccontextmanager
async def open_google_oauth(
    clock: Clock, *, token_url: str, http_timeout: httpx.Timeout = ONE_SHOT_TIMEOUT
) -> AsyncIterator[GoogleOAuthCodeExchanger]:
    """An exchanger with its own client, for a one-shot command that has no app lifespan
    (`calbot google-auth`); the service shares the lifespan's Google client instead."""
    async with httpx.AsyncClient(timeout=http_timeout) as http:
        yield GoogleOAuthCodeExchanger(http, clock, token_url=token_url)


def _grant_from(response: httpx.Response) -> TokenGrant:
    body = loads_or_none(response.content)
    if not isinstance(body, dict):
        raise GoogleUnavailable(f"{_SERVICE} answered {response.status_code} without JSON.")
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise UpstreamRejected(f"{_SERVICE} answered without an access token.")
    refresh_token = body.get("refresh_token")
    scope = body.get("scope")
    return TokenGrant(
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        access_token=access_token,
        expires_in=int_or_none(body.get("expires_in")) or DEFAULT_TOKEN_LIFETIME_SECONDS,
        scope=scope if isinstance(scope, str) else "",
        refresh_token_expires_in=int_or_none(body.get("refresh_token_expires_in")),
    )


def _exchange_failure(response: httpx.Response, secrets: Iterable[str]) -> CalbotError:
    status = response.status_code
    if status >= 500 or status < 400:
        return GoogleUnavailable(f"{_SERVICE} answered {status}; start again shortly.")
    body = loads_or_none(response.content)
    fields = body if isinstance(body, dict) else {}
    error = scrub(fields.get("error"), secrets) or f"HTTP {status}"
    description = scrub(fields.get("error_description"), secrets) or "no description given"
    logger.warning("%s refused a code exchange: %s %s", _SERVICE, status, error)
    return CodeExchangeRejected(error, description)
