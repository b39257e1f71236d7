"""What is told when a bot's launch time is set or dropped."""

from __future__ import annotations

from typing import Protocol

from app.domain import ScheduledBot


class BotScheduler(Protocol):
    """Sees to it that every pending bot is launched at its join_at.

    The store stays the source of truth; a scheduler only has to be told when to look.
    """

    async def bot_scheduled(self, bot: ScheduledBot) -> None:
        """A bot was created or its join_at changed."""
        ...

    async def bot_cancelled(self, bot: ScheduledBot) -> None:
        """A pending bot will not be launched after all."""
        ...
