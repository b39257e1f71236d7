"""Webhook deliveries over httpx, and name lookups with the event loop's getaddrinfo."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from typing import Final

import httpx

from app.adapters.ports.webhooks import SendOutcome


class HttpWebhookSender:
    """`WebhookSender` over one shared `httpx.AsyncClient` (made with `follow_redirects=False`,
    the default). The answer's body is never read: only its status matters."""

    def __init__(self, http: httpx.AsyncClient, *, timeout_seconds: float) -> None:
        self._http = http
        self._timeout = timeout_seconds

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendOutcome:
        timeout = self._timeout
        try:
            async with asyncio.timeout(timeout):
                request = self._http.build_request(
                    "POST", url, content=body, headers=dict(headers), timeout=timeout
                )
                response = await self._http.send(request, stream=True, follow_redirects=False)
                await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            return SendOutcome("timeout", error=f"No answer within {timeout:g} seconds.")
        except httpx.HTTPError as error:
            return SendOutcome("connection_error", error=_connection_error(error))
        if response.is_success:
            return SendOutcome("delivered", response.status_code)
        return SendOutcome(
            "http_error",
            response.status_code,
            f"The endpoint answered {response.status_code}.",
        )


def _connection_error(error: httpx.HTTPError) -> str:
    kind = type(error).__name__
    return f"Could not reach the endpoint ({kind})."


RESOLVE_SECONDS: Final = 5.0


class LoopHostResolver:
    """`HostResolver` with the running loop's getaddrinfo (in its thread pool, off the loop),
    given at most RESOLVE_SECONDS (then `TimeoutError`, an `OSError`)."""

    async def resolve(self, host: str, port: int) -> list[str]:
        async with asyncio.timeout(RESOLVE_SECONDS):
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return sorted({str(info[4][0]) for info in infos})
