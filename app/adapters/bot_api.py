"""The Create Bot API call (CONTRACT.md section 3) over raw httpx.

The body and `Idempotency-Key` are fixed before the first attempt, so a retry after a lost answer
cannot launch a second bot (the Stripe pattern the style guide points to).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Final

import httpx

from app.adapters.ports import Clock
from app.adapters.retry import (
    RETRYABLE_STATUSES,
    RetryableFailure,
    RetryPolicy,
    parse_retry_after,
    run_with_retries,
)
from app.errors import BotApiUnavailable, BotLaunchRejected

logger = logging.getLogger(__name__)

# Retried until the meeting ends, so no attempt cap; 30 s between tries at most.
BOT_API_RETRY: Final = RetryPolicy(base_delay=1.0, max_delay=30.0, max_attempts=None)
_REASON_MAX_CHARS: Final = 300
_REASON_FIELDS: Final = ("detail", "message", "error")


class HttpBotApi:
    """`BotApi` over one shared `httpx.AsyncClient`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        clock: Clock,
        *,
        url: str,
        api_key: str | None,
        retry: RetryPolicy = BOT_API_RETRY,
    ) -> None:
        self._http = http
        self._clock = clock
        self._url = url
        self._api_key = api_key
        self._retry = retry

    def __repr__(self) -> str:
        return f"HttpBotApi(url={self._url!r}, api_key={'***' if self._api_key else None})"

    async def create_bot(
        self,
        *,
        idempotency_key: str,
        body: Mapping[str, Any],
        give_up_at: datetime,
        before_attempt: Callable[[], Awaitable[None]] | None = None,
    ) -> str | None:
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        if self._api_key:
            headers["Authorization"] = f"Token {self._api_key}"
        content = json.dumps(body, separators=(",", ":")).encode()  # same bytes on every attempt

        async def attempt() -> httpx.Response:
            if before_attempt is not None:
                await before_attempt()
            return await self._attempt(content, headers)

        response = await run_with_retries(
            attempt, policy=self._retry, clock=self._clock, give_up_at=give_up_at
        )
        if not response.is_success:
            reason = self._reason(response)
            logger.warning("Create Bot API rejected a bot: %s", response.status_code)
            raise BotLaunchRejected(response.status_code, reason)
        return _bot_id(response)

    async def _attempt(self, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        try:
            response = await self._http.post(self._url, content=content, headers=headers)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            logger.warning("Create Bot API: %s; retrying", type(exc).__name__)
            raise RetryableFailure(
                BotApiUnavailable(
                    f"Create Bot API unreachable until the meeting ended ({type(exc).__name__})."
                )
            ) from exc
        except httpx.TransportError as exc:  # misconfiguration (bad URL, proxy): not transient
            raise BotApiUnavailable(
                f"Create Bot API cannot be called ({type(exc).__name__})."
            ) from exc
        status = response.status_code
        if status < 500 and status not in RETRYABLE_STATUSES:
            return response
        logger.warning("Create Bot API answered %s; retrying", status)
        raise RetryableFailure(
            BotApiUnavailable(f"Create Bot API kept answering {status} until the meeting ended."),
            retry_after=parse_retry_after(response.headers.get("Retry-After"), self._clock.now()),
        )

    def _reason(self, response: httpx.Response) -> str:
        """The API's own sentence (`detail`/`message`/`error`), else the start of the body."""
        reason: str | None = None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            for name in _REASON_FIELDS:
                value = body.get(name)
                if isinstance(value, str) and value:
                    reason = value
                    break
                if value:  # e.g. FastAPI's 422 list, or a nested error object
                    reason = json.dumps(value, separators=(",", ":"))
                    break
        if reason is None:
            reason = response.text.strip() or f"HTTP {response.status_code}"
        if self._api_key:
            reason = reason.replace(self._api_key, "***")
        return reason[:_REASON_MAX_CHARS]


def _bot_id(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    for name in ("bot_id", "id"):
        value = body.get(name)
        if value is not None and value != "" and not isinstance(value, (dict, list, bool)):
            return str(value)
    return None
