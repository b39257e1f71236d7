"""calbot's webhook parts wired over one store, for the dispatcher tests: the endpoint service,
the dispatcher with the real httpx sender, a resolver that reads a fixed mapping (never DNS),
and the real clock (the `standardwebhooks` verifier checks timestamps against it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.adapters.aws.dynamodb import create_table, dynamodb_client_config, dynamodb_stores
from app.adapters.clock import SystemClock
from app.adapters.ports import Stores
from app.adapters.sqlite import sqlite_stores
from app.adapters.sqlite.database import Database
from app.adapters.webhook_http import HttpWebhookSender
from app.domain import OutboxMessage
from app.services.webhook_dispatch import RetryPlan, WebhookDispatcher
from app.services.webhook_endpoints import WebhookEndpointService
from app.services.webhook_secrets import WebhookSecrets
from app.webhook_messages import new_message
from tests.aws import open_aws_client
from tests.fakes import FakeResolver

ACCOUNT = "acc_hooks"
MASTER_KEY = b"k" * 32
FAST_RETRY = RetryPlan(first_delay=0.2, max_delay=0.8, jitter=0.0)


@dataclass
class Hub:
    stores: Stores
    service: WebhookEndpointService
    dispatcher: WebhookDispatcher
    resolver: FakeResolver
    clock: SystemClock

    async def message(self, data: dict[str, Any], kind: str = "bot.scheduled") -> OutboxMessage:
        message = new_message(ACCOUNT, kind, data, self.clock.now())
        await self.stores.outbox.append_messages([message])
        return message


def build_hub(
    stores: Stores,
    http: httpx.AsyncClient,
    *,
    timeout: float = 2.0,
    allow_loopback: bool = True,
    **dispatcher_options: Any,
) -> Hub:
    clock = SystemClock()
    resolver = FakeResolver()
    secrets_box = WebhookSecrets(MASTER_KEY)
    retry = dispatcher_options.pop("retry", FAST_RETRY)
    dispatcher_options.setdefault("poll_seconds", 0.05)
    dispatcher = WebhookDispatcher(
        outbox=stores.outbox,
        endpoints=stores.webhook_endpoints,
        sender=HttpWebhookSender(http, timeout_seconds=timeout),
        resolver=resolver,
        secrets_box=secrets_box,
        clock=clock,
        timeout_seconds=timeout,
        allow_insecure_loopback=allow_loopback,
        retry=retry,
        **dispatcher_options,
    )
    service = WebhookEndpointService(
        endpoints=stores.webhook_endpoints,
        outbox=stores.outbox,
        resolver=resolver,
        secrets_box=secrets_box,
        clock=clock,
        allow_insecure_loopback=allow_loopback,
        retry=retry,
        wake=dispatcher.wake,
    )
    return Hub(stores, service, dispatcher, resolver, clock)


@asynccontextmanager
async def open_stores(
    backend: str, tmp_path: Path, aws_endpoint: str | None = None
) -> AsyncIterator[Stores]:
    if backend == "sqlite":
        database = Database(tmp_path / "calbot.sqlite3")
        await database.open()
        try:
            yield sqlite_stores(database)
        finally:
            await database.close()
        return
    assert aws_endpoint is not None
    config = dynamodb_client_config()
    async with open_aws_client("dynamodb", aws_endpoint, config=config) as client:
        await create_table(client, "calbot-hooks")
        yield dynamodb_stores(client, "calbot-hooks")
