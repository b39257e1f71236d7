"""BotScheduler on EventBridge Scheduler: one one-time schedule per pending bot, delivered to SQS.

Scheduler has no HTTP target, so a schedule sends a small JSON payload to the launch queue, which
every replica consumes (`launch_queue.py`). Scheduler's precision is one minute (a schedule for
10:00 fires between 10:00:00 and 10:00:59), so a schedule fires in the minute *before* join_at and
the consumer holds the message until join_at. A bot too close for that goes to the queue directly
with an SQS delay. The store stays the source of truth: a delivery only tells a consumer to look.

Facts from https://docs.aws.amazon.com/scheduler/latest/APIReference/ (names
`^[0-9a-zA-Z-_.]{1,64}$`, UpdateSchedule replaces every field, `at()` takes no offset). moto
answers a duplicate name with ConflictException and HTTP 400 where AWS sends 409, so errors are
matched on their code, never their status.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped, unused-ignore]

from app.adapters.ports import Clock
from app.domain import ScheduledBot, utc_text
from app.errors import StorageUnavailable

log = logging.getLogger(__name__)

MAXIMUM_EVENT_AGE_SECONDS: Final = 900  # a launch trigger older than 15 minutes is useless
MAXIMUM_RETRY_ATTEMPTS: Final = 3
MIN_SCHEDULE_LEAD: Final = timedelta(seconds=60)  # closer than this, a schedule may fire late
SQS_MAX_DELAY_SECONDS: Final = 900
DIRECT_EARLY_SECONDS: Final = 5  # a direct message arrives this early; the consumer holds it

LAUNCH_VISIBILITY_TIMEOUT_SECONDS: Final = 300
LAUNCH_RETENTION_SECONDS: Final = 86_400
DEAD_LETTER_RETENTION_SECONDS: Final = 1_209_600  # 14 days, SQS's maximum
MAX_RECEIVE_COUNT: Final = 10

_SCHEDULER_NAME = re.compile(r"^[0-9a-zA-Z\-_.]{1,64}$")
_QUEUE_NAME = re.compile(r"^[0-9a-zA-Z\-_]{1,80}$")
DEAD_LETTER_SUFFIX: Final = "-dlq"


class InvalidSchedulerName(ValueError):
    """A schedule, group or queue name breaks the service's naming rule."""


def check_scheduler_name(name: str, what: str = "schedule") -> str:
    if not _SCHEDULER_NAME.match(name):
        raise InvalidSchedulerName(
            f"EventBridge Scheduler {what} name {name!r} must be 1-64 characters of "
            "0-9, a-z, A-Z, '-', '_' and '.'."
        )
    return name


def schedule_name(bot_id: str) -> str:
    """The bot id itself when Scheduler accepts it (calbot's `bot_<hex>` ids do), else a hash."""
    if _SCHEDULER_NAME.match(bot_id):
        return bot_id
    return "bot-" + hashlib.blake2b(bot_id.encode(), digest_size=16).hexdigest()


def fire_time(join_at: datetime) -> datetime:
    """The start of the minute before join_at's minute: at least 60 s early, minute-aligned."""
    minute = join_at.astimezone(UTC).replace(second=0, microsecond=0)
    return minute - timedelta(minutes=1)


def at_expression(when: datetime) -> str:
    """`at(yyyy-mm-ddThh:mm:ss)`, UTC (sent with ScheduleExpressionTimezone="UTC")."""
    return f"at({when.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')})"


def launch_payload(bot: ScheduledBot) -> str:
    """What a delivery carries: enough to find the bot; the store has everything else."""
    return orjson.dumps(
        {
            "account_id": bot.account_id,
            "bot_id": bot.bot_id,
            "join_at": utc_text(bot.join_at),
        }
    ).decode()


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _unavailable(action: str, error: Exception) -> StorageUnavailable:
    reason = _error_code(error) if isinstance(error, ClientError) else type(error).__name__
    return StorageUnavailable(
        f"The bot scheduler could not {action} ({reason}); try again shortly."
    )


class EventBridgeBotScheduler:
    """`BotScheduler` over aiobotocore Scheduler and SQS clients."""

    def __init__(
        self,
        scheduler_client: Any,
        sqs_client: Any,
        clock: Clock,
        *,
        group: str,
        target_arn: str,
        role_arn: str,
        dead_letter_arn: str,
        queue_url: str,
    ) -> None:
        self._scheduler = scheduler_client
        self._sqs = sqs_client
        self._clock = clock
        self._group = check_scheduler_name(group, "group")
        self._target_arn = target_arn
        self._role_arn = role_arn
        self._dead_letter_arn = dead_letter_arn
        self._queue_url = queue_url

    def __repr__(self) -> str:
        return f"EventBridgeBotScheduler(group={self._group!r}, target_arn={self._target_arn!r})"

    async def bot_scheduled(self, bot: ScheduledBot) -> None:
        now = self._clock.now()
        fire_at = fire_time(bot.join_at)
        if fire_at - now < MIN_SCHEDULE_LEAD:
            await self._send_now(bot, now)
            await self._delete_schedule(bot)  # one from an earlier join_at would fire for nothing
            return
        schedule = self._schedule(bot, fire_at)
        try:
            await self._scheduler.create_schedule(**schedule)
        except ClientError as error:
            if _error_code(error) != "ConflictException":
                raise _unavailable("create a schedule", error) from error
            try:
                await self._scheduler.update_schedule(**schedule)
            except (ClientError, BotoCoreError) as update_error:
                raise _unavailable("update a schedule", update_error) from update_error
        except BotoCoreError as error:
            raise _unavailable("create a schedule", error) from error
        log.info("bot %s scheduled for %s", bot.bot_id, schedule["ScheduleExpression"])

    async def bot_cancelled(self, bot: ScheduledBot) -> None:
        await self._delete_schedule(bot)

    def _schedule(self, bot: ScheduledBot, fire_at: datetime) -> dict[str, Any]:
        """Every field of the schedule: UpdateSchedule replaces the whole of it."""
        return {
            "Name": schedule_name(bot.bot_id),
            "GroupName": self._group,
            "ScheduleExpression": at_expression(fire_at),
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "DELETE",
            "State": "ENABLED",
            "Target": {
                "Arn": self._target_arn,
                "RoleArn": self._role_arn,
                "Input": launch_payload(bot),
                "RetryPolicy": {
                    "MaximumEventAgeInSeconds": MAXIMUM_EVENT_AGE_SECONDS,
                    "MaximumRetryAttempts": MAXIMUM_RETRY_ATTEMPTS,
                },
                "DeadLetterConfig": {"Arn": self._dead_letter_arn},
            },
        }

    async def _send_now(self, bot: ScheduledBot, now: datetime) -> None:
        seconds_left = (bot.join_at - now).total_seconds()
        delay = min(max(math.floor(seconds_left) - DIRECT_EARLY_SECONDS, 0), SQS_MAX_DELAY_SECONDS)
        try:
            await self._sqs.send_message(
                QueueUrl=self._queue_url, MessageBody=launch_payload(bot), DelaySeconds=delay
            )
        except (ClientError, BotoCoreError) as error:
            raise _unavailable("queue a launch", error) from error
        log.info("bot %s queued directly with a %s s delay", bot.bot_id, delay)

    async def _delete_schedule(self, bot: ScheduledBot) -> None:
        try:
            await self._scheduler.delete_schedule(
                Name=schedule_name(bot.bot_id), GroupName=self._group
            )
        except ClientError as error:
            if _error_code(error) != "ResourceNotFoundException":  # fired already, or never made
                raise _unavailable("delete a schedule", error) from error
        except BotoCoreError as error:
            raise _unavailable("delete a schedule", error) from error


# -- bootstrap (`calbot aws bootstrap`) ----------------------------------------------------------


async def ensure_schedule_group(client: Any, name: str) -> bool:
    """Create the schedule group unless it exists; True if this call created it."""
    check_scheduler_name(name, "group")
    try:
        await client.get_schedule_group(Name=name)
        return False
    except ClientError as error:
        if _error_code(error) != "ResourceNotFoundException":
            raise
    try:
        await client.create_schedule_group(Name=name)
    except ClientError as error:
        if _error_code(error) == "ConflictException":  # created meanwhile by someone else
            return False
        raise
    return True


def check_queue_name(name: str) -> str:
    if not _QUEUE_NAME.match(name) or len(name) + len(DEAD_LETTER_SUFFIX) > 80:
        raise InvalidSchedulerName(
            f"SQS queue name {name!r} must be 1-{80 - len(DEAD_LETTER_SUFFIX)} characters of "
            "0-9, a-z, A-Z, '-' and '_' (its dead-letter queue adds '-dlq')."
        )
    return name


async def ensure_launch_queue(client: Any, name: str) -> tuple[str, str]:
    """The launch queue and its dead-letter queue `{name}-dlq`; returns the queue's (url, arn).

    Idempotent: existing queues get their attributes set to ours. Scheduler's own dead-letter
    config (failed deliveries) points at the same dead-letter queue.
    """
    check_queue_name(name)
    dead_letter_url = await _create_or_update_queue(
        client,
        name + DEAD_LETTER_SUFFIX,
        {"MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_SECONDS)},
    )
    dead_letter_arn = await _queue_arn(client, dead_letter_url)
    queue_url = await _create_or_update_queue(
        client,
        name,
        {
            "VisibilityTimeout": str(LAUNCH_VISIBILITY_TIMEOUT_SECONDS),
            "MessageRetentionPeriod": str(LAUNCH_RETENTION_SECONDS),
            "ReceiveMessageWaitTimeSeconds": "20",
            "RedrivePolicy": orjson.dumps(
                {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
            ).decode(),
        },
    )
    return queue_url, await _queue_arn(client, queue_url)


async def launch_queue_dead_letter_arn(client: Any, queue_url: str) -> str | None:
    """The launch queue's redrive dead-letter queue ARN, for Scheduler's DeadLetterConfig."""
    answer = await client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
    policy = answer.get("Attributes", {}).get("RedrivePolicy")
    if not policy:
        return None
    arn = orjson.loads(policy).get("deadLetterTargetArn")
    return str(arn) if arn else None


async def _create_or_update_queue(client: Any, name: str, attributes: dict[str, str]) -> str:
    try:
        answer = await client.create_queue(QueueName=name, Attributes=attributes)
        return str(answer["QueueUrl"])
    except ClientError as error:
        if _error_code(error) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
    url = str((await client.get_queue_url(QueueName=name))["QueueUrl"])
    await client.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


async def _queue_arn(client: Any, queue_url: str) -> str:
    answer = await client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(answer["Attributes"]["QueueArn"])
