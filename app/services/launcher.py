"""Launching due bots through the Create Bot API, each exactly once.

A bot is claimed in the store (scheduled -> launching, atomically) before the call, so two
launchers never both take it; the Create Bot call carries the bot id as its Idempotency-Key, so
even a takeover after a launcher died cannot create a second bot on the receiving side.

Before the claim, the bot's meeting is checked with Google (`launch_check.py`): in the background
as soon as the bot comes within `LAUNCH_CHECK_AHEAD` of its join_at, or, for a bot found due and
not checked yet (scheduled at the last moment, overdue at start-up), right before the claim.

A failing store does not lose a launch: renewing the claim and recording the outcome are retried
with a short bounded backoff, each failure logged; an outcome that still cannot be stored leaves
the claim to go stale, and another launcher takes the bot over with the same Idempotency-Key.
Shutdown takes at most `LAUNCH_SHUTDOWN_SECONDS`: launches still waiting on the Create Bot API
then are stopped and their bots handed back (scheduled again), so that the next start, or
another process, launches them at once, with the same key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from app.adapters.ports import AutoScheduleStore, BotApi, BotStore, Clock
from app.bot_changes import FINAL_LAUNCH_STATUSES, PAUSED, BotChange, cancelled, finished
from app.domain import (
    STALE_LAUNCH_AFTER,
    BotStatus,
    ScheduledBot,
    is_paused,
    paused_cancellation,
)
from app.errors import BotApiUnavailable, BotLaunchRejected
from app.observability import LAUNCH_DELAY, LAUNCHES
from app.services.launch_check import LAUNCH_CHECK_AHEAD, CheckOutcome, LaunchCheck

log = logging.getLogger(__name__)

LAUNCH_SHUTDOWN_SECONDS: Final = 10.0
"""The longest a shutdown waits on launches (a Create Bot outage) before it stops them."""
HAND_BACK_SECONDS: Final = 2.0
"""The part of `LAUNCH_SHUTDOWN_SECONDS` kept for stopped launches to hand their bots back."""
RENEW_RETRY_DELAYS: Final = (0.25, 0.5, 1.0)
"""Waits between tries to renew a claim; then the Create Bot call goes ahead regardless."""
RECORD_RETRY_DELAYS: Final = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Waits between tries to store an outcome: about a minute, well inside STALE_LAUNCH_AFTER."""

T = TypeVar("T")


def launch_body(bot: ScheduledBot) -> dict[str, Any]:
    """CONTRACT.md section 3: the config, the meeting link, and name/attributes when set."""
    body: dict[str, Any] = {**bot.bot_config, "meeting_link": bot.meeting_link}
    if bot.bot_name is not None:
        body["bot_name"] = bot.bot_name
    if bot.custom_attributes is not None:
        body["custom_attributes"] = bot.custom_attributes
    return body


@dataclass(frozen=True, slots=True)
class _Checked:
    """What a bot looked like when its check ended: a moved or relinked bot is checked again."""

    join_at: datetime
    occurrence_start: datetime
    occurrence_end: datetime
    meeting_link: str

    @classmethod
    def of(cls, bot: ScheduledBot) -> _Checked:
        return cls(bot.join_at, bot.occurrence_start, bot.occurrence_end, bot.meeting_link)


class Launcher:
    def __init__(
        self,
        *,
        bots: BotStore,
        auto_schedule: AutoScheduleStore,
        bot_api: BotApi,
        clock: Clock,
        check: LaunchCheck | None = None,
        check_ahead: timedelta = LAUNCH_CHECK_AHEAD,
    ) -> None:
        self._bots = bots
        self._auto_schedule = auto_schedule
        self._bot_api = bot_api
        self._clock = clock
        self._check = check
        self._check_ahead = check_ahead
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._launching: set[str] = set()
        self._checks: dict[str, asyncio.Task[ScheduledBot | None]] = {}
        self._checked: dict[str, _Checked] = {}

    def check_with(self, check: LaunchCheck) -> None:
        """Check each bot's meeting with Google before launching it (wired once it exists)."""
        self._check = check

    async def launch_due(self, *, limit: int = 500) -> int:
        """Start launching every bot due now; returns how many launches were started.

        Bots due within the check window get their meeting checked meanwhile; a bot due and
        not checked yet is checked first (which takes at most `LAUNCH_CHECK_DEADLINE`).
        """
        now = self._clock.now()
        ahead = self._check_ahead if self._check is not None else timedelta(0)
        candidates = await self._bots.due_bots(
            now + ahead, limit, stale_launching_before=now - STALE_LAUNCH_AFTER
        )
        self._forget_checks_before(now - STALE_LAUNCH_AFTER)
        unchecked: list[ScheduledBot] = []
        started = 0
        for bot in candidates:
            if bot.bot_id in self._launching:
                continue  # ours, still retrying
            if bot.status is BotStatus.SCHEDULED and not self._is_checked(bot):
                if bot.join_at > now:
                    self._start_check(bot)
                else:
                    unchecked.append(bot)
                continue
            if bot.join_at <= now:
                started += await self._claim(bot.bot_id, now)
        if unchecked:
            checked = await asyncio.gather(*(self.check_before_launch(b) for b in unchecked))
            now = self._clock.now()
            for still in checked:
                if still is not None and still.join_at <= now:
                    started += await self._claim(still.bot_id, now)
        return started

    async def check_before_launch(self, bot: ScheduledBot) -> ScheduledBot | None:
        """Check a scheduled bot's meeting with Google, once for each time and link it has.

        Answers the bot as it now stands (moved or relinked by the check, or as it was), or None
        when the check cancelled it. Concurrent callers share one check.
        """
        if self._check is None or self._is_checked(bot):
            return bot
        return await asyncio.shield(self._start_check(bot))

    async def launch(self, bot: ScheduledBot) -> ScheduledBot:
        """Launch a bot this launcher has claimed, and record the outcome.

        Stopped (cancelled) before the Create Bot API answered, it hands the bot back.
        """
        self._launching.add(bot.bot_id)
        try:
            try:
                await self._call_api(bot)
            except asyncio.CancelledError:
                await self._hand_back(bot)
                raise
            await self._record(bot)
            LAUNCHES.labels(bot.status.value).inc()
            log.info("bot %s %s", bot.bot_id, bot.status.value)
            return bot
        finally:
            self._launching.discard(bot.bot_id)
            self._checked.pop(bot.bot_id, None)

    async def wait_for_launches(self) -> None:
        """Let launches and checks in flight finish (tests)."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def shutdown(self, grace: float = LAUNCH_SHUTDOWN_SECONDS) -> None:
        """Return within `grace` seconds: launches still running after all but
        `HAND_BACK_SECONDS` of it are stopped, and hand their bots back in what is left."""
        running = set(self._in_flight)
        if not running:
            return
        left = await self._wait_at_most(running, max(grace - HAND_BACK_SECONDS, 0.0))
        if not left:
            return
        log.warning("shutdown: stopping %d launches and checks still in flight", len(left))
        for task in left:
            task.cancel()
        _, stuck = await asyncio.wait(left, timeout=min(HAND_BACK_SECONDS, grace))
        if stuck:
            log.error(
                "shutdown: %d launches could not hand their bots back in time; another "
                "launcher takes them over after %s",
                len(stuck),
                STALE_LAUNCH_AFTER,
            )

    # -- checks -----------------------------------------------------------------------------

    def _is_checked(self, bot: ScheduledBot) -> bool:
        return self._checked.get(bot.bot_id) == _Checked.of(bot)

    def _start_check(self, bot: ScheduledBot) -> asyncio.Task[ScheduledBot | None]:
        running = self._checks.get(bot.bot_id)
        if running is not None:
            return running
        task = self._track(self._run_check(bot))
        self._checks[bot.bot_id] = task

        def forget(done: asyncio.Task[Any]) -> None:
            if self._checks.get(bot.bot_id) is done:
                del self._checks[bot.bot_id]

        task.add_done_callback(forget)
        return task

    async def _run_check(self, bot: ScheduledBot) -> ScheduledBot | None:
        assert self._check is not None
        try:
            outcome = await self._check.check(bot)
        except Exception:  # a check must never stand in the way of a launch
            log.exception("bot %s: launch check failed; launching as scheduled", bot.bot_id)
            outcome = CheckOutcome.SKIPPED
        if outcome is CheckOutcome.CANCELLED:
            return None
        self._checked[bot.bot_id] = _Checked.of(bot)
        return bot

    def _forget_checks_before(self, cutoff: datetime) -> None:
        """Checks of bots long past their join_at (launched elsewhere, cancelled) are dropped."""
        for bot_id in [b for b, checked in self._checked.items() if checked.join_at < cutoff]:
            del self._checked[bot_id]

    # -- launches ---------------------------------------------------------------------------

    async def _claim(self, bot_id: str, now: datetime) -> int:
        claimed = await self._bots.claim_bot(
            bot_id, now, stale_launching_before=now - STALE_LAUNCH_AFTER
        )
        if claimed is None:
            return 0  # another launcher has it, or it moved or was cancelled meanwhile
        self._track(self.launch(claimed))
        return 1

    async def _call_api(self, bot: ScheduledBot) -> None:
        """The Create Bot call; its outcome goes into `bot` (status, external id, last error)."""
        now = self._clock.now()

        async def renew_claim() -> None:
            # Each attempt renews the claim, so another process only takes over a launch
            # whose launcher has gone quiet for STALE_LAUNCH_AFTER (it died).
            try:
                await self._retrying(
                    "renew its launch claim",
                    bot.bot_id,
                    lambda: self._bots.touch_launching_bot(bot.bot_id, self._clock.now()),
                    RENEW_RETRY_DELAYS,
                )
            except Exception as error:
                log.warning(
                    "bot %s: claim not renewed (%s); calling the Create Bot API all the same "
                    "(same Idempotency-Key: a takeover cannot create a second bot)",
                    bot.bot_id,
                    _described(error),
                )

        if bot.occurrence_end <= now:
            bot.status = BotStatus.MISSED
            bot.last_error = "The meeting had ended before the bot could be launched."
            return
        if await self._paused(bot, now):
            return
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

    async def _paused(self, bot: ScheduledBot, now: datetime) -> bool:
        """While the account is paused (`POST /pause`) nothing launches: a claimed bot of a
        paused account (due now, so before the pause ends) ends cancelled with the reason.

        Here, in the launch both scheduler backends run, so a bot scheduled during the pause
        (which the pause did not see) is caught too. A store that cannot tell raises: the claim
        then goes stale and another launcher tries again, rather than launch into a pause.
        """
        settings = await self._retrying(
            "read the account's pause",
            bot.bot_id,
            lambda: self._auto_schedule.get_auto_schedule(bot.account_id),
            RENEW_RETRY_DELAYS,
        )
        if not is_paused(settings, now) or settings.paused_until is None:
            return False
        bot.status = BotStatus.CANCELLED
        bot.last_error = paused_cancellation(settings.paused_until).sentence
        log.info("bot %s cancelled: the account is paused", bot.bot_id)
        return True

    async def _record(self, bot: ScheduledBot) -> None:
        """Store the outcome, retrying a failing store; a write that was applied although its
        answer was lost shows on the retry as a bot no longer launching, with our outcome."""
        bot.updated_at = self._clock.now()
        tries = 0

        async def write() -> bool:
            nonlocal tries
            tries += 1
            return await self._bots.update_bot(
                bot, expected_status=BotStatus.LAUNCHING, change=reported
            )

        if bot.status in FINAL_LAUNCH_STATUSES:
            reported: BotChange | None = finished(bot.status)
        elif bot.status is BotStatus.CANCELLED:
            reported = cancelled(PAUSED)  # the only way a launch ends cancelled: a pause
        else:
            reported = None
        try:
            stored = await self._retrying(
                "store its launch outcome", bot.bot_id, write, RECORD_RETRY_DELAYS
            )
        except Exception as error:
            log.error(
                "bot %s: %s, but the outcome could not be stored (%s); another launcher takes "
                "it over after %s, with the same Idempotency-Key",
                bot.bot_id,
                bot.status.value,
                _described(error),
                STALE_LAUNCH_AFTER,
            )
            return
        if stored:
            return
        if tries > 1:
            current = await self._bots.get_bot(bot.account_id, bot.bot_id)
            if current is not None and current.status is bot.status:
                return  # an earlier try was applied; only its answer was lost
        log.warning("bot %s changed while launching; outcome %s not stored", bot.bot_id, bot.status)

    async def _hand_back(self, bot: ScheduledBot) -> None:
        """Shutdown stopped this launch before the Create Bot API answered: make the bot
        scheduled again, so the next start or another process launches it without waiting
        for the claim to go stale."""
        bot.status = BotStatus.SCHEDULED
        bot.updated_at = self._clock.now()
        try:
            handed = await self._bots.update_bot(bot, expected_status=BotStatus.LAUNCHING)
        except Exception as error:
            log.warning(
                "bot %s: launch stopped by shutdown and not handed back (%s); another launcher "
                "takes it over after %s",
                bot.bot_id,
                _described(error),
                STALE_LAUNCH_AFTER,
            )
            return
        if handed:
            log.info(
                "bot %s: launch stopped by shutdown; handed back to be launched by the next "
                "start or another process (same Idempotency-Key)",
                bot.bot_id,
            )

    async def _retrying(
        self,
        what: str,
        bot_id: str,
        write: Callable[[], Awaitable[T]],
        delays: tuple[float, ...],
    ) -> T:
        """A store call, tried again after each failure with the given waits, each logged."""
        for delay in delays:
            try:
                return await write()
            except Exception as error:
                log.warning(
                    "bot %s: could not %s (%s); trying again in %g s",
                    bot_id,
                    what,
                    _described(error),
                    delay,
                )
                await self._clock.sleep(delay)
        return await write()

    # -- tasks ------------------------------------------------------------------------------

    def _track(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.create_task(work)
        self._in_flight.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("a launcher task failed", exc_info=error)

    async def _wait_at_most(
        self, tasks: set[asyncio.Task[Any]], seconds: float
    ) -> set[asyncio.Task[Any]]:
        """Wait for the tasks, for `seconds` on the Clock at most; answers those still running."""
        timer = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            running = set(tasks)
            while running and not timer.done():
                done, _ = await asyncio.wait({*running, timer}, return_when=asyncio.FIRST_COMPLETED)
                running -= done
        finally:
            timer.cancel()
        return {task for task in tasks if not task.done()}


def _described(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
