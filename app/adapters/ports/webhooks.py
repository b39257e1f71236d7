"""Sending webhook deliveries: the HTTP POST and the name lookup done before it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

SendResult = Literal["delivered", "http_error", "timeout", "connection_error", "address_refused"]
"""How an attempt went; `address_refused` is the dispatcher's own (the sender never says it)."""


@dataclass(frozen=True, slots=True)
class SendOutcome:
    result: SendResult
    status_code: int | None = None
    error: str | None = None  # a short sentence, never the response body


class WebhookSender(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendOutcome:
        """POST once, following no redirect; `delivered` for a 2xx answered within the
        sender's timeout (`WEBHOOK_TIMEOUT_SECONDS`) in all: connecting, sending and the
        answer's head. Never raises for what the endpoint or the network did."""
        ...


class HostResolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[str]:
        """The IP addresses `host` resolves to now; raises `OSError` when it does not."""
        ...
