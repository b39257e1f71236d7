"""The composition root: what exists in a running calbot, and the one function that builds it.

`open_container` builds every client, adapter and service once and closes them on the way out;
the HTTP app's lifespan (`app.main`) and every CLI command share it. The container names its
parts by port and service; which adapters fill them is decided here and in `app.backends`.
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

import httpx

from app.adapters.aws.launch_queue import LaunchQueueConsumer
from app.adapters.bot_api import HttpBotApi
from app.adapters.clock import SystemClock
from app.adapters.google import HttpGoogleCalendar
from app.adapters.google_oauth import GoogleOAuthCodeExchanger
from app.adapters.ports import (
    BotApi,
    BotScheduler,
    Clock,
    GoogleCalendar,
    IdempotencyStore,
    SecretBox,
    Stores,
)
from app.adapters.ports.webhooks import HostResolver
from app.adapters.webhook_http import HttpWebhookSender, LoopHostResolver
from app.backends import check_backends, master_key, open_launching, open_secrets, open_storage
from app.config import Settings
from app.jobs import (
    AUTO_SCHEDULE_JOB,
    CHANNEL_RENEWAL_JOB,
    HOUSEKEEPING_JOB,
    HOUSEKEEPING_SECONDS,
    LAUNCH_SAFETY_NET_JOB,
    PAUSE_RESUME_JOB,
    PAUSE_RESUME_SECONDS,
    SAFETY_NET_SYNC_JOB,
    SERIES_JOB,
    PeriodicJob,
    channel_renewal_seconds,
    leased,
)
from app.observability import count_google_request
from app.services.api_keys import ApiKeyService
from app.services.auto_schedule import AutoScheduleService
from app.services.connection import ConnectionService
from app.services.consent import ConsentService
from app.services.events import EventService
from app.services.explain import ExplainService
from app.services.fresh_answers import FreshAnswers
from app.services.guard import DoNotRecordGuard
from app.services.housekeeping import HousekeepingService
from app.services.launch_check import LaunchCheck
from app.services.launcher import HAND_BACK_SECONDS, LAUNCH_SHUTDOWN_SECONDS, Launcher
from app.services.notifications import CalendarRefresher, PushService
from app.services.policy import PolicyService
from app.services.reconcile import BotReconciler
from app.services.scheduling import SchedulingService
from app.services.sync import SyncService
from app.services.sync_status import SyncStatusService
from app.services.webhook_dispatch import RetryPlan, WebhookDispatcher
from app.services.webhook_endpoints import WebhookEndpointService
from app.services.webhook_secrets import WebhookSecrets

log = logging.getLogger(__name__)

GOOGLE_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
BOT_API_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
WEBHOOK_CONNECTIONS = 100
"""Connections the webhook client keeps at most (above the dispatcher's 64 attempts)."""
WEBHOOK_POLL_SECONDS = {"sqlite": 0.25, "dynamodb": 0.5}
"""How often the dispatcher looks for other replicas' messages and due retries (this process's
own writes wake it at once): DynamoDB's poll reads every shard of two queues, so half as often.
"""
WEBHOOK_STOP_SECONDS = 2.0
"""At shutdown, attempts in flight get this long; the rest are retried (same webhook-id)."""


@dataclass(frozen=True, slots=True)
class Container:
    settings: Settings
    clock: Clock
    stores: Stores
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
    explain: ExplainService
    policy: PolicyService
    push: PushService
    replica_id: str
    idempotency: IdempotencyStore
    ready: Callable[[], Awaitable[bool]]
    launch_loop: Callable[[], Awaitable[None]]
    launch_loop_is_local: bool
    launch_queue: LaunchQueueConsumer | None
    housekeeping: HousekeepingService
    sync_status: SyncStatusService
    webhook_endpoints: WebhookEndpointService
    webhook_dispatcher: WebhookDispatcher

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
            PeriodicJob(HOUSEKEEPING_JOB, self.housekeeping.run_pass, HOUSEKEEPING_SECONDS),
            PeriodicJob(PAUSE_RESUME_JOB, self.policy.resume_ended_pauses, PAUSE_RESUME_SECONDS),
        ]
        if not self.launch_loop_is_local:
            # EventBridge delivers launches; series and a launch safety net (a schedule that
            # could not be created, a message that went to the dead-letter queue) run here.
            jobs += [
                PeriodicJob(SERIES_JOB, self.scheduling.advance_due_series, 60),
                PeriodicJob(LAUNCH_SAFETY_NET_JOB, self.launcher.launch_due, 60),
            ]
        return [leased(job, self.stores.leases, self.clock, self.replica_id) for job in jobs]

    async def run_background(self) -> None:
        """The in-process work: launch bots when due (and, locally, keep series scheduled),
        and deliver webhooks (the dispatcher, in a task of its own).

        On EventBridge, schedules that fired while every replica was down were lost with
        nobody to receive them, so bots overdue now are launched (and due series advanced)
        at once, as the embedded scheduler's first pass does, before consuming the queue.
        """
        dispatching = asyncio.create_task(self.webhook_dispatcher.run())
        try:
            await self._launch_in_process()
        finally:
            dispatching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dispatching
            await self.webhook_dispatcher.stop(WEBHOOK_STOP_SECONDS)

    async def _launch_in_process(self) -> None:
        if not self.launch_loop_is_local:
            for start_up_pass in (self.launcher.launch_due, self.scheduling.advance_due_series):
                try:
                    await start_up_pass()
                except Exception:
                    log.exception("start-up pass failed; the periodic safety net retries it")
        await self.launch_loop()


@asynccontextmanager
async def open_container(
    settings: Settings,
    *,
    clock: Clock | None = None,
    resolver: HostResolver | None = None,
) -> AsyncIterator[Container]:
    """Build everything the settings ask for; close it all on exit. `resolver` replaces the
    name lookups of webhook address checks (tests: no DNS).

    Raises `ConfigurationError` (naming the variables to set) before opening anything when a
    backend's settings are missing.
    """
    check_backends(settings)
    clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        storage = await open_storage(settings, stack)
        stores = storage.stores
        key = master_key(settings)
        secrets = await open_secrets(settings, stack, stores, clock, key)

        google_http = await stack.enter_async_context(httpx.AsyncClient(timeout=GOOGLE_TIMEOUT))
        bot_http = await stack.enter_async_context(httpx.AsyncClient(timeout=BOT_API_TIMEOUT))
        google = HttpGoogleCalendar(
            google_http,
            clock,
            token_url=settings.google_oauth_token_url,
            api_base_url=settings.google_calendar_api_url,
            observe=count_google_request,
        )
        bot_api = HttpBotApi(
            bot_http,
            clock,
            url=settings.bot_api_url,
            api_key=settings.bot_api_key.get_secret_value() if settings.bot_api_key else None,
        )
        join_lead = timedelta(seconds=settings.bot_join_lead_seconds)
        replica_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        sync = SyncService(
            connections=stores.connections,
            events=stores.events,
            secrets=secrets,
            google=google,
            clock=clock,
            leases=stores.leases,
            replica_id=replica_id,
            sync_health=stores.sync_health,
        )
        launcher = Launcher(
            bots=stores.bots, auto_schedule=stores.auto_schedule, bot_api=bot_api, clock=clock
        )
        launching, attach = await open_launching(settings, stack, stores, launcher, clock)
        consumer = launching.consumer

        async def stop_launching() -> None:
            """At most LAUNCH_SHUTDOWN_SECONDS, whatever the Create Bot API is doing."""
            stops = [launcher.shutdown(LAUNCH_SHUTDOWN_SECONDS)]
            if consumer is not None:
                stops.append(
                    consumer.drain(LAUNCH_SHUTDOWN_SECONDS, let_go_seconds=HAND_BACK_SECONDS)
                )
            await asyncio.gather(*stops)

        stack.push_async_callback(stop_launching)
        bot_scheduler = launching.scheduler
        guard = DoNotRecordGuard(stores.auto_schedule)
        scheduling = SchedulingService(
            events=stores.events,
            bots=stores.bots,
            series=stores.series,
            scheduler=bot_scheduler,
            guard=guard,
            clock=clock,
            join_lead=join_lead,
        )
        attach(scheduling)
        auto = AutoScheduleService(
            auto_schedule=stores.auto_schedule,
            connections=stores.connections,
            events=stores.events,
            bots=stores.bots,
            scheduler=bot_scheduler,
            clock=clock,
            lookahead=timedelta(seconds=settings.auto_schedule_lookahead_seconds),
            join_lead=join_lead,
        )
        reconciler = BotReconciler(
            events=stores.events,
            bots=stores.bots,
            scheduler=bot_scheduler,
            scheduling=scheduling,
            guard=guard,
            clock=clock,
            join_lead=join_lead,
        )
        policy = PolicyService(
            auto_schedule=stores.auto_schedule,
            events=stores.events,
            bots=stores.bots,
            scheduler=bot_scheduler,
            sweep=auto,
            guard=guard,
            clock=clock,
        )
        launcher.check_with(
            LaunchCheck(
                events=stores.events,
                sync=sync,
                google=google,
                reconciler=reconciler,
                clock=clock,
            )
        )
        refresher = CalendarRefresher(sync, reconciler, auto)
        push = PushService(
            channels=stores.channels,
            connections=stores.connections,
            secrets_box=secrets,
            google=google,
            clock=clock,
            refresher=refresher,
            public_base_url=settings.public_base_url,
            ttl_seconds=settings.watch_channel_ttl_seconds,
            sync_health=stores.sync_health,
        )
        stack.push_async_callback(push.coalescer.drain)
        connections = ConnectionService(
            connections=stores.connections,
            bots=stores.bots,
            secrets=secrets,
            google=google,
            clock=clock,
            push=push,
            bot_scheduler=bot_scheduler,
        )
        webhook_http = await stack.enter_async_context(
            httpx.AsyncClient(
                # No idle connections: each is pinned to one checked address for one host.
                limits=httpx.Limits(
                    max_connections=WEBHOOK_CONNECTIONS, max_keepalive_connections=0
                ),
                follow_redirects=False,
                trust_env=False,
            )
        )
        webhook_secrets = WebhookSecrets(key)
        resolver = resolver or LoopHostResolver()
        retry_plan = RetryPlan()
        dispatcher = WebhookDispatcher(
            outbox=stores.outbox,
            endpoints=stores.webhook_endpoints,
            sender=HttpWebhookSender(
                webhook_http, timeout_seconds=settings.webhook_timeout_seconds
            ),
            resolver=resolver,
            secrets_box=webhook_secrets,
            clock=clock,
            timeout_seconds=settings.webhook_timeout_seconds,
            allow_insecure_loopback=settings.webhook_allow_insecure_loopback,
            retry=retry_plan,
            poll_seconds=WEBHOOK_POLL_SECONDS[settings.storage_backend],
        )
        storage.outbox_bell.subscribe(dispatcher.wake)
        client_secret = settings.google_client_secret
        consent_flow = ConsentService(
            GoogleOAuthCodeExchanger(google_http, clock, token_url=settings.google_oauth_token_url),
            clock,
            storage.consent,
            key=key,
            authorize_url=settings.google_oauth_authorize_url,
            client_id=settings.google_client_id,
            client_secret=client_secret.get_secret_value() if client_secret else None,
            connector=connections,
        )
        yield Container(
            settings=settings,
            clock=clock,
            stores=stores,
            secrets=secrets,
            google=google,
            bot_api=bot_api,
            api_keys=ApiKeyService(
                accounts=stores.accounts, clock=clock, stamp=storage.change_stamp
            ),
            connections=connections,
            consent=consent_flow,
            sync=sync,
            events=EventService(
                events=stores.events,
                connections=connections,
                sync=sync,
                refresher=refresher,
                clock=clock,
                answers=FreshAnswers(storage.change_stamp, clock),
            ),
            scheduling=scheduling,
            launcher=launcher,
            bot_scheduler=bot_scheduler,
            auto_schedule=auto,
            explain=ExplainService(
                auto_schedule=auto,
                connections=stores.connections,
                events=stores.events,
                bots=stores.bots,
            ),
            policy=policy,
            push=push,
            replica_id=replica_id,
            idempotency=storage.idempotency,
            ready=storage.ready,
            launch_loop=launching.loop,
            launch_loop_is_local=launching.is_local,
            launch_queue=launching.consumer,
            housekeeping=HousekeepingService(
                bots=stores.bots,
                idempotency=storage.idempotency,
                clock=clock,
                outbox=stores.outbox,
            ),
            sync_status=SyncStatusService(
                connections=stores.connections,
                channels=stores.channels,
                sync_health=stores.sync_health,
                clock=clock,
                poll_interval_seconds=settings.sync_poll_interval_seconds,
            ),
            webhook_endpoints=WebhookEndpointService(
                endpoints=stores.webhook_endpoints,
                outbox=stores.outbox,
                resolver=resolver,
                secrets_box=webhook_secrets,
                clock=clock,
                allow_insecure_loopback=settings.webhook_allow_insecure_loopback,
                retry=retry_plan,
                wake=dispatcher.wake,
            ),
            webhook_dispatcher=dispatcher,
        )
