"""The Create Bot API, as the launcher sees it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol


class BotApi(Protocol):
    """The Create Bot API (CONTRACT.md section 3)."""

    async def create_bot(
        self,
        *,
        idempotency_key: str,
        body: Mapping[str, Any],
        give_up_at: datetime,
        before_attempt: Callable[[], Awaitable[None]] | None = None,
    ) -> str | None:
        """POST the body with `Idempotency-Key` fixed for every attempt; return the bot's id.

        `before_attempt` is awaited before each attempt (the launcher renews its claim there).

        The id is `bot_id` (or `id`) of the JSON answer, None if neither is present.
        Timeouts, connection errors, 429 and 5xx are retried with backoff until `give_up_at`,
        then `BotApiUnavailable` is raised; any other 4xx raises `BotLaunchRejected` at once.
        """
        ...
