"""The launch queue consumer: every replica turns deliveries on LAUNCH_QUEUE_URL into launches.

A delivery (from an EventBridge schedule, or sent directly for a bot due within the minute) only
says "look at this bot"; the store decides. Deliveries are at-least-once, so the bot is claimed in
the store (scheduled -> launching, a conditional write) before the Create Bot call: a second
delivery finds it claimed or launched and launches nothing. A message is deleted once its bot
needs nothing more from it; until then it stays in the queue, so a replica that dies mid-launch is
covered by the message coming back (and the launcher's stale-claim takeover).

Scheduler fires up to a minute early by design, so a message for a bot due within `HOLD_WINDOW`
is held in-process until join_at (through the Clock); one further ahead is hidden again with
ChangeMessageVisibility until shortly before its join_at. While a message is held, the bot's
meeting is checked (`check`, `check_ahead` before join_at); a bot the check moved or cancelled is
looked at again.

`drain(grace)` bounds a shutdown: messages still in hand after it are let go (made visible again
at once, for another replica), and a launch stopped that way hands its bot back.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import orjson
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped, unused-ignore]

from app.adapters.aws.eventbridge import LAUNCH_VISIBILITY_TIMEOUT_SECONDS
from app.adapters.ports import BotStore, Clock
from app.domain import PENDING_BOT_STATUSES, STALE_LAUNCH_AFTER, BotStatus, ScheduledBot

log = logging.getLogger(__name__)

HOLD_WINDOW: Final = timedelta(seconds=60)
"""A message for a bot due within this is held in-process until join_at."""
RETURN_BEFORE_JOIN: Final = timedelta(seconds=30)
"""A message hidden for a later join_at comes back this long before it (then it is held)."""
MAX_VISIBILITY_SECONDS: Final = 43_200 - 300  # SQS allows 12 h from the receive; keep a margin
LAUNCH_MARGIN: Final = timedelta(seconds=60)
"""Visibility a held message must still have left after its hold, for the claim and the call."""
RECEIVE_WAIT_SECONDS: Final = 20  # SQS long polling's maximum
RECEIVE_BATCH: Final = 10  # SQS's maximum per ReceiveMessage
ERROR_BACKOFF_SECONDS: Final = 5.0
MAX_ROUNDS: Final = 3

LaunchClaimed = Callable[[ScheduledBot], Awaitable[ScheduledBot]]
"""Launch a bot this replica has claimed and store the outcome (the launcher service's `launch`)."""
CheckBeforeLaunch = Callable[[ScheduledBot], Awaitable[ScheduledBot | None]]
"""Check a scheduled bot's meeting (the launcher's `check_before_launch`): the bot as it now
stands, or None when the check cancelled it."""


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    account_id: str
    bot_id: str


def parse_launch_request(body: str) -> LaunchRequest | None:
    """The payload of `eventbridge.launch_payload`, or None when the body is not one."""
    try:
        fields = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(fields, dict):
        return None
    account_id, bot_id = fields.get("account_id"), fields.get("bot_id")
    if not (isinstance(account_id, str) and account_id and isinstance(bot_id, str) and bot_id):
        return None
    return LaunchRequest(account_id, bot_id)


class LaunchQueueConsumer:
    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        bots: BotStore,
        launch: LaunchClaimed,
        clock: Clock,
        *,
        visibility_timeout: int = LAUNCH_VISIBILITY_TIMEOUT_SECONDS,
        wait_seconds: int = RECEIVE_WAIT_SECONDS,
        max_in_flight: int = 100,
        check: CheckBeforeLaunch | None = None,
        check_ahead: timedelta = timedelta(0),
    ) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._bots = bots
        self._launch = launch
        self._clock = clock
        self._visibility_timeout = visibility_timeout
        self._wait_seconds = wait_seconds
        self._max_in_flight = max_in_flight
        self._check = check
        self._check_ahead = check_ahead
        self._in_flight: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"LaunchQueueConsumer(queue_url={self._queue_url!r})"

    async def run(self) -> None:
        """Receive and handle messages until cancelled; handles in flight are left to `drain`."""
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("receiving from the launch queue failed; retrying")
                await self._clock.sleep(ERROR_BACKOFF_SECONDS)

    async def poll_once(self, *, wait_seconds: int | None = None) -> int:
        """One ReceiveMessage (long polling); each message is handled in its own task.

        Returns how many messages were received. Waits for a free slot first, so at most
        `max_in_flight` messages are held or launching at once.
        """
        while len(self._in_flight) >= self._max_in_flight:
            await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
        answer = await self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(RECEIVE_BATCH, self._max_in_flight - len(self._in_flight)),
            WaitTimeSeconds=self._wait_seconds if wait_seconds is None else wait_seconds,
            VisibilityTimeout=self._visibility_timeout,
        )
        received_at = self._clock.now()
        messages: list[Mapping[str, Any]] = answer.get("Messages", [])
        for message in messages:
            task = asyncio.create_task(self._handle_logged(message, received_at))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(messages)

    async def drain(self, grace: float | None = None, *, let_go_seconds: float = 2.0) -> None:
        """Wait for the messages in hand to be handled (tests), or with `grace` (shutdown) for
        that many seconds of the Clock at most, less `let_go_seconds`: then the messages still
        in hand are let go, which may take `let_go_seconds` more (real time)."""
        if grace is None:
            while self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)
            return
        running = set(self._in_flight)
        timer = asyncio.ensure_future(self._clock.sleep(max(grace - let_go_seconds, 0.0)))
        try:
            while running and not timer.done():
                done, _ = await asyncio.wait({*running, timer}, return_when=asyncio.FIRST_COMPLETED)
                running -= done
        finally:
            timer.cancel()
        if not running:
            return
        log.warning("launch queue: letting go of %d messages at shutdown", len(running))
        for task in running:
            task.cancel()
        await asyncio.wait(running, timeout=min(let_go_seconds, grace))

    async def _handle_logged(self, message: Mapping[str, Any], received_at: datetime) -> None:
        try:
            await self.handle(message, received_at=received_at)
        except asyncio.CancelledError:
            # Shutdown: another replica (or the next start) takes the message at once.
            await self._hide(message, 0)
            raise
        except Exception:
            # The message stays in the queue and comes back after its visibility timeout.
            log.exception("handling launch message %s failed", message.get("MessageId"))

    async def handle(
        self, message: Mapping[str, Any], *, received_at: datetime | None = None
    ) -> None:
        """Launch the message's bot if it is (about to be) due and not launched yet.

        Deletes the message when its bot needs nothing more from it (launched here, launched or
        cancelled elsewhere, gone, or an unreadable payload); hides it again when its bot is not
        due yet or another live launcher holds it. Raises on store failures (the message then
        comes back after its visibility timeout).
        """
        request = parse_launch_request(str(message.get("Body", "")))
        if request is None:
            log.warning("launch queue: dropping unreadable message %s", message.get("MessageId"))
            await self._delete(message)
            return
        received_at = received_at or self._clock.now()
        bot = await self._bots.get_bot(request.account_id, request.bot_id)
        for _ in range(MAX_ROUNDS):
            if bot is None or bot.status not in PENDING_BOT_STATUSES:
                await self._delete(message)  # cancelled, finished or gone: nothing to do
                return
            if bot.status is BotStatus.SCHEDULED:
                if not await self._hold(bot, message, received_at):
                    return  # hidden until shortly before its join_at
                checked = await self._checked_at_join(bot)
                if checked is None:  # moved or cancelled by the check: look again
                    bot = await self._bots.get_bot(request.account_id, request.bot_id)
                    continue
            now = self._clock.now()
            claimed = await self._bots.claim_bot(
                bot.bot_id, now, stale_launching_before=now - STALE_LAUNCH_AFTER
            )
            if claimed is not None:
                launched = await self._launch(claimed)
                log.info("launch queue: bot %s %s", launched.bot_id, launched.status.value)
                await self._delete(message)
                return
            bot = await self._bots.get_bot(request.account_id, request.bot_id)
            if bot is not None and bot.status is BotStatus.LAUNCHING:
                # Another launcher holds a fresh claim. Keep the message until that claim could
                # be stale, so a launcher that dies mid-launch is taken over.
                await self._hide(message, STALE_LAUNCH_AFTER.total_seconds() + 30)
                return
            # Lost a race with a move or cancel: look again with the fresh state.

    async def _hold(
        self, bot: ScheduledBot, message: Mapping[str, Any], received_at: datetime
    ) -> bool:
        """Keep the message if join_at is near (True, kept visible long enough to be held
        until then); else hide it until shortly before join_at (False)."""
        now = self._clock.now()
        wait = (bot.join_at - now).total_seconds()
        if wait <= 0:
            return True
        if wait > HOLD_WINDOW.total_seconds():
            await self._hide(message, wait - RETURN_BEFORE_JOIN.total_seconds())
            return False
        visible_at = received_at + timedelta(seconds=self._visibility_timeout)
        if now + timedelta(seconds=wait) + LAUNCH_MARGIN > visible_at:
            await self._hide(message, wait + self._visibility_timeout)
        return True

    async def _checked_at_join(self, bot: ScheduledBot) -> ScheduledBot | None:
        """Hold until join_at, checking the meeting `check_ahead` before; None when the check
        moved or cancelled the bot."""
        if self._check is not None:
            await self._sleep_until(bot.join_at - self._check_ahead)
            checked = await self._check(bot)
            if checked is None or checked.join_at != bot.join_at:
                return None
            bot = checked
        await self._sleep_until(bot.join_at)
        return bot

    async def _sleep_until(self, when: datetime) -> None:
        wait = (when - self._clock.now()).total_seconds()
        if wait > 0:
            await self._clock.sleep(wait)

    async def _hide(self, message: Mapping[str, Any], seconds: float) -> None:
        timeout = min(max(math.ceil(seconds), 0), MAX_VISIBILITY_SECONDS)
        try:
            await self._sqs.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=timeout,
            )
        except (ClientError, BotoCoreError) as error:
            log.warning(
                "launch queue: could not hide message %s: %s", message.get("MessageId"), error
            )

    async def _delete(self, message: Mapping[str, Any]) -> None:
        try:
            await self._sqs.delete_message(
                QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        except (ClientError, BotoCoreError) as error:
            # It comes back after its visibility timeout, finds nothing to do, and goes then.
            log.warning(
                "launch queue: could not delete message %s: %s", message.get("MessageId"), error
            )
