"""Launching due bots through the Create Bot API, each exactly once.

A bot is claimed in the store (scheduled -> launching, atomically) before the call, so two
launchers never both take it; the Create Bot call carries the bot id as its Idempotency-Key, so
even a takeover after a launcher died cannot create a second bot on the receiving side.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from app.adapters.ports import BotApi, BotStore, Clock
from app.domain import STALE_LAUNCH_AFTER, BotStatus, ScheduledBot
from app.errors import BotApiUnavailable, BotLaunchRejected
from app.observability import LAUNCH_DELAY, LAUNCHES

log = logging.getLogger(__name__)


def launch_body(bot: ScheduledBot) -> dict[str, Any]:
    """CONTRACT.md section 3: the config, the meeting link, and name/attributes when set."""
    body: dict[str, Any] = {**bot.bot_config, "meeting_link": bot.meeting_link}
    if bot.bot_name is not None:
        body["bot_name"] = bot.bot_name
    if bot.custom_attributes is not None:
        body["custom_attributes"] = bot.custom_attributes
    return body


class Launcher:
    def __init__(self, *, bots: BotStore, bot_api: BotApi, clock: Clock) -> None:
        self._bots = bots
        self._bot_api = bot_api
        self._clock = clock
        self._in_flight: set[asyncio.Task[ScheduledBot]] = set()
        self._launching: set[str] = set()

    async def launch_due(self, *, limit: int = 500) -> int:
        """Start launching every bot due now; returns how many launches were started."""
        now = self._clock.now()
        due = await self._bots.due_bots(now, limit, stale_launching_before=now - STALE_LAUNCH_AFTER)
        started = 0
        for bot in due:
            if bot.bot_id in self._launching:
                continue  # ours, still retrying
            claimed = await self._bots.claim_bot(
                bot.bot_id, now, stale_launching_before=now - STALE_LAUNCH_AFTER
            )
            if claimed is None:
                continue  # another launcher has it
            task = asyncio.create_task(self.launch(claimed))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
            started += 1
        return started

    async def launch(self, bot: ScheduledBot) -> ScheduledBot:
        """Launch a bot this launcher has claimed, and record the outcome."""
        self._launching.add(bot.bot_id)
        try:
            return await self._launch(bot)
        finally:
            self._launching.discard(bot.bot_id)

    async def _launch(self, bot: ScheduledBot) -> ScheduledBot:
        now = self._clock.now()

        async def renew_claim() -> None:
            # Each attempt renews the claim, so another process only takes over a launch
            # whose launcher has gone quiet for STALE_LAUNCH_AFTER (it died).
            await self._bots.touch_launching_bot(bot.bot_id, self._clock.now())

        if bot.occurrence_end <= now:
            bot.status = BotStatus.MISSED
            bot.last_error = "The meeting had ended before the bot could be launched."
        else:
            try:
                bot.external_bot_id = await self._bot_api.create_bot(
                    idempotency_key=bot.bot_id,
                    body=launch_body(bot),
                    give_up_at=bot.occurrence_end,
                    before_attempt=renew_claim,
                )
                bot.status = BotStatus.LAUNCHED
                bot.last_error = None
                LAUNCH_DELAY.observe(max(0.0, (self._clock.now() - bot.join_at).total_seconds()))
            except BotLaunchRejected as error:
                bot.status = BotStatus.FAILED
                bot.last_error = str(error)
            except BotApiUnavailable as error:
                bot.status = BotStatus.FAILED
                bot.last_error = f"The Create Bot API kept failing until the meeting ended: {error}"
        bot.updated_at = self._clock.now()
        if not await self._bots.update_bot(bot, expected_status=BotStatus.LAUNCHING):
            log.warning(
                "bot %s changed while launching; outcome %s not stored", bot.bot_id, bot.status
            )
        LAUNCHES.labels(bot.status.value).inc()
        log.info("bot %s %s", bot.bot_id, bot.status.value)
        return bot

    async def wait_for_launches(self) -> None:
        """Let launches in flight finish (shutdown, tests)."""
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
