"""The BotScheduler port: keeps what a real scheduler would hold."""

from __future__ import annotations

from datetime import datetime

from app.domain import ScheduledBot


class RecordingBotScheduler:
    def __init__(self) -> None:
        self.join_at: dict[str, datetime] = {}  # the launch time held for each live bot
        self.cancelled: list[str] = []  # bot ids dropped, in order

    async def bot_scheduled(self, bot: ScheduledBot) -> None:
        self.join_at[bot.bot_id] = bot.join_at

    async def bot_cancelled(self, bot: ScheduledBot) -> None:
        self.join_at.pop(bot.bot_id, None)
        self.cancelled.append(bot.bot_id)
