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
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.adapters.bot_api import HttpBotApi
from app.adapters.clock import SystemClock
from app.adapters.google import HttpGoogleCalendar
from app.adapters.local_scheduler import LocalBotScheduler
from app.adapters.local_secrets import LocalSecretBox, load_or_create_key
from app.adapters.ports import BotApi, Clock, GoogleCalendar, IdempotencyStore, SecretBox, Store
from app.adapters.sqlite.database import Database
from app.adapters.sqlite.idempotency import SqliteIdempotencyStore
from app.adapters.sqlite.store import SqliteStore
from app.config import Settings
from app.errors import CalbotError
from app.idempotency import IdempotencyMiddleware
from app.jobs import (
    AUTO_SCHEDULE_JOB,
    CHANNEL_RENEWAL_JOB,
    SAFETY_NET_SYNC_JOB,
    PeriodicJob,
    build_scheduler,
    channel_renewal_seconds,
    leased,
)
from app.observability import RequestContextMiddleware
from app.routers import auto_schedule, connection, events, health, scheduling, webhooks
from app.routers.docs import install_local_docs
from app.services.api_keys import ApiKeyService
from app.services.auto_schedule import AutoScheduleService
from app.services.connection import ConnectionService
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
    database: Database
    api_keys: ApiKeyService
    connections: ConnectionService
    sync: SyncService
    events: EventService
    scheduling: SchedulingService
    launcher: Launcher
    local_scheduler: LocalBotScheduler
    auto_schedule: AutoScheduleService
    push: PushService
    replica_id: str
    idempotency: IdempotencyStore

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
        return [leased(job, self.store, self.clock, self.replica_id) for job in jobs]

    async def run_background(self) -> None:
        """The in-process work: launch bots when due, keep series scheduled."""
        await self.local_scheduler.run(
            [self.launcher.launch_due, self.scheduling.advance_due_series]
        )


def check_backends(settings: Settings) -> None:
    chosen = {
        "STORAGE_BACKEND": (settings.storage_backend, "sqlite"),
        "SECRETS_BACKEND": (settings.secrets_backend, "local"),
        "SCHEDULER_BACKEND": (settings.scheduler_backend, "local"),
    }
    for variable, (value, embedded) in chosen.items():
        if value != embedded:
            raise ConfigurationError(
                f"{variable}={value} is not available in this version of calbot yet; "
                f"use {variable}={embedded} (the embedded default)."
            )


@asynccontextmanager
async def open_container(
    settings: Settings,
    *,
    clock: Clock | None = None,
) -> AsyncIterator[Container]:
    check_backends(settings)
    clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        database = Database(settings.database_path)
        await database.open()
        stack.push_async_callback(database.close)
        key_text = settings.encryption_key.get_secret_value() if settings.encryption_key else None
        store = SqliteStore(database)
        secrets = LocalSecretBox(store, load_or_create_key(key_text, settings.data_dir))

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
        local_scheduler = LocalBotScheduler(store, clock)
        launcher = Launcher(store, bot_api, clock)
        stack.push_async_callback(launcher.wait_for_launches)
        scheduling = SchedulingService(store, local_scheduler, clock, join_lead=join_lead)
        auto = AutoScheduleService(
            store,
            local_scheduler,
            clock,
            lookahead=timedelta(seconds=settings.auto_schedule_lookahead_seconds),
            join_lead=join_lead,
        )
        reconciler = BotReconciler(store, local_scheduler, scheduling, clock, join_lead=join_lead)
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
        connections = ConnectionService(store, secrets, google, clock, push)
        yield Container(
            settings=settings,
            clock=clock,
            store=store,
            secrets=secrets,
            google=google,
            bot_api=bot_api,
            database=database,
            api_keys=ApiKeyService(store, clock),
            connections=connections,
            sync=sync,
            events=EventService(store, connections, sync, refresher),
            scheduling=scheduling,
            launcher=launcher,
            local_scheduler=local_scheduler,
            auto_schedule=auto,
            push=push,
            replica_id=f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
            idempotency=SqliteIdempotencyStore(database),
        )


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
    app.include_router(health.router)
    install_local_docs(app)
    return app
