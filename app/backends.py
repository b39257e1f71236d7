"""The backends the settings choose: storage, secrets, and how bots get launched.

Each `open_*` builds the chosen adapters, enters their clients on the caller's `AsyncExitStack`
(so they close with the container) and returns them typed by their ports. Only this module and
`app.container` name concrete adapters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

from app.adapters.aws.bootstrap import table_is_active
from app.adapters.aws.clients import aws_client, launch_queue_client_config, ssm_client_config
from app.adapters.aws.dynamodb import (
    DynamoDbConsentStore,
    DynamoDbIdempotencyStore,
    dynamodb_client_config,
    dynamodb_stores,
)
from app.adapters.aws.eventbridge import EventBridgeBotScheduler, launch_queue_dead_letter_arn
from app.adapters.aws.launch_queue import LaunchQueueConsumer
from app.adapters.aws.ssm_secrets import SsmSecretBox
from app.adapters.local_scheduler import LocalBotScheduler
from app.adapters.local_secrets import LocalSecretBox, load_or_create_key
from app.adapters.ports import (
    BotScheduler,
    ChangeStamp,
    Clock,
    ConsentStore,
    IdempotencyStore,
    SecretBox,
    Stores,
    no_change_stamp,
)
from app.adapters.sqlite import sqlite_stores
from app.adapters.sqlite.consent import SqliteConsentStore
from app.adapters.sqlite.database import Database
from app.adapters.sqlite.idempotency import SqliteIdempotencyStore
from app.config import ConfigurationError, Settings
from app.outbox_bell import OutboxBell
from app.services.launch_check import LAUNCH_CHECK_AHEAD
from app.services.launcher import Launcher
from app.services.scheduling import SchedulingService

_REQUIRED = {
    ("storage_backend", "dynamodb"): ("dynamodb_table", "aws_region"),
    ("secrets_backend", "ssm"): ("ssm_parameter_prefix", "aws_region"),
    ("scheduler_backend", "eventbridge"): (
        "eventbridge_schedule_group",
        "eventbridge_target_arn",
        "eventbridge_role_arn",
        "launch_queue_url",
        "aws_region",
    ),
}


def check_backends(settings: Settings) -> None:
    """Refuse a backend whose settings are missing, naming the variables to set."""
    if settings.scheduler_backend == "eventbridge" and settings.storage_backend == "sqlite":
        raise ConfigurationError(
            "SCHEDULER_BACKEND=eventbridge needs STORAGE_BACKEND=dynamodb: every replica must "
            "see the same bots."
        )
    for (field, value), needed in _REQUIRED.items():
        if getattr(settings, field) != value:
            continue
        missing = [name.upper() for name in needed if not getattr(settings, name)]
        if missing:
            raise ConfigurationError(
                f"{field.upper()}={value} needs {', '.join(missing)} to be set."
            )


@dataclass(frozen=True, slots=True)
class Storage:
    stores: Stores
    idempotency: IdempotencyStore
    ready: Callable[[], Awaitable[bool]]
    consent: ConsentStore
    outbox_bell: OutboxBell
    """Rung after this process commits a write that adds outbox messages."""
    change_stamp: ChangeStamp
    """Moves whenever anything is committed (answers kept in memory are checked against it)."""


async def open_storage(settings: Settings, stack: AsyncExitStack) -> Storage:
    bell = OutboxBell()
    if settings.storage_backend == "sqlite":
        database = Database(settings.database_path, outbox_bell=bell)
        await database.open()
        stack.push_async_callback(database.close)
        return Storage(
            sqlite_stores(database),
            SqliteIdempotencyStore(database),
            database.ping,
            SqliteConsentStore(database),
            bell,
            database.data_version,
        )
    assert settings.dynamodb_table is not None
    table = settings.dynamodb_table
    client = await stack.enter_async_context(
        aws_client(settings, "dynamodb", config=dynamodb_client_config())
    )

    async def ready() -> bool:
        return await table_is_active(client, table)

    return Storage(
        dynamodb_stores(client, table, outbox_bell=bell),
        DynamoDbIdempotencyStore(client, table),
        ready,
        DynamoDbConsentStore(client, table),
        bell,
        no_change_stamp,
    )


def master_key(settings: Settings) -> bytes:
    """The local key: seals local secrets and signs consent-flow state (under other labels)."""
    key_text = settings.encryption_key.get_secret_value() if settings.encryption_key else None
    return load_or_create_key(key_text, settings.data_dir)


async def open_secrets(
    settings: Settings, stack: AsyncExitStack, stores: Stores, clock: Clock, key: bytes
) -> SecretBox:
    if settings.secrets_backend == "local":
        return LocalSecretBox(stores.sealed_secrets, key, clock)
    assert settings.ssm_parameter_prefix is not None
    ssm = await stack.enter_async_context(aws_client(settings, "ssm", config=ssm_client_config()))
    try:
        return SsmSecretBox(ssm, settings.ssm_parameter_prefix, settings.kms_key_id, clock)
    except ValueError as error:
        raise ConfigurationError(f"SSM_PARAMETER_PREFIX is not usable: {error}") from error


@dataclass(frozen=True, slots=True)
class Launching:
    scheduler: BotScheduler
    loop: Callable[[], Awaitable[None]]
    is_local: bool
    consumer: LaunchQueueConsumer | None = None


async def open_launching(
    settings: Settings,
    stack: AsyncExitStack,
    stores: Stores,
    launcher: Launcher,
    clock: Clock,
) -> tuple[Launching, Callable[[SchedulingService], None]]:
    """The BotScheduler, and the loop that launches bots; the local loop also advances
    series, so it is completed once the scheduling service exists. Stopping the launches at
    shutdown (the launcher's, and the queue consumer's) is the caller's: one bounded stop."""
    if settings.scheduler_backend == "local":
        local = LocalBotScheduler(
            bots=stores.bots, series=stores.series, clock=clock, wake_ahead=LAUNCH_CHECK_AHEAD
        )
        passes: list[Callable[[], Awaitable[int]]] = [launcher.launch_due]

        async def loop() -> None:
            await local.run(passes)

        def attach(scheduling: SchedulingService) -> None:
            passes.append(scheduling.advance_due_series)

        return Launching(local, loop, is_local=True), attach
    assert settings.launch_queue_url is not None
    sqs = await stack.enter_async_context(
        aws_client(settings, "sqs", config=launch_queue_client_config())
    )
    scheduler_client = await stack.enter_async_context(aws_client(settings, "scheduler"))
    dead_letter_arn = await launch_queue_dead_letter_arn(sqs, settings.launch_queue_url)
    if dead_letter_arn is None:
        raise ConfigurationError(
            "LAUNCH_QUEUE_URL has no dead-letter queue: run `calbot aws bootstrap --queue` to "
            "create the launch queue with one."
        )
    try:
        scheduler = EventBridgeBotScheduler(
            scheduler_client,
            sqs,
            clock,
            group=settings.eventbridge_schedule_group or "",
            target_arn=settings.eventbridge_target_arn or "",
            role_arn=settings.eventbridge_role_arn or "",
            dead_letter_arn=dead_letter_arn,
            queue_url=settings.launch_queue_url,
        )
    except ValueError as error:
        raise ConfigurationError(f"EventBridge settings are not usable: {error}") from error
    consumer = LaunchQueueConsumer(
        sqs,
        settings.launch_queue_url,
        stores.bots,
        launcher.launch,
        clock,
        check=launcher.check_before_launch,
        check_ahead=LAUNCH_CHECK_AHEAD,
    )
    return Launching(scheduler, consumer.run, is_local=False, consumer=consumer), lambda _: None
