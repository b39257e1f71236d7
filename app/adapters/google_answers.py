"""What Google answers, read the same way by every Google adapter: the Calendar API
(`google.py`, its tokens in `google_tokens.py`) and the OAuth code exchange (`google_oauth.py`).

The call deadline and per-attempt timeouts, one attempt within them for the Calendar API and its
token refreshes (`send_once`), JSON decoding, Google's error shapes turned into calbot's errors,
and `scrub`, which keeps our secrets out of the sentences Google's words end up in. Sources are
the keys of shared/notes/google-calendar.md ([ERR], [NATIVE], [OAUTH] ...).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
import orjson

from app.adapters.ports import Clock
from app.adapters.retry import RETRYABLE_STATUSES, RetryableFailure, parse_retry_after
from app.errors import (
    CalbotError,
    CredentialsRevoked,
    GoogleRateLimited,
    GoogleUnavailable,
    InvalidGoogleCredentials,
    UpstreamRejected,
)

logger = logging.getLogger("app.adapters.google")

GOOGLE_CALL_DEADLINE: Final = timedelta(seconds=25)
"""Total time one Google call may take: a token refresh, or one API request together with the
refresh it may need, every retry, backoff and per-attempt timeout included. Common proxies and
clients give up on a request after about 30 s (Heroku's router at 30 s, API Gateway at 29 s); at
25 s the request waiting on Google still gets calbot's own 502/503, with a few seconds to spare."""
# Google's own client retries 403 only for these reasons; quotaExceeded is an abuse limit that
# must not be tight-retried [ERR][PYCLIENT].
RATE_LIMIT_REASONS: Final = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
QUOTA_REASONS: Final = frozenset({"quotaExceeded", "dailyLimitExceeded"})
DEFAULT_TOKEN_LIFETIME_SECONDS: Final = 3599  # what Google sends in practice [notes §1]
READONLY_SCOPE: Final = "https://www.googleapis.com/auth/calendar.readonly"
_REASON_MAX_CHARS: Final = 300
_MIN_SECRET_CHARS: Final = 8

# A full sync is mostly JSON parsing: orjson parses the raw bytes without decoding them first.
_json_loads: Final[Callable[[bytes], Any]] = orjson.loads


@dataclass(frozen=True, slots=True)
class ApiError:
    """Google's error body `{"error": {"errors": [{"reason"}], "code", "message"}}` [ERR]."""

    status: int
    reason: str | None
    message: str | None

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        body = loads_or_none(response.content)
        error = body.get("error") if isinstance(body, dict) else None
        reason = message = None
        if isinstance(error, dict):
            errors = error.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                reason = str_or_none(errors[0].get("reason"))
            reason = reason or str_or_none(error.get("status"))  # e.g. PERMISSION_DENIED
            message = str_or_none(error.get("message"))
        return cls(response.status_code, reason, message)


def api_failure(response: httpx.Response, secrets: Iterable[str], *, doing: str) -> CalbotError:
    """The error a non-retryable Calendar API answer becomes (branch on reason, not message)."""
    error = ApiError.from_response(response)
    message = scrub(error.message, secrets)
    status, reason = error.status, error.reason
    logger.warning("Google Calendar refused to %s: %s %s", doing, status, reason)
    if status == 403 and reason in QUOTA_REASONS:
        return GoogleRateLimited(
            f"Google Calendar usage limits are exceeded ({reason}); try again later."
        )
    if status == 403 and reason == "insufficientPermissions":
        return UpstreamRejected(
            f"Google refused to {doing}: the granted scopes do not include {READONLY_SCOPE}. "
            "Reconnect and allow calendar access on the consent screen."
        )
    if status == 403 and reason == "forbidden":
        return UpstreamRejected(
            f"Google refused to {doing}: this Google account has lost access to the calendar."
        )
    if status == 403 and reason == "accessNotConfigured":
        return UpstreamRejected(
            f"Google refused to {doing}: the Calendar API is not enabled in the OAuth client's "
            "Google Cloud project."
        )
    return UpstreamRejected(
        f"Google Calendar refused to {doing} ({status}{reason_suffix(reason)}): "
        f"{message or 'no reason given'}"
    )


def token_failure(response: httpx.Response, secrets: Iterable[str]) -> CalbotError:
    """Token endpoint errors `{"error", "error_description"}` [NATIVE]; the reason, never values."""
    if response.status_code >= 500 or response.status_code < 400:
        return GoogleUnavailable(
            f"Google's token endpoint answered {response.status_code}; try again shortly."
        )
    body = loads_or_none(response.content)
    error = str_or_none(body.get("error")) if isinstance(body, dict) else None
    description = str_or_none(body.get("error_description")) if isinstance(body, dict) else None
    error = scrub(error, secrets) or f"HTTP {response.status_code}"
    description = scrub(description, secrets) or "no description given"
    logger.warning("Google's token endpoint refused a refresh: %s %s", response.status_code, error)
    if error == "invalid_grant":  # revoked, unused 6 months, Testing app 7-day expiry... [OAUTH]
        return CredentialsRevoked(
            f"{CredentialsRevoked.detail} Google said: {error}: {description}",
            google_reason=f"{error}: {description}",
        )
    return InvalidGoogleCredentials(f"Google rejected the credentials: {error}: {description}")


def json_object(response: httpx.Response, service: str) -> dict[str, Any]:
    body = loads_or_none(response.content)
    if not isinstance(body, dict):
        raise GoogleUnavailable(f"{service} answered {response.status_code} without a JSON object.")
    return body


def loads_or_none(content: bytes) -> Any:
    if not content:
        return None
    try:
        return _json_loads(content)
    except ValueError:  # json and orjson decode errors, and bad UTF-8, are ValueErrors
        return None


def attempt_timeout(configured: httpx.Timeout, seconds_left: float) -> httpx.Timeout:
    """The client's timeouts, none longer than what is left of the call's deadline."""

    def trimmed(seconds: float | None) -> float:
        return seconds_left if seconds is None else min(seconds, seconds_left)

    return httpx.Timeout(
        connect=trimmed(configured.connect),
        read=trimmed(configured.read),
        write=trimmed(configured.write),
        pool=trimmed(configured.pool),
    )


def out_of_time(service: str, deadline: timedelta) -> str:
    return (
        f"{service} did not answer within {deadline.total_seconds():g} seconds; try again shortly."
    )


RequestObserver = Callable[[str], None]
"""Told the outcome of each request sent to Google (`GOOGLE_REQUEST_OUTCOMES`): the
composition root counts them for /metrics."""

GOOGLE_REQUEST_OUTCOMES: Final = (
    "ok",
    "gone",
    "unauthorized",
    "rate_limited",
    "client_error",
    "server_error",
    "timeout",
    "connection_error",
)


def request_outcome(response: httpx.Response) -> str:
    """What one answer of Google was, as a metric label."""
    status = response.status_code
    if status < 400:
        return "ok"
    if status == 410:
        return "gone"
    if status == 401:
        return "unauthorized"
    if status == 429 or (
        status == 403 and ApiError.from_response(response).reason in RATE_LIMIT_REASONS
    ):
        return "rate_limited"
    if status == 408:
        return "timeout"
    return "server_error" if status >= 500 else "client_error"


def _ignore(outcome: str) -> None:
    """No observer: outcomes are not counted."""


async def send_once(
    send: Callable[[httpx.Timeout], Awaitable[httpx.Response]],
    *,
    service: str,
    configured: httpx.Timeout,
    clock: Clock,
    give_up_at: datetime,
    deadline: timedelta,
    observe: RequestObserver = _ignore,
) -> httpx.Response:
    """Send once, within what is left of the deadline; turn what Google says is transient
    into `RetryableFailure`. `configured` is the client's own timeouts, `deadline` the call's;
    `observe` is told how the request went."""
    seconds_left = (give_up_at - clock.now()).total_seconds()
    if seconds_left <= 0:
        raise GoogleUnavailable(out_of_time(service, deadline))
    try:
        # httpx's timeouts bound each phase (connect, each read...), not the whole exchange.
        async with asyncio.timeout(seconds_left):
            response = await send(attempt_timeout(configured, seconds_left))
    except TimeoutError as exc:
        observe("timeout")
        logger.warning("%s: no answer within the call's deadline", service)
        raise RetryableFailure(GoogleUnavailable(out_of_time(service, deadline))) from exc
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        observe("timeout" if isinstance(exc, httpx.TimeoutException) else "connection_error")
        logger.warning("%s: %s; will retry if attempts remain", service, type(exc).__name__)
        raise RetryableFailure(
            GoogleUnavailable(f"{service} could not be reached ({type(exc).__name__}).")
        ) from exc
    except httpx.TransportError as exc:  # misconfiguration (bad URL, proxy): not transient
        observe("connection_error")
        raise GoogleUnavailable(f"{service} could not be reached ({type(exc).__name__}).") from exc
    observe(request_outcome(response))
    status = response.status_code
    reason: str | None = None
    if status == 403:
        reason = ApiError.from_response(response).reason
        if reason not in RATE_LIMIT_REASONS:
            return response
    elif status < 500 and status not in RETRYABLE_STATUSES:
        return response  # Google's client retries every 5xx, not only 500/502/503/504
    logger.warning(
        "%s answered %s %s; will retry if attempts remain", service, status, reason or "-"
    )
    give_up_with: CalbotError
    if status in (403, 429):
        give_up_with = GoogleRateLimited(
            f"{service} kept rate-limiting requests ({status}{reason_suffix(reason)}); "
            "try again in a minute."
        )
    else:
        give_up_with = GoogleUnavailable(
            f"{service} kept failing ({status}{reason_suffix(reason)}); try again shortly."
        )
    retry_after = parse_retry_after(response.headers.get("Retry-After"), clock.now())
    raise RetryableFailure(give_up_with, retry_after=retry_after)


def scrub(value: Any, secrets: Iterable[str]) -> str | None:
    """Google's own words, minus any secret we sent that it might echo, short enough for a
    sentence; None when Google said nothing."""
    if not isinstance(value, str) or not value.strip():
        return None
    text: str = value
    for secret in secrets:
        if len(secret) >= _MIN_SECRET_CHARS:  # shorter ones are no real secret; would mangle words
            text = text.replace(secret, "***")
    return text.strip()[:_REASON_MAX_CHARS]


def str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def reason_suffix(reason: str | None) -> str:
    return f" {reason}" if reason else ""


def int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
