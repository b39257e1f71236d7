"""The HTTP app: FastAPI, its middleware, error handlers and routers, and a lifespan that opens
the container (`app.container`) and runs the background work."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.adapters.ports import Clock
from app.adapters.ports.webhooks import HostResolver
from app.config import Settings
from app.container import open_container
from app.errors import CalbotError
from app.fresh_listing import FreshListingMiddleware
from app.http_errors import calbot_error, install_validation_errors, unexpected_error
from app.idempotency import IdempotencyMiddleware
from app.jobs import build_scheduler
from app.json_bodies import StrictJsonBodyMiddleware
from app.observability import RequestContextMiddleware
from app.routers import (
    auto_schedule,
    connection,
    consent,
    events,
    explain,
    health,
    policy,
    scheduling,
    sync_status,
    webhook_endpoints,
    webhooks,
)
from app.routers.docs import install_local_docs

OPENAPI_TAGS = [
    {"name": "Connect your Google Calendar", "description": "Connect, list, disconnect."},
    {"name": "Sync and view your events", "description": "Events with meeting links."},
    {"name": "Schedule a bot for a meeting", "description": "One meeting, or a series."},
    {"name": "Manage scheduled bots", "description": "List, change, cancel bots."},
    {"name": "Recurring meetings", "description": "A bot for every occurrence."},
    {"name": "Auto-scheduling", "description": "A bot for every meeting, hands-free."},
    {
        "name": "Choosing which meetings get a bot",
        "description": "Per-event policy, pause and resume.",
    },
    {
        "name": "Webhooks to your app",
        "description": "Signed messages to your endpoints on every bot or calendar change.",
    },
    {"name": "Google push notifications", "description": "Called by Google."},
    {
        "name": "Google consent",
        "description": "Google's consent screen: get a refresh token, or connect directly.",
    },
    {"name": "Operations", "description": "Liveness and readiness."},
]


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    run_background: bool = True,
    resolver: HostResolver | None = None,
) -> FastAPI:
    """The HTTP app. `run_background=False` leaves launching and webhook delivery to the caller
    (tests); `resolver` replaces the webhook address checks' name lookups (tests)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_container(settings, clock=clock, resolver=resolver) as container:
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
        openapi_tags=OPENAPI_TAGS,
    )
    # Innermost: a repeated GET /get_events is answered before routing (app/fresh_listing.py).
    app.add_middleware(FreshListingMiddleware)
    app.add_middleware(IdempotencyMiddleware)
    # Outside Idempotency, so a body refused as not strict JSON is never remembered.
    app.add_middleware(StrictJsonBodyMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.add_exception_handler(CalbotError, calbot_error)
    app.add_exception_handler(Exception, unexpected_error)
    install_validation_errors(app)
    app.include_router(connection.router)
    app.include_router(events.router)
    app.include_router(sync_status.router)
    app.include_router(scheduling.router)
    app.include_router(auto_schedule.router)
    app.include_router(explain.router)
    app.include_router(policy.router)
    app.include_router(webhooks.router)
    app.include_router(webhook_endpoints.router)
    app.include_router(consent.router)
    app.include_router(health.router)
    install_local_docs(app)
    return app
