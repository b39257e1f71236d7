"""EventBridgeBotScheduler and the bootstrap helpers against moto in server mode.

moto stores schedules but never fires them; what is checked here is the schedule as moto read it
back, and the SQS messages sent for bots too close for a schedule.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from app.adapters.aws.eventbridge import (
    MAX_RECEIVE_COUNT,
    EventBridgeBotScheduler,
    InvalidSchedulerName,
    at_expression,
    check_queue_name,
    ensure_launch_queue,
    ensure_schedule_group,
    fire_time,
    launch_queue_dead_letter_arn,
    schedule_name,
)
from app.domain import BotSource, BotStatus, OccurrenceKey, Platform, ScheduledBot
from tests import aws
from tests.aws import LaunchQueue
from tests.fakes import FakeClock

GROUP = aws.SCHEDULE_GROUP
QUEUE = aws.LAUNCH_QUEUE
ROLE_ARN = aws.SCHEDULER_ROLE_ARN
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


# -- AWS on moto (tests/aws.py) --------------------------------------------------------------

moto_server = aws.moto_server
aws_env = aws.aws_env
moto_reset = aws.moto_reset
aws_endpoint = aws.aws_endpoint
aws_client = aws.aws_client
scheduler_client = aws.scheduler_client
sqs = aws.sqs
queue = aws.queue
scheduler = aws.scheduler


# -- fixtures and helpers --------------------------------------------------------------------


def new_bot(join_at: datetime, bot_id: str = "bot_0123456789abcdef01234567") -> ScheduledBot:
    return ScheduledBot(
        bot_id=bot_id,
        account_id="acc_0123456789abcdef",
        event_id="evt_abc",
        calendar_id="user@example.com",
        google_event_id="g1",
        occurrence_key=OccurrenceKey.single(),
        occurrence_start=join_at + timedelta(minutes=3),
        occurrence_end=join_at + timedelta(minutes=63),
        join_at=join_at,
        meeting_link="https://meet.google.com/abc-defg-hij",
        meeting_platform=Platform.GOOGLE_MEET,
        bot_config={"bot_name": "Notes"},
        source=BotSource.MANUAL,
        status=BotStatus.SCHEDULED,
        created_at=NOW,
        updated_at=NOW,
    )


async def get_schedule(client: Any, bot: ScheduledBot) -> dict[str, Any]:
    answer: dict[str, Any] = await client.get_schedule(
        Name=schedule_name(bot.bot_id), GroupName=GROUP
    )
    return answer


def at_time(expression: str) -> datetime:
    found = re.fullmatch(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)", expression)
    assert found, expression
    return datetime.fromisoformat(found.group(1)).replace(tzinfo=UTC)


async def queue_counts(sqs: Any, url: str) -> dict[str, int]:
    answer = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    attributes = answer["Attributes"]
    return {
        name: int(attributes[f"ApproximateNumberOfMessages{name}"])
        for name in ("", "Delayed", "NotVisible")
    }


# -- schedules -------------------------------------------------------------------------------


async def test_a_bot_gets_a_one_time_schedule_a_minute_early(
    scheduler: EventBridgeBotScheduler, scheduler_client: Any, queue: LaunchQueue, sqs: Any
) -> None:
    bot = new_bot(NOW + timedelta(hours=1, seconds=25))

    await scheduler.bot_scheduled(bot)

    schedule = await get_schedule(scheduler_client, bot)
    fires_at = at_time(schedule["ScheduleExpression"])
    assert schedule["Name"] == bot.bot_id
    assert schedule["GroupName"] == GROUP
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert fires_at == datetime(2026, 11, 25, 12, 59, tzinfo=UTC)
    assert fires_at.second == 0
    assert bot.join_at - fires_at >= timedelta(seconds=60)
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["State"] == "ENABLED"
    target = schedule["Target"]
    assert target["Arn"] == queue.arn
    assert target["RoleArn"] == ROLE_ARN
    assert orjson.loads(target["Input"]) == {
        "account_id": bot.account_id,
        "bot_id": bot.bot_id,
        "join_at": "2026-11-25T13:00:25Z",
    }
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 900, "MaximumRetryAttempts": 3}
    assert target["DeadLetterConfig"] == {"Arn": queue.dead_letter_arn}
    assert await queue_counts(sqs, queue.url) == {"": 0, "Delayed": 0, "NotVisible": 0}


async def test_moving_join_at_updates_the_schedule(
    scheduler: EventBridgeBotScheduler, scheduler_client: Any
) -> None:
    bot = new_bot(NOW + timedelta(hours=1))
    await scheduler.bot_scheduled(bot)

    bot.join_at = NOW + timedelta(hours=2, minutes=30)
    await scheduler.bot_scheduled(bot)

    schedule = await get_schedule(scheduler_client, bot)
    assert schedule["ScheduleExpression"] == "at(2026-11-25T14:29:00)"
    assert orjson.loads(schedule["Target"]["Input"])["join_at"] == "2026-11-25T14:30:00Z"
    assert schedule["ActionAfterCompletion"] == "DELETE"  # every field sent again
    assert schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 3
    listed = await scheduler_client.list_schedules(GroupName=GROUP)
    assert [entry["Name"] for entry in listed["Schedules"]] == [bot.bot_id]


async def test_cancelling_deletes_the_schedule_and_again_is_fine(
    scheduler: EventBridgeBotScheduler, scheduler_client: Any
) -> None:
    bot = new_bot(NOW + timedelta(hours=1))
    await scheduler.bot_scheduled(bot)

    await scheduler.bot_cancelled(bot)
    await scheduler.bot_cancelled(bot)

    with pytest.raises(ClientError) as raised:
        await get_schedule(scheduler_client, bot)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


async def test_a_bot_due_within_a_minute_goes_straight_to_the_queue_with_a_delay(
    scheduler: EventBridgeBotScheduler, scheduler_client: Any, sqs: Any, queue: LaunchQueue
) -> None:
    bot = new_bot(NOW + timedelta(seconds=50))

    await scheduler.bot_scheduled(bot)

    assert (await scheduler_client.list_schedules(GroupName=GROUP))["Schedules"] == []
    assert await queue_counts(sqs, queue.url) == {"": 0, "Delayed": 1, "NotVisible": 0}
    assert (await sqs.receive_message(QueueUrl=queue.url, WaitTimeSeconds=0)).get(
        "Messages", []
    ) == []  # delayed: it arrives shortly before join_at, and the consumer holds it


async def test_a_bot_already_due_is_queued_without_delay(
    scheduler: EventBridgeBotScheduler, sqs: Any, queue: LaunchQueue
) -> None:
    bot = new_bot(NOW - timedelta(seconds=5))

    await scheduler.bot_scheduled(bot)

    messages = (await sqs.receive_message(QueueUrl=queue.url, WaitTimeSeconds=0))["Messages"]
    assert [orjson.loads(message["Body"]) for message in messages] == [
        {"account_id": bot.account_id, "bot_id": bot.bot_id, "join_at": "2026-11-25T11:59:55Z"}
    ]


async def test_moving_a_bot_close_replaces_its_schedule_with_a_message(
    scheduler: EventBridgeBotScheduler, scheduler_client: Any, sqs: Any, queue: LaunchQueue
) -> None:
    bot = new_bot(NOW + timedelta(hours=1))
    await scheduler.bot_scheduled(bot)

    bot.join_at = NOW + timedelta(seconds=90)  # its minute-early schedule would be 30 s away
    await scheduler.bot_scheduled(bot)

    assert (await scheduler_client.list_schedules(GroupName=GROUP))["Schedules"] == []
    assert (await queue_counts(sqs, queue.url))["Delayed"] == 1


@pytest.mark.parametrize(
    ("join_at", "fires_at"),
    [
        (datetime(2026, 11, 25, 13, 0, 0, tzinfo=UTC), datetime(2026, 11, 25, 12, 59, tzinfo=UTC)),
        (
            datetime(2026, 11, 25, 13, 0, 59, 900000, tzinfo=UTC),
            datetime(2026, 11, 25, 12, 59, tzinfo=UTC),
        ),
        (datetime(2026, 11, 25, 0, 0, 30, tzinfo=UTC), datetime(2026, 11, 24, 23, 59, tzinfo=UTC)),
        (
            datetime(2026, 11, 25, 14, 0, 10, tzinfo=timezone(timedelta(hours=1))),
            datetime(2026, 11, 25, 12, 59, tzinfo=UTC),
        ),
    ],
)
def test_fire_time_is_the_minute_before_join_at_in_utc(
    join_at: datetime, fires_at: datetime
) -> None:
    assert fire_time(join_at) == fires_at
    assert (join_at - fire_time(join_at)).total_seconds() >= 60
    assert at_expression(fires_at) == fires_at.strftime("at(%Y-%m-%dT%H:%M:00)")


@pytest.mark.parametrize(
    "bot_id", ["bot_0123456789abcdef01234567", "b" * 64, "bot/with:slash#hash", "b" * 65, "é"]
)
def test_schedule_names_keep_scheduler_rule(bot_id: str) -> None:
    name = schedule_name(bot_id)

    assert re.fullmatch(r"[0-9a-zA-Z\-_.]{1,64}", name)
    assert schedule_name(bot_id) == name  # the same bot always finds its schedule


def test_hashed_schedule_names_differ_per_bot() -> None:
    assert schedule_name("a/b") != schedule_name("a:b")


@pytest.mark.parametrize("group", ["", "cal/bot", "g" * 65, "cal bot"])
def test_a_bad_group_name_fails_at_construction(group: str) -> None:
    with pytest.raises(InvalidSchedulerName):
        EventBridgeBotScheduler(
            object(),
            object(),
            FakeClock(),
            group=group,
            target_arn="arn",
            role_arn="arn",
            dead_letter_arn="arn",
            queue_url="url",
        )


# -- bootstrap -------------------------------------------------------------------------------


async def test_ensure_schedule_group_creates_once(scheduler_client: Any) -> None:
    assert await ensure_schedule_group(scheduler_client, "calbot-prod") is True
    assert await ensure_schedule_group(scheduler_client, "calbot-prod") is False

    group = await scheduler_client.get_schedule_group(Name="calbot-prod")
    assert group["State"] == "ACTIVE"


async def test_ensure_launch_queue_makes_a_queue_with_a_redrive_dead_letter_queue(
    sqs: Any,
) -> None:
    url, arn = await ensure_launch_queue(sqs, QUEUE)
    again = await ensure_launch_queue(sqs, QUEUE)

    assert again == (url, arn)
    assert arn.endswith(f":{QUEUE}")
    attributes = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))[
        "Attributes"
    ]
    redrive = orjson.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(f":{QUEUE}-dlq")
    assert int(redrive["maxReceiveCount"]) == MAX_RECEIVE_COUNT
    assert attributes["VisibilityTimeout"] == "300"
    assert attributes["ReceiveMessageWaitTimeSeconds"] == "20"
    assert await launch_queue_dead_letter_arn(sqs, url) == redrive["deadLetterTargetArn"]
    listed = (await sqs.list_queues())["QueueUrls"]
    assert sorted(url.rsplit("/", 1)[1] for url in listed) == [QUEUE, f"{QUEUE}-dlq"]


async def test_ensure_launch_queue_updates_an_existing_queue(sqs: Any) -> None:
    await sqs.create_queue(QueueName=QUEUE, Attributes={"VisibilityTimeout": "30"})

    url, _ = await ensure_launch_queue(sqs, QUEUE)

    attributes = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))[
        "Attributes"
    ]
    assert attributes["VisibilityTimeout"] == "300"
    assert "RedrivePolicy" in attributes


@pytest.mark.parametrize("name", ["", "calbot.launch", "q" * 77, "with space"])
def test_bad_queue_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidSchedulerName):
        check_queue_name(name)
