"""The launch queue end to end: EventBridge schedule -> SQS -> consumer -> one Create Bot call.

moto stores schedules but never fires them, so each test reads the schedule back and delivers its
payload to the queue itself. The store is SQLite's bot store on a temporary file (switch the
`store` fixture to run the same tests on another BotStore); the Create Bot API is respx; time is a
FakeClock, so holding a message until join_at is instant and recorded in `clock.slept`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx

from app.adapters.aws.eventbridge import (
    EventBridgeBotScheduler,
    launch_payload,
    schedule_name,
)
from app.adapters.aws.launch_queue import LaunchQueueConsumer, parse_launch_request
from app.adapters.bot_api import HttpBotApi
from app.adapters.memory import MemoryTables
from app.adapters.memory.auto_schedule import MemoryAutoScheduleStore
from app.adapters.ports import BotStore
from app.adapters.sqlite import SqliteBotStore
from app.adapters.sqlite.database import Database
from app.domain import (
    STALE_LAUNCH_AFTER,
    BotSource,
    BotStatus,
    OccurrenceKey,
    Platform,
    ScheduledBot,
)
from app.services.launcher import Launcher
from tests import aws
from tests.aws import LaunchQueue
from tests.fakes import FakeClock

GROUP = aws.SCHEDULE_GROUP
QUEUE = aws.LAUNCH_QUEUE
ROLE_ARN = aws.SCHEDULER_ROLE_ARN
BOT_API_URL = "https://bots.fake-meetstream.test/api/v1/bots/create_bot"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ACCOUNT = "acc_0123456789abcdef"


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


# -- the store: one line to switch -----------------------------------------------------------


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[BotStore]:
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    try:
        yield SqliteBotStore(database)
    finally:
        await database.close()


@pytest.fixture
def store(sqlite_store: BotStore) -> BotStore:
    # The same consumer on DynamoDB, end to end, is in tests/api/test_aws_mode.py.
    return sqlite_store


# -- the rest of the world -------------------------------------------------------------------


@dataclass
class CreateBotApi:
    route: respx.Route
    called_at: list[datetime]
    called: asyncio.Event


@pytest.fixture
def create_bot(clock: FakeClock) -> Iterator[CreateBotApi]:
    """The Create Bot API: answers 201 {"bot_id": "ext-1"} and records when it was called."""
    called_at: list[datetime] = []
    called = asyncio.Event()

    def answer(request: httpx.Request) -> httpx.Response:
        called_at.append(clock.now())
        called.set()
        return httpx.Response(201, json={"bot_id": "ext-1"})

    with respx.mock(assert_all_called=False) as router:
        route = router.post(BOT_API_URL).mock(side_effect=answer)
        yield CreateBotApi(route, called_at, called)


@pytest.fixture
def pauses() -> MemoryAutoScheduleStore:
    """The accounts' auto-schedule settings, where a pause (POST /pause) is kept."""
    return MemoryAutoScheduleStore(MemoryTables())


@pytest.fixture
async def launcher(
    store: BotStore, clock: FakeClock, create_bot: CreateBotApi, pauses: MemoryAutoScheduleStore
) -> AsyncIterator[Launcher]:
    async with httpx.AsyncClient() as http:
        bot_api = HttpBotApi(http, clock, url=BOT_API_URL, api_key="bot-api-key")
        yield Launcher(bots=store, auto_schedule=pauses, bot_api=bot_api, clock=clock)


@pytest.fixture
def consumer(
    sqs: Any, queue: LaunchQueue, store: BotStore, launcher: Launcher, clock: FakeClock
) -> LaunchQueueConsumer:
    return LaunchQueueConsumer(sqs, queue.url, store, launcher.launch, clock)


def new_bot(join_at: datetime, *, event_id: str = "evt_abc") -> ScheduledBot:
    return ScheduledBot(
        bot_id="bot_" + event_id.removeprefix("evt_").ljust(24, "0"),
        account_id=ACCOUNT,
        event_id=event_id,
        calendar_id="user@example.com",
        google_event_id="g-" + event_id,
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


async def pending_bot(store: BotStore, join_at: datetime, **fields: Any) -> ScheduledBot:
    stored, created = await store.insert_or_update_pending_bot(new_bot(join_at, **fields))
    assert created
    return stored


async def fired_payload(scheduler_client: Any, bot: ScheduledBot) -> tuple[datetime, str]:
    """What moto holds for the bot's schedule: when it fires, and what it delivers."""
    schedule = await scheduler_client.get_schedule(Name=schedule_name(bot.bot_id), GroupName=GROUP)
    fires_at = datetime.strptime(schedule["ScheduleExpression"], "at(%Y-%m-%dT%H:%M:%S)")
    return fires_at.replace(tzinfo=UTC), str(schedule["Target"]["Input"])


async def deliver(sqs: Any, queue: LaunchQueue, body: str) -> None:
    """What EventBridge Scheduler does when the schedule fires (moto doesn't)."""
    await sqs.send_message(QueueUrl=queue.url, MessageBody=body)


async def consume(consumer: LaunchQueueConsumer) -> int:
    received = await consumer.poll_once(wait_seconds=0)
    await consumer.drain()
    return received


async def queue_counts(sqs: Any, queue: LaunchQueue) -> tuple[int, int]:
    """(visible, in flight) messages."""
    answer = await sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])
    attributes = answer["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


# -- end to end ------------------------------------------------------------------------------


async def test_a_scheduled_bot_is_launched_once_even_when_delivered_twice(
    scheduler: EventBridgeBotScheduler,
    scheduler_client: Any,
    sqs: Any,
    queue: LaunchQueue,
    store: BotStore,
    clock: FakeClock,
    consumer: LaunchQueueConsumer,
    create_bot: CreateBotApi,
) -> None:
    bot = await pending_bot(store, NOW + timedelta(hours=1))
    await scheduler.bot_scheduled(bot)
    fires_at, payload = await fired_payload(scheduler_client, bot)

    clock.set(fires_at + timedelta(seconds=10))  # Scheduler fires within its minute
    await deliver(sqs, queue, payload)
    assert await consume(consumer) == 1

    assert create_bot.route.call_count == 1
    assert create_bot.called_at == [bot.join_at]  # held until join_at, not launched early
    assert clock.slept == [50.0]
    request = create_bot.route.calls.last.request
    assert request.headers["Idempotency-Key"] == bot.bot_id
    launched = await store.get_bot(ACCOUNT, bot.bot_id)
    assert launched is not None
    assert launched.status is BotStatus.LAUNCHED
    assert launched.external_bot_id == "ext-1"

    clock.advance(20)
    await deliver(sqs, queue, payload)  # at-least-once: Scheduler delivers again
    assert await consume(consumer) == 1

    assert create_bot.route.call_count == 1
    assert await queue_counts(sqs, queue) == (0, 0)  # both messages deleted


async def test_a_delivery_for_a_paused_account_cancels_the_bot_instead_of_launching_it(
    store: BotStore,
    sqs: Any,
    queue: LaunchQueue,
    consumer: LaunchQueueConsumer,
    create_bot: CreateBotApi,
    pauses: MemoryAutoScheduleStore,
) -> None:
    await pauses.set_paused_until(ACCOUNT, NOW + timedelta(hours=2))
    bot = await pending_bot(store, NOW - timedelta(seconds=1))
    await deliver(sqs, queue, launch_payload(bot))

    assert await consume(consumer) == 1

    assert create_bot.route.call_count == 0
    stored = await store.get_bot(ACCOUNT, bot.bot_id)
    assert stored is not None
    assert stored.status is BotStatus.CANCELLED
    assert stored.last_error is not None
    assert "paused until" in stored.last_error
    assert await queue_counts(sqs, queue) == (0, 0)


async def test_duplicates_received_together_launch_once(
    store: BotStore,
    sqs: Any,
    queue: LaunchQueue,
    consumer: LaunchQueueConsumer,
    create_bot: CreateBotApi,
) -> None:
    bot = await pending_bot(store, NOW - timedelta(seconds=1))
    body = launch_payload(bot)
    await deliver(sqs, queue, body)
    await deliver(sqs, queue, body)

    assert await consume(consumer) == 2

    assert create_bot.route.call_count == 1
    # Neither message is left visible to launch the bot again. The loser looked after the
    # winner's claim: if the launch was still under way, it kept its message hidden until that
    # claim could be stale, in case the winner died mid-launch (held in its own right by
    # test_a_kept_message_is_deleted_once_its_bot_has_launched); if the launch was done, it
    # deleted it. Which one it saw depends on how the two handlers interleave.
    visible, hidden = await queue_counts(sqs, queue)
    assert visible == 0
    assert hidden in (0, 1)


async def test_a_kept_message_is_deleted_once_its_bot_has_launched(
    store: BotStore,
    sqs: Any,
    queue: LaunchQueue,
    consumer: LaunchQueueConsumer,
    create_bot: CreateBotApi,
) -> None:
    bot = await pending_bot(store, NOW - timedelta(seconds=1))
    await deliver(sqs, queue, launch_payload(bot))
    [message] = (await sqs.receive_message(QueueUrl=queue.url, WaitTimeSeconds=0))["Messages"]
    await store.claim_bot(bot.bot_id, NOW, stale_launching_before=NOW - STALE_LAUNCH_AFTER)

    await consumer.handle(message)  # another launcher holds the bot

    assert create_bot.route.call_count == 0
    assert await queue_counts(sqs, queue) == (0, 1)

    claimed = await store.get_bot(ACCOUNT, bot.bot_id)
    assert claimed is not None
    claimed.status = BotStatus.LAUNCHED
    await store.update_bot(claimed, expected_status=BotStatus.LAUNCHING)
    await sqs.change_message_visibility(  # as if its visibility timeout had run out
        QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    assert await consume(consumer) == 1

    assert create_bot.route.call_count == 0
    assert await queue_counts(sqs, queue) == (0, 0)


async def test_a_launch_whose_launcher_died_is_taken_over(
    store: BotStore,
    sqs: Any,
    queue: LaunchQueue,
    clock: FakeClock,
    consumer: LaunchQueueConsumer,
    create_bot: CreateBotApi,
) -> None:
    bot = await pending_bot(store, NOW - timedelta(seconds=1))
    await store.claim_bot(bot.bot_id, NOW, stale_launching_before=NOW - STALE_LAUNCH_AFTER)
    clock.advance(STALE_LAUNCH_AFTER.total_seconds() + 1)  # and then that launcher died
    await deliver(sqs, queue, launch_payload(bot))

    assert await consume(consumer) == 1

    assert create_bot.route.call_count == 1
    assert create_bot.route.calls.last.request.headers["Idempotency-Key"] == bot.bot_id
    assert await queue_counts(sqs, queue) == (0, 0)


# -- messages that launch nothing ------------------------------------------------------------


async def test_a_cancelled_bots_message_is_deleted_without_launching(
    scheduler: EventBridgeBotScheduler,
    scheduler_client: Any,
    sqs: Any,
    queue: LaunchQueue,
    store: BotStore,
    clock: FakeClock,
    consumer: LaunchQueueConsumer,
    create_bot: CreateBotApi,
) -> None:
    bot = await pending_bot(store, NOW + timedelta(hours=1))
    await scheduler.bot_scheduled(bot)
    fires_at, payload = await fired_payload(scheduler_client, bot)
    clock.set(fires_at)
    await deliver(sqs, queue, payload)  # fired just before the cancel reached Scheduler
    [cancelled] = await store.cancel_pending_bots(ACCOUNT, bot.event_id, clock.now())
    await scheduler.bot_cancelled(cancelled)

    assert await consume(consumer) == 1

    assert create_bot.route.call_count == 0
    assert await queue_counts(sqs, queue) == (0, 0)
    assert (await scheduler_client.list_schedules(GroupName=GROUP))["Schedules"] == []


@pytest.mark.parametrize(
    "body",
    ["not json", "[1, 2]", '{"bot_id": "bot_1"}', '{"account_id": "acc", "bot_id": 7}', ""],
)
async def test_an_unreadable_message_is_deleted(
    body: str, sqs: Any, queue: LaunchQueue, consumer: LaunchQueueConsumer
) -> None:
    await sqs.send_message(QueueUrl=queue.url, MessageBody=body or " ")

    assert await consume(consumer) == 1

    assert await queue_counts(sqs, queue) == (0, 0)


async def test_a_message_for_an_unknown_bot_is_deleted(
    sqs: Any, queue: LaunchQueue, consumer: LaunchQueueConsumer, create_bot: CreateBotApi
) -> None:
    await deliver(sqs, queue, orjson.dumps({"account_id": ACCOUNT, "bot_id": "bot_gone"}).decode())

    assert await consume(consumer) == 1

    assert create_bot.route.call_count == 0
    assert await queue_counts(sqs, queue) == (0, 0)


def test_the_payload_is_parsed() -> None:
    parsed = parse_launch_request('{"account_id": "acc_1", "bot_id": "bot_1", "join_at": "x"}')

    assert parsed is not None
    assert (parsed.account_id, parsed.bot_id) == ("acc_1", "bot_1")


# -- holding until join_at -------------------------------------------------------------------


async def test_a_message_30_seconds_early_is_held_until_join_at(
    store: BotStore,
    sqs: Any,
    queue: LaunchQueue,
    clock: FakeClock,
    consumer: LaunchQueueConsumer,
    create_bot: CreateBotApi,
) -> None:
    bot = await pending_bot(store, NOW + timedelta(seconds=30))
    await deliver(sqs, queue, launch_payload(bot))

    assert await consume(consumer) == 1

    assert clock.slept == [30.0]
    assert create_bot.called_at == [NOW + timedelta(seconds=30)]
    assert await queue_counts(sqs, queue) == (0, 0)


async def test_a_message_far_ahead_is_hidden_until_shortly_before_join_at(
    store: BotStore,
    sqs: Any,
    queue: LaunchQueue,
    clock: FakeClock,
    consumer: LaunchQueueConsumer,
    create_bot: CreateBotApi,
) -> None:
    bot = await pending_bot(store, NOW + timedelta(minutes=10))  # e.g. join_at moved later
    await deliver(sqs, queue, launch_payload(bot))

    assert await consume(consumer) == 1

    assert clock.slept == []
    assert create_bot.route.call_count == 0
    assert await queue_counts(sqs, queue) == (0, 1)
    still = await store.get_bot(ACCOUNT, bot.bot_id)
    assert still is not None
    assert still.status is BotStatus.SCHEDULED


async def test_a_bot_due_within_a_minute_goes_through_the_queue_directly(
    scheduler: EventBridgeBotScheduler,
    sqs: Any,
    queue: LaunchQueue,
    store: BotStore,
    clock: FakeClock,
    consumer: LaunchQueueConsumer,
    create_bot: CreateBotApi,
) -> None:
    bot = await pending_bot(store, NOW + timedelta(seconds=5))

    await scheduler.bot_scheduled(bot)  # delay 0: it is due within DIRECT_EARLY_SECONDS
    assert await consume(consumer) == 1

    assert create_bot.called_at == [bot.join_at]
    assert await queue_counts(sqs, queue) == (0, 0)


# -- the loop --------------------------------------------------------------------------------


async def test_run_consumes_until_cancelled(
    store: BotStore,
    sqs: Any,
    queue: LaunchQueue,
    clock: FakeClock,
    launcher: Launcher,
    create_bot: CreateBotApi,
) -> None:
    bot = await pending_bot(store, NOW - timedelta(seconds=1))
    looping = LaunchQueueConsumer(sqs, queue.url, store, launcher.launch, clock, wait_seconds=1)
    running = asyncio.create_task(looping.run())
    await deliver(sqs, queue, launch_payload(bot))

    async with asyncio.timeout(10):
        await create_bot.called.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await looping.drain()

    assert create_bot.route.call_count == 1
    assert await queue_counts(sqs, queue) == (0, 0)


# -- the check before the launch, and a bounded shutdown (issue 12) ---------------------------

CHECK_AHEAD = timedelta(seconds=10)


@dataclass
class Check:
    """The launcher's check, as the consumer sees it: what it was asked, and what it did."""

    store: BotStore
    clock: FakeClock
    asked_at: list[datetime]
    cancels: bool = False

    async def __call__(self, bot: ScheduledBot) -> ScheduledBot | None:
        self.asked_at.append(self.clock.now())
        if not self.cancels:
            return bot
        await self.store.cancel_pending_bots(bot.account_id, bot.event_id, self.clock.now())
        return None


@pytest.fixture
def check(store: BotStore, clock: FakeClock) -> Check:
    return Check(store, clock, [])


@pytest.fixture
def checking_consumer(
    sqs: Any,
    queue: LaunchQueue,
    store: BotStore,
    launcher: Launcher,
    clock: FakeClock,
    check: Check,
) -> LaunchQueueConsumer:
    return LaunchQueueConsumer(
        sqs, queue.url, store, launcher.launch, clock, check=check, check_ahead=CHECK_AHEAD
    )


async def test_a_held_message_has_its_meeting_checked_before_join_at(
    store: BotStore,
    sqs: Any,
    queue: LaunchQueue,
    clock: FakeClock,
    checking_consumer: LaunchQueueConsumer,
    check: Check,
    create_bot: CreateBotApi,
) -> None:
    bot = await pending_bot(store, NOW + timedelta(seconds=30))
    await deliver(sqs, queue, launch_payload(bot))

    assert await consume(checking_consumer) == 1

    assert check.asked_at == [bot.join_at - CHECK_AHEAD]
    assert clock.slept == [20.0, 10.0]
    assert create_bot.called_at == [bot.join_at]  # still on time
    assert await queue_counts(sqs, queue) == (0, 0)


async def test_a_bot_the_check_cancels_is_not_launched_and_its_message_goes(
    store: BotStore,
    sqs: Any,
    queue: LaunchQueue,
    checking_consumer: LaunchQueueConsumer,
    check: Check,
    create_bot: CreateBotApi,
) -> None:
    check.cancels = True
    bot = await pending_bot(store, NOW + timedelta(seconds=30))
    await deliver(sqs, queue, launch_payload(bot))

    assert await consume(checking_consumer) == 1

    assert create_bot.route.call_count == 0
    assert await queue_counts(sqs, queue) == (0, 0)
    cancelled = await store.get_bot(ACCOUNT, bot.bot_id)
    assert cancelled is not None
    assert cancelled.status is BotStatus.CANCELLED


async def test_shutdown_lets_go_of_a_launch_stuck_in_an_outage_for_another_replica(
    store: BotStore,
    sqs: Any,
    queue: LaunchQueue,
    clock: FakeClock,
    consumer: LaunchQueueConsumer,
    create_bot: CreateBotApi,
) -> None:
    outage = asyncio.Event()

    async def hanging(request: httpx.Request) -> httpx.Response:
        outage.set()
        await asyncio.Event().wait()  # the Create Bot API does not answer
        raise AssertionError("unreachable")

    create_bot.route.side_effect = hanging
    bot = await pending_bot(store, NOW - timedelta(seconds=1))
    await deliver(sqs, queue, launch_payload(bot))
    assert await consumer.poll_once(wait_seconds=0) == 1
    async with asyncio.timeout(5):
        await outage.wait()

    async with asyncio.timeout(5):
        await consumer.drain(10.0, let_go_seconds=2.0)

    assert await queue_counts(sqs, queue) == (1, 0)  # visible again, at once
    handed_back = await store.get_bot(ACCOUNT, bot.bot_id)
    assert handed_back is not None
    assert handed_back.status is BotStatus.SCHEDULED  # any replica may launch it now
