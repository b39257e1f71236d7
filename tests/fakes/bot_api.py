"""The Create Bot API port: one bot per Idempotency-Key, as the real API promises."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from app.errors import BotApiUnavailable, BotLaunchRejected


class FakeBotApi:
    def __init__(self) -> None:
        self.bots: dict[str, dict[str, Any]] = {}  # body of each bot created, by its key
        self.external_ids: dict[str, str] = {}  # id answered for each key
        self.attempts: list[str] = []  # keys, one per attempt, in order
        self.rejection: str | None = None  # set: every call is refused (BotLaunchRejected)
        self.unavailable = False  # set: every call fails as after exhausted retries
        self.hang = False  # set: calls never answer (an outage the caller keeps retrying)

    async def create_bot(
        self,
        *,
        idempotency_key: str,
        body: Mapping[str, Any],
        give_up_at: datetime,
        before_attempt: Callable[[], Awaitable[None]] | None = None,
    ) -> str | None:
        if before_attempt is not None:
            await before_attempt()
        self.attempts.append(idempotency_key)
        if self.hang:
            await asyncio.Event().wait()
        if self.unavailable:
            raise BotApiUnavailable("The fake Create Bot API is down.")
        if self.rejection is not None:
            raise BotLaunchRejected(422, self.rejection)
        if idempotency_key not in self.bots:
            self.bots[idempotency_key] = dict(body)
            self.external_ids[idempotency_key] = f"ext-{len(self.bots)}"
        return self.external_ids[idempotency_key]
