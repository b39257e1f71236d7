"""Wiring: the only module that names concrete adapters.

`open_container` builds every client and service once (used by the HTTP app's lifespan and by the
CLI) and closes them on the way out; `create_app` builds the FastAPI application around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.adapters.aws.dynamodb import (
    DynamoDbIdempotencyStore,
    DynamoDbStore,
    create_table,
    dynamodb_client_config,
)
from app.adapters.aws.eventbridge import (
    EventBridgeBotScheduler,
    ensure_launch_queue,
    ensure_schedule_group,
    launch_queue_dead_letter_arn,
)
from app.adapters.aws.launch_queue import LaunchQueueConsumer
from app.adapters.aws.ssm_secrets import SsmSecretBox
from app.adapters.bot_api import HttpBotApi
from app.adapters.clock import SystemClock
from app.adapters.google import HttpGoogleCalendar
from app.adapters.google_oauth import GoogleOAuthCodeExchanger
from app.adapters.local_scheduler import LocalBotScheduler
from app.adapters.local_secrets import LocalSecretBox, load_or_create_key
from app.adapters.ports import (
    BotApi,
    BotScheduler,
    Clock,
    GoogleCalendar,
    IdempotencyStore,
    SecretBox,
    Store,
)
from app.adapters.sqlite.database import Database
from app.adapters.sqlite.idempotency import SqliteIdempotencyStore
from app.adapters.sqlite.store import SqliteStore
from app.config import Settings
from app.errors import CalbotError
from app.idempotency import IdempotencyMiddleware
from app.jobs import (
    AUTO_SCHEDULE_JOB,
    CHANNEL_RENEWAL_JOB,
    LAUNCH_SAFETY_NET_JOB,
    SAFETY_NET_SYNC_JOB,
    SERIES_JOB,
    PeriodicJob,
    build_scheduler,
    channel_renewal_seconds,
    leased,
)
from app.observability import RequestContextMiddleware
from app.routers import (
    auto_schedule,
    connection,
    consent,
    events,
    health,
    scheduling,
    webhooks,
)
from app.routers.docs import install_local_docs
from app.services.api_keys import ApiKeyService
from app.services.auto_schedule import AutoScheduleService
from app.services.connection import ConnectionService
from app.services.consent import ConsentService
from app.services.events import EventService
from app.services.launcher import Launcher
from app.services.notifications import CalendarRefresher, PushService
from app.services.reconcile import BotReconciler
from app.services.scheduling import SchedulingService
from app.services.sync import SyncService

log = logging.getLogger(__name__)

GOOGLE_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
BOT_API_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class ConfigurationError(RuntimeError):
    """The settings ask for something this build cannot do; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Container:
    settings: Settings
    clock: Clock
    store: Store
    secrets: SecretBox
    google: GoogleCalendar
    bot_api: BotApi
    api_keys: ApiKeyService
    connections: ConnectionService
    consent: ConsentService
    sync: SyncService
    events: EventService
    scheduling: SchedulingService
    launcher: Launcher
    bot_scheduler: BotScheduler
    auto_schedule: AutoScheduleService
    push: PushService
    replica_id: str
    idempotency: IdempotencyStore
    ready: Callable[[], Awaitable[bool]]
    launch_loop: Callable[[], Awaitable[None]]
    launch_loop_is_local: bool
    launch_queue: LaunchQueueConsumer | None

    def periodic_jobs(self) -> list[PeriodicJob]:
        """The periodic passes, each behind a lease so one replica runs each period."""
        settings = self.settings
        jobs = [
            PeriodicJob(
                AUTO_SCHEDULE_JOB,
                self.auto_schedule.run_pass,
                settings.auto_schedule_interval_seconds,
            ),
            PeriodicJob(
                SAFETY_NET_SYNC_JOB, self.push.poll_all, settings.sync_poll_interval_seconds
            ),
            PeriodicJob(
                CHANNEL_RENEWAL_JOB,
                self.push.renew_channels,
                channel_renewal_seconds(settings.watch_channel_ttl_seconds),
            ),
        ]
        if not self.launch_loop_is_local:
            # EventBridge delivers launches; series and a launch safety net (a schedule that
            # could not be created, a message that went to the dead-letter queue) run here.
            jobs += [
                PeriodicJob(SERIES_JOB, self.scheduling.advance_due_series, 60),
                PeriodicJob(LAUNCH_SAFETY_NET_JOB, self.launcher.launch_due, 60),
            ]
        return [leased(job, self.store, self.clock, self.replica_id) for job in jobs]

    async def run_background(self) -> None:
        """The in-process work: launch bots when due (and, locally, keep series scheduled)."""
        await self.launch_loop()


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
class _Storage:
    store: Store
    idempotency: IdempotencyStore
    ready: Callable[[], Awaitable[bool]]


async def _open_storage(settings: Settings, stack: AsyncExitStack) -> _Storage:
    if settings.storage_backend == "sqlite":
        database = Database(settings.database_path)
        await database.open()
        stack.push_async_callback(database.close)
        return _Storage(SqliteStore(database), SqliteIdempotencyStore(database), database.ping)
    assert settings.dynamodb_table is not None
    table = settings.dynamodb_table
    client = await stack.enter_async_context(
        _aws_client(settings, "dynamodb", config=dynamodb_client_config())
    )

    async def table_ready() -> bool:
        try:
            described = await client.describe_table(TableName=table)
        except Exception:
            return False
        return bool(described["Table"]["TableStatus"] == "ACTIVE")

    return _Storage(
        DynamoDbStore(client, table), DynamoDbIdempotencyStore(client, table), table_ready
    )


def _aws_client(settings: Settings, service: str, *, config: Any = None) -> Any:
    return get_session().create_client(
        service,
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=config,
    )


def _master_key(settings: Settings) -> bytes:
    """The local key: seals local secrets and signs consent-flow state (under other labels)."""
    key_text = settings.encryption_key.get_secret_value() if settings.encryption_key else None
    return load_or_create_key(key_text, settings.data_dir)


async def _open_secrets(
    settings: Settings, stack: AsyncExitStack, store: Store, clock: Clock, master_key: bytes
) -> SecretBox:
    if settings.secrets_backend == "local":
        return LocalSecretBox(store, master_key)
    assert settings.ssm_parameter_prefix is not None
    # The adapter retries SSM throttling itself, through the Clock.
    ssm = await stack.enter_async_context(
        _aws_client(
            settings, "ssm", config=AioConfig(retries={"mode": "standard", "total_max_attempts": 1})
        )
    )
    try:
        return SsmSecretBox(ssm, settings.ssm_parameter_prefix, settings.kms_key_id, clock)
    except ValueError as error:
        raise ConfigurationError(f"SSM_PARAMETER_PREFIX is not usable: {error}") from error


@dataclass(frozen=True, slots=True)
class _Launching:
    scheduler: BotScheduler
    loop: Callable[[], Awaitable[None]]
    is_local: bool
    consumer: LaunchQueueConsumer | None = None


async def _open_launching(
    settings: Settings,
    stack: AsyncExitStack,
    store: Store,
    launcher: Launcher,
    clock: Clock,
) -> tuple[_Launching, Callable[[SchedulingService], None]]:
    """The BotScheduler, and the loop that launches bots; the local loop also advances
    series, so it is completed once the scheduling service exists."""
    if settings.scheduler_backend == "local":
        local = LocalBotScheduler(store, clock)
        passes: list[Callable[[], Awaitable[int]]] = [launcher.launch_due]

        async def loop() -> None:
            await local.run(passes)

        def attach(scheduling: SchedulingService) -> None:
            passes.append(scheduling.advance_due_series)

        return _Launching(local, loop, is_local=True), attach
    assert settings.launch_queue_url is not None
    # Long polling waits 20 s: the read timeout must be longer.
    long_poll = AioConfig(read_timeout=40, retries={"mode": "standard", "max_attempts": 5})
    sqs = await stack.enter_async_context(_aws_client(settings, "sqs", config=long_poll))
    scheduler_client = await stack.enter_async_context(_aws_client(settings, "scheduler"))
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
    consumer = LaunchQueueConsumer(sqs, settings.launch_queue_url, store, launcher, clock)
    stack.push_async_callback(consumer.drain)
    return _Launching(scheduler, consumer.run, is_local=False, consumer=consumer), lambda _: None


@asynccontextmanager
async def open_container(
    settings: Settings,
    *,
    clock: Clock | None = None,
) -> AsyncIterator[Container]:
    check_backends(settings)
    clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        storage = await _open_storage(settings, stack)
        store = storage.store
        master_key = _master_key(settings)
        secrets = await _open_secrets(settings, stack, store, clock, master_key)

        google_http = await stack.enter_async_context(httpx.AsyncClient(timeout=GOOGLE_TIMEOUT))
        bot_http = await stack.enter_async_context(httpx.AsyncClient(timeout=BOT_API_TIMEOUT))
        google = HttpGoogleCalendar(
            google_http,
            clock,
            token_url=settings.google_oauth_token_url,
            api_base_url=settings.google_calendar_api_url,
        )
        bot_api = HttpBotApi(
            bot_http,
            clock,
            url=settings.bot_api_url,
            api_key=settings.bot_api_key.get_secret_value() if settings.bot_api_key else None,
        )
        join_lead = timedelta(seconds=settings.bot_join_lead_seconds)
        sync = SyncService(store, secrets, google, clock)
        launcher = Launcher(store, bot_api, clock)
        stack.push_async_callback(launcher.wait_for_launches)
        launching, attach = await _open_launching(settings, stack, store, launcher, clock)
        bot_scheduler = launching.scheduler
        scheduling = SchedulingService(store, bot_scheduler, clock, join_lead=join_lead)
        attach(scheduling)
        auto = AutoScheduleService(
            store,
            bot_scheduler,
            clock,
            lookahead=timedelta(seconds=settings.auto_schedule_lookahead_seconds),
            join_lead=join_lead,
        )
        reconciler = BotReconciler(store, bot_scheduler, scheduling, clock, join_lead=join_lead)
        refresher = CalendarRefresher(sync, reconciler, auto)
        push = PushService(
            store,
            secrets,
            google,
            clock,
            refresher,
            public_base_url=settings.public_base_url,
            ttl_seconds=settings.watch_channel_ttl_seconds,
        )
        stack.push_async_callback(push.coalescer.drain)
        connections = ConnectionService(store, secrets, google, clock, push, bot_scheduler)
        client_secret = settings.google_client_secret
        consent_flow = ConsentService(
            GoogleOAuthCodeExchanger(google_http, clock, token_url=settings.google_oauth_token_url),
            clock,
            key=master_key,
            authorize_url=settings.google_oauth_authorize_url,
            client_id=settings.google_client_id,
            client_secret=client_secret.get_secret_value() if client_secret else None,
            connector=connections,
        )
        yield Container(
            settings=settings,
            clock=clock,
            store=store,
            secrets=secrets,
            google=google,
            bot_api=bot_api,
            api_keys=ApiKeyService(store, clock),
            connections=connections,
            consent=consent_flow,
            sync=sync,
            events=EventService(store, connections, sync, refresher),
            scheduling=scheduling,
            launcher=launcher,
            bot_scheduler=bot_scheduler,
            auto_schedule=auto,
            push=push,
            replica_id=f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
            idempotency=storage.idempotency,
            ready=storage.ready,
            launch_loop=launching.loop,
            launch_loop_is_local=launching.is_local,
            launch_queue=launching.consumer,
        )


async def bootstrap_aws(
    settings: Settings, *, queue_name: str | None, schedule_group: bool
) -> list[str]:
    """Create calbot's AWS resources unless they exist; returns one line per resource.

    The DynamoDB table always; the launch queue (with its dead-letter queue) when `queue_name`
    is given; the schedule group when asked. Safe to run again.
    """
    if not settings.dynamodb_table or not settings.aws_region:
        raise ConfigurationError("calbot aws bootstrap needs DYNAMODB_TABLE and AWS_REGION.")
    lines: list[str] = []
    async with _aws_client(settings, "dynamodb", config=dynamodb_client_config()) as dynamodb:
        created = await create_table(dynamodb, settings.dynamodb_table)
        lines.append(f"DYNAMODB_TABLE={settings.dynamodb_table} ({_verb(created)})")
    if queue_name:
        async with _aws_client(settings, "sqs") as sqs:
            url, arn = await ensure_launch_queue(sqs, queue_name)
        lines += [f"LAUNCH_QUEUE_URL={url}", f"EVENTBRIDGE_TARGET_ARN={arn}"]
    if schedule_group:
        group = settings.eventbridge_schedule_group
        if not group:
            raise ConfigurationError("--schedule-group needs EVENTBRIDGE_SCHEDULE_GROUP.")
        async with _aws_client(settings, "scheduler") as scheduler:
            created = await ensure_schedule_group(scheduler, group)
        lines.append(f"EVENTBRIDGE_SCHEDULE_GROUP={group} ({_verb(created)})")
    return lines


def _verb(created: bool) -> str:
    return "created" if created else "already there"


async def _calbot_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, CalbotError)
    return JSONResponse(
        status_code=error.status_code, content={"detail": error.detail, "error": error.code}
    )


async def _unexpected_error(_: Request, error: Exception) -> JSONResponse:
    log.error("unhandled %s", type(error).__name__, exc_info=error)
    return JSONResponse(
        status_code=500,
        content={
            "detail": "calbot hit an unexpected error; it has been logged.",
            "error": "internal_error",
        },
    )


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    run_background: bool = True,
) -> FastAPI:
    """The HTTP app. `run_background=False` leaves launching to the caller (tests)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_container(settings, clock=clock) as container:
            app.state.container = container
            background = None
            jobs = build_scheduler(container.periodic_jobs())
            if run_background:
                background = asyncio.create_task(container.run_background())
                jobs.start()
            try:
                yield
            finally:
                if background is not None:
                    jobs.shutdown(wait=False)
                    background.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await background

    app = FastAPI(
        title="calbot",
        version="0.1.0",
        summary="Connect a Google Calendar and have meeting bots join every meeting on time.",
        lifespan=lifespan,
        docs_url=None,  # served from local assets below: no CDN needed
        redoc_url=None,
        openapi_tags=[
            {"name": "Connect your Google Calendar", "description": "Connect, list, disconnect."},
            {"name": "Sync and view your events", "description": "Events with meeting links."},
            {"name": "Schedule a bot for a meeting", "description": "One meeting, or a series."},
            {"name": "Manage scheduled bots", "description": "List, change, cancel bots."},
            {"name": "Recurring meetings", "description": "A bot for every occurrence."},
            {"name": "Auto-scheduling", "description": "A bot for every meeting, hands-free."},
            {"name": "Google push notifications", "description": "Called by Google."},
            {
                "name": "Google consent",
                "description": "Google's consent screen: get a refresh token, or connect directly.",
            },
            {"name": "Operations", "description": "Liveness and readiness."},
        ],
    )
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.add_exception_handler(CalbotError, _calbot_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.include_router(connection.router)
    app.include_router(events.router)
    app.include_router(scheduling.router)
    app.include_router(auto_schedule.router)
    app.include_router(webhooks.router)
    app.include_router(consent.router)
    app.include_router(health.router)
    install_local_docs(app)
    return app
